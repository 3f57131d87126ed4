"""CSV / Parquet / built-in tables via polars."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from synthgen.errors import InputError


@dataclass(frozen=True)
class SourceInfo:
    """What was read, for the dataset card."""

    kind: str  # csv | parquet | builtin
    location: str
    fingerprint: str
    rows: int
    columns: int
    notes: tuple[str, ...] = ()  # e.g. the sniffed separator, the NPZ splits pooled

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def read_table(source, base_dir: Path) -> tuple[pl.DataFrame, SourceInfo]:
    """`source` is a spec.SourceSpec. Relative paths resolve against the spec's folder."""
    if source.builtin is not None:
        from synthgen.sources.builtin import BUILTIN_TABLES

        table = BUILTIN_TABLES.get(source.builtin)
        if table is None:
            raise InputError(
                f"source.builtin: unknown built-in table {source.builtin!r} "
                f"(available: {', '.join(sorted(BUILTIN_TABLES))})"
            )
        frame = table.load()
        info = SourceInfo("builtin", source.builtin, table.fingerprint(), frame.height, frame.width)
        return frame, info

    path = Path(source.path)
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise InputError(f"{path}: source file not found (source.path)")
    fmt = source.format or _format_of(path)
    notes: list[str] = []
    try:
        if fmt == "csv":
            separator = source.separator
            if "separator" not in source.model_fields_set:
                separator = _sniff_separator(path)
                if separator != ",":
                    notes.append(f"separator {separator!r} detected (set source.separator to override)")
            frame = pl.read_csv(path, separator=separator, try_parse_dates=True, infer_schema_length=10000)
        elif fmt == "parquet":
            frame = pl.read_parquet(path)
        else:
            raise InputError(f"{path}: unknown table format {fmt!r}; set source.format to csv (any delimited "
                             "text) or parquet")
    except InputError:
        raise
    except Exception as exc:  # polars raises several types for unreadable files
        raise InputError(f"{path}: cannot read as {fmt}: {exc}") from None
    return frame, SourceInfo(fmt, str(path), _sha256(path), frame.height, frame.width, tuple(notes))


DELIMITED_SUFFIXES = (".csv", ".txt", ".tsv", ".tab", ".data", ".dat")
SEPARATORS = ",\t;|"


def _format_of(path: Path) -> str:
    """parquet by suffix or magic bytes; delimited text (csv) by suffix or because it reads as text."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in DELIMITED_SUFFIXES:
        return "csv"
    head = path.open("rb").read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return suffix.lstrip(".") or "binary"
    return "csv" if b"\x00" not in head else (suffix.lstrip(".") or "binary")


def _sniff_separator(path: Path) -> str:
    """The delimiter of a text table: csv.Sniffer over the first 64 KiB, limited to , tab ; |."""
    import csv

    text = path.open("rb").read(1 << 16).decode("utf-8", errors="replace")
    lines = text.splitlines()
    sample = "\n".join(lines[:-1] if len(lines) > 1 else lines)  # the last line may be cut off
    if path.suffix.lower() in (".tsv", ".tab") and "\t" in sample:
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        return ","
