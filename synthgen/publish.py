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
import re
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from synthgen.atomic import dir_mode, move_into_place, private_dir, write_json
from synthgen.errors import InputError, excerpt

STAGING = ".staging"
QUARANTINE = "_quarantine"
RESERVED = "versions"     # .staging/versions/<name>@<version>: a version name reserved by a live run
MODELS_DIR = ".models"    # DIR/.models/<dataset>/<key>/: trained models kept until their run publishes

# Every path synthgen writes or removes is built from these names, so none can leave DIR/<name>/:
# no "/", no "..", not absolute, no leading "." or "_" (the folders synthgen keeps for itself).
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_\-]{0,99}")
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")


def checked(value: str, what: str, pattern: re.Pattern = NAME_PATTERN) -> str:
    """`value` when it is a plain folder name of the pattern; otherwise exit 2 naming it (a short excerpt)."""
    if not isinstance(value, str) or not pattern.fullmatch(value) or ".." in value:
        raise InputError(f"{what} {excerpt(value)} is not a plain name: use letters, digits, '_' and '-' "
                         f"(and '.' in versions), starting with a letter or digit, at most 100 characters")
    return value


def checked_version(value: str, what: str = "version") -> str:
    return checked(value, what, VERSION_PATTERN)


def within(base: Path, path: Path) -> Path:
    """`path`, resolved, when it lies under `base` (resolved); otherwise exit 2: nothing is written or
    removed outside the output folder, whatever a spec, a pointer file or an argument says."""
    base, resolved = Path(base).resolve(), Path(path).resolve()
    if resolved != base and base not in resolved.parents:
        raise InputError(f"{path}: lies outside the output folder {base}")
    return resolved


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
    """A run folder for version `version` of dataset `name`, with the version name reserved for this run
    (atomically: two runs that ask for the same fixed version cannot both get it; the second is exit 2).
    A version that exists, published or quarantined, is refused before anything runs."""
    checked(name, "dataset name")
    checked_version(version, "output.version")
    out_dir = Path(out_dir).resolve()
    for taken in (out_dir / name / version, out_dir / QUARANTINE / name / version):
        if within(out_dir, taken).exists():
            raise InputError(f"{taken}: version {version!r} of {name!r} already exists"
                             f"{' (refused, in quarantine)' if QUARANTINE in taken.parts else ''}; choose another "
                             "output.version (or leave it unset: a time stamp)")
    private_dir(out_dir / STAGING)     # real rows, checkpoints, reservations: the owner's only
    clean_stale(out_dir)
    run = out_dir / STAGING / f"{name}-{version}-{uuid.uuid4().hex[:8]}"
    hold_lock(_lock_of(run))  # before the folder exists: no one can take a live run for a dead one
    try:
        _reserve(out_dir, name, version, run)
    except BaseException:
        release_lock(_lock_of(run), remove=True)
        raise
    (run / "dataset").mkdir(parents=True)
    os.chmod(run / "dataset", dir_mode())   # the folder that is published: an ordinary folder
    (run / "work").mkdir()
    return run


def work_folder(out_dir: Path, kind: str) -> Path:
    """A private folder under `.staging` owned by this process like a run folder (its lock is released when
    the process dies, so the next run or `synthgen clean` removes it): e.g. a scorer handed to dask
    workers, which may hold real rows."""
    out_dir = Path(out_dir).resolve()
    private_dir(out_dir / STAGING)
    folder = out_dir / STAGING / f"{kind}-{uuid.uuid4().hex[:8]}"
    hold_lock(_lock_of(folder))
    folder.mkdir()
    return folder


def _reservation(out_dir: Path, name: str, version: str) -> Path:
    return Path(out_dir) / STAGING / RESERVED / f"{name}@{version}"


def _reserve(out_dir: Path, name: str, version: str, run: Path) -> None:
    """Create the reservation file (O_EXCL). One left by a dead run (its lock is free) is taken over."""
    path = _reservation(out_dir, name, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            owner = path.read_text().strip() if path.exists() else ""
            lock = _lock_of(path.parent.parent / owner) if owner else None
            if lock is not None and lock.exists() and not hold_lock(lock, wait=False):
                raise InputError(f"version {version!r} of {name!r} is being written by another run now "
                                 f"({owner}); choose another output.version") from None
            if lock is not None and str(lock) in _HELD:
                release_lock(lock)
            path.unlink(missing_ok=True)          # a dead run's reservation
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(run.name)
        return
    raise InputError(f"version {version!r} of {name!r}: could not reserve it; try again")


def _release_reservation(run: Path) -> None:
    folder = run.parent / RESERVED
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        try:
            if path.read_text().strip() == run.name:
                path.unlink(missing_ok=True)
        except OSError:
            pass
    drop_empty(folder)


def clean_stale(out_dir: Path, *, unlocked_age_s: float = 3600) -> list[Path]:
    """Remove the run folders of runs that are no longer alive (their lock is free), never the
    checkpoints. A folder with no lock file at all (an older synthgen) goes once it is an hour old."""
    staging = Path(out_dir) / STAGING
    removed = _abandoned_writes(Path(out_dir))
    if not staging.is_dir():
        return removed
    for folder in sorted(p for p in staging.iterdir() if p.is_dir() and p.name not in (CHECKPOINTS, RESERVED)):
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
    reserved = staging / RESERVED
    for path in sorted(reserved.iterdir()) if reserved.is_dir() else []:   # version names of dead runs
        try:
            owner = path.read_text().strip()
        except OSError:
            continue
        if not (staging / owner).exists() and not (staging / f"{owner}.lock").exists():
            path.unlink(missing_ok=True)
    if reserved.is_dir():
        drop_empty(reserved)
    return removed


def _abandoned_writes(out_dir: Path) -> list[Path]:
    """Half-written folders of dead writers (`atomic.abandoned`) beside the versions, the screening reports
    and the model store: e.g. a screening killed mid-stream, whose partial scores show real items."""
    from synthgen.atomic import abandoned

    removed = []
    for pattern in ("*/.*", "*/screening/.*", f"{MODELS_DIR}/*/.*"):
        for folder in sorted(Path(out_dir).glob(pattern)):
            if folder.is_dir() and not folder.is_symlink() and abandoned(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def prune_versions(dataset_dir: Path, keep: int | None) -> list[Path]:
    """Keep the newest `keep` published versions (by their card's creation time, then name); never the
    one LATEST names, and never a folder that is not a version of this dataset (its card must name the
    dataset and the folder's own version: `screening/` and anything else a user keeps there stay). A
    folder is renamed aside first, then removed, so a reader never sees half a version."""
    if not keep:
        return []
    import json

    dataset_dir = Path(dataset_dir)
    latest = (dataset_dir / "LATEST").read_text().strip() if (dataset_dir / "LATEST").is_file() else None

    def card(folder: Path) -> dict | None:
        try:
            found = json.loads((folder / "card.json").read_text())
        except (OSError, ValueError):
            return None
        ok = isinstance(found, dict) and found.get("dataset") == dataset_dir.name and found.get("version") == folder.name
        return found if ok else None

    versions = [(c.get("created", ""), p.name, p) for p in dataset_dir.iterdir()
                if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (c := card(p)) is not None]
    removed = []
    for _, _, folder in sorted(versions, reverse=True)[keep:]:
        if folder.name == latest:
            continue
        aside = folder.parent / f".pruned-{folder.name}-{uuid.uuid4().hex[:8]}"
        os.rename(folder, aside)
        shutil.rmtree(aside, ignore_errors=True)
        removed.append(folder)
    return removed


def publish(run: Path, out_dir: Path, name: str, version: str) -> Path:
    final = move_into_place(run / "dataset", within(out_dir, Path(out_dir) / checked(name, "dataset name")
                                                    / checked_version(version)))
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
    final = move_into_place(run / "dataset", within(out_dir, Path(out_dir) / QUARANTINE / checked(name, "dataset name")
                                                    / checked_version(version)))
    discard(run)
    return final


def discard(run: Path) -> None:
    """A run that failed before its verdict leaves nothing behind."""
    remove_folder(run, empty_parents=0)
    _release_reservation(run)
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
