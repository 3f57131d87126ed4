"""Every registered metric: declared contract, a number (or None with a reason), inputs untouched."""

import numpy as np
import pytest

from synthgen.validation.context import ValidationContext
from synthgen.validation.images import ImageValidationContext
from synthgen.validation.suite import registered_metrics, run_metrics
from tests.conftest import resampled

METRICS = registered_metrics()


@pytest.fixture(scope="module")
def results(arrests_split, mnist_split):
    train, holdout = arrests_split
    train = train.with_frame(train.frame.head(800))
    synthetic = resampled(holdout, 500, seed=0)
    snapshot = [t.frame.clone() for t in (train, holdout, synthetic)]
    out = {("tabular", k): v for k, v in run_metrics(ValidationContext(train, holdout, synthetic, max_rows=500)).items()}
    for before, after in zip(snapshot, (train, holdout, synthetic)):
        assert before.equals(after.frame)

    itrain, iholdout = mnist_split
    isyn = iholdout.subset(np.random.default_rng(0).integers(0, len(iholdout), 200))
    pixels = [d.images.copy() for d in (itrain, iholdout, isyn)]
    image = run_metrics(ImageValidationContext(itrain, iholdout, isyn, classifier_epochs=1, min_steps=40), modality="image")
    out.update({("image", k): v for k, v in image.items()})
    for before, after in zip(pixels, (itrain, iholdout, isyn)):
        assert (before == after.images).all()
    return out


@pytest.mark.parametrize("key", METRICS.names())
def test_metric_contract(key, results):
    modality, name = key.split("/")
    result = results[(modality, name)]
    cls = METRICS.get(name, modality)
    assert (cls.name, cls.modality) == (name, modality)
    assert (result.kind, result.direction) == (cls.kind, cls.direction)
    assert result.value is not None or {"not_applicable", "not_measurable"} & set(result.details)
    assert "not_measurable" not in result.details, result.details  # every metric works on ordinary data
    assert result.seconds >= 0


def test_every_gate_names_a_metric_of_its_modality():
    from synthgen.spec import ImageGates, TabularGates

    for gates, modality in ((TabularGates, "tabular"), (ImageGates, "image")):
        for name in gates.model_fields:
            assert METRICS.get(name, modality).modality == modality, name


@pytest.mark.parametrize("modality", ["tabular", "image"])
def test_no_two_metric_groups_read_an_input_in_common(modality):
    """Each group is one task on a cluster with its own context: a cached input (the real-data classifier,
    the TRTR model, the neighbour distances) read by two groups would be computed twice."""
    from itertools import combinations

    from synthgen.validation.suite import metric_groups

    groups = metric_groups(modality)
    assert sorted(n for g in groups for n in g) == sorted(METRICS.of(modality))
    reads = [set().union(*(METRICS.get(n, modality).reads for n in g)) for g in groups]
    assert all(not (a & b) for a, b in combinations(reads, 2)), list(zip(groups, reads))
    if modality == "image":   # the augmented-data metrics read the classifier too: one group with its readers
        assert any({"augmentation_no_harm", "coverage", "tstr_chance_ratio"} <= set(g) for g in groups)
