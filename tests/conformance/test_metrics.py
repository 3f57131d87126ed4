"""Every registered metric: declared contract, a number (or None with a reason), inputs untouched."""

import pytest

from synthgen.validation.context import ValidationContext
from synthgen.validation.metrics import registered_metrics, run_metrics

METRICS = registered_metrics()
from tests.conftest import resampled


@pytest.fixture(scope="module")
def results(arrests_split):
    train, holdout = arrests_split
    train = train.with_frame(train.frame.head(800))
    synthetic = resampled(holdout, 500, seed=0)
    snapshot = [t.frame.clone() for t in (train, holdout, synthetic)]
    out = run_metrics(ValidationContext(train, holdout, synthetic, max_rows=500))
    for before, after in zip(snapshot, (train, holdout, synthetic)):
        assert before.equals(after.frame)
    return out


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_contract(name, results):
    result = results[name]
    cls = METRICS.get(name)
    assert (result.kind, result.direction) == (cls.kind, cls.direction)
    assert result.value is not None or "note" in result.details
    assert result.seconds >= 0
