"""Real labeled tables that ship inside installed packages (no download, works offline)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Callable

import polars as pl


@dataclass(frozen=True)
class BuiltinTable:
    name: str
    description: str
    label: str
    package: str
    resource: str  # file inside the package; its sha256 is the source fingerprint
    load: Callable[[], pl.DataFrame]

    def fingerprint(self) -> str:
        data = resources.files(self.package).joinpath(self.resource).read_bytes()
        return "sha256:" + hashlib.sha256(data).hexdigest()


def _arrests() -> pl.DataFrame:
    from sklego.datasets import load_arrests

    return pl.from_pandas(load_arrests(as_frame=True))


def _hearts() -> pl.DataFrame:
    from sklego.datasets import load_hearts

    return pl.from_pandas(load_hearts(as_frame=True))


def _breast_cancer() -> pl.DataFrame:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = pl.from_pandas(bunch.frame)
    names = {i: str(n) for i, n in enumerate(bunch.target_names)}
    return frame.with_columns(
        pl.col("target").replace_strict(names, return_dtype=pl.String).alias("diagnosis")
    ).drop("target")


BUILTIN_TABLES: dict[str, BuiltinTable] = {
    t.name: t
    for t in (
        BuiltinTable(
            "arrests",
            "Toronto marijuana-possession arrests (carData), 5,226 x 8 mixed; label released",
            "released", "sklego", "data/arrests.zip", _arrests,
        ),
        BuiltinTable(
            "hearts",
            "Cleveland heart disease, 303 x 14 mixed clinical; label target",
            "target", "sklego", "data/hearts.zip", _hearts,
        ),
        BuiltinTable(
            "breast_cancer",
            "Wisconsin diagnostic breast cancer, 569 x 30 numeric; label diagnosis",
            "diagnosis", "sklearn", "datasets/data/breast_cancer.csv", _breast_cancer,
        ),
    )
}
