"""`synthgen init`: a commented spec drafted from a data file, with the reason for every choice.

The draft reads the data the way a run would (the same readers), so what it proposes is what the run will
see: a table's label and column types, an image source's format and classes. It proposes; it never guesses
silently: a label is taken only when the data makes it obvious (a column named like a label, 2 to
MAX_LABEL_CLASSES classes), otherwise `DraftError` names the columns that could be one and asks for
`--label`. Every choice is written with its reason as a comment, and every default the spec leaves unset is
spelled out, commented, with its description, so the file documents itself. `synthgen check` passes on it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthgen.errors import InputError, excerpt
from synthgen.publish import NAME_PATTERN

LABEL_NAMES = ("label", "labels", "target", "class", "y", "outcome", "diagnosis", "response")
MAX_LABEL_CLASSES = 50
ID_NAME = re.compile(r"(^|[_\-\s.])(id|uuid|guid|key|index|idx|record|row)$|^(id|uuid|guid|index|idx)[_\-\s.]?",
                     re.IGNORECASE)
DRAFT_SIZE = 64   # the image side init proposes for pictures larger than this or of several sizes
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".data", ".dat", ".parquet", ".pq")


@dataclass
class Choice:
    """One proposed setting: the column (or key) it is about, its value and why."""

    key: str
    value: Any
    reason: str


@dataclass
class Draft:
    """A spec proposed for a data file: `spec` (a dict `synthgen check` accepts), the reasons behind it,
    and where it is meant to live (`base_dir`: `source.path` is relative to it)."""

    spec: dict[str, Any]
    base_dir: Path
    summary: list[str] = field(default_factory=list)      # what was read: rows, classes, shape
    choices: list[Choice] = field(default_factory=list)   # label and column types, with reasons
    warnings: list[str] = field(default_factory=list)     # what will need attention before a run publishes

    def yaml(self) -> str:
        return render(self)

    def write(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the commented spec (never over an existing file unless `force`); the path written."""
        from synthgen.atomic import write_text_atomic

        path = Path(path)
        if path.exists() and not force:
            raise InputError(f"{path}: already exists; choose another file (--output) or pass --force to replace it")
        write_text_atomic(path, self.yaml())
        return path


def dataset_name(path: Path) -> str:
    """A spec name from a file name: lower case, letters/digits/_/-, starting with a letter or digit."""
    stem = path.name
    for suffix in (".nii.gz", *TABLE_SUFFIXES, ".npz", ".nii", ".dcm"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    name = re.sub(r"[^a-z0-9_\-]+", "-", stem.lower()).strip("-_")
    return name[:100] or "dataset"


def detect_modality(path: Path) -> str:
    """tabular for a table file, image for an NPZ, DICOM, NIfTI or a folder of them or of pictures."""
    from synthgen.sources.files import is_dicom, is_nifti

    if path.is_dir():
        return "image"
    name = path.name.lower()
    if name.endswith(".npz") or is_nifti(path) or is_dicom(path):
        return "image"
    if name.endswith(TABLE_SUFFIXES):
        return "tabular"
    from synthgen.sources.tabular import _format_of

    if _format_of(path) in ("csv", "parquet"):
        return "tabular"
    raise InputError(f"{path}: cannot tell whether this is a table or images; pass --modality tabular or image")


def draft_spec(path: str | Path, *, label: str | None = None, modality: str | None = None,
               name: str | None = None, spec_dir: str | Path | None = None) -> Draft:
    """Read `path` and propose a spec for it. `spec_dir`: the folder the spec will be written to (default: the
    current directory); `source.path` is written relative to it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    spec_dir = Path(spec_dir or Path.cwd()).resolve()
    modality = modality or detect_modality(path)
    if modality not in ("tabular", "image"):
        raise InputError(f"--modality {modality!r}: choose tabular or image")
    source_path = Path(os.path.relpath(path.resolve(), spec_dir)).as_posix()
    name = name or dataset_name(path)
    if not NAME_PATTERN.fullmatch(name):
        raise InputError(f"--name {excerpt(name)}: a dataset name is lower-case letters, digits, '_' or '-' "
                         "(at most 100), starting with a letter or digit")
    draft = Draft(spec={"modality": modality, "name": name, "source": {"path": source_path}}, base_dir=spec_dir)
    if modality == "tabular":
        _draft_table(draft, path, label)
    else:
        if label is not None:
            raise InputError(f"--label {excerpt(label)}: images take their classes from the source (class "
                             "subfolders, the NPZ's labels or the files' names), not from a label column")
        _draft_images(draft, path)
    from synthgen.spec import validate_spec

    validate_spec(draft.spec, origin=f"the spec drafted for {path}")   # the draft must be a valid spec
    return draft


# -- tables ---------------------------------------------------------------------------------------------

def _draft_table(draft: Draft, path: Path, label: str | None) -> None:
    import polars as pl

    from synthgen.spec import SourceSpec, SplitSpec, ValidationSpec
    from synthgen.sources.tabular import read_table

    frame, info = read_table(SourceSpec(path=str(path.resolve())), path.parent)
    if frame.height == 0 or frame.width < 2:
        raise InputError(f"{path}: {frame.height} rows and {frame.width} columns: a labeled table needs rows and at "
                         "least two columns")
    draft.summary.append(f"{path.name}: {frame.height:,} rows, {frame.width} columns ({info.kind})")
    draft.summary += list(info.notes)   # e.g. a sniffed separator: a run sniffs it the same way
    label = _choose_label(frame, label, path)
    draft.spec["label"] = label
    counts = frame.get_column(label).cast(pl.String).value_counts(sort=True)
    classes = [(str(v), int(c)) for v, c in counts.iter_rows()]
    shown = ", ".join(f"{excerpt(v, 30)}: {c}" for v, c in classes[:8]) + (" …" if len(classes) > 8 else "")
    draft.choices.append(Choice("label", label, f"{len(classes)} classes ({shown})"))
    min_rows = SplitSpec().min_class_rows
    rare = [v for v, c in classes if c < min_rows and v != "None"]
    if rare:
        draft.warnings.append(f"label {excerpt(label)}: {len(rare)} class(es) with fewer than {min_rows} rows "
                              f"({', '.join(excerpt(v, 30) for v in rare[:5])}); a run refuses them unless "
                              "split.rare_classes is merge or drop")
    limits = ValidationSpec()
    columns: dict[str, dict] = {}
    for column in frame.columns:
        if column == label:
            continue
        kind, reason = _column_kind(frame.get_column(column), frame.height, limits)
        columns[column] = {"type": kind}
        draft.choices.append(Choice(f"columns.{column}", kind, reason))
    draft.spec["columns"] = columns


def _choose_label(frame, label: str | None, path: Path) -> str:
    if label is not None:
        if label not in frame.columns:
            raise InputError(f"{path}: --label {excerpt(label)} is not a column (columns: "
                             f"{', '.join(excerpt(c, 40) for c in frame.columns[:30])})")
        return label
    distinct = {c: frame.get_column(c).drop_nulls().n_unique() for c in frame.columns}
    fits = [c for c in frame.columns if c.strip().lower() in LABEL_NAMES and 2 <= distinct[c] <= MAX_LABEL_CLASSES]
    if len(fits) == 1:
        return fits[0]
    could = [c for c in frame.columns if 2 <= distinct[c] <= min(MAX_LABEL_CLASSES, max(2, frame.height // 10))]
    listed = ", ".join(f"{excerpt(c, 40)} ({distinct[c]} values)" for c in could[:12])
    why = (f"several columns are named like a label ({', '.join(excerpt(c, 40) for c in fits)})" if len(fits) > 1
           else "no column is named like a label (label, target, class, outcome, …)")
    raise InputError(f"{path}: {why}; say which column the synthetic data is labeled by with --label COLUMN"
                     + (f". Columns that could be one: {listed}" if listed else ""))


def _column_kind(series, n: int, limits) -> tuple[str, str]:
    """(type, reason) for one column: the type a run infers (`data.infer_kind`), except where a run cannot know
    better or would refuse the column: an identifier, a constant, an empty column, free text, too many
    categories (drop), and whole-number codes stored as decimals (categorical)."""
    import polars as pl

    from synthgen.data import SMALL_INT_CATEGORIES, infer_kind

    values = series.drop_nulls()
    distinct = values.n_unique()
    dtype = series.dtype
    textual = dtype in (pl.String, pl.Categorical, pl.Enum)
    if len(values) == 0:
        return "drop", "empty in every row: nothing to learn (a run refuses an all-null column)"
    if distinct == 1:
        return "drop", f"the same value in every non-empty row ({len(values):,} rows): it carries nothing"
    unique_rows = distinct == len(values) and len(values) >= 0.95 * n
    if (dtype.is_integer() or textual) and unique_rows and (ID_NAME.search(series.name) or textual
                                                            or _consecutive(values)):
        return "drop", (f"a different value in every row ({distinct:,} of {n:,}): an identifier; it would only "
                        "teach the generator to copy real IDs")
    if textual and distinct > max(limits.near_unique_ratio * n, 20):
        return "drop", (f"text with {distinct:,} distinct values in {n:,} rows: free text or an identifier; a "
                        "category this wide would be copied, not learned (a run refuses it)")
    if dtype.is_float() and distinct <= SMALL_INT_CATEGORIES and bool((values == values.round(0)).all()):
        return "categorical", (f"whole numbers stored as decimals, only {distinct} distinct values: a code, not "
                               "a quantity")
    try:
        kind = infer_kind(series)
    except InputError:
        return "drop", f"type {dtype} is not a number, text, yes/no or date: synthgen cannot model it"
    if kind == "categorical" and distinct > limits.max_categories:
        return "drop", (f"{distinct:,} categories (more than validation.max_categories={limits.max_categories}); "
                        "group rare values upstream to keep it")
    if kind == "datetime":
        return kind, f"dates/times ({dtype})"
    if kind == "numeric":
        return kind, f"numbers with {distinct:,} distinct values"
    what = "yes/no" if dtype == pl.Boolean else "text" if textual else "whole numbers"
    return kind, f"{what} with {distinct} values" + (": a code, not a quantity" if what == "whole numbers" else "")


def _consecutive(values) -> bool:
    """Integers that run 1, 2, 3, … (in some order): a row number."""
    lo, hi = values.min(), values.max()
    return hi - lo + 1 == len(values)


# -- images ---------------------------------------------------------------------------------------------

def _draft_images(draft: Draft, path: Path) -> None:
    from synthgen.sources.conform import MixedImages
    from synthgen.sources.images import infer_format, read_images
    from synthgen.spec import ImageShapeSpec, ImageSourceSpec, SplitSpec

    fmt = infer_format(path)
    draft.spec["source"]["format"] = fmt
    source = ImageSourceSpec(path=str(path.resolve()), format=fmt)
    try:
        data, info = read_images(source, ImageShapeSpec(), path.parent)
        size_reason = None
    except MixedImages as exc:   # pictures of several sizes: a run needs one, so propose it (with the reason)
        if exc.what != "size":
            raise
        data, info = read_images(source, ImageShapeSpec(size=DRAFT_SIZE), path.parent)
        size_reason = (f"the images are not all one size ({_comment(str(exc).split(': ', 1)[-1])[:160]}): a run "
                       f"needs one; {DRAFT_SIZE} px trains in minutes on a CPU, raise it for finer detail")
    h, w, c = data.shape
    if size_reason is None and h > DRAFT_SIZE:
        size_reason = (f"the images are {h} px: the GAN would train at that size (slow on a CPU, and small image "
                       f"sets rarely carry that much detail); {DRAFT_SIZE} px is proposed, raise it for detail")
    if size_reason:
        draft.spec["image"] = {"size": DRAFT_SIZE}
        draft.choices.append(Choice("image.size", DRAFT_SIZE, size_reason))
    counts = data.class_counts()
    shown = ", ".join(f"{excerpt(k, 30)}: {v}" for k, v in list(counts.items())[:10])
    draft.summary.append(f"{path.name}: {len(data):,} images, {len(counts)} classes, {h}x{w} px, "
                         f"{'gray' if c == 1 else 'RGB'}")
    draft.summary += list(info.notes)
    where = {"folder": "the class subfolders' names", "npz": "the NPZ's label codes",
             "dicom": "the class subfolders (or the file/folder name for one class)",
             "nifti": "the class subfolders (or the file/folder name for one class)"}[fmt]
    draft.choices.append(Choice("source.format", fmt, f"inferred from the path; classes come from {where}"))
    draft.choices.append(Choice("classes", None, f"{len(counts)} classes ({shown})"))
    if fmt == "npz":
        draft.choices.append(Choice("source.class_names", None, "the NPZ holds numeric codes only: name them, "
                                    "e.g. class_names: {0: normal, 1: pneumonia}, or the published classes are "
                                    "the codes"))
    min_rows = SplitSpec().min_class_rows
    small = [k for k, v in counts.items() if v < min_rows]
    if len(counts) < 2:
        draft.warnings.append(f"only one class ({', '.join(counts)}): a labeled generator needs two; put each "
                              "class in its own subfolder")
    if small:
        draft.warnings.append(f"{len(small)} class(es) with fewer than {min_rows} images "
                              f"({', '.join(excerpt(k, 30) for k in small[:5])}); a run refuses them unless "
                              "split.rare_classes is merge or drop")


# -- the file -------------------------------------------------------------------------------------------

def _scalar(value: Any) -> str:
    """One YAML value, always quoted where a plain scalar could be misread (JSON is YAML 1.2)."""
    return json.dumps(value, ensure_ascii=False)


def _comment(text: str) -> str:
    return " ".join(str(text).split())   # no line breaks from a column name or a message


def _defaults_block(spec, written: set[str]) -> list[str]:
    """Every top-level section the draft leaves at its defaults, commented out, with its descriptions."""
    from pydantic import BaseModel

    lines = ["", "# ---- defaults: everything below is what a run uses unless you set it (uncomment to change) ----"]

    def walk(obj: BaseModel, indent: int) -> None:
        for key, info in type(obj).model_fields.items():
            if indent == 0 and (key in written or key in ("modality", "name")):
                continue
            value = getattr(obj, key)
            desc = f"  # {_comment(info.description)}" if info.description else ""
            pad = "#" + "  " * indent + " "
            if isinstance(value, BaseModel):
                lines.append(f"{pad}{key}:{desc}")
                walk(value, indent + 1)
            else:
                lines.append(f"{pad}{key}: {_scalar(value)}{desc}")

    walk(spec, 0)
    return lines


def render(draft: Draft) -> str:
    """The draft as a commented YAML spec."""
    from synthgen.spec import validate_spec

    spec = draft.spec
    reasons = {c.key: c.reason for c in draft.choices}
    lines = ["# synthgen spec drafted by `synthgen init`: check the choices below, then `synthgen run THIS_FILE`.",
             *[f"# {_comment(s)}" for s in draft.summary],
             *[f"# WARNING: {_comment(w)}" for w in draft.warnings],
             f"modality: {spec['modality']}",
             f"name: {_scalar(spec['name'])}",
             "source:",
             f"  path: {_scalar(spec['source']['path'])}"]
    if "format" in spec["source"]:
        lines.append(f"  format: {spec['source']['format']}  # {_comment(reasons.get('source.format', ''))}")
    if "source.class_names" in reasons:
        lines.append(f"  # class_names: {{}}  # {_comment(reasons['source.class_names'])}")
    if "classes" in reasons:
        lines.append(f"# {_comment(reasons['classes'])}")
    if "image" in spec:
        lines += ["image:", f"  size: {spec['image']['size']}  # {_comment(reasons.get('image.size', ''))}"]
    if "label" in spec:
        lines.append(f"label: {_scalar(spec['label'])}  # {_comment(reasons['label'])}")
    if spec.get("columns"):
        lines.append("columns:  # every column's type and why (numeric, categorical, datetime, or drop)")
        for column, entry in spec["columns"].items():
            lines.append(f"  {_scalar(column)}: {{type: {entry['type']}}}  # "
                         f"{_comment(reasons.get(f'columns.{column}', ''))}")
    validated = validate_spec(spec, origin="draft")
    lines += _defaults_block(validated, written=set(spec))
    return "\n".join(lines) + "\n"
