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


def sha256_file(path: Path) -> str:
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
    return frame, SourceInfo(fmt, str(path), sha256_file(path), frame.height, frame.width, tuple(notes))


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


@dataclass(frozen=True)
class TableChunks:
    """A CSV / Parquet file read in row ranges (polars' lazy scan + slice): `read(a, b)` gives rows
    [a, b) with the dtypes the whole-file read infers, so screening holds one chunk at a time.
    Picklable: a cluster worker reads its own ranges from the shared file."""

    path: str
    fmt: str
    separator: str
    schema: dict
    n: int
    drop: tuple[str, ...] = ()
    label: str | None = None  # kept as a LabeledTable's label when the file has it without nulls
    streamed: bool = True

    def _scan(self) -> pl.LazyFrame:
        if self.fmt == "csv":
            return pl.scan_csv(self.path, separator=self.separator, try_parse_dates=True,
                               schema=pl.Schema(self.schema))
        return pl.scan_parquet(self.path)

    def read(self, start: int, stop: int):
        return self._shape(lambda scan: scan.slice(start, stop - start), f"rows {start}..{stop}")

    def take(self, index):
        """The rows at these positions, in this order (a screening report's top-k)."""
        index = [int(i) for i in index]
        frame = self._shape(lambda scan: scan.with_row_index("__row").filter(pl.col("__row").is_in(index)),
                            f"rows {index[:5]}")
        rows = frame.frame if hasattr(frame, "frame") else frame
        order = {r: k for k, r in enumerate(rows.get_column("__row").to_list())}
        picked = rows[[order[i] for i in index]].drop("__row")
        return frame.with_frame(picked) if hasattr(frame, "frame") else picked

    def _shape(self, query, what: str):
        try:
            frame = query(self._scan()).collect()
        except Exception as exc:  # noqa: BLE001 - polars raises several types for unreadable rows
            raise InputError(f"{self.path}: cannot read {what} as {self.fmt}: {exc}") from None
        frame = frame.drop([c for c in self.drop if c in frame.columns])
        if self.label is not None:
            from synthgen.data import LabeledTable

            return LabeledTable(frame=frame, label=self.label, kinds={}, origin=self.path)
        return frame

    def null_count(self, column: str) -> int:
        return int(self._scan().select(pl.col(column).null_count()).collect().item())


def table_chunks(source, path: Path) -> TableChunks:
    """Plan a chunked read of a CSV / Parquet file with the same settings as `read_table`."""
    if not path.is_file():
        raise InputError(f"{path}: input file not found")
    fmt = source.format or _format_of(path)
    separator = source.separator if "separator" in source.model_fields_set else (
        _sniff_separator(path) if fmt == "csv" else ",")
    try:
        if fmt == "csv":
            scan = pl.scan_csv(path, separator=separator, try_parse_dates=True, infer_schema_length=10000)
        elif fmt == "parquet":
            scan = pl.scan_parquet(path)
        else:
            raise InputError(f"{path}: unknown table format {fmt!r}; set source.format to csv or parquet")
        schema = dict(scan.collect_schema())
        n = int(scan.select(pl.len()).collect().item())
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot read as {fmt}: {exc}") from None
    return TableChunks(str(path), fmt, separator, schema, n)
