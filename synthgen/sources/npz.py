"""MedMNIST-style NPZ: <split>_images (N, H, W[, C]) uint8 and <split>_labels (N,) or (N, 1) ints.

One planner (`plan_splits`) decides from the archive's index and array headers which splits are read and
refuses what cannot be pooled; the whole read (`read_npz`, np.load within a memory budget) and the ranged
read (`npz_ranges`, rows read from the archive without loading the rest) both start from it, so they
accept and refuse the same files with the same words.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from synthgen.errors import InputError, excerpt
from synthgen.sources.conform import ImageSource, Read

LABEL_RANGE = 1_000_000     # labels of a streamed NPZ are read this many at a time


@dataclass(frozen=True)
class Split:
    """One split the file has: its two keys and its number of rows (from the headers)."""

    name: str
    images: str
    labels: str
    rows: int


def plan_splits(path: Path, splits: Sequence[str]) -> list[Split]:
    """The listed splits the file has, in the listed order (whatever of them exist is pooled), checked
    before anything is loaded: both keys of a split present, as many labels as images, images of one
    (H, W, C) in every split."""
    with _open(path) as npz:
        keys = list(npz.files)
    if not splits:
        raise InputError(f"{path}: source.npz_splits is empty; list at least one split (e.g. [train])")
    planned, pixels = [], []
    for split in splits:
        ik, lk = f"{split}_images", f"{split}_labels"
        if ik not in keys and lk not in keys:
            continue
        for key in (ik, lk):
            if key not in keys:
                raise InputError(f"{path}: key {excerpt(key)} not found but its pair is (keys: {keys}); every "
                                 "split needs both <split>_images and <split>_labels")
        image_shape, label_shape = _npy_header(path, ik)[0], _npy_header(path, lk)[0]
        (rows, *_), (count, *_) = image_shape, label_shape
        if rows != count:
            raise InputError(f"{path}: {excerpt(ik)} has {rows} images but {excerpt(lk)} has {count} labels; they "
                             "must match one to one")
        planned.append(Split(split, ik, lk, int(rows)))
        pixels.append(_image_shape(image_shape, ik, path)[1:])
    if not planned:
        raise InputError(f"{path}: none of source.npz_splits {list(splits)} is in the file (keys: "
                         f"{keys}); list the splits it has, e.g. --set source.npz_splits=[test]")
    for split, shape in zip(planned, pixels):
        if shape != pixels[0]:
            raise InputError(f"{path}: {planned[0].images} are {pixels[0]} but {split.images} are {shape} (H, W, C); "
                             "pool only matching splits (source.npz_splits)")
    return planned


def read_npz(path: Path, source: ImageSource, size: int | None = None) -> Read:
    """The planned splits loaded whole, each refused before loading when the splits so far exceed the budget."""
    if path.is_dir():
        raise InputError(f"{path}: source.format is npz but this is a folder; point source.path at the .npz file")
    splits = plan_splits(path, source.npz_splits)
    parts_img, parts_lab, ids = [], [], []
    with _open(path) as npz:
        for i, split in enumerate(splits):
            _npz_budget(path, [k for s in splits[:i + 1] for k in (s.images, s.labels)])
            img, lab = _npz_array(npz, split.images, path), _npz_array(npz, split.labels, path)
            parts_img.append(_check_npz_images(img, split.images, path))
            parts_lab.append(_check_npz_labels(lab, split.labels, path))
            ids.extend(f"{split.images}[{k}]" for k in range(len(img)))
    codes = np.concatenate(parts_lab)
    classes = tuple(str(c) for c in np.unique(codes))  # numeric order: 2 before 10
    used = [s.name for s in splits]
    missing = [s for s in source.npz_splits if s not in used]
    note = f"npz splits pooled: {', '.join(used)}" + (f" (not in the file: {', '.join(missing)})" if missing else "")
    return Read(np.concatenate(parts_img), codes.astype(str), ids, classes, square="crop", notes=(note,))


@dataclass(frozen=True)
class NpzRanges:
    """The planned splits of an NPZ read by ranges of their pooled rows, holding only those rows.
    Picklable: a cluster worker reads its own ranges from the shared file."""

    path: str
    splits: tuple[Split, ...]
    classes: tuple[str, ...]

    @property
    def n(self) -> int:
        return sum(s.rows for s in self.splits)

    def read(self, ranges: list[tuple[int, int]]) -> Read:
        path = Path(self.path)
        images, labels, ids = [], [], []
        for start, stop in ranges:
            offset = 0
            for split in self.splits:
                a, b = max(start - offset, 0), min(stop - offset, split.rows)
                if a < b:
                    images.append(_check_npz_images(_npy_rows(path, split.images, a, b), split.images, path))
                    lab = _check_npz_labels(_npy_rows(path, split.labels, a, b), split.labels, path)
                    labels.append(lab.astype(str))
                    ids.extend(f"{split.images}[{i}]" for i in range(a, b))
                offset += split.rows
        return Read(np.concatenate(images) if images else np.zeros((0, 1, 1, 1), np.uint8),
                    np.concatenate(labels) if labels else np.zeros(0, str), ids, self.classes, square="crop")


def npz_ranges(path: Path, source: ImageSource, size: int | None = None) -> NpzRanges | None:
    """The plan, and the classes from the labels read in ranges; None for a folder, which `read_npz` refuses."""
    if not path.is_file():
        return None
    splits = plan_splits(path, source.npz_splits)
    codes = []
    for split in splits:
        for start in range(0, split.rows, LABEL_RANGE):
            part = _npy_rows(path, split.labels, start, min(start + LABEL_RANGE, split.rows))
            codes.append(np.unique(_check_npz_labels(part, split.labels, path)))
    classes = tuple(str(c) for c in np.unique(np.concatenate(codes)))
    return NpzRanges(str(path), tuple(splits), classes)


def _open(path: Path) -> np.lib.npyio.NpzFile:
    if not zipfile.is_zipfile(path):  # np.load would try .npy / pickle and say something confusing
        raise InputError(f"{path}: not a numpy .npz archive (np.savez); re-save it or set source.format")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path}: cannot read as .npz ({exc}); re-save it with np.savez") from None


def _npz_array(npz, key: str, path: Path) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as exc:  # object arrays need pickle, which is never allowed
        raise InputError(f"{path}: key {excerpt(key)} cannot be read without pickle ({exc}); save it as a "
                         "plain numeric array") from None


def _image_shape(shape: tuple[int, ...], key: str, path: Path) -> tuple[int, ...]:
    """(N, H, W, C) of an images array: (N, H, W) is one channel; C must be 1 or 3."""
    shape = (*shape, 1) if len(shape) == 3 else tuple(shape)
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise InputError(f"{path}: {excerpt(key)} has shape {shape}; expected (N, H, W) or (N, H, W, 1|3)")
    return shape


def _check_npz_images(img: np.ndarray, key: str, path: Path) -> np.ndarray:
    img = img.reshape(_image_shape(img.shape, key, path))
    if img.dtype != np.uint8:
        raise InputError(f"{path}: {excerpt(key)} is {img.dtype}; expected uint8 pixels 0-255 "
                         "(convert with .astype(np.uint8) after scaling)")
    return img


def _check_npz_labels(lab: np.ndarray, key: str, path: Path) -> np.ndarray:
    if lab.ndim == 2 and lab.shape[1] == 1:
        lab = lab[:, 0]
    if lab.ndim != 1:
        raise InputError(f"{path}: {excerpt(key)} has shape {lab.shape}; expected (N,) or (N, 1) class "
                         "indices (multi-label sets such as ChestMNIST are not supported)")
    if not np.issubdtype(lab.dtype, np.integer):
        if not (np.issubdtype(lab.dtype, np.floating) and np.all(lab == np.round(lab))):
            raise InputError(f"{path}: {excerpt(key)} holds {lab.dtype} values; expected integer class indices")
        lab = lab.astype(np.int64)
    return lab


def _npy_header(path: Path, key: str):
    """(shape, fortran order, dtype, header bytes) of one array of an .npz, read from its header alone and
    checked against the size the archive records for the member: a header that claims more (or fewer)
    bytes than the member holds is refused before anything is allocated."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as fh:
            stored = zf.getinfo(f"{key}.npy").file_size
            version = np.lib.format.read_magic(fh)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = reader(fh)
            header = fh.tell()
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: {excerpt(key)} has no readable .npy header ({str(exc)[:80]}); re-save it with "
                         "np.savez") from None
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if not dtype.hasobject and header + claimed != stored:
        raise InputError(f"{path}: {excerpt(key)} claims shape {shape} ({claimed:,} bytes) but the archive stores "
                         f"{stored - header:,} bytes for it; the file is damaged or forged: re-save it with np.savez")
    return shape, fortran, dtype, header


def _npz_budget(path: Path, keys: list[str]) -> None:
    """Refuse, before loading, arrays whose size (from their checked headers) exceeds half of the memory
    this machine has available: exit 2 naming the file and size, not a MemoryError."""
    from synthgen.resources import available_memory

    total = 0
    for key in keys:
        shape, _, dtype, _ = _npy_header(path, key)
        total += int(np.prod(shape, dtype=object)) * dtype.itemsize
    available = available_memory()
    if available and total > available // 2:
        raise InputError(f"{path}: {', '.join(excerpt(k) for k in keys)} hold {total / 2**30:.1f} GiB and this machine "
                         f"has {available / 2**30:.1f} GiB available; use fewer images (source.npz_splits) or "
                         "screen it streamed (synthgen screen --input, read in chunks)")


def _npy_rows(path: Path, key: str, start: int, stop: int | None) -> np.ndarray:
    """Rows [start, stop) of one array inside an .npz, read without loading the rest of it."""
    shape, fortran, dtype, header = _npy_header(path, key)
    stop = shape[0] if stop is None else stop
    if fortran or dtype.hasobject:
        raise InputError(f"{path}: {excerpt(key)} is stored in Fortran order or as objects; re-save it with np.savez")
    row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as fh:
        fh.seek(header + start * row)
        data = fh.read((stop - start) * row)
    return np.frombuffer(data, dtype=dtype).reshape((stop - start, *shape[1:])).copy()
