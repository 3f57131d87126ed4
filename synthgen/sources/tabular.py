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
    fmt = source.format or path.suffix.lower().lstrip(".")
    try:
        if fmt == "csv":
            frame = pl.read_csv(path, separator=source.separator, try_parse_dates=True, infer_schema_length=10000)
        elif fmt in ("parquet", "pq"):
            fmt = "parquet"
            frame = pl.read_parquet(path)
        else:
            raise InputError(f"{path}: unknown table format {fmt!r}; set source.format to csv or parquet")
    except InputError:
        raise
    except Exception as exc:  # polars raises several types for unreadable files
        raise InputError(f"{path}: cannot read as {fmt}: {exc}") from None
    return frame, SourceInfo(fmt, str(path), _sha256(path), frame.height, frame.width)
