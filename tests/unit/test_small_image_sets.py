"""Small imbalanced image sets: class-balanced GAN epochs, class-weighted judges, degenerate judges detected,
the cross-fitted snapshot judge, and the discriminator-at-zero share recorded for the card."""

import numpy as np
import pytest
import torch

from synthgen.training.classifier import class_weights
from synthgen.training.gan import D_LOSS_LOW, d_loss_low_share, epoch_order
from synthgen.validation.images import ImageValidationContext, fidelity_ratio
from synthgen.validation.suite import run_metrics


def test_balanced_epochs_show_every_class_equally_and_each_image_evenly():
    labels = torch.tensor([0] * 134 + [1] * 365)
    order = epoch_order(labels, torch.Generator().manual_seed(0), 1.0)
    assert len(order) == len(labels)
    shares = torch.bincount(labels[order])
    assert abs(int(shares[0]) - int(shares[1])) <= 1                        # 250 / 249, not 134 / 365
    shown = torch.bincount(order[labels[order] == 0], minlength=134)[:134]
    assert int(shown.min()) >= 1 and int(shown.max()) - int(shown.min()) <= 1   # cycled, not drawn at random
    half = torch.bincount(labels[epoch_order(labels, torch.Generator().manual_seed(0), 0.5)])
    assert 134 < int(half[0]) < 250                                          # sqrt balance sits between
    off = epoch_order(labels, torch.Generator().manual_seed(0), 0.0)
    assert torch.equal(off, torch.randperm(len(labels), generator=torch.Generator().manual_seed(0)))


def test_equal_classes_keep_the_plain_permutation_bit_for_bit():
    labels = torch.tensor([0, 1, 2] * 20)
    order = epoch_order(labels, torch.Generator().manual_seed(5), 1.0)
    assert torch.equal(order, torch.randperm(60, generator=torch.Generator().manual_seed(5)))


def test_class_weights_equalise_class_totals_and_leave_equal_classes_alone():
    labels = np.array([0] * 90 + [1] * 10)
    w = class_weights(labels, 3)
    assert w[0] * 90 == pytest.approx(w[1] * 10) and w[2] == 0.0
    assert class_weights(np.array([0, 1] * 5), 2) is None


def test_fidelity_ratio_never_reads_a_degenerate_judge_as_perfect():
    assert fidelity_ratio(0.9, 0.9, 2) == (1.0, False)
    assert fidelity_ratio(0.45, 0.9, 2) == (0.5, False)
    ratio, degenerate = fidelity_ratio(0.05, 0.05, 2)      # the judge recalls the class 5% of the time
    assert degenerate and ratio == pytest.approx(0.05)     # the old ratio: min(1, 0.05 / 0.05) = 1.0
    assert fidelity_ratio(0.0, 0.0, 3) == (0.0, True)


class _PixelJudge(torch.nn.Module):
    """A 'classifier' that calls an image class 1 only when its first pixel is bright: a judge that has not
    learned class 1 (it recalls it on a few real images by accident)."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(1, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[0.0], [10.0]]))
            self.head.bias.copy_(torch.tensor([0.0, -5.0]))

    def features(self, x):
        return (x[:, :1, 0, 0] + 1) / 2                    # the first pixel in [0, 1]

    def forward(self, x):
        return self.head(self.features(x))


def test_gate_flags_a_degenerate_classifier_instead_of_passing_the_class(mnist_split):
    from synthgen.data import LabeledImages

    train, holdout = mnist_split
    rng = np.random.default_rng(0)

    def two_class(data, bright_b: float):
        """200 digits labelled a / b alternately; a share `bright_b` of the b images get a bright first pixel."""
        images = data.images[:200].copy()
        images[:, 0, 0] = 0
        images[1::2, 0, 0] = np.where(rng.random(100) < bright_b, 255, 0)[:, None]
        return LabeledImages(images=images, labels=np.array(["a", "b"] * 100, dtype=object), classes=("a", "b"),
                             origin=data.origin)

    # the judge "recalls" b on ~4% of the real holdout's b images, and calls ~4% of the synthetic b images b
    ctx = ImageValidationContext(two_class(train, 0.0), two_class(holdout, 0.04), two_class(holdout, 0.04))
    ctx.__dict__["classifier"] = _PixelJudge().eval()
    result = run_metrics(ctx, ["label_fidelity_ratio"], modality="image")["label_fidelity_ratio"]
    assert result.details["degenerate_classes"] == ["b"]
    assert result.value < 0.15                              # not min(1, 0.04 / 0.04) = 1.0


def test_d_loss_low_share_counts_epochs_the_discriminator_won_outright():
    assert d_loss_low_share({"d_loss": [0.0, 0.01, 1.2, 1.3, D_LOSS_LOW]}) == pytest.approx(0.4)
    assert d_loss_low_share({}) is None


def test_cross_fitted_snapshot_judge_tells_a_lost_minority_from_a_faithful_sample(mnist_split):
    """Known-good: fresh real digits of each wanted class (neither the judge's training images nor its
    selection split); known-bad: the majority class drawn under every label (the minority lost)."""
    from synthgen.validation.judges import ImageSnapshotJudge

    train, holdout = mnist_split
    threes, eights = np.flatnonzero(train.labels == "3"), np.flatnonzero(train.labels == "8")
    n = min(len(threes), 4 * len(eights))
    idx = np.concatenate([threes[:n], eights[:n // 4]])            # eight: a fifth of the images
    images, labels = train.images[idx], (train.labels[idx] == "8").astype(np.int64)
    sel = np.r_[np.arange(0, n // 10), np.arange(n, n + max(2, n // 40))]   # a 10% selection split
    fit = np.setdiff1d(np.arange(len(idx)), sel)
    judge = ImageSnapshotJudge(images[fit], labels[fit], images[sel], labels[sel], 2, random_state=0, threads=2)
    assert not judge.degenerate and judge.recall[1] > 0.5           # out-of-fold recall over all 40 eights
    fresh = {0: holdout.images[holdout.labels == "3"], 1: holdout.images[holdout.labels == "8"]}

    def faithful(wanted):
        return np.concatenate([fresh[k][np.arange(int(np.sum(wanted == k))) % len(fresh[k])] for k in (0, 1)])

    def minority_lost(wanted):
        return fresh[0][np.arange(len(wanted)) % len(fresh[0])]

    good, bad = judge(faithful), judge(minority_lost)
    assert good["label_fidelity_ratio"] >= 0.8 and good["score"] > bad["score"]
    assert bad["label_fidelity_ratio"] < 0.3 and bad["worst_class"] == 1


def test_chance_corrected_tstr_on_an_imbalanced_holdout(mnist_split):
    """Known-good: fresh real digits, drawn balanced, judged on a holdout with one class at a fifth; known-bad:
    the majority class alone. Balanced accuracy puts chance at 1/2 whatever the mix."""
    from synthgen.data import LabeledImages

    train, holdout = mnist_split

    def pick(data, n3, n8, offset=0):
        idx = np.r_[np.flatnonzero(data.labels == "3")[offset:offset + n3], np.flatnonzero(data.labels == "8")[offset:offset + n8]]
        return LabeledImages(images=data.images[idx], labels=data.labels[idx], classes=("3", "8"), origin=data.origin)

    n8 = int(min(np.sum(holdout.labels == "8"), np.sum(holdout.labels == "3")) // 2)
    judged = pick(holdout, 4 * n8 // 2, n8 // 2)                 # eights a fifth of the judged holdout
    fresh = pick(holdout, n8, n8, offset=n8)                       # neither train nor the judged images
    small_train = pick(train, 4 * n8, n8)
    good = ImageValidationContext(small_train, judged, fresh)
    value = run_metrics(good, ["tstr_chance_ratio"], modality="image")["tstr_chance_ratio"]
    assert value.details["chance"] == 0.5 and value.value >= 0.5
    threes = pick(holdout, 2 * n8, 0, offset=n8)
    bad = ImageValidationContext(small_train, judged, threes)
    bad.__dict__["classifier"] = good.classifier
    value = run_metrics(bad, ["tstr_chance_ratio"], modality="image")["tstr_chance_ratio"]
    assert value.value < 0.1 and value.details["tstr_accuracy"] > 0.75  # plain accuracy would sit at the majority share
