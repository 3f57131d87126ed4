"""Image metrics without downloads: a small CNN trained here on the real training split is the
feature network (no Inception weights), and is also the classifier of label fidelity and the model of
TRTR. Every metric compares against the holdout, which neither the GAN nor the CNN saw.

- fd_ratio: Fréchet distance of synthetic to train features over the holdout's (a real-vs-real floor)
- density / coverage: Naeem et al. 2020, k = 5, in the same feature space
- label_fidelity_ratio: per class, the CNN's accuracy on synthetic images against their conditioned labels
  over its recall on the real holdout images of that class (the worst class)
- tstr_chance_ratio / augmentation_uplift: holdout (balanced) accuracy of CNNs trained on synthetic / real + synthetic
- memorization_share / dcr_share: nearest-neighbour memorisation in pixel AND feature space
  (the worse space is the value; both are in the details with the closest synthetic/train pairs)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from synthgen.data import LabeledImages
from synthgen.distances import dcr_share, nearest, nearest_ties
from synthgen.validation.context import CachedViews
from synthgen.validation.metrics import METRICS, Metric, paired_bootstrap_bound, share_standard_error


@dataclass
class ImageValidationContext(CachedViews):
    train: LabeledImages
    holdout: LabeledImages
    synthetic: LabeledImages
    max_rows: int = 4000
    random_state: int = 0
    classifier_epochs: int = 5
    threads: int = 2
    device: str = "cpu"
    min_steps: int = 300
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @cached_property
    def train_idx(self) -> np.ndarray:
        return self.index(len(self.train), self.max_rows, 1)

    @cached_property
    def synthetic_idx(self) -> np.ndarray:
        return self.index(len(self.synthetic), self.max_rows, 3)

    def train_cnn(self, images: np.ndarray, labels: np.ndarray, salt: int):
        from synthgen.training.classifier import train_classifier

        return train_classifier(images, labels, len(self.train.classes), epochs=self.classifier_epochs,
                                random_state=self.random_state + salt, threads=self.threads, device=self.device,
                                min_steps=self.min_steps)

    @cached_property
    def classifier(self):
        """The CNN trained on real train images: feature network, label classifier, TRTR model."""
        return self.train_cnn(self.train.images, self.train.label_index(), 0)

    def outputs(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        from synthgen.training.classifier import predict

        def compute():
            data = getattr(self, which)
            idx = {"train": self.train_idx, "synthetic": self.synthetic_idx}.get(which, np.arange(len(data)))
            return predict(self.classifier, data.images[idx])
        return self.cached(f"out:{which}", compute)

    def features(self, which: str) -> np.ndarray:
        return self.outputs(which)[1]

    def pixels(self, which: str) -> np.ndarray:
        data = getattr(self, which)
        idx = {"train": self.train_idx, "synthetic": self.synthetic_idx}.get(which, np.arange(len(data)))
        return data.images[idx].reshape(len(idx), -1).astype(np.float32) / 255.0

    def space(self, name: str, which: str) -> np.ndarray:
        return self.features(which) if name == "feature" else self.pixels(which)

    def synthetic_predicted(self) -> tuple[np.ndarray, np.ndarray]:
        """(conditioned class index, the classifier's predicted class) of the synthetic images it sees."""
        probs, _ = self.outputs("synthetic")
        return self.synthetic.label_index()[self.synthetic_idx], np.argmax(probs, axis=1)

    def holdout_predictions(self, net) -> np.ndarray:
        from synthgen.training.classifier import predict

        probs, _ = predict(net, self.holdout.images)
        return np.argmax(probs, axis=1)

    def holdout_accuracy(self, net) -> float:
        return float(np.mean(self.holdout_predictions(net) == self.holdout.label_index()))

    def balanced_accuracy(self, predictions: np.ndarray) -> float:
        """Mean over the holdout's classes of the recall on that class: every class counts alike, so a model
        that predicts one class scores 1 / classes however imbalanced the holdout is."""
        truth = self.holdout.label_index()
        return float(np.mean([np.mean(predictions[truth == k] == k) for k in np.unique(truth)]))

    @property
    def classifier_holdout_predictions(self) -> np.ndarray:
        return self.cached("classifier_holdout_pred", lambda: self.holdout_predictions(self.classifier))

    @property
    def chance_accuracy(self) -> float:
        """The majority-class share of the holdout: what predicting one class scores."""
        counts = np.bincount(self.holdout.label_index(), minlength=len(self.train.classes))
        return float(counts.max() / max(counts.sum(), 1))

    @property
    def augmented_predictions(self) -> np.ndarray:
        """Holdout predictions of the CNN trained on real + synthetic images."""
        def compute():
            images = np.concatenate([self.train.images, self.synthetic.images])
            labels = np.concatenate([self.train.label_index(), self.synthetic.label_index()])
            return self.holdout_predictions(self.train_cnn(images, labels, 2))
        return self.cached("augmented_pred", compute)

    @property
    def trtr_accuracy(self) -> float:
        return self.cached("trtr", lambda: self.holdout_accuracy(self.classifier))

    def distances(self, space: str, query: str, ref: str) -> np.ndarray:
        return self.nearest_ties(space, query, ref)[0]

    def nearest_ties(self, space: str, query: str, ref: str) -> tuple[np.ndarray, np.ndarray]:
        return self.cached(f"nn:{space}:{query}->{ref}",
                           lambda: nearest_ties(self.space(space, query), self.space(space, ref)))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # near-singular covariances: handled below
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = np.real(covmean)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Naeem et al. 2020: balls around real points with their k-NN radius."""
    import torch

    k = min(k, len(real) - 1)
    if k < 1 or len(fake) == 0:
        return 0.0, 0.0
    r = torch.from_numpy(real.astype(np.float32))
    f = torch.from_numpy(fake.astype(np.float32))
    radii = torch.cdist(r, r).kthvalue(k + 1, dim=1).values          # k-th neighbour, self excluded
    inside = torch.cdist(f, r) < radii[None, :]                       # (n_fake, n_real)
    density = inside.sum().item() / (k * len(f))
    coverage = inside.any(dim=0).float().mean().item()
    return float(density), float(coverage)


def is_degenerate(recall: float, n_classes: int) -> bool:
    """A judge that recalls a class no better than guessing (1 / classes) cannot judge images of that class."""
    return recall <= 1.0 / max(n_classes, 2)


def fidelity_ratio(accuracy: float, recall: float, n_classes: int) -> tuple[float, bool]:
    """(ratio, degenerate) of one class: a judge's accuracy on synthetic images of the class over its recall on
    real images of the class, capped at 1. Where the judge is degenerate for the class (`is_degenerate`),
    dividing by its recall would read almost any synthetic set as faithful (5% over 5% is 1.0), so the raw
    accuracy stands in. The gate and the snapshot judge both use it."""
    degenerate = is_degenerate(recall, n_classes)
    return (float(accuracy) if degenerate else min(1.0, float(accuracy) / recall)), bool(degenerate)


class _ImageMetric(Metric):
    modality = "image"


@METRICS.register("label_fidelity_ratio")
class LabelFidelityRatio(_ImageMetric):
    """Per class, the classifier's accuracy on synthetic images of that class over its recall on the real
    holdout images of that class (capped at 1); the value is the worst class. A hard task (classifier 0.89
    on real data) and an easy one are judged alike, and one unrecognisable class fails. A class the classifier
    recalls no better than guessing on real holdout images is `degenerate` (`fidelity_ratio`, flagged)."""
    reads = ("classifier",)

    kind = "quality"
    direction = "higher"

    def compute(self, ctx: ImageValidationContext):
        wanted, pred = ctx.synthetic_predicted()
        truth, hold_pred = ctx.holdout.label_index(), ctx.classifier_holdout_predictions
        per_class = {}
        for i, c in enumerate(ctx.train.classes):
            if not np.any(wanted == i) or not np.any(truth == i):
                continue
            fidelity = float(np.mean(pred[wanted == i] == i))
            recall = float(np.mean(hold_pred[truth == i] == i))
            ratio, degenerate = fidelity_ratio(fidelity, recall, len(ctx.train.classes))
            per_class[c] = {"synthetic_accuracy": fidelity, "holdout_recall": recall, "ratio": ratio}
            if degenerate:
                per_class[c]["degenerate"] = True
        if not per_class:
            return None, {"not_measurable": "no class has both synthetic and holdout images"}
        worst = min(per_class, key=lambda c: per_class[c]["ratio"])
        details = {"worst_class": worst, "per_class": per_class, "classifier_holdout_accuracy": ctx.trtr_accuracy}
        degenerate = [c for c, v in per_class.items() if v.get("degenerate")]
        if degenerate:
            details["degenerate_classes"] = degenerate
        return per_class[worst]["ratio"], details


@METRICS.register("fd_ratio")
class FrechetDistanceRatio(_ImageMetric):
    reads = ("classifier",)
    kind = "quality"
    direction = "lower"

    def compute(self, ctx: ImageValidationContext):
        train, hold, syn = ctx.features("train"), ctx.features("holdout"), ctx.features("synthetic")
        n = len(hold)
        if n < 10:
            return None, {"not_applicable": "few_holdout_images", "holdout_images": n}
        syn = syn[ctx.index(len(syn), n, 5)]
        floor = frechet_distance(train, hold)
        fd = frechet_distance(train, syn)
        return fd / max(floor, 1e-9), {"fd": fd, "real_floor_fd": floor, "rows": [len(train), n, len(syn)]}


def _density_coverage(ctx: ImageValidationContext):
    def compute():
        real = ctx.features("train")[ctx.index(len(ctx.train_idx), 2000, 6)]
        fake = ctx.features("synthetic")[ctx.index(len(ctx.synthetic_idx), 2000, 7)]
        hold = ctx.features("holdout")[ctx.index(len(ctx.holdout), 2000, 8)]
        return {"synthetic": density_coverage(real, fake), "holdout": density_coverage(real, hold)}
    return ctx.cached("density_coverage", compute)


@METRICS.register("density")
class Density(_ImageMetric):
    reads = ("classifier",)
    kind = "quality"
    direction = "higher"

    def compute(self, ctx):
        dc = _density_coverage(ctx)
        return dc["synthetic"][0], {"real_floor": dc["holdout"][0]}


@METRICS.register("coverage")
class Coverage(_ImageMetric):
    reads = ("classifier",)
    kind = "quality"
    direction = "higher"

    def compute(self, ctx):
        dc = _density_coverage(ctx)
        return dc["synthetic"][1], {"real_floor": dc["holdout"][1]}


@METRICS.register("tstr_chance_ratio")
class TSTRChanceRatio(_ImageMetric):
    """Chance-corrected TSTR on balanced accuracy (the mean per-class recall on the holdout):
    (TSTR - 1/K) / (TRTR - 1/K), K the holdout's classes. A synthetic set whose classifier only predicts one
    class scores 0. Balanced, not plain, accuracy: on an imbalanced holdout (25% minority) plain accuracy
    corrected by the majority share read fresh real images of the same task at 0.375 (PneumoniaMNIST
    subsample, bench/bench_suite.py), since a model trained on differently mixed data trades majority hits for
    minority ones; on a balanced holdout the two are the same measure."""
    reads = ("classifier",)

    kind = "utility"
    direction = "higher"

    def compute(self, ctx):
        syn = ctx.synthetic
        tstr_pred = ctx.cached("tstr_pred", lambda: ctx.holdout_predictions(ctx.train_cnn(syn.images, syn.label_index(), 1)))
        truth = ctx.holdout.label_index()
        tstr, trtr = ctx.balanced_accuracy(tstr_pred), ctx.balanced_accuracy(ctx.classifier_holdout_predictions)
        chance = 1.0 / max(len(np.unique(truth)), 1)
        details = {"tstr_balanced_accuracy": tstr, "trtr_balanced_accuracy": trtr, "chance": chance,
                   "tstr_accuracy": float(np.mean(tstr_pred == truth)), "trtr_accuracy": ctx.trtr_accuracy,
                   "majority_share": ctx.chance_accuracy}
        if trtr - chance < 0.02:
            return None, {**details, "not_applicable": "label_unpredictable"}
        return (tstr - chance) / (trtr - chance), details


@METRICS.register("augmentation_no_harm")
class ImageAugmentationNoHarm(_ImageMetric):
    """Upper 95% bound (paired bootstrap over holdout images) of the holdout accuracy change from training
    the CNN on real + synthetic instead of real only. Below -tolerance: adding the synthetic images
    confidently hurts, which a team scheduling augmentation must never be handed."""
    reads = ("augmented", "classifier")

    kind = "utility"
    direction = "higher"

    def compute(self, ctx):
        truth = ctx.holdout.label_index()
        real = (ctx.classifier_holdout_predictions == truth).astype(float)
        augmented = (ctx.augmented_predictions == truth).astype(float)
        return paired_bootstrap_bound(lambda idx: augmented[idx].mean() - real[idx].mean(), len(truth),
                                      ctx.rng(41))


@METRICS.register("augmentation_uplift")
class ImageAugmentationUplift(_ImageMetric):
    """Holdout accuracy gained by training the CNN on real + synthetic instead of real only."""
    reads = ("augmented", "classifier")

    kind = "utility"
    direction = "higher"

    def compute(self, ctx):
        augmented = float(np.mean(ctx.augmented_predictions == ctx.holdout.label_index()))
        return augmented - ctx.trtr_accuracy, {"augmented_accuracy": augmented, "real_accuracy": ctx.trtr_accuracy}


def _memorization(ctx: ImageValidationContext) -> dict:
    def compute():
        out = {}
        n_hold = len(ctx.holdout)
        n_syn = len(np.unique(ctx.pixels("synthetic"), axis=0))
        for space in ("pixel", "feature"):
            d_syn = ctx.distances(space, "synthetic", "train")
            d_hold = ctx.distances(space, "holdout", "train")
            q1 = float(np.quantile(d_hold, 0.01))
            dcr = dcr_share(ctx.nearest_ties(space, "synthetic", "train"), ctx.nearest_ties(space, "synthetic", "holdout"),
                            len(ctx.space(space, "train")), n_hold, n_syn)
            out[space] = {"share": float(np.mean(d_syn < q1)), "holdout_1st_percentile": q1,
                          "dcr_share": dcr["dcr_share"], "dcr": dcr}
        out["standard_error"] = {"memorization_share": share_standard_error(0.01, n_hold, n_syn),
                                 "dcr_share": max(out[s]["dcr"]["standard_error"] for s in ("pixel", "feature"))}
        out["closest_pairs"] = _closest_pairs(ctx)
        return out
    return ctx.cached("memorization", compute)


def _closest_pairs(ctx: ImageValidationContext, k: int = 8) -> list[dict]:
    """The k synthetic images closest (pixel space) to a training image, with that image's index."""
    best_d, best_i = nearest(ctx.pixels("synthetic"), ctx.pixels("train"))
    order = np.argsort(best_d, kind="stable")[:k]
    return [{"synthetic": int(ctx.synthetic_idx[s]), "train": int(ctx.train_idx[best_i[s]]),
             "distance": float(best_d[s])} for s in order]


@METRICS.register("memorization_share")
class MemorizationShare(_ImageMetric):
    reads = ("classifier",)
    kind = "privacy"
    direction = "lower"
    sections = ("closest_pairs",)

    def compute(self, ctx):
        m = _memorization(ctx)
        return max(m["pixel"]["share"], m["feature"]["share"]), {
            **m, "null_value": 0.01, "standard_error": m["standard_error"]["memorization_share"]}


@METRICS.register("dcr_share")
class ImageDCRShare(_ImageMetric):
    reads = ("classifier",)
    kind = "privacy"
    direction = "lower"

    def compute(self, ctx):
        m = _memorization(ctx)
        return max(m["pixel"]["dcr_share"], m["feature"]["dcr_share"]), {
            "pixel": m["pixel"]["dcr_share"], "feature": m["feature"]["dcr_share"],
            "null_value": 0.5, "standard_error": m["standard_error"]["dcr_share"]}
