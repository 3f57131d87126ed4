"""Atomic publish and quarantine.

A run builds its dataset in `DIR/.staging/<run id>/dataset/` (real rows, which must never be
published, live beside it in `work/`). Only a passing run renames the finished folder to
`DIR/<dataset>/<version>/` — one rename on the same file system, so readers see all of it or
nothing, and a killed run leaves nothing under the dataset path. A failing run renames it to
`DIR/_quarantine/<dataset>/<version>/` with `reasons.json`.

A run folder is owned by the process driving it through an exclusive `flock` on `<run>.lock`, taken
before the folder exists and released when the process ends, however it ends (SIGKILL too). So the
next run (or `synthgen clean`) can tell a dead run's folder, with its copies of real rows, from a live
one and remove it; `.staging/checkpoints/` is never touched, so a killed run still resumes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from synthgen.atomic import move_into_place, write_json
from synthgen.errors import InputError

STAGING = ".staging"
QUARANTINE = "_quarantine"


def new_version() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


CHECKPOINTS = "checkpoints"
_HELD: dict[str, int] = {}  # path of a lock file -> the descriptor holding it in this process


def hold_lock(path: Path, *, wait: bool = True) -> bool:
    """Take an exclusive flock on `path` for this process (released by `release_lock` or at exit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return False
    _HELD[str(path)] = fd
    return True


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock on `path` for the block (waiting for it)."""
    hold_lock(path)
    try:
        yield
    finally:
        release_lock(path)


def release_lock(path: Path, *, remove: bool = False) -> None:
    fd = _HELD.pop(str(path), None)
    if remove:
        Path(path).unlink(missing_ok=True)
    if fd is not None:
        os.close(fd)


def _lock_of(run: Path) -> Path:
    return run.parent / f"{run.name}.lock"


def create_staging(out_dir: Path, name: str, version: str) -> Path:
    final = out_dir / name / version
    if final.exists():
        raise InputError(f"{final}: this dataset version already exists; choose another output.version")
    clean_stale(out_dir)
    run = out_dir / STAGING / f"{name}-{version}-{uuid.uuid4().hex[:8]}"
    hold_lock(_lock_of(run))  # before the folder exists: no one can take a live run for a dead one
    (run / "dataset").mkdir(parents=True)
    (run / "work").mkdir()
    return run


def clean_stale(out_dir: Path, *, unlocked_age_s: float = 3600) -> list[Path]:
    """Remove the run folders of runs that are no longer alive (their lock is free), never the
    checkpoints. A folder with no lock file at all (an older synthgen) goes once it is an hour old."""
    staging = Path(out_dir) / STAGING
    removed = []
    if not staging.is_dir():
        return removed
    for folder in sorted(p for p in staging.iterdir() if p.is_dir() and p.name != CHECKPOINTS):
        lock = _lock_of(folder)
        if lock.exists():
            if not hold_lock(lock, wait=False):
                continue  # a live run
            shutil.rmtree(folder, ignore_errors=True)
            release_lock(lock, remove=True)
        elif time.time() - folder.stat().st_mtime > unlocked_age_s:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            continue
        removed.append(folder)
    for lock in staging.glob("*.lock"):  # a lock whose folder is gone (killed between the two steps)
        if not lock.with_suffix("").exists() and hold_lock(lock, wait=False):
            release_lock(lock, remove=True)
    return removed


def prune_versions(dataset_dir: Path, keep: int | None) -> list[Path]:
    """Keep the newest `keep` published versions (by their card's creation time, then name); never the
    one LATEST names."""
    if not keep:
        return []
    import json

    latest = (dataset_dir / "LATEST").read_text().strip() if (dataset_dir / "LATEST").is_file() else None

    def created(folder: Path) -> tuple[str, str]:
        try:
            return json.loads((folder / "card.json").read_text()).get("created", ""), folder.name
        except (OSError, ValueError):
            return "", folder.name

    versions = sorted((p for p in dataset_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=created, reverse=True)
    removed = []
    for folder in versions[keep:]:
        if folder.name != latest:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


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
    remove_folder(run, empty_parents=0)
    release_lock(_lock_of(run), remove=True)
    drop_empty(run.parent)


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
