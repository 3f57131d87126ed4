"""Fidelity: the SDMetrics quality recipe, vectorised, plus a real-vs-synthetic detector.

Column shapes: 1 - KS statistic (numeric/datetime) or 1 - total variation distance (categories).
Column-pair trends: 1 - |corr_real - corr_syn| / 2 for numeric pairs, contingency similarity
(1 - TVD of the joint distribution, numbers binned at the real deciles) for any pair with a
category. The quality score is the mean of the two. The reference is the holdout (real rows the
generator never saw); the same score between train and holdout is reported as `real_floor`, the
best a generator can be expected to reach.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import polars as pl

from synthgen.data import NULL_TOKEN, LabeledTable
from synthgen.validation.metrics import METRICS, Metric

BINS = 10


def _numeric(table: LabeledTable, name: str) -> np.ndarray:
    s = table.frame.get_column(name)
    s = s.cast(pl.Int64) if table.kinds[name] == "datetime" else s
    v = s.cast(pl.Float64).to_numpy()
    return v[~np.isnan(v)]


def _ks_complement(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0 or len(b) == 0:
        return 0.0
    grid = np.union1d(a, b)
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return 1.0 - float(np.max(np.abs(cdf_a - cdf_b)))


def _codes(real: LabeledTable, other: LabeledTable, name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Both tables' column `name` as small integer codes on the real table's bins/categories."""
    if real.kinds[name] == "categorical":
        r = real.frame.get_column(name).cast(pl.String).fill_null(NULL_TOKEN).to_numpy()
        o = other.frame.get_column(name).cast(pl.String).fill_null(NULL_TOKEN).to_numpy()
        vocab = {c: i for i, c in enumerate(np.unique(r))}
        unseen = len(vocab)
        return (np.array([vocab[v] for v in r]), np.array([vocab.get(v, unseen) for v in o]), unseen + 1)
    def num(t):
        s = t.frame.get_column(name)
        s = s.cast(pl.Int64) if t.kinds[name] == "datetime" else s
        return s.cast(pl.Float64).to_numpy()
    r, o = num(real), num(other)
    edges = np.unique(np.nanquantile(r, np.linspace(0, 1, BINS + 1)[1:-1])) if np.isfinite(r).any() else np.array([])
    def code(v):
        c = np.searchsorted(edges, v, side="right")
        return np.where(np.isnan(v), len(edges) + 1, c)
    return code(r), code(o), len(edges) + 2


def _tv_complement(a: np.ndarray, b: np.ndarray, size: int) -> float:
    pa = np.bincount(a, minlength=size) / max(len(a), 1)
    pb = np.bincount(b, minlength=size) / max(len(b), 1)
    return 1.0 - 0.5 * float(np.abs(pa - pb).sum())


def column_shapes(real: LabeledTable, other: LabeledTable) -> dict[str, float]:
    scores = {}
    for name in real.columns:
        if real.kinds[name] == "categorical":
            a, b, size = _codes(real, other, name)
            scores[name] = _tv_complement(a, b, size)
        else:
            scores[name] = _ks_complement(_numeric(real, name), _numeric(other, name))
    return scores


def _corr(table: LabeledTable, a: str, b: str) -> float:
    frame = table.frame.select(
        [(pl.col(c).cast(pl.Int64) if table.kinds[c] == "datetime" else pl.col(c)).cast(pl.Float64)
         for c in (a, b)]).drop_nulls()
    if frame.height < 3:
        return 0.0
    x, y = frame.to_numpy().T
    if x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def pair_trends(real: LabeledTable, other: LabeledTable) -> dict[str, float]:
    scores = {}
    codes = {name: _codes(real, other, name) for name in real.columns}
    for a, b in combinations(real.columns, 2):
        if real.kinds[a] != "categorical" and real.kinds[b] != "categorical":
            scores[f"{a}|{b}"] = 1.0 - abs(_corr(real, a, b) - _corr(other, a, b)) / 2.0
        else:
            (ra, oa, sa), (rb, ob, sb) = codes[a], codes[b]
            scores[f"{a}|{b}"] = _tv_complement(ra * sb + rb, oa * sb + ob, sa * sb)
    return scores


def quality(real: LabeledTable, other: LabeledTable) -> dict:
    shapes, trends = column_shapes(real, other), pair_trends(real, other)
    s = float(np.mean(list(shapes.values())))
    t = float(np.mean(list(trends.values()))) if trends else s
    return {"column_shapes": s, "column_pair_trends": t, "quality_score": (s + t) / 2,
            "per_column": shapes, "per_pair": trends}


def _quality(ctx):
    return ctx.cached("quality", lambda: {
        "synthetic": quality(ctx.holdout, ctx.synthetic),
        "floor": quality(ctx.holdout, ctx.train),
    })


class _QualityPart(Metric):
    kind = "quality"
    direction = "higher"
    part: str

    def compute(self, ctx):
        q = _quality(ctx)
        details = {"real_floor": q["floor"][self.part]}
        if self.part == "column_shapes":
            details["per_column"] = q["synthetic"]["per_column"]
        if self.part == "column_pair_trends":
            worst = sorted(q["synthetic"]["per_pair"].items(), key=lambda kv: kv[1])[:10]
            details["worst_pairs"] = dict(worst)
        return q["synthetic"][self.part], details


@METRICS.register("column_shapes")
class ColumnShapes(_QualityPart):
    reads = ("quality",)
    part = "column_shapes"


@METRICS.register("column_pair_trends")
class ColumnPairTrends(_QualityPart):
    reads = ("quality",)
    part = "column_pair_trends"


@METRICS.register("quality_score")
class QualityScore(_QualityPart):
    reads = ("quality",)
    part = "quality_score"


@METRICS.register("detection_auc")
class DetectionAUC(Metric):
    """AUROC of a gradient-boosted classifier telling holdout rows from synthetic rows (3-fold CV).
    0.5: indistinguishable; 1.0: trivially told apart."""

    kind = "quality"
    direction = "lower"

    def compute(self, ctx):
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        n = min(len(ctx.holdout), len(ctx.synthetic), ctx.max_rows)
        real = ctx.subsample(ctx.holdout, n, 11)
        syn = ctx.subsample(ctx.synthetic, n, 12)
        xr, yr = ctx.features(real)
        xs, ys = ctx.features(syn)
        codes = {c: i for i, c in enumerate(np.unique(np.concatenate([yr, ys])))}
        x = np.vstack([np.column_stack([xr, [codes[v] for v in yr]]),
                       np.column_stack([xs, [codes[v] for v in ys]])])
        y = np.r_[np.zeros(len(xr)), np.ones(len(xs))]
        clf = ctx.classifier(ctx.random_state)
        mask = ctx.categorical_mask
        clf.set_params(categorical_features=np.r_[mask, True])
        cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=ctx.random_state)
        proba = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
        return float(roc_auc_score(y, proba)), {"rows_per_side": n}
