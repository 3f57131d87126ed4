"""Class folders of pictures (PNG, JPEG, BMP, TIFF): read whole, or planned once and read by ranges of
files, both in the same order with the same checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthgen.errors import InputError
from synthgen.sources.conform import ImageSource, Read, resize, to_square, to_uint8
from synthgen.sources.files import class_layout, is_dicom, rel

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MAX_PIXELS = 50_000_000    # a picture larger than this (e.g. 7072 x 7072) is refused before it is decoded


@dataclass(frozen=True)
class FolderRanges:
    """A class folder's pictures, listed once (paths only), read by ranges of that list. Picklable:
    a cluster worker reads its own ranges from the shared folder."""

    root: str
    files: tuple[tuple[str, str], ...]  # (class, file), classes in folder order
    classes: tuple[str, ...]
    size: int | None  # image.size: each picture is cropped and resized as it is read

    @property
    def n(self) -> int:
        return len(self.files)

    def read(self, ranges: list[tuple[int, int]]) -> Read:
        pairs = [(c, Path(f)) for a, b in ranges for c, f in self.files[a:b]]
        images, labels, ids = _load_pairs(Path(self.root), pairs, size=self.size)
        return Read(images, labels, ids, self.classes, square="crop")


def folder_ranges(root: Path, source: ImageSource, size: int | None = None) -> FolderRanges | None:
    """The class layout of `root` (paths only, nothing decoded); None for a file, which `read_folder` refuses."""
    if not root.is_dir():
        return None
    pairs = tuple((cls, str(f)) for cls, files in class_layout(root, _is_picture, "images", single_class=False)
                  for f in files)
    return FolderRanges(str(root), pairs, tuple(dict.fromkeys(c for c, _ in pairs)), size)


def read_folder(root: Path, source: ImageSource, size: int | None = None) -> Read:
    pictures = folder_ranges(root, source, size)
    if pictures is None:
        raise InputError(f"{root}: source.format is folder but this is a file; point source.path at "
                         "a folder with one subfolder per class, or set source.format")
    return pictures.read([(0, pictures.n)])


def _load_pairs(root: Path, pairs, size: int | None = None) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Each picture read and, when `image.size` is set, cropped square and resized at once: the stack never
    holds a full-size picture beside the others."""
    images, labels, ids = [], [], []
    for cls, f in pairs:
        if not _is_picture(f):
            hint = ("; it is DICOM: set source.format: dicom and keep only DICOM files"
                    if is_dicom(f) else "")
            raise InputError(f"{f}: not an image file (accepted: {', '.join(IMAGE_SUFFIXES)}); "
                             f"remove it or move it out of the class folder {f.parent.name!r}{hint}")
        picture = _load_picture(f)
        images.append(resize(to_square(picture, "crop"), size) if size and picture.shape[:2] != (size, size)
                      else picture)
        labels.append(cls)
        ids.append(rel(f, root))
    return images, labels, ids


def _is_picture(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _load_picture(path: Path) -> np.ndarray:
    """(H, W, 1|3) uint8. First frame of multi-page files; EXIF rotation applied; alpha dropped. The size in
    the file's header is checked before the pixels are decoded."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise InputError(f"{path}: {width} x {height} pixels is beyond the {MAX_PIXELS:,}-pixel limit of a "
                                 "training image; downscale it (synthgen trains at most 256 x 256) or remove it")
            img.load()
            img = ImageOps.exif_transpose(img)
            return _pil_to_array(img)
    except InputError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError...
        raise InputError(f"{path}: cannot read the image ({type(exc).__name__}: {str(exc)[:120]}); "
                         "replace the file or remove it") from None


def _pil_to_array(img) -> np.ndarray:
    mode = img.mode
    if mode in ("1", "L", "LA"):
        return np.asarray(img.convert("L"))[..., None]
    if mode in ("P", "PA"):  # palette: gray when the palette is gray
        rgb = np.asarray(img.convert("RGB"))
        gray = (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
        return rgb[..., :1] if gray else rgb
    if mode.startswith(("I", "F")):  # 16/32-bit or float gray: min-max per image
        a = np.asarray(img, dtype=np.float32)
        return to_uint8(a, float(a.min()), float(a.max()))[..., None]
    return np.asarray(img.convert("RGB"))  # RGB, RGBA (alpha dropped), CMYK, YCbCr, ...
