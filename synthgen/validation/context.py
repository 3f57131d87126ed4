"""Shared, cached views of (train, holdout, synthetic) for every metric.

Metrics differ in what they compute but share their expensive inputs: the numeric encoding used
for distances, nearest-neighbour distances, the classifier features and the TRTR model. Each is
computed once here (on a seeded subsample of at most `max_rows` rows per side), which is what keeps
all validation on a 30k x 15 table within seconds instead of SDMetrics' minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np
import polars as pl

from synthgen.data import LabeledTable


def nearest_distances(queries: np.ndarray, refs: np.ndarray, *, exclude_self: bool = False,
                      chunk: int = 4096) -> np.ndarray:
    """Euclidean distance from each query row to its nearest reference row (chunked torch.cdist)."""
    import torch

    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    r = torch.from_numpy(np.ascontiguousarray(refs, dtype=np.float32))
    out = np.empty(len(q), dtype=np.float64)
    with torch.no_grad():
        for start in range(0, len(q), chunk):
            d = torch.cdist(q[start:start + chunk], r)
            if exclude_self:
                idx = torch.arange(start, min(start + chunk, len(q)))
                d[torch.arange(len(idx)), idx] = float("inf")
            out[start:start + chunk] = d.min(dim=1).values.double().numpy()
    return out


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
                plan.append((name, kind, s.cast(pl.String).fill_null("__null__").unique().sort().to_list()))
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

    def transform(self, data, origin: str = "input") -> np.ndarray:
        frame = data.frame if isinstance(data, LabeledTable) else data
        cols = []
        for name, kind, info in self.plan:
            s = frame.get_column(name)
            if kind == "categorical":
                lookup = {c: i for i, c in enumerate(info)}
                idx = np.array([lookup.get(v, -1) for v in s.cast(pl.String).fill_null("__null__").to_list()])
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
    from synthgen.errors import InputError

    try:
        s = s.cast(pl.Int64) if kind == "datetime" else s
        return s.cast(pl.Float64)
    except Exception as exc:  # polars raises several types for a failed cast
        raise InputError(f"{origin}: column {name!r} must be {kind}, got {s.dtype} ({exc.__class__.__name__})") from None


class CachedViews:
    """Compute-once storage and seeded subsampling shared by the metrics of one validation run."""

    _cache: dict[str, Any]
    random_state: int

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def rng(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.random_state, salt])

    def index(self, n: int, cap: int, salt: int) -> np.ndarray:
        """Sorted positions of a seeded subsample of at most `cap` of `n` items."""
        if n <= cap:
            return np.arange(n)
        return np.sort(self.rng(salt).choice(n, size=cap, replace=False))


@dataclass
class ValidationContext(CachedViews):
    train: LabeledTable
    holdout: LabeledTable
    synthetic: LabeledTable
    max_rows: int = 20000
    random_state: int = 0
    gx_suite: list[dict] | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def subsample(self, table: LabeledTable, n: int, salt: int) -> LabeledTable:
        if len(table) <= n:
            return table
        return table.with_frame(table.frame[self.index(len(table), n, salt).tolist()])

    # -- distance views --------------------------------------------------------------------------
    @cached_property
    def encoder(self) -> DistanceEncoder:
        return DistanceEncoder.fit(self.train.frame, self.train.kinds)

    @cached_property
    def train_x(self) -> np.ndarray:
        return self.encoder.transform(self.subsample(self.train, self.max_rows, 1))

    @cached_property
    def holdout_x(self) -> np.ndarray:
        return self.encoder.transform(self.subsample(self.holdout, self.max_rows, 2))

    @cached_property
    def synthetic_x(self) -> np.ndarray:
        return self.encoder.transform(self.subsample(self.synthetic, self.max_rows, 3))

    @cached_property
    def train_matched_x(self) -> np.ndarray:
        """A train subsample the size of the holdout view: comparisons against it are fair."""
        n = len(self.holdout_x)
        idx = self.rng(4).choice(len(self.train_x), size=min(n, len(self.train_x)), replace=False)
        return self.train_x[np.sort(idx)]

    def nn(self, query: str, ref: str) -> np.ndarray:
        """Cached nearest distances between the named views (train_x, holdout_x, ...)."""
        return self.cached(f"nn:{query}->{ref}",
                           lambda: nearest_distances(getattr(self, query), getattr(self, ref)))

    # -- classifier views ------------------------------------------------------------------------
    def features(self, table: LabeledTable) -> tuple[np.ndarray, np.ndarray]:
        """Ordinal-coded features (categories by the train vocabulary) and label strings."""
        cols = []
        for name in self.train.features:
            kind = self.train.kinds[name]
            s = table.frame.get_column(name)
            if kind == "categorical":
                vocab = self.cached(f"vocab:{name}", lambda: {
                    c: i for i, c in enumerate(self.train.frame.get_column(name).cast(pl.String)
                                               .fill_null("__null__").unique().sort().to_list())})
                values = s.cast(pl.String).fill_null("__null__").to_numpy()
                cols.append(np.array([vocab.get(v, np.nan) for v in values], dtype=float))
            elif kind == "datetime":
                cols.append(s.cast(pl.Int64).cast(pl.Float64).fill_null(np.nan).to_numpy())
            else:
                cols.append(s.cast(pl.Float64).fill_null(np.nan).to_numpy())
        x = np.column_stack(cols) if cols else np.zeros((len(table), 0))
        y = table.frame.get_column(table.label).cast(pl.String).to_numpy()
        return x, y

    @cached_property
    def categorical_mask(self) -> np.ndarray:
        # HistGradientBoosting handles at most 255 categories natively; wider ones stay ordinal.
        return np.array([self.train.kinds[c] == "categorical"
                         and self.train.frame.get_column(c).n_unique() < 250
                         for c in self.train.features])

    def classifier(self, random_state: int = 0):
        from sklearn.ensemble import HistGradientBoostingClassifier

        mask = self.categorical_mask
        return HistGradientBoostingClassifier(
            max_iter=100, categorical_features=mask if mask.any() else None,
            random_state=random_state)
