"""One conformance suite over every registered generator: tiny config, the contract holds."""

import pytest
import torch

from synthgen.generators import GENERATORS, TabularGenerator
from tests.conftest import TINY_CTGAN

TINY_PARAMS = {"ctgan": TINY_CTGAN}


def test_every_generator_has_a_tiny_config():
    assert set(TINY_PARAMS) == set(GENERATORS.names())


@pytest.fixture(scope="module", params=sorted(TINY_PARAMS))
def fitted(request, arrests_split):
    train, _ = arrests_split
    cls = GENERATORS.get(request.param)
    assert cls.name == request.param
    generator = cls(**TINY_PARAMS[request.param])
    assert not hasattr(generator, "classes_")  # __init__ only stores arguments
    assert generator.fit(train) is generator
    return generator


def _weights(generator):
    return {k: v.clone() for k, v in generator._state()[1].items()}


def test_exact_per_class_counts_with_acceptance(fitted):
    out = fitted.sample(per_class={"Yes": 70, "No": 30}, random_state=1)
    assert out.class_counts() == {"Yes": 70, "No": 30}
    assert set(out.meta["acceptance"]) == {"Yes", "No"}


def test_same_seed_same_output_and_sampling_changes_nothing(fitted):
    before = _weights(fitted)
    a = fitted.sample(200, random_state=4)
    b = fitted.sample(200, random_state=4)
    assert a.frame.equals(b.frame)
    after = _weights(fitted)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_save_load_gives_identical_output(fitted, tmp_path):
    fitted.save(tmp_path)
    loaded = TabularGenerator.load(tmp_path)
    assert type(loaded) is type(fitted)
    assert loaded.sample(150, random_state=2).frame.equals(fitted.sample(150, random_state=2).frame)
