"""The container passed along the data path, and the checks that run before any training.

Everything that would otherwise crash deep inside ctgan (nulls in the label, an all-null column,
a near-unique column typed categorical, a one-class label) is refused here with a message naming
the column and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import polars as pl

from synthgen.errors import InputError

Kind = Literal["numeric", "categorical", "datetime"]
# Integer columns with at most this many distinct values are treated as categories (codes).
SMALL_INT_CATEGORIES = 10


@dataclass(frozen=True)
class LabeledTable:
    """A polars frame, its label column and the kind of every column (the label is categorical)."""

    frame: pl.DataFrame
    label: str
    kinds: dict[str, Kind]
    origin: str = ""
    warnings: tuple[str, ...] = field(default=())
    meta: dict = field(default_factory=dict, compare=False)  # e.g. acceptance rates of a sample

    def __len__(self) -> int:
        return self.frame.height

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    @property
    def features(self) -> list[str]:
        return [c for c in self.frame.columns if c != self.label]

    def class_counts(self) -> dict[str, int]:
        """Counts per class, keyed by the class value as text (the form specs use)."""
        counts = self.frame.get_column(self.label).cast(pl.String).value_counts(sort=True)
        return {str(k): int(v) for k, v in counts.iter_rows()}

    def with_frame(self, frame: pl.DataFrame) -> "LabeledTable":
        return replace(self, frame=frame)


def _infer_kind(series: pl.Series) -> Kind:
    dtype = series.dtype
    if dtype.is_temporal():
        return "datetime"
    if dtype == pl.Boolean or dtype in (pl.String, pl.Categorical, pl.Enum):
        return "categorical"
    if dtype.is_integer() and series.drop_nulls().n_unique() <= SMALL_INT_CATEGORIES:
        return "categorical"
    if dtype.is_numeric():
        return "numeric"
    raise InputError(f"column {series.name!r}: unsupported type {dtype}; drop it or convert it")


def prepare_table(
    frame: pl.DataFrame,
    *,
    label: str,
    overrides: dict[str, str],
    origin: str,
    near_unique_ratio: float = 0.5,
    max_categories: int = 500,
) -> LabeledTable:
    """Type the columns, apply overrides and refuse what the generator cannot learn safely."""
    if frame.height == 0:
        raise InputError(f"{origin}: the table has no rows")
    unknown = sorted(set(overrides) - set(frame.columns))
    if unknown:
        raise InputError(
            f"{origin}: columns {unknown} in the spec's `columns` are not in the table "
            f"(columns: {frame.columns})"
        )
    drop = [c for c, t in overrides.items() if t == "drop"]
    if label in drop:
        raise InputError(f"{origin}: the label column {label!r} cannot be dropped")
    frame = frame.drop(drop)
    if label not in frame.columns:
        raise InputError(f"{origin}: label column {label!r} not found (columns: {frame.columns})")
    if frame.width < 2:
        raise InputError(f"{origin}: the table needs at least one column besides the label {label!r}")

    label_series = frame.get_column(label)
    if label_series.null_count():
        raise InputError(
            f"{origin}: label column {label!r} has {label_series.null_count()} null values; "
            "drop those rows or fill them before synthesis"
        )
    n_classes = label_series.n_unique()
    if n_classes < 2:
        raise InputError(
            f"{origin}: label column {label!r} has a single class ({label_series[0]!r}); "
            "a labeled generator needs at least two"
        )

    kinds: dict[str, Kind] = {}
    warnings: list[str] = []
    n = frame.height
    for name in frame.columns:
        series = frame.get_column(name)
        if series.null_count() == n:
            raise InputError(
                f"{origin}: column {name!r} is entirely null; drop it (columns.{name}.type: drop)"
            )
        wanted = overrides.get(name)
        kind: Kind = wanted if wanted in ("numeric", "categorical", "datetime") else _infer_kind(series)
        if name == label:
            kind = "categorical"
        if kind == "numeric" and not series.dtype.is_numeric():
            raise InputError(
                f"{origin}: column {name!r} is typed numeric but holds {series.dtype} values"
            )
        if kind == "datetime" and not series.dtype.is_temporal():
            raise InputError(
                f"{origin}: column {name!r} is typed datetime but holds {series.dtype}; "
                "convert it to a date/datetime column first"
            )
        if kind == "categorical":
            distinct = series.drop_nulls().n_unique()
            if name != label and distinct > max(near_unique_ratio * n, 20):
                raise InputError(
                    f"{origin}: column {name!r} is typed categorical but has {distinct} distinct "
                    f"values in {n} rows ({distinct / n:.0%}): CTGAN would memorise and copy its "
                    f"values (a privacy leak). Declare it numeric (columns.{name}.type: numeric) "
                    f"if it is a quantity, or drop it (columns.{name}.type: drop) if it is an ID"
                )
            if distinct > max_categories:
                raise InputError(
                    f"{origin}: column {name!r} has {distinct} categories (limit "
                    f"validation.max_categories={max_categories}); group rare values or drop it"
                )
            if name != label and distinct > 0.2 * n:
                warnings.append(
                    f"column {name!r}: {distinct} categories in {n} rows; watch rare_value_excess"
                )
        kinds[name] = kind
    if n_classes > max_categories:
        raise InputError(f"{origin}: label column {label!r} has {n_classes} classes; is it really a label?")
    return LabeledTable(frame=frame, label=label, kinds=kinds, origin=origin, warnings=tuple(warnings))


def split_table(
    table: LabeledTable, *, holdout: float, random_state: int, stratify: bool = True
) -> tuple[LabeledTable, LabeledTable]:
    """Train / holdout split; stratified by label so every class is in both where possible."""
    rng = np.random.default_rng(random_state)
    labels = table.frame.get_column(table.label).cast(pl.String).to_numpy()
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if stratify else [np.arange(len(labels))]
    hold_idx: list[np.ndarray] = []
    for idx in groups:
        idx = rng.permutation(idx)
        k = int(round(holdout * len(idx)))
        if stratify and len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        hold_idx.append(idx[:k])
    hold = np.sort(np.concatenate(hold_idx)) if hold_idx else np.array([], dtype=int)
    mask = np.zeros(len(labels), dtype=bool)
    mask[hold] = True
    if mask.all() or not mask.any():
        raise InputError(f"{table.origin}: split.holdout={holdout} leaves an empty train or holdout split")
    train = table.with_frame(table.frame.filter(pl.Series(~mask)))
    hold_t = table.with_frame(table.frame.filter(pl.Series(mask)))
    return train, hold_t
