"""Read real data into polars frames, with a fingerprint of exactly what was read."""

from synthgen.sources.tabular import SourceInfo, read_table

__all__ = ["SourceInfo", "read_table"]
