"""What every image reader returns (`Read`) and how it becomes one uniform `LabeledImages`: sizes,
channels, square crop or pad, resize, class renaming (the rules: synthgen.sources.images' docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from synthgen.data import LabeledImages
from synthgen.errors import InputError


class ImageSource(Protocol):
    """What the readers take from a spec's image source (spec.ImageSourceSpec). Typed here because
    sources never import spec: spec imports the modalities, which import sources."""

    path: str | None
    builtin: str | None
    format: str | None
    class_names: dict[str, str] | None
    npz_splits: list[str]
    window: tuple[float, float] | None
    slice_axis: int
    mask: bool
    min_foreground: float


class ImageShape(Protocol):
    """A spec's image shape (spec.ImageShapeSpec): None keeps the source's own."""

    size: int | None
    channels: int | None


@dataclass
class Read:
    """What a reader found, before sizes and channels are made uniform."""

    images: list[np.ndarray] | np.ndarray  # each (H, W, C) uint8, C in {1, 3}
    labels: list[str] | np.ndarray
    ids: list[str] | np.ndarray
    classes: tuple[str, ...]
    square: str = "crop"  # how a non-square image becomes square before resizing: crop | pad
    notes: tuple[str, ...] = ()  # what the card should say about the read (e.g. which NPZ splits were pooled)


def finish(read: Read, shape: ImageShape, source: ImageSource, *, origin: str, fmt: str,
           size: int | None) -> LabeledImages:
    """Conform the images to `size` and shape.channels, rename the classes (source.class_names)."""
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
    return np.stack([resize(to_square(a, square), size) for a in images])


class MixedImages(InputError):
    """Images that differ in size or channels where the spec asks for neither (`what`: "size" / "channels"):
    `synthgen init` proposes the setting instead of stopping."""

    def __init__(self, message: str, *, what: str):
        super().__init__(message)
        self.what = what


def _require_uniform(images, ids, origin: str, key: Callable, what: str, fix: str) -> None:
    first = key(images[0])
    for i, a in enumerate(images):
        if key(a) != first:
            raise MixedImages(f"{origin}: images differ in {what}: {ids[0]} is {_describe(images[0])}, "
                             f"{ids[i]} is {_describe(a)}; set {fix}", what=what)


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


def to_square(a: np.ndarray, how: str) -> np.ndarray:
    """(H, W, C) -> (S, S, C): a centre crop (how="crop") or zero padding around it (how="pad")."""
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


def resize(a: np.ndarray, size: int) -> np.ndarray:
    """Square (S, S, C) -> (size, size, C) with Pillow."""
    from PIL import Image

    if a.shape[0] == size:
        return a
    resample = Image.Resampling.LANCZOS if size < a.shape[0] else Image.Resampling.BILINEAR
    img = Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)
    out = np.asarray(img.resize((size, size), resample))
    return out.reshape(size, size, a.shape[2])


def to_uint8(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Linear map [lo, hi] -> [0, 255], clipped; a flat range maps to 0."""
    x = np.asarray(x, np.float32)
    if not hi > lo:
        return np.zeros(x.shape, np.uint8)
    return np.clip(np.rint((x - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)
