"""Atomic publish and quarantine.

A run builds its dataset in `DIR/.staging/<run id>/dataset/` (real rows, which must never be
published, live beside it in `work/`). Only a passing run renames the finished folder to
`DIR/<dataset>/<version>/` — one rename on the same file system, so readers see all of it or
nothing, and a killed run leaves nothing under the dataset path. A failing run renames it to
`DIR/_quarantine/<dataset>/<version>/` with `reasons.json`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from synthgen.atomic import move_into_place, write_json
from synthgen.errors import InputError

STAGING = ".staging"
QUARANTINE = "_quarantine"


def new_version() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def create_staging(out_dir: Path, name: str, version: str) -> Path:
    final = out_dir / name / version
    if final.exists():
        raise InputError(f"{final}: this dataset version already exists; choose another output.version")
    run = out_dir / STAGING / f"{name}-{version}-{uuid.uuid4().hex[:8]}"
    (run / "dataset").mkdir(parents=True)
    (run / "work").mkdir()
    return run


def publish(run: Path, out_dir: Path, name: str, version: str) -> Path:
    final = move_into_place(run / "dataset", out_dir / name / version)
    pointer = final.parent / "LATEST"
    tmp = final.parent / f".LATEST.{uuid.uuid4().hex[:8]}"
    tmp.write_text(version + "\n")
    os.replace(tmp, pointer)
    discard(run)
    return final


def quarantine(run: Path, out_dir: Path, name: str, version: str, reasons: list[str],
               next_steps: dict[str, str] | None = None) -> Path:
    write_json(run / "dataset" / "reasons.json", {"dataset": name, "version": version, "reasons": reasons,
                                                  "next_steps": next_steps or {}})
    final = move_into_place(run / "dataset", out_dir / QUARANTINE / name / version)
    discard(run)
    return final


def discard(run: Path) -> None:
    """A run that failed before its verdict leaves nothing behind."""
    remove_folder(run, empty_parents=1)


def remove_folder(folder: Path, *, empty_parents: int = 0) -> None:
    """Remove `folder`, then up to `empty_parents` of its parents that it leaves empty."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in list(folder.parents)[:empty_parents]:
        drop_empty(parent)


def drop_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only succeeds when no other run is staging
    except OSError:
        pass
