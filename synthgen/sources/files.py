"""Which files of an image source count and how they are laid out: hidden and junk files skipped,
DICOM and NIfTI told by name or preamble, one subfolder per class, the fingerprint of what was read."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from synthgen.errors import InputError, excerpt
from synthgen.sources.tabular import sha256_file

NIFTI_SUFFIXES = (".nii", ".nii.gz")
# Never images, often left behind by file managers; skipped like dot-files.
JUNK_NAMES = {"Thumbs.db", "desktop.ini", "__MACOSX", "DICOMDIR"}


def hidden(path: Path, root: Path) -> bool:
    return any(p.startswith(".") or p in JUNK_NAMES for p in path.relative_to(root).parts)


def visible_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not hidden(p, root))


def is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def is_dicom(path: Path) -> bool:
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def class_layout(root: Path, is_member: Callable[[Path], bool], what: str,
                 single_class: bool) -> list[tuple[str, list[Path]]]:
    """[(class, files)] from one subfolder per class. With single_class, a folder without
    subfolders is one class named after the folder."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not hidden(p, root))
    loose = [p for p in root.iterdir() if p.is_file() and not hidden(p, root) and is_member(p)]
    if not subdirs:
        if single_class and loose:
            return [(root.name, sorted(loose))]
        raise InputError(f"{root}: no class subfolders; put the {what} in one subfolder per class "
                         f"(e.g. {root / 'class_a' / 'x'} and {root / 'class_b' / 'y'})")
    if loose:
        raise InputError(f"{root}: {loose[0].name} is not in a class subfolder; move the {what} into "
                         f"the class subfolders ({', '.join(p.name for p in subdirs)})")
    layout = []
    for sub in subdirs:
        files = visible_files(sub)
        if not files:
            raise InputError(f"{sub}: class folder {excerpt(sub.name)} is empty; add {what} or remove the folder")
        layout.append((sub.name, files))
    return layout


def fingerprint(path: Path) -> str:
    """A file's sha256; for a folder a sha256 over (relative path, file sha256) of every visible file."""
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for f in visible_files(path):
        digest.update(f"{f.relative_to(path).as_posix()}\0{sha256_file(f)}\n".encode())
    return "sha256:" + digest.hexdigest()


def rel(path: Path, root: Path) -> str:
    """An image's id: its path under the source folder (its name when the source is the file itself)."""
    return path.name if path == root else path.relative_to(root).as_posix()
