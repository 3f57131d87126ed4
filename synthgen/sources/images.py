"""Labeled image sets from class folders, MedMNIST NPZ, DICOM, NIfTI or built-in sets (no download).

Every reader returns uint8 pixels (N, H, W, C), one class name per image and ids that say where each
image came from (relative file name, `#frameK`, `:z=K`, `[i]`), never anything read from a header.

Format (source.format wins; otherwise inferred):
  *.npz -> npz; *.nii / *.nii.gz -> nifti; *.dcm -> dicom; any other file with a DICOM preamble
  -> dicom. A folder -> folder, unless every (non-hidden) file in its class subfolders -- or, without
  subfolders, directly in it -- is DICOM (128-byte preamble + "DICM", or *.dcm) -> dicom, or is a
  NIfTI volume -> nifti. Dot-files and files.JUNK_NAMES are ignored everywhere.

Size and channels: without image.size / image.channels every image must already share one size and
channel count (the error names two files that differ). With image.size, non-square images are made
square first -- photos and DICOM by a centre crop, volume slices (NIfTI, MNI152) by zero padding,
because their background is dark and a crop could cut anatomy -- then resized with Pillow (LANCZOS
when shrinking, which is area-aware; BILINEAR when enlarging, which does not ring). RGB -> gray uses
ITU-R 601 luma (Pillow's "L"); gray -> RGB repeats the channel.

SourceInfo: kind is the format (or "builtin"), rows the number of images, columns the number of
classes; the fingerprint is the file's sha256, or for a folder a sha256 over (relative path, file
sha256) of every visible file in it.

Layout: a format is one reader module (folder, npz, medical) and one row of FORMATS below: its whole
reader and, when it can be read in ranges, the planner of that; `read_images` and `image_chunks` both
look the format up there (inference stays the rule above, in `infer_format`). The readers share conform
(sizes, channels, class names) and files (which files count, class subfolders); built-in sets are in
builtin_images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from synthgen.data import LabeledImages
from synthgen.errors import InputError
from synthgen.sources.builtin_images import builtin_image_sets, read_builtin
from synthgen.sources.conform import ImageShape, ImageSource, Read, finish
from synthgen.sources.files import fingerprint, hidden, is_dicom, is_nifti, visible_files
from synthgen.sources.folder import folder_ranges, read_folder
from synthgen.sources.medical import read_dicom, read_nifti
from synthgen.sources.npz import npz_ranges, read_npz
from synthgen.sources.tabular import SourceInfo

__all__ = ["FORMATS", "ImageChunks", "builtin_image_sets", "image_chunks", "infer_format", "read_images"]


class Ranges(Protocol):
    """A planned ranged read: `n` items, `read(ranges)` the items of those [a, b) ranges, in order."""

    @property
    def n(self) -> int: ...

    def read(self, ranges: list[tuple[int, int]]) -> Read: ...


@dataclass(frozen=True)
class Format:
    """How one format is read: whole, and (optionally) in ranges. Both take (path, source, image.size);
    the planner returns None where the path cannot be read in ranges (the whole read then says why)."""

    read: Callable[[Path, ImageSource, int | None], Read]
    ranges: Callable[[Path, ImageSource, int | None], Ranges | None] | None = None


FORMATS: dict[str, Format] = {
    "folder": Format(read_folder, ranges=folder_ranges),
    "npz": Format(read_npz, ranges=npz_ranges),
    "dicom": Format(read_dicom),
    "nifti": Format(read_nifti),
}


def read_images(source: ImageSource, shape: ImageShape, base_dir: Path) -> tuple[LabeledImages, SourceInfo]:
    """Read, conform to `shape`, rename classes. Relative paths resolve against base_dir (the spec's folder)."""
    if source.builtin is not None:
        return read_builtin(source, shape)
    path = Path(source.path)
    if not path.is_absolute():
        path = Path(base_dir) / path
    if not path.exists():
        raise InputError(f"{path}: source not found (source.path); check the path, relative to the spec's folder")
    fmt = source.format or infer_format(path)
    read = FORMATS[fmt].read(path, source, shape.size)
    data = finish(read, shape, source, origin=str(path), fmt=fmt, size=shape.size)
    return data, SourceInfo(fmt, str(path), fingerprint(path), len(data), len(data.classes), tuple(read.notes))


def infer_format(path: Path) -> str:
    """The rule in the module docstring."""
    name = path.name.lower()
    if path.is_dir():
        subdirs = [p for p in path.iterdir() if p.is_dir() and not hidden(p, path)]
        files = ([f for d in subdirs for f in visible_files(d)] if subdirs
                 else [p for p in path.iterdir() if p.is_file() and not hidden(p, path)])
        if files and all(is_dicom(f) for f in files):
            return "dicom"
        if files and all(is_nifti(f) for f in files):
            return "nifti"
        return "folder"
    if name.endswith(".npz"):
        return "npz"
    if is_nifti(path):
        return "nifti"
    if is_dicom(path):
        return "dicom"
    raise InputError(f"{path}: cannot tell the image format from the name; set source.format "
                     "(folder, npz, dicom or nifti)")


@dataclass(frozen=True)
class ImageChunks:
    """A source read in ranges: `read(a, b)` gives items [a, b) as `read_images` would (same classes,
    names, shape rules) while holding only those images. Picklable: a cluster worker reads its own
    ranges from the shared path."""

    source: ImageSource
    shape: ImageShape
    path: str
    fmt: str
    parts: Ranges  # the format's plan (paths, array headers), made once
    streamed: bool = True

    @property
    def n(self) -> int:
        return self.parts.n

    def read(self, start: int, stop: int) -> LabeledImages:
        return self._read([(start, stop)])

    def take(self, index) -> LabeledImages:
        """The items at these positions (a screening report's top-k)."""
        return self._read([(int(i), int(i) + 1) for i in index])

    def _read(self, ranges: list[tuple[int, int]]) -> LabeledImages:
        return finish(self.parts.read(ranges), self.shape, self.source, origin=self.path, fmt=self.fmt,
                      size=self.shape.size)


def image_chunks(source: ImageSource, shape: ImageShape, path: Path) -> ImageChunks | None:
    """Plan a ranged read (paths and array headers only) where the format has one (folder, NPZ); None
    for the others (DICOM, NIfTI: read whole)."""
    fmt = source.format or infer_format(path)
    plan = FORMATS[fmt].ranges
    parts = plan(path, source, shape.size) if plan is not None else None
    return ImageChunks(source, shape, str(path), fmt, parts) if parts is not None else None
