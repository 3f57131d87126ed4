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

from synthgen.errors import InputError, excerpt

Kind = Literal["numeric", "categorical", "datetime"]
# Integer columns with at most this many distinct values are treated as categories (codes).
SMALL_INT_CATEGORIES = 10
# How a null category is spelled wherever categories become text (encodings, CTGAN, fidelity).
NULL_TOKEN = "__null__"


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


def texts_as(texts: np.ndarray, name: str, dtype) -> pl.Series:
    """A categorical column a generator drew as texts, back in the table's type: NULL_TOKEN is a null, and
    a Boolean column's "true" / "false" are booleans (polars cannot cast text to Boolean)."""
    series = pl.Series(name, np.asarray(texts).astype(str), dtype=pl.String)
    series = pl.select(pl.when(series == NULL_TOKEN).then(None).otherwise(series).alias(name)).to_series()
    if dtype == pl.Boolean:
        lowered = series.str.to_lowercase()
        return pl.select(pl.when(lowered == "true").then(True).when(lowered == "false").then(False)
                         .otherwise(None).alias(name)).to_series()
    return series.cast(dtype, strict=False)


def written_decimals(values: np.ndarray) -> int | None:
    """The decimals a numeric column is written with (0-6), or None when it has more: generators round
    synthetic values to them (a detector tells 37,412.7 from 35,000 at once)."""
    scale = np.maximum(np.abs(values), 1.0)
    for decimals in range(7):
        if np.all(np.abs(values - np.round(values, decimals)) <= 1e-9 * scale):
            return decimals
    return None


def rare_class_plan(counts: dict[str, int], *, min_rows: int, policy: str, origin: str,
                    label: str) -> tuple[dict[str, str | None], list[str]]:
    """What to do with label classes below `min_rows`: {class: None (drop) | "other" (merge)} and the
    lines the card records. `refuse` (the default) raises, naming each class, its count and the fixes."""
    rare = {c: n for c, n in counts.items() if n < min_rows}
    if not rare:
        return {}, []
    shown = ", ".join(f"{excerpt(c)} ({n})" for c, n in sorted(rare.items(), key=lambda kv: kv[1]))
    if policy == "refuse":
        raise InputError(
            f"{origin}: label {excerpt(label)}: {len(rare)} class(es) have fewer than {min_rows} rows "
            f"(split.min_class_rows): {shown}. Too few to train on, hold out and judge. Drop or merge "
            "those rows, or let synthgen do it: --set split.rare_classes=drop (remove them) or "
            "--set split.rare_classes=merge (relabel them `other`); or lower split.min_class_rows")
    if policy == "drop":
        return {c: None for c in rare}, [f"label {excerpt(label)}: dropped {len(rare)} rare class(es) below "
                                         f"{min_rows} rows (split.rare_classes=drop): {shown}"]
    merged = sum(rare.values()) + counts.get("other", 0)
    if merged < min_rows:
        raise InputError(f"{origin}: label {excerpt(label)}: merging the rare classes {shown} into `other` gives "
                         f"only {merged} rows (< split.min_class_rows={min_rows}); use split.rare_classes=drop")
    return {c: "other" for c in rare}, [f"label {excerpt(label)}: merged {len(rare)} rare class(es) below {min_rows} "
                                        f"rows into `other` (split.rare_classes=merge): {shown}"]


def infer_kind(series: pl.Series) -> Kind:
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
    min_class_rows: int = 1,
    rare_classes: str = "refuse",
) -> LabeledTable:
    """Type the columns, apply overrides and refuse what the generator cannot learn safely.
    `inf`/`-inf` in numeric columns are treated as missing and counted in the warnings (they are
    almost always a division by zero upstream; refusing would make the user edit the file, and as
    nulls the generator learns their rate like any other missing value)."""
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
        raise InputError(f"{origin}: the label column {excerpt(label)} cannot be dropped")
    frame = frame.drop(drop)
    if label not in frame.columns:
        raise InputError(f"{origin}: label column {excerpt(label)} not found (columns: {frame.columns})")
    if frame.width < 2:
        raise InputError(f"{origin}: the table needs at least one column besides the label {excerpt(label)}")

    label_series = frame.get_column(label)
    unlabeled = label_series.null_count()
    if unlabeled * 2 > frame.height:
        raise InputError(
            f"{origin}: label column {excerpt(label)} is null in {unlabeled} of {frame.height} rows; fill the labels "
            "or choose another label column (rows without a label are dropped only when they are a minority)"
        )
    if unlabeled:  # a poll's "no answer", a record never coded: the generator cannot condition on them
        frame = frame.filter(pl.col(label).is_not_null())
        label_series = frame.get_column(label)
    counts = {str(k): int(v) for k, v in label_series.cast(pl.String).value_counts().iter_rows()}
    plan, label_notes = rare_class_plan(counts, min_rows=min_class_rows, policy=rare_classes, origin=origin,
                                        label=label)
    if plan:
        text = label_series.cast(pl.String)
        drop_rows = [c for c, to in plan.items() if to is None]
        frame = frame.filter(~text.is_in(drop_rows))
        merge = [c for c, to in plan.items() if to is not None]
        if merge:
            text = frame.get_column(label).cast(pl.String)
            frame = frame.with_columns(pl.when(text.is_in(merge)).then(pl.lit("other")).otherwise(text).alias(label))
        label_series = frame.get_column(label)
    infinite = {}
    for name, dtype in frame.schema.items():
        if dtype.is_float():
            bad = int(frame.get_column(name).is_infinite().sum())
            if bad:
                infinite[name] = bad
    if infinite:
        frame = frame.with_columns([pl.when(pl.col(c).is_infinite()).then(None).otherwise(pl.col(c)).alias(c)
                                    for c in infinite])
    n_classes = label_series.n_unique()
    if n_classes < 2:
        raise InputError(
            f"{origin}: label column {excerpt(label)} has a single class ({excerpt(label_series[0])}); "
            "a labeled generator needs at least two"
        )

    kinds: dict[str, Kind] = {}
    warnings: list[str] = [f"label {excerpt(label)}: {unlabeled} row(s) without a label dropped"] if unlabeled else []
    warnings += label_notes
    warnings += [f"column {excerpt(c)}: {k} inf/-inf value(s) treated as missing" for c, k in infinite.items()]
    n = frame.height
    for name in frame.columns:
        series = frame.get_column(name)
        if series.null_count() == n:
            raise InputError(
                f"{origin}: column {excerpt(name)} is entirely null; drop it (columns.{name}.type: drop)"
            )
        wanted = overrides.get(name)
        kind: Kind = wanted if wanted in ("numeric", "categorical", "datetime") else infer_kind(series)
        if name == label:
            kind = "categorical"
        if kind == "numeric" and not series.dtype.is_numeric():
            raise InputError(
                f"{origin}: column {excerpt(name)} is typed numeric but holds {series.dtype} values"
            )
        if kind == "datetime" and not series.dtype.is_temporal():
            raise InputError(
                f"{origin}: column {excerpt(name)} is typed datetime but holds {series.dtype}; "
                "convert it to a date/datetime column first"
            )
        if kind == "categorical":
            distinct = series.drop_nulls().n_unique()
            if name != label and distinct > max(near_unique_ratio * n, 20):
                raise InputError(
                    f"{origin}: column {excerpt(name)} is typed categorical but has {distinct} distinct "
                    f"values in {n} rows ({distinct / n:.0%}): CTGAN would memorise and copy its "
                    f"values (a privacy leak). Declare it numeric (columns.{name}.type: numeric) "
                    f"if it is a quantity, or drop it (columns.{name}.type: drop) if it is an ID"
                )
            if distinct > max_categories:
                raise InputError(
                    f"{origin}: column {excerpt(name)} has {distinct} categories (limit "
                    f"validation.max_categories={max_categories}); group rare values or drop it"
                )
            if name != label and distinct > 0.2 * n:
                warnings.append(
                    f"column {excerpt(name)}: {distinct} categories in {n} rows; watch rare_value_excess"
                )
        kinds[name] = kind
    if n_classes > max_categories:
        raise InputError(f"{origin}: label column {excerpt(label)} has {n_classes} classes; is it really a label?")
    return LabeledTable(frame=frame, label=label, kinds=kinds, origin=origin, warnings=tuple(warnings))


def holdout_mask(labels: np.ndarray, *, holdout: float, random_state: int, stratify: bool,
                 origin: str) -> np.ndarray:
    """True for holdout rows. Stratified: every class with >= 2 members lands in both sides."""
    rng = np.random.default_rng(random_state)
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if stratify else [np.arange(len(labels))]
    mask = np.zeros(len(labels), dtype=bool)
    for idx in groups:
        idx = rng.permutation(idx)
        k = int(round(holdout * len(idx)))
        if stratify and len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        mask[idx[:k]] = True
    if mask.all() or not mask.any():
        raise InputError(f"{origin}: split.holdout={holdout} leaves an empty train or holdout split")
    return mask


def split_table(
    table: LabeledTable, *, holdout: float, random_state: int, stratify: bool = True
) -> tuple[LabeledTable, LabeledTable]:
    """Train / holdout split; stratified by label so every class is in both where possible."""
    labels = table.frame.get_column(table.label).cast(pl.String).to_numpy()
    mask = holdout_mask(labels, holdout=holdout, random_state=random_state, stratify=stratify,
                        origin=table.origin)
    return (table.with_frame(table.frame.filter(pl.Series(~mask))),
            table.with_frame(table.frame.filter(pl.Series(mask))))


@dataclass(frozen=True)
class LabeledImages:
    """A labeled image set: uint8 pixels (N, H, W, C) with C in {1, 3}, class names per image.

    `classes` fixes the class order (and so the conditioning index) for everything downstream.
    `ids` names where each image came from (file name, frame or slice), never a DICOM identifier.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    origin: str = ""
    ids: np.ndarray | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] not in (1, 3):
            raise ValueError(f"images must be uint8 (N, H, W, 1|3), got {self.images.dtype} {self.images.shape}")
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # (H, W, C)

    def class_counts(self) -> dict[str, int]:
        return {c: int(np.sum(self.labels == c)) for c in self.classes}

    def label_index(self) -> np.ndarray:
        lookup = {c: i for i, c in enumerate(self.classes)}
        return np.array([lookup[v] for v in self.labels], dtype=np.int64)

    def subset(self, index) -> "LabeledImages":
        index = np.asarray(index)
        return replace(self, images=self.images[index], labels=self.labels[index],
                       ids=None if self.ids is None else self.ids[index], meta={})


def split_images(data: LabeledImages, *, holdout: float, random_state: int,
                 stratify: bool = True) -> tuple[LabeledImages, LabeledImages]:
    """Stratified train / holdout split of an image set (same rule as `split_table`)."""
    mask = holdout_mask(data.labels.astype(str), holdout=holdout, random_state=random_state,
                        stratify=stratify, origin=data.origin)
    return data.subset(np.flatnonzero(~mask)), data.subset(np.flatnonzero(mask))


RARE_TOKEN = "_RARE_"


def protect_values(train: LabeledTable, *, min_rows: int, enabled: bool = True) -> tuple[LabeledTable, dict]:
    """Value protection of the training split, before anything learns from it.

    Categorical features: a category carried by fewer than `min_rows` training rows becomes `_RARE_` (a
    column of integer or boolean codes becomes text to hold it). Numeric and datetime features: values
    below the min_rows-th smallest or above the min_rows-th largest training value are clipped to it, so
    every bound the model, the data or the published expectations can show is shared by >= min_rows real
    rows. The label is not touched. The holdout is never published and is judged as it is (what protection
    costs shows in the gates; screening scores real extremes as they are). The report counts what changed,
    never which values."""
    if not enabled:
        return train, {"enabled": False, "note": "value protection is off: rare categories and extreme values of "
                       "the real rows are in the model and may be in the synthetic data"}
    tf = train.frame
    report: dict[str, dict] = {}
    for name in train.features:
        kind = train.kinds[name]
        column = tf.get_column(name)
        if kind == "categorical":
            text = column.cast(pl.String)
            counts = text.drop_nulls().value_counts()
            rare = [v for v, k in counts.iter_rows() if k < min_rows]
            if not rare:
                continue
            token = RARE_TOKEN
            while token in set(counts.get_column(counts.columns[0]).to_list()):
                token += "_"
            col = pl.col(name).cast(pl.String)
            tf = tf.with_columns(pl.when(col.is_in(rare)).then(pl.lit(token)).otherwise(col).alias(name))
            report[name] = {"rare_categories": len(rare), "rows": int(text.is_in(rare).sum()), "token": token,
                            **({"now_text": str(column.dtype)} if column.dtype != pl.String else {})}
        elif kind in ("numeric", "datetime"):
            values = column.drop_nulls()
            if column.dtype.is_float():
                values = values.filter(values.is_finite())
            if values.len() < 2 * min_rows:
                continue
            ordered = values.sort()
            lo, hi = ordered[min_rows - 1], ordered[-min_rows]
            low, high = int((values < lo).sum()), int((values > hi).sum())
            if not (low or high):
                continue
            tf = tf.with_columns(pl.col(name).clip(lo, hi).cast(column.dtype))
            report[name] = {"clipped_low": low, "clipped_high": high}
    return train.with_frame(tf), {
        "enabled": True, "min_rows": min_rows, "columns": report,
        "rows_changed": sum(r.get("rows", 0) + r.get("clipped_low", 0) + r.get("clipped_high", 0)
                            for r in report.values())}
