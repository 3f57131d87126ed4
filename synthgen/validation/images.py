"""Image metrics without downloads: a small CNN trained here on the real training split is the
feature network (no Inception weights), and is also the judge of label fidelity and the model of
TRTR. Every metric compares against the holdout, which neither the GAN nor the CNN saw.

- fd_ratio: Fréchet distance of synthetic to train features over the holdout's (a real-vs-real floor)
- density / coverage: Naeem et al. 2020, k = 5, in the same feature space
- label_fidelity: the CNN's accuracy on synthetic images against their conditioned labels
- tstr_ratio / augmentation_uplift: holdout accuracy of CNNs trained on synthetic / real + synthetic
- memorization_share / dcr_share: nearest-neighbour memorisation in pixel AND feature space
  (the worse space is the value; both are in the details with the closest synthetic/train pairs)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from synthgen.data import LabeledImages
from synthgen.distances import dcr_share, nearest, nearest_distances
from synthgen.validation.context import CachedViews
from synthgen.validation.metrics import METRICS, Metric


@dataclass
class ImageValidationContext(CachedViews):
    train: LabeledImages
    holdout: LabeledImages
    synthetic: LabeledImages
    max_rows: int = 4000
    random_state: int = 0
    classifier_epochs: int = 5
    threads: int = 2
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
                                random_state=self.random_state + salt, threads=self.threads)

    @cached_property
    def judge(self):
        """The CNN trained on real train images: feature network, label judge, TRTR model."""
        return self.train_cnn(self.train.images, self.train.label_index(), 0)

    def outputs(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        from synthgen.training.classifier import predict

        def compute():
            data = getattr(self, which)
            idx = {"train": self.train_idx, "synthetic": self.synthetic_idx}.get(which, np.arange(len(data)))
            return predict(self.judge, data.images[idx])
        return self.cached(f"out:{which}", compute)

    def features(self, which: str) -> np.ndarray:
        return self.outputs(which)[1]

    def pixels(self, which: str) -> np.ndarray:
        data = getattr(self, which)
        idx = {"train": self.train_idx, "synthetic": self.synthetic_idx}.get(which, np.arange(len(data)))
        return data.images[idx].reshape(len(idx), -1).astype(np.float32) / 255.0

    def space(self, name: str, which: str) -> np.ndarray:
        return self.features(which) if name == "feature" else self.pixels(which)

    def holdout_accuracy(self, net) -> float:
        from synthgen.training.classifier import predict

        probs, _ = predict(net, self.holdout.images)
        return float(np.mean(np.argmax(probs, axis=1) == self.holdout.label_index()))

    @property
    def trtr_accuracy(self) -> float:
        return self.cached("trtr", lambda: self.holdout_accuracy(self.judge))

    def distances(self, space: str, query: str, ref: str) -> np.ndarray:
        return self.cached(f"nn:{space}:{query}->{ref}",
                           lambda: nearest_distances(self.space(space, query), self.space(space, ref)))


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


class _ImageMetric(Metric):
    modality = "image"


@METRICS.register("label_fidelity")
class LabelFidelity(_ImageMetric):
    kind = "quality"
    direction = "higher"

    def compute(self, ctx: ImageValidationContext):
        probs, _ = ctx.outputs("synthetic")
        wanted = ctx.synthetic.label_index()[ctx.synthetic_idx]
        pred = np.argmax(probs, axis=1)
        per_class = {c: float(np.mean(pred[wanted == i] == i)) for i, c in enumerate(ctx.train.classes)
                     if np.any(wanted == i)}
        return float(np.mean(pred == wanted)), {"per_class": per_class,
                                                "judge_holdout_accuracy": ctx.trtr_accuracy}


@METRICS.register("fd_ratio")
class FrechetDistanceRatio(_ImageMetric):
    kind = "quality"
    direction = "lower"

    def compute(self, ctx: ImageValidationContext):
        train, hold, syn = ctx.features("train"), ctx.features("holdout"), ctx.features("synthetic")
        n = len(hold)
        if n < 10:
            return None, {"note": f"only {n} holdout images: too few for a Fréchet distance"}
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
    kind = "quality"
    direction = "higher"

    def compute(self, ctx):
        dc = _density_coverage(ctx)
        return dc["synthetic"][0], {"real_floor": dc["holdout"][0]}


@METRICS.register("coverage")
class Coverage(_ImageMetric):
    kind = "quality"
    direction = "higher"

    def compute(self, ctx):
        dc = _density_coverage(ctx)
        return dc["synthetic"][1], {"real_floor": dc["holdout"][1]}


@METRICS.register("tstr_ratio")
class TSTRRatio(_ImageMetric):
    """Holdout accuracy of a CNN trained on synthetic images over one trained on the real ones."""

    kind = "utility"
    direction = "higher"

    def compute(self, ctx):
        syn = ctx.synthetic
        tstr = ctx.holdout_accuracy(ctx.train_cnn(syn.images, syn.label_index(), 1))
        trtr = ctx.trtr_accuracy
        return tstr / max(trtr, 1e-9), {"tstr_accuracy": tstr, "trtr_accuracy": trtr}


@METRICS.register("augmentation_uplift")
class ImageAugmentationUplift(_ImageMetric):
    """Holdout accuracy gained by training the CNN on real + synthetic instead of real only."""

    kind = "utility"
    direction = "higher"

    def compute(self, ctx):
        images = np.concatenate([ctx.train.images, ctx.synthetic.images])
        labels = np.concatenate([ctx.train.label_index(), ctx.synthetic.label_index()])
        augmented = ctx.holdout_accuracy(ctx.train_cnn(images, labels, 2))
        return augmented - ctx.trtr_accuracy, {"augmented_accuracy": augmented, "real_accuracy": ctx.trtr_accuracy}


def _memorization(ctx: ImageValidationContext) -> dict:
    def compute():
        out = {}
        n_hold = len(ctx.holdout)
        matched = ctx.index(len(ctx.train_idx), n_hold, 9)
        for space in ("pixel", "feature"):
            d_syn = ctx.distances(space, "synthetic", "train")
            d_hold = ctx.distances(space, "holdout", "train")
            q1 = float(np.quantile(d_hold, 0.01))
            train_m = ctx.space(space, "train")[matched]
            d_syn_m = nearest_distances(ctx.space(space, "synthetic"), train_m)
            d_syn_h = ctx.distances(space, "synthetic", "holdout")
            p = dcr_share(d_syn_m, d_syn_h)
            out[space] = {"share": float(np.mean(d_syn < q1)), "holdout_1st_percentile": q1, "dcr_share": p}
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
    kind = "privacy"
    direction = "lower"
    sections = ("closest_pairs",)

    def compute(self, ctx):
        m = _memorization(ctx)
        return max(m["pixel"]["share"], m["feature"]["share"]), m


@METRICS.register("dcr_share")
class ImageDCRShare(_ImageMetric):
    kind = "privacy"
    direction = "lower"

    def compute(self, ctx):
        m = _memorization(ctx)
        return max(m["pixel"]["dcr_share"], m["feature"]["dcr_share"]), {
            "pixel": m["pixel"]["dcr_share"], "feature": m["feature"]["dcr_share"]}
