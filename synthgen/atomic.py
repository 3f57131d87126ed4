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


def write_json(path: Path, data: Any) -> None:
    """Write JSON via a temporary file + rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, default=json_default)
        fh.write("\n")
    os.replace(tmp, path)


def move_into_place(folder: Path, final: Path) -> Path:
    """Rename a finished folder to `final` (atomic; fails if `final` appeared meanwhile)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(folder, final)
    return final


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success it becomes `final`, on any failure it is
    removed, so `final` holds all of the outputs or does not exist."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        yield tmp
        move_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
