"""Writes that appear whole or not at all: a file via temp file + rename, a folder via a temporary
sibling folder + one rename on the same file system."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from synthgen.persist import json_default


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def file_mode() -> int:
    """The mode a plain new file gets here (0666 less the umask): one rule for every file synthgen writes.
    Who may read what is decided by folders: private work areas are 0700, published folders are not."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    return 0o777 & ~_umask()


def write_text_atomic(path: Path, text: str) -> None:
    """Write text via a temporary file + rename, so a reader never sees half a file. The file gets the
    same mode as every other file (mkstemp's 0600 would hide a card that its data file beside it shows)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any) -> None:
    """JSON, written as `write_text_atomic` writes text."""
    write_text_atomic(path, json.dumps(data, indent=2, default=json_default) + "\n")


def private_dir(path: Path) -> Path:
    """`path` created if missing and made 0700: a work area holding real data (staging, the model store,
    scorer copies, review reports) is readable only by its owner, whatever the umask."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def move_into_place(folder: Path, final: Path) -> Path:
    """Rename a finished folder to `final` (atomic; fails if `final` appeared meanwhile)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(folder, final)
    return final


WRITING = ".writing.lock"   # inside a folder being written: flocked by the writer while it lives


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success it becomes `final`, on any failure it is
    removed, so `final` holds all of the outputs or does not exist. While it is written the folder holds a
    lock file its writer flocks: a writer killed outright leaves a folder whose lock is free, which
    `abandoned` recognises (`synthgen clean` and every run remove such folders)."""
    import fcntl

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    os.chmod(tmp, dir_mode())   # mkdtemp makes 0700; the folder it becomes is an ordinary one
    lock = os.open(tmp / WRITING, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        yield tmp
        os.unlink(tmp / WRITING)
        move_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(lock)


def abandoned(folder: Path) -> bool:
    """True for a folder `atomic_directory` was writing when its writer died (its lock file is free)."""
    import fcntl

    lock = Path(folder) / WRITING
    if not lock.is_file():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
