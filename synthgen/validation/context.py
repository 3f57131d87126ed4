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

from synthgen.data import NULL_TOKEN, LabeledTable
from synthgen.distances import DistanceEncoder, nearest_ties


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
        return self.encoder.transform(self.subsample(self.train, self.max_rows, 1).frame)

    @cached_property
    def holdout_x(self) -> np.ndarray:
        return self.encoder.transform(self.subsample(self.holdout, self.max_rows, 2).frame)

    @cached_property
    def synthetic_x(self) -> np.ndarray:
        return self.encoder.transform(self.subsample(self.synthetic, self.max_rows, 3).frame)

    def nn(self, query: str, ref: str) -> np.ndarray:
        """Cached nearest distances between the named views (train_x, holdout_x, ...)."""
        return self.nn_ties(query, ref)[0]

    def nn_ties(self, query: str, ref: str) -> tuple[np.ndarray, np.ndarray]:
        """Cached (nearest distance, rows at that distance) between the named views."""
        return self.cached(f"nn:{query}->{ref}", lambda: nearest_ties(getattr(self, query), getattr(self, ref)))

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
                                               .fill_null(NULL_TOKEN).unique().sort().to_list())})
                values = s.cast(pl.String).fill_null(NULL_TOKEN).to_numpy()
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

    def classifier(self, random_state: int = 0, labels=None):
        """Early stopping holds out a stratified 10% when there are over 10,000 rows; a class with one
        row cannot be split (the crash seen on a 23-class table), so it is off when any class of
        `labels` has fewer than 10 rows."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        mask = self.categorical_mask
        early = "auto"
        if labels is not None and len(labels):
            _, counts = np.unique(np.asarray(labels), return_counts=True)
            early = "auto" if counts.min() >= 10 else False
        return HistGradientBoostingClassifier(
            max_iter=100, categorical_features=mask if mask.any() else None,
            random_state=random_state, early_stopping=early)
