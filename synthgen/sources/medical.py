"""DICOM files and NIfTI volumes: one file (one class, its stem), a folder of them (one class, the folder's
name) or class subfolders; each frame or slice is one image, and nothing from a header is kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthgen.errors import InputError
from synthgen.sources.conform import ImageSource, Read, to_uint8
from synthgen.sources.files import class_layout, is_dicom, is_nifti, rel

FOREGROUND_LEVEL = 5  # NIfTI mask: normalised (0-255) intensity above this is foreground (~2%)


# -------------------------------------------------------------------------------------- dicom


def read_dicom(path: Path, source: ImageSource, size: int | None = None) -> Read:
    """A file (one class, its stem), a folder of files (one class, the folder name), or class subfolders.

    Pixels: modality LUT (rescale), then window -- source.window, else the file's first
    WindowCenter/WindowWidth, else min-max over the whole file -- to 0-255; MONOCHROME1 inverted;
    palette colour expanded to RGB; colour kept as RGB. Each frame of a multi-frame file is one image
    (`name.dcm#frameK`, K from 1). Nothing from the header is kept.
    """
    if path.is_file():
        layout, root = [(_stem(path), [path])], path
    else:
        layout, root = class_layout(path, is_dicom, "DICOM files", single_class=True), path
    images, labels, ids = [], [], []
    for cls, files in layout:
        for f in files:
            if not is_dicom(f):
                raise InputError(f"{f}: not a DICOM file (no 'DICM' marker after the 128-byte preamble "
                                 "and not *.dcm); remove it from the class folder")
            frames = _dicom_frames(f, source.window)
            name = rel(f, root)
            images.extend(frames)
            labels.extend([cls] * len(frames))
            ids.extend([name] if len(frames) == 1 else [f"{name}#frame{k + 1}" for k in range(len(frames))])
    return Read(images, labels, ids, tuple(dict.fromkeys(labels)), square="crop")


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
        return list(to_uint8(arr, 0.0, float(2**bits - 1)))
    values = np.asarray(apply_modality_lut(arr, ds), np.float32)
    lo, hi = _window(values, ds, window)
    out = to_uint8(values, lo, hi)
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


def read_nifti(path: Path, source: ImageSource, size: int | None = None) -> Read:
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
        layout, root = class_layout(path, is_nifti, "NIfTI volumes", single_class=True), path
    images, labels, ids = [], [], []
    axis = source.slice_axis
    for cls, files in layout:
        for f in files:
            if not is_nifti(f):
                raise InputError(f"{f}: not a NIfTI volume (*.nii or *.nii.gz); remove it from the "
                                 f"class folder {f.parent.name!r}")
            volume = _normalise(_load_volume(f), f)
            slices, keep = volume_slices(volume, axis)
            if source.mask:
                slices, keep = foreground_slices(slices, keep, source.min_foreground)
                if not len(keep):
                    raise InputError(f"{f}: no slice along axis {axis} has a foreground share >= "
                                     f"{source.min_foreground}; lower source.min_foreground or set "
                                     "source.mask: false")
            name = rel(f, root)
            images.extend(slices[..., None])
            labels.extend([cls] * len(keep))
            ids.extend(f"{name}:{'xyz'[axis]}={k}" for k in keep)
    return Read(images, labels, ids, tuple(dict.fromkeys(labels)), square="pad")


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
    return to_uint8(volume, float(lo), float(hi))


def volume_slices(volume: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, h, w) slices along `axis`, turned so the next axis points up; and their indices."""
    slices = np.rot90(np.moveaxis(volume, axis, 0), axes=(1, 2))
    return np.ascontiguousarray(slices), np.arange(slices.shape[0])


def foreground_slices(slices: np.ndarray, keep: np.ndarray, min_share: float,
                      mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The slices (and their indices) of which at least min_share is foreground: above FOREGROUND_LEVEL, or `mask`."""
    fg = (slices > FOREGROUND_LEVEL) if mask is None else mask
    share = fg.reshape(len(fg), -1).mean(axis=1)
    chosen = share >= min_share
    return slices[chosen], keep[chosen]
