"""One conformance suite over every registered scorer: tiny config, the contract holds."""

import numpy as np
import pytest
import torch

from synthgen.anomaly import SCORERS, Scorer
from tests.conftest import TINY_CTGAN, TINY_GAN

TINY_PARAMS = {
    "fanogan": {"gan": TINY_GAN, "encoder_epochs": 2, "threads": 2},
    "anogan": {"gan": TINY_GAN, "steps": 5, "candidates": 2},
    "synthetic_knn": {"gan": TINY_CTGAN, "reference_rows": 300},
    "synthetic_ecod": {"gan": TINY_CTGAN, "reference_rows": 300},
    "isolation_forest": {"n_estimators": 20},
    "knn": {},
    "ecod": {},
}
MODALITY = {"fanogan": "image", "anogan": "image", "synthetic_knn": "tabular", "synthetic_ecod": "tabular"}


def test_every_scorer_has_a_tiny_config():
    assert set(TINY_PARAMS) == set(SCORERS.names())


def _normal(modality, mnist_split, cancer_split):
    """Normal data: digit 1 (images) or benign rows (tables); a mixed sample to score."""
    if modality == "image":
        train, holdout = mnist_split
        return train.subset(np.flatnonzero(train.labels == "1")), holdout.subset(np.arange(60))
    train, holdout = cancer_split
    benign = train.with_frame(train.frame.filter(train.frame[train.label] == "benign"))
    return benign, holdout.with_frame(holdout.frame.head(60))


CASES = sorted({(name, m) for name in TINY_PARAMS for m in ("image", "tabular")
                if MODALITY.get(name, m) == m})


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}-{m}" for n, m in CASES])
def fitted(request, mnist_split, cancer_split):
    name, modality = request.param
    normal, mixed = _normal(modality, mnist_split, cancer_split)
    scorer = SCORERS.get(name)(**TINY_PARAMS[name])
    assert not hasattr(scorer, "threshold_")  # __init__ only stores arguments
    assert scorer.fit(normal) is scorer
    return scorer, normal, mixed


def _tensors(scorer):
    return {k: torch.as_tensor(v).clone() for k, v in scorer._state()[1].items()}


def test_fit_sets_scores_threshold_labels(fitted):
    scorer, normal, _ = fitted
    assert scorer.decision_scores_.shape == (len(normal),)
    assert np.isfinite(scorer.decision_scores_).all()
    assert np.array_equal(scorer.labels_, (scorer.decision_scores_ > scorer.threshold_).astype(int))
    assert scorer.calibration_["flagged_share"] <= scorer.params["false_alarm_rate"] + 1e-9


def test_decision_function_is_pure_and_batch_independent(fitted):
    scorer, normal, mixed = fitted
    before = _tensors(scorer)
    np.testing.assert_allclose(scorer.decision_function(normal), scorer.decision_scores_, rtol=1e-5, atol=1e-6)
    scores = scorer.decision_function(mixed)
    after = _tensors(scorer)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    np.testing.assert_allclose(scorer.decision_function(_head(mixed, 7)), scores[:7], rtol=1e-4, atol=1e-5)
    assert np.array_equal(scorer.predict(mixed), (scores > scorer.threshold_).astype(int))


def test_save_load_gives_identical_scores(fitted, tmp_path):
    scorer, _, mixed = fitted
    scorer.save(tmp_path)
    loaded = Scorer.load(tmp_path)
    assert type(loaded) is type(scorer) and loaded.threshold_ == scorer.threshold_
    np.testing.assert_array_equal(loaded.decision_function(mixed), scorer.decision_function(mixed))


def test_explain_gives_maps_or_column_shares(fitted):
    scorer, _, mixed = fitted
    out = scorer.explain(_head(mixed, 5))
    if "residual" in out:
        assert out["residual"].shape == (5, *scorer.input_.shape[:2])
        assert out["residual"].min() >= 0 and out["residual"].max() <= 1
    else:
        shares = out["contributions"]
        assert shares.columns == scorer.input_.columns
        np.testing.assert_allclose(shares.to_numpy().sum(axis=1), 1.0, atol=1e-5)


def _head(data, n):
    if hasattr(data, "frame"):
        return data.with_frame(data.frame.head(n))
    return data.subset(np.arange(n))
