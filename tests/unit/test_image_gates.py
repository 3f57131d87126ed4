"""Image gates FAIL on known-bad data and pass on known-good data (real MNIST digits).

Known-bad: training images returned as "synthetic" (memorisation must fail), shuffled labels
(label fidelity must fail), noise (quality must fail), one class's images under every label (label
fidelity), a majority-class-only set (chance-corrected TSTR), labels shifted by one class (augmentation
no-harm). Known-good: fresh real digits that are neither train nor the holdout half the gates judge against
(a resample of the judged holdout would be compared with itself).
"""

from dataclasses import replace

import numpy as np
import pytest

from synthgen.spec import ImageGates
from synthgen.validation.gates import verdict as decide
from synthgen.validation.images import ImageValidationContext
from synthgen.validation.suite import metric_groups, run_metrics

DEFAULTS = ImageGates().model_dump()


@pytest.fixture(scope="module")
def judged_split(mnist_split):
    """(train, the holdout half the gates judge against, fresh real digits that are neither)."""
    train, holdout = mnist_split
    order = np.random.default_rng(0).permutation(len(holdout))
    half = len(holdout) // 2
    return train, holdout.subset(np.sort(order[:half])), holdout.subset(np.sort(order[half:]))


@pytest.fixture(scope="module")
def shared_judge(judged_split):
    train, holdout, _ = judged_split
    return ImageValidationContext(train, holdout, train, classifier_epochs=3).classifier


def _verdict(judged_split, shared_judge, synthetic, *, augmentation: bool = False, names=None):
    """Every image metric (or `names`); the augmentation group (which trains a second CNN on real +
    synthetic) only for the cases that judge it."""
    train, holdout, _ = judged_split
    ctx = ImageValidationContext(train, holdout, synthetic, classifier_epochs=3)
    ctx.__dict__["classifier"] = shared_judge  # one real-data CNN for every case: same judge, less time
    names = names or [n for group in metric_groups("image") for n in group
                      if augmentation or not n.startswith("augmentation")]
    results = run_metrics(ctx, names, modality="image")
    verdict = decide(results, {k: v for k, v in DEFAULTS.items() if k in results})
    return results, verdict, {c.metric for c in verdict.checks if not c.passed}


def _resample(data, n, seed):
    return data.subset(np.random.default_rng(seed).integers(0, len(data), n))


def test_judge_is_a_real_classifier(judged_split, shared_judge):
    train, holdout, _ = judged_split
    ctx = ImageValidationContext(train, holdout, train)
    ctx.__dict__["classifier"] = shared_judge
    assert ctx.trtr_accuracy > 0.8


PRIVACY = ["memorization_share", "dcr_share"]


def _near_copies(images, n, sigma, seed):
    """Training images with Gaussian pixel noise (`sigma` of 255): no two bytes equal, the digit unchanged."""
    rng = np.random.default_rng(seed)
    picked = _resample(images, n, seed)
    noisy = np.clip(picked.images.astype(np.float32) + rng.normal(0, sigma, picked.images.shape), 0, 255)
    return replace(picked, images=noisy.round().astype(np.uint8))


@pytest.mark.parametrize("bad", ["copies", "near_copies"])
def test_training_images_and_near_copies_fail_memorization_and_dcr(judged_split, shared_judge, bad):
    """Known-bad: training images verbatim, or with noise of 8/255 on every pixel; known-good: fresh
    digits that are neither train nor the judged holdout."""
    train, _, fresh = judged_split
    results, verdict, failed = _verdict(judged_split, shared_judge, _resample(fresh, len(train), 11), names=PRIVACY)
    assert not failed, verdict.reasons
    assert abs(results["dcr_share"].value - 0.5) < 0.15
    synthetic = _resample(train, len(train), 1) if bad == "copies" else _near_copies(train, len(train), 8.0, 1)
    results, verdict, failed = _verdict(judged_split, shared_judge, synthetic, names=PRIVACY)
    assert failed == set(PRIVACY), {k: r.value for k, r in results.items()}
    assert results["dcr_share"].value > 0.9 and results["memorization_share"].value > 0.5
    pairs = results["memorization_share"].details["closest_pairs"]
    assert (pairs[0]["distance"] == 0.0) == (bad == "copies")


def test_shuffled_labels_fail_label_fidelity(judged_split, shared_judge):
    train, holdout, _ = judged_split
    fresh = _resample(holdout, len(train), 2)
    shuffled = replace(fresh, labels=np.random.default_rng(3).permutation(fresh.labels))
    results, verdict, failed = _verdict(judged_split, shared_judge, shuffled)
    assert {"label_fidelity_ratio", "tstr_chance_ratio"} <= failed
    assert results["label_fidelity_ratio"].value < 0.3
    assert "label_fidelity" not in results and "tstr_ratio" not in results  # retired: no gate reads them


def test_noise_fails_quality(judged_split, shared_judge):
    train, _, _ = judged_split
    noise = replace(train, images=np.random.default_rng(4).integers(0, 256, train.images.shape, dtype=np.uint8))
    results, verdict, failed = _verdict(judged_split, shared_judge, noise)
    assert {"label_fidelity_ratio", "fd_ratio", "coverage"} <= failed
    assert results["fd_ratio"].value > 100


def test_fresh_real_digits_pass_every_gate(judged_split, shared_judge):
    train, _, fresh = judged_split
    results, verdict, failed = _verdict(judged_split, shared_judge, _resample(fresh, len(train), 5),
                                        augmentation=True)
    assert verdict.passed, verdict.reasons
    assert results["fd_ratio"].value < 5


def test_one_class_under_every_label_fails_label_fidelity(judged_split, shared_judge):
    train, holdout, _ = judged_split
    zeros = holdout.subset(np.flatnonzero(holdout.labels == "0"))
    fake = _resample(zeros, len(train), 6)
    every = np.array(train.classes, dtype=object)[np.arange(len(fake)) % len(train.classes)]
    results, verdict, failed = _verdict(judged_split, shared_judge, replace(fake, labels=every))
    assert "label_fidelity_ratio" in failed
    assert results["label_fidelity_ratio"].value < 0.2 and results["label_fidelity_ratio"].details["worst_class"] != "0"


def test_majority_class_only_fails_chance_corrected_tstr(judged_split, shared_judge):
    """The old tstr_ratio could pass such a set on an imbalanced label; TSTR at chance must score ~0."""
    train, holdout, _ = judged_split
    ones = holdout.subset(np.flatnonzero(holdout.labels == "1"))
    results, verdict, failed = _verdict(judged_split, shared_judge, _resample(ones, len(train), 7))
    assert "tstr_chance_ratio" in failed
    assert results["tstr_chance_ratio"].value < 0.1
    assert results["tstr_chance_ratio"].details["chance"] == pytest.approx(0.1)
    assert results["tstr_chance_ratio"].details["tstr_balanced_accuracy"] == pytest.approx(0.1, abs=0.02)


def test_images_that_hurt_augmentation_fail_no_harm(judged_split, shared_judge):
    train, holdout, _ = judged_split
    fresh = _resample(holdout, len(train), 8)
    shifted = np.array([train.classes[(train.classes.index(v) + 1) % len(train.classes)] for v in fresh.labels],
                       dtype=object)
    results, verdict, failed = _verdict(judged_split, shared_judge, replace(fresh, labels=shifted),
                                        augmentation=True)
    assert "augmentation_no_harm" in failed
    assert results["augmentation_no_harm"].details["difference"] < -0.05
    assert verdict.next_steps["augmentation_no_harm"].startswith("do not use this synthetic data for augmentation")
