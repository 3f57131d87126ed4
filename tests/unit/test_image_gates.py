"""Image gates FAIL on known-bad data and pass on known-good data (real MNIST digits).

Known-bad: training images returned as "synthetic" (memorisation must fail), shuffled labels
(label fidelity must fail), noise (quality must fail). Known-good: a holdout resample.
"""

from dataclasses import replace

import numpy as np
import pytest

from synthgen.spec import ImageGates
from synthgen.validation.gates import judge
from synthgen.validation.images import ImageValidationContext
from synthgen.validation.suite import run_metrics

DEFAULTS = ImageGates().model_dump()


@pytest.fixture(scope="module")
def shared_judge(mnist_split):
    train, holdout = mnist_split
    return ImageValidationContext(train, holdout, train, classifier_epochs=3).judge


def _verdict(mnist_split, shared_judge, synthetic):
    train, holdout = mnist_split
    ctx = ImageValidationContext(train, holdout, synthetic, classifier_epochs=3)
    ctx.__dict__["judge"] = shared_judge  # one real-data CNN for every case: same judge, less time
    results = run_metrics(ctx, modality="image")
    verdict = judge(results, DEFAULTS)
    return results, verdict, {c.metric for c in verdict.checks if not c.passed}


def _resample(data, n, seed):
    return data.subset(np.random.default_rng(seed).integers(0, len(data), n))


def test_judge_is_a_real_classifier(mnist_split, shared_judge):
    train, holdout = mnist_split
    ctx = ImageValidationContext(train, holdout, train)
    ctx.__dict__["judge"] = shared_judge
    assert ctx.trtr_accuracy > 0.8


def test_training_images_fail_memorization(mnist_split, shared_judge):
    train, _ = mnist_split
    results, verdict, failed = _verdict(mnist_split, shared_judge, _resample(train, len(train), 1))
    assert "memorization_share" in failed and results["memorization_share"].value > 0.9
    pairs = results["memorization_share"].details["closest_pairs"]
    assert pairs[0]["distance"] == 0.0


def test_shuffled_labels_fail_label_fidelity(mnist_split, shared_judge):
    train, holdout = mnist_split
    fresh = _resample(holdout, len(train), 2)
    shuffled = replace(fresh, labels=np.random.default_rng(3).permutation(fresh.labels))
    results, verdict, failed = _verdict(mnist_split, shared_judge, shuffled)
    assert {"label_fidelity", "tstr_ratio"} <= failed
    assert results["label_fidelity"].value < 0.3


def test_noise_fails_quality(mnist_split, shared_judge):
    train, _ = mnist_split
    noise = replace(train, images=np.random.default_rng(4).integers(0, 256, train.images.shape, dtype=np.uint8))
    results, verdict, failed = _verdict(mnist_split, shared_judge, noise)
    assert {"label_fidelity", "fd_ratio", "coverage"} <= failed
    assert results["fd_ratio"].value > 100


def test_holdout_resample_passes(mnist_split, shared_judge):
    train, holdout = mnist_split
    results, verdict, failed = _verdict(mnist_split, shared_judge, _resample(holdout, len(train), 5))
    assert verdict.passed, verdict.reasons
    assert results["fd_ratio"].value < 5
