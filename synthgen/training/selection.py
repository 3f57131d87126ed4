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
The judges themselves (a CNN / a boosted-tree detector trained on the fit part and the selection split
only, never the gates' classifier) are gate measures on other data: `validation/judges.py`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SELECTION_SHARE = 0.1      # of train, per class
MIN_SELECTION = 2          # rows or images per class in the selection split, where the class has >= 2x that
EVALUATIONS = 10           # snapshots judged per training run (the last step always is)


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


__all__ = ["carve_selection", "evaluation_points", "rank", "SnapshotSelector", "SELECTION_SHARE"]
