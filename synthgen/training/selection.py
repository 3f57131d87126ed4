"""Model selection during training that never reads the gate holdout.

A GAN's last step is rarely its best, and the gates' holdout must not pick the snapshot (that would
turn the gates into a search target). So a *selection split* is carved from the training data given
to `fit` (stratified, seeded), the generator trains on the rest, and at a few points of the budget a
judge of its own scores a sample of the current snapshot against the selection split, with the same
kind of measure the gates use. The best snapshot is kept and the whole curve goes into the card.

- `carve_selection`: the stratified split of train into (fit, selection) positions;
- `evaluation_points`: where in the budget snapshots are judged;
- `SnapshotSelector`: runs the judge at those points, keeps the best snapshot's state and the curve,
  and round-trips through a training checkpoint (exact resume);
- `ImageSnapshotJudge` / `TableSnapshotJudge`: the judges (a CNN / a boosted-tree detector trained
  here on the fit part and the selection split only: never the gates' judge network).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SELECTION_SHARE = 0.1      # of train, per class
MIN_SELECTION = 2          # rows or images per class in the selection split, where the class has >= 2x that
EVALUATIONS = 10           # snapshots judged per training run (the last step always is)
DCR_LIMIT = 0.55           # a snapshot whose DCR share on the selection split exceeds this (significantly) memorises


def carve_selection(labels: np.ndarray, *, share: float = SELECTION_SHARE, random_state: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (fit, selection) positions of `labels`; classes too small to give MIN_SELECTION
    while keeping as many for training stay whole in the fit part."""
    rng = np.random.default_rng([random_state, 5151])
    fit, sel = [], []
    labels = np.asarray(labels)
    for cls in sorted(set(labels.tolist()), key=str):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        k = max(MIN_SELECTION, int(round(share * len(idx)))) if len(idx) >= 2 * MIN_SELECTION else 0
        sel.append(idx[:k])
        fit.append(idx[k:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(sel))


def evaluation_points(total: int, n: int = EVALUATIONS) -> list[int]:
    """1-based positions (epochs or steps) after which a snapshot is judged: evenly spread, last included."""
    if total <= 0:
        return []
    return sorted({max(1, int(round(total * (i + 1) / n))) for i in range(n)})


@dataclass
class SnapshotSelector:
    """Judge snapshots at `points` and keep the best. `judge(model) -> {"score": higher is better, ...}`
    gets the training loop's live model; `step` is also given `state()`, the weights to keep (copied)
    when the snapshot is the best so far; a tie keeps the earlier snapshot."""

    judge: Callable[[Any], dict]
    points: list[int]
    criterion: str = ""
    curve: list[dict] = field(default_factory=list)
    best_state: dict | None = None
    extra: dict = field(default_factory=dict)     # choices made after training with the same judge

    def due(self, position: int) -> bool:
        return position in self.points and not any(p["at"] == position for p in self.curve)

    def step(self, position: int, model: Any, state: Callable[[], dict]) -> None:
        if not self.due(position):
            return
        result = {"at": position, **self.judge(model)}
        best = self.best
        self.curve.append(result)
        if best is None or rank(result) > rank(best):
            self.best_state = copy.deepcopy(state())

    @property
    def best(self) -> dict | None:
        if not self.curve or self.best_state is None:
            return None
        return max(self.curve, key=rank)

    def summary(self) -> dict:
        best = self.best
        return {"criterion": self.criterion, "points": self.points, "curve": self.curve,
                "best_at": best["at"] if best else None, "best_score": best["score"] if best else None,
                **self.extra}

    # -- checkpoint round trip -------------------------------------------------------------------
    def state(self) -> dict:
        return {"curve": self.curve, "best_state": self.best_state}

    def restore(self, state: dict | None) -> None:
        if state:
            self.curve = [dict(p) for p in state["curve"]]
            self.best_state = state["best_state"]


def rank(point: dict) -> tuple:
    """Snapshots the judge found private (no significant memorisation on the selection split; a judge
    that does not measure it calls every snapshot private) before the others; among those the higher
    score, then the earlier snapshot. When no snapshot is private, the one that memorises least wins."""
    private = point.get("private", True)
    return (private, point["score"] if private else -point.get("dcr_share", 0.0), -point["at"])


def memorisation_check(sample: np.ndarray, fit: np.ndarray, selection: np.ndarray, *,
                       limit: float = DCR_LIMIT, z: float = 1.645) -> dict:
    """The gates' DCR share (`distances.dcr_share`) on the selection split: whether the sample's nearest
    real row among fit ∪ selection is a fit row more often than unseen rows would be (0.5 = as often).
    `private` is False only when the share is both above `limit` (a size that matters, halfway to the
    default gate; fixed so the trained model never depends on the gates) and significantly above 0.5
    (one-sided 95%: on a tiny selection split noise alone exceeds the limit)."""
    from synthgen.distances import dcr_share, nearest_ties

    found = dcr_share(nearest_ties(sample, fit), nearest_ties(sample, selection), len(fit), len(selection),
                      len(np.unique(sample, axis=0)))
    return {"dcr_share": found["dcr_share"],
            "private": bool(found["dcr_share"] <= max(limit, 0.5 + z * found["standard_error"]))}


class ImageSnapshotJudge:
    """A small CNN trained here on the fit part (its own seed; never the gates' judge) scores a sample of
    the snapshot against the selection split: coverage of the selection images' features, and per-class
    label fidelity over the judge's own recall on the selection images (worst class). Score = coverage x
    min(1, worst label-fidelity ratio): both are gate measures, both in [0, 1]. The Fréchet distance to
    the selection features is recorded beside them. Memorisation is judged as the gate does (DCR share,
    the larger of pixel and feature space), against the selection images: a snapshot whose sample sits
    significantly nearer the fit images than the unseen selection images ranks below every one that does
    not (`rank`), so training longer cannot buy coverage with copies."""

    criterion = ("coverage x label-fidelity ratio on the selection split (own CNN judge), among snapshots "
                 "with no significant memorisation (DCR share on the selection split)")

    def __init__(self, fit_images: np.ndarray, fit_labels: np.ndarray, sel_images: np.ndarray,
                 sel_labels: np.ndarray, n_classes: int, *, random_state: int, threads: int,
                 per_class: int = 100):
        from synthgen.training.classifier import predict, train_classifier

        self.net = train_classifier(fit_images, fit_labels, n_classes, random_state=random_state + 7331,
                                    threads=threads)
        probs, self.sel_features = predict(self.net, sel_images)
        pred = np.argmax(probs, axis=1)
        self.sel_labels = sel_labels
        self.recall = {k: float(np.mean(pred[sel_labels == k] == k)) for k in range(n_classes)
                       if np.any(sel_labels == k)}
        self.n_classes = n_classes
        self.per_class = max(per_class, int(np.ceil(len(sel_labels) / max(n_classes, 1))))
        _, fit_features = predict(self.net, fit_images)
        self.spaces = {"pixel": (_flat(fit_images), _flat(sel_images)), "feature": (fit_features, self.sel_features)}
        self.random_state = random_state

    def __call__(self, sample: Callable[[np.ndarray], np.ndarray]) -> dict:
        """`sample(class_index_array) -> uint8 images` draws from the snapshot (seeded by the caller)."""
        from synthgen.training.classifier import predict
        from synthgen.validation.images import density_coverage, frechet_distance

        wanted = np.repeat(np.arange(self.n_classes), self.per_class)
        images = sample(wanted)
        probs, feats = predict(self.net, images)
        pred = np.argmax(probs, axis=1)
        ratios = {k: min(1.0, float(np.mean(pred[wanted == k] == k)) / max(r, 1e-9)) for k, r in self.recall.items()}
        _, coverage = density_coverage(self.sel_features, feats)
        worst = min(ratios.values()) if ratios else 0.0
        fd = frechet_distance(self.sel_features, feats) if len(self.sel_features) > 2 else None
        checks = {space: memorisation_check(query, *self.spaces[space])
                  for space, query in (("pixel", _flat(images)), ("feature", feats))}
        return {"score": coverage * min(1.0, worst), "coverage": coverage, "label_fidelity_ratio": worst,
                "fd": fd, "dcr_share": max(c["dcr_share"] for c in checks.values()),
                "private": all(c["private"] for c in checks.values())}


def _flat(images: np.ndarray) -> np.ndarray:
    """Images as the gates' pixel space: flat float rows in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


class TableSnapshotJudge:
    """The gates' kinds of table measure, computed against the selection split with models of the judge's
    own (seeded apart from the gates'): a boosted-tree detector tells selection rows from a sample of the
    snapshot (3-fold CV), the quality recipe compares column shapes and pair trends, and the signal kept
    on the label: (TSTR AUROC - 0.5) / (TRTR AUROC - 0.5), TSTR trained on the sample and TRTR on the fit
    part, both scored on the selection split. Score = quality - (detection - 0.5) + signal (clipped to
    [-1, 1]; 0 where the fit part cannot predict the label either). Higher is better."""

    criterion = ("quality - (detection AUROC - 0.5) + TSTR signal ratio on the selection split "
                 "(own detector and classifiers)")

    def __init__(self, fit, selection, *, random_state: int, max_rows: int = 5000):
        self.fit, self.selection = fit, selection
        self.random_state = random_state + 7331
        self.max_rows = max_rows
        self._shared: dict = {}          # TRTR and the selection features: the same for every snapshot

    def __call__(self, synthetic) -> dict:
        from synthgen.validation.context import ValidationContext
        from synthgen.validation.fidelity import DetectionAUC, quality
        from synthgen.validation.utility import TSTRSignalRatio

        # the gates' views (encoding by the fit part's vocabulary, the same classifier) on other data
        ctx = ValidationContext(self.fit, self.selection, synthetic, max_rows=self.max_rows,
                                random_state=self.random_state)
        ctx._cache.update(self._shared)
        auc, _ = DetectionAUC().compute(ctx)
        signal, _ = TSTRSignalRatio().compute(ctx)
        self._shared.update({k: v for k, v in ctx._cache.items() if k in ("trtr", "holdout_features")})
        q = quality(self.selection, synthetic)["quality_score"]
        kept = float(np.clip(signal, -1.0, 1.0)) if signal is not None else 0.0
        return {"score": q - (auc - 0.5) + kept, "quality_score": q, "detection_auc": auc,
                "tstr_signal_ratio": signal}


__all__ = ["carve_selection", "evaluation_points", "rank", "memorisation_check", "SnapshotSelector",
           "ImageSnapshotJudge",
           "TableSnapshotJudge", "SELECTION_SHARE"]
