"""Atomic publish and quarantine.

A run builds its dataset in `DIR/.staging/<run id>/dataset/` (real rows, which must never be
published, live beside it in `work/`). Only a passing run renames the finished folder to
`DIR/<dataset>/<version>/` — one rename on the same file system, so readers see all of it or
nothing, and a killed run leaves nothing under the dataset path. A failing run renames it to
`DIR/_quarantine/<dataset>/<version>/` with `reasons.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from synthgen.errors import InputError
from synthgen.persist import json_default

STAGING = ".staging"
QUARANTINE = "_quarantine"


def new_version() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def write_json(path: Path, data: Any) -> None:
    """Write JSON via a temporary file + rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, default=json_default)
        fh.write("\n")
    os.replace(tmp, path)


def create_staging(out_dir: Path, name: str, version: str) -> Path:
    final = out_dir / name / version
    if final.exists():
        raise InputError(f"{final}: this dataset version already exists; choose another output.version")
    run = out_dir / STAGING / f"{name}-{version}-{uuid.uuid4().hex[:8]}"
    (run / "dataset").mkdir(parents=True)
    (run / "work").mkdir()
    return run


def publish(run: Path, out_dir: Path, name: str, version: str) -> Path:
    final = out_dir / name / version
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(run / "dataset", final)  # atomic; fails if the version appeared meanwhile
    pointer = final.parent / "LATEST"
    tmp = final.parent / f".LATEST.{uuid.uuid4().hex[:8]}"
    tmp.write_text(version + "\n")
    os.replace(tmp, pointer)
    discard(run)
    return final


def quarantine(run: Path, out_dir: Path, name: str, version: str, reasons: list[str]) -> Path:
    write_json(run / "dataset" / "reasons.json", {"dataset": name, "version": version, "reasons": reasons})
    final = out_dir / QUARANTINE / name / version
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(run / "dataset", final)
    discard(run)
    return final


def discard(run: Path) -> None:
    """A run that failed before its verdict leaves nothing behind."""
    shutil.rmtree(run, ignore_errors=True)
    _drop_empty(run.parent)


def _drop_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only succeeds when no other run is staging
    except OSError:
        pass
