"""Distances shared by validation (privacy, memorisation) and the anomaly scorers: one mixed-type
encoding, one chunked nearest-neighbour search, one DCR share.

Distances are Euclidean on `DistanceEncoder`'s encoding: numbers scaled by the fitted range, a
category mismatch counting like a full-range numeric difference.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthgen.data import NULL_TOKEN
from synthgen.errors import InputError

CHUNK = 4096  # query rows per torch.cdist call: bounds memory at CHUNK x len(ref) floats


def _chunks(queries: np.ndarray, refs: np.ndarray, chunk: int):
    import torch

    r = torch.from_numpy(np.ascontiguousarray(refs, dtype=np.float32))
    with torch.inference_mode():
        for start in range(0, len(queries), chunk):
            q = torch.from_numpy(np.ascontiguousarray(queries[start:start + chunk], dtype=np.float32))
            yield start, torch.cdist(q, r)


def nearest_distances(queries: np.ndarray, refs: np.ndarray, *, exclude_self: bool = False,
                      chunk: int = CHUNK) -> np.ndarray:
    """Euclidean distance from each query row to its nearest reference row."""
    import torch

    out = np.empty(len(queries), dtype=np.float64)
    for start, d in _chunks(queries, refs, chunk):
        if exclude_self:
            idx = torch.arange(start, start + len(d))
            d[torch.arange(len(idx)), idx] = float("inf")
        out[start:start + len(d)] = d.min(dim=1).values.double().numpy()
    return out


def nearest(queries: np.ndarray, refs: np.ndarray, *, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each query row's nearest reference row."""
    dist, index = [np.zeros(0)], [np.zeros(0, dtype=np.int64)]
    for _, d in _chunks(queries, refs, chunk):
        m, i = d.min(dim=1)
        dist.append(m.double().numpy())
        index.append(i.numpy())
    return np.concatenate(dist), np.concatenate(index)


def nearest_ties(queries: np.ndarray, refs: np.ndarray, *, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """(distance, count) of each query row's nearest reference rows: how many reference rows lie at exactly
    that distance (duplicated rows are as near as each other)."""
    dist, count = [np.zeros(0)], [np.zeros(0, dtype=np.int64)]
    for _, d in _chunks(queries, refs, chunk):
        m = d.min(dim=1).values
        dist.append(m.double().numpy())
        count.append((d == m[:, None]).sum(dim=1).numpy())
    return np.concatenate(dist), np.concatenate(count)


def nearest_index(queries: np.ndarray, refs: np.ndarray, *, chunk: int = CHUNK) -> np.ndarray:
    """Index of each query row's nearest reference row."""
    return nearest(queries, refs, chunk=chunk)[1]


def knn_distance(queries: np.ndarray, refs: np.ndarray, k: int, *, chunk: int = CHUNK) -> np.ndarray:
    """Mean Euclidean distance of each query row to its k nearest reference rows."""
    k = min(k, len(refs))
    return np.concatenate([d.topk(k, dim=1, largest=False).values.mean(dim=1).double().numpy()
                           for _, d in _chunks(queries, refs, chunk)])


def dcr_share(train: tuple[np.ndarray, np.ndarray], holdout: tuple[np.ndarray, np.ndarray], n_train: int,
              n_holdout: int, n_queries: int | None = None) -> dict:
    """Is a sample nearer its training rows than unseen rows of the same population?

    `train` / `holdout`: each sample row's nearest distance to ALL the training rows (to the holdout
    rows), and how many rows lie at that distance (`nearest_ties`). The raw share is the share of the
    sample rows' nearest neighbours in train ∪ holdout that are training rows: 1 or 0 where one side is
    nearer, and where both are equally near (duplicated rows: low-cardinality tables repeat rows) the
    training rows' share of the tied rows. Rows drawn from the population itself (exchangeable with both
    sets) score null = n_train / (n_train + n_holdout) on average, ties included; a copy of a training
    row scores 1 unless the same row is in the holdout too. The share is rescaled piecewise-linearly so
    that 0 stays 0, the null reads 0.5 and 1 reads 1.0: one scale (and one gate) whatever the two sizes.

    An earlier form compared against a train subsample of the holdout's size: a copy then counted only
    when its source row was in the subsample, so verbatim copies of a 398-row train judged against 85
    holdout rows scored 0.69, inside the small-sample allowance (tests/unit/test_gates.py). Counting a tie
    as the null instead of by its rows biased duplicated rows upward (fresh arrests rows read 0.59).

    `standard_error` is the rescaled share's noise for real rows at these sizes: a binomial over the
    `n_queries` distinct sample rows plus the holdout's share of the space (n_holdout cells whose
    masses vary as much as their mean); at null 0.5 it is the earlier sqrt(0.25/n_h + 0.25/n_q)."""
    (d_t, c_t), (d_h, c_h) = (tuple(np.asarray(a) for a in side) for side in (train, holdout))
    null = n_train / max(n_train + n_holdout, 1)
    tied = c_t / np.maximum(c_t + c_h, 1)
    raw = float(np.mean(np.where(d_t < d_h, 1.0, np.where(d_t == d_h, tied, 0.0)))) if len(d_t) else null
    if raw >= null:
        share = 0.5 + 0.5 * (raw - null) / max(1 - null, 1e-12)
    else:
        share = 0.5 * raw / max(null, 1e-12)
    n_q = max(n_queries if n_queries is not None else len(d_t), 1)
    var = null * (1 - null) / n_q + (1 - null) ** 2 / max(n_holdout, 1)
    se = 0.5 * float(np.sqrt(var)) / max(1 - null, 1e-12)
    return {"dcr_share": float(min(max(share, 0.0), 1.0)), "train_nearest_share": raw, "null_share": null,
            "standard_error": se}


class DistanceEncoder:
    """Numeric columns scaled to [0, 1] by the fitted range (nulls -> an extra 0/1 column where the
    fitted data had nulls; the width never depends on the data transformed), categories one-hot
    scaled by 1/sqrt(2) so that a mismatch adds exactly 1 to the squared distance, the same weight as
    a full-range numeric difference. The plan is plain JSON (anomaly scorers save it)."""

    def __init__(self, plan: list):
        self.plan = [tuple(p) for p in plan]

    @classmethod
    def fit(cls, frame: pl.DataFrame, kinds: dict[str, str], *, exclude: tuple = ()) -> "DistanceEncoder":
        plan = []
        for name in frame.columns:
            if name in exclude:
                continue
            kind = kinds.get(name) or ("categorical" if frame.schema[name] in (pl.String, pl.Categorical, pl.Boolean)
                                       else "datetime" if frame.schema[name].is_temporal() else "numeric")
            s = frame.get_column(name)
            if kind == "categorical":
                plan.append((name, kind, s.cast(pl.String).fill_null(NULL_TOKEN).unique().sort().to_list()))
            else:
                v = _numeric(s, kind, name, "fit data")
                lo, hi = v.min(), v.max()
                lo, hi = (0.0, 1.0) if lo is None else (float(lo), float(hi))
                plan.append((name, kind, [lo, (hi - lo) or 1.0, bool(v.null_count())]))
        return cls(plan)

    @property
    def columns(self) -> list[str]:
        return [p[0] for p in self.plan]

    def blocks(self) -> list[tuple[str, slice]]:
        """Which encoded columns belong to which source column."""
        out, at = [], 0
        for name, kind, info in self.plan:
            width = len(info) if kind == "categorical" else 1 + int(info[2])
            out.append((name, slice(at, at + width)))
            at += width
        return out

    def transform(self, frame: pl.DataFrame, origin: str = "input") -> np.ndarray:
        cols = []
        for name, kind, info in self.plan:
            s = frame.get_column(name)
            if kind == "categorical":
                lookup = {c: i for i, c in enumerate(info)}
                idx = np.array([lookup.get(v, -1) for v in s.cast(pl.String).fill_null(NULL_TOKEN).to_list()])
                block = np.zeros((len(idx), len(info)), dtype=np.float32)
                ok = idx >= 0  # an unseen category matches none: as far from every row as a mismatch
                block[np.flatnonzero(ok), idx[ok]] = 1 / np.sqrt(2)
                cols.append(block)
            else:
                lo, span, nullable = info
                v = (_numeric(s, kind, name, origin).to_numpy() - lo) / span
                cols.append(np.nan_to_num(v, nan=0.0).astype(np.float32)[:, None])
                if nullable:
                    cols.append(np.isnan(v).astype(np.float32)[:, None])
        return np.concatenate(cols, axis=1)


def _numeric(s: pl.Series, kind: str, name: str, origin: str) -> pl.Series:
    try:
        s = s.cast(pl.Int64) if kind == "datetime" else s
        return s.cast(pl.Float64)
    except Exception as exc:  # polars raises several types for a failed cast
        raise InputError(f"{origin}: column {name!r} must be {kind}, got {s.dtype} ({exc.__class__.__name__})") from None
