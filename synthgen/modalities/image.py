"""The image adapter (photos and medical scans): LabeledImages, folder / NPZ / DICOM / NIfTI /
built-in sources, NPZ run storage, PNG + MedMNIST-layout output, validation on
`ImageValidationContext`, scorer input as uint8 images of one fixed shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from synthgen.data import LabeledImages
from synthgen.errors import InputError, excerpt
from synthgen.modalities.base import Modality, ScorerInput, register


class ImageInput(ScorerInput):
    """uint8 (N, H, W, C) images; the fitted shape is the only one accepted."""

    modality = "image"

    def __init__(self, shape: tuple[int, int, int]):
        self.shape = tuple(int(v) for v in shape)

    @classmethod
    def fit(cls, data) -> "ImageInput":
        return cls(_images(data).shape[1:])

    @classmethod
    def from_facts(cls, facts: dict) -> "ImageInput":
        return cls(facts["shape"])

    def facts(self) -> dict:
        return {"modality": "image", "shape": list(self.shape)}

    def check(self, data, origin: str = "input") -> np.ndarray:
        images = _images(data, origin)
        if images.shape[1:] != self.shape:
            h, w, c = images.shape[1:]
            eh, ew, ec = self.shape
            what = "channels" if (h, w) == (eh, ew) else "size"
            raise InputError(f"{origin}: images are {h}x{w} with {c} channel(s) but the scorer was fitted on "
                             f"{eh}x{ew} with {ec} channel(s) (wrong {what}); set image.size / image.channels "
                             "in the spec to match")
        return images

    def matrix(self, data, origin: str = "input") -> np.ndarray:
        """(N, H*W*C) float32 in [0, 1] (what the classic baselines read)."""
        images = self.check(data, origin)
        return images.reshape(len(images), -1).astype(np.float32) / 255.0

    def _map(self, per_dim: np.ndarray) -> np.ndarray:
        h, w, c = self.shape
        return per_dim.reshape(len(per_dim), h, w, c).mean(axis=3)

    def explain_nearest(self, q: np.ndarray, nearest: np.ndarray) -> dict[str, Any]:
        """{"residual": (N, H, W) |x - nearest normal image| in [0, 1]}."""
        return {"residual": self._map(np.abs(q - nearest))}

    def explain_tails(self, per_dim: np.ndarray) -> dict[str, Any]:
        m = self._map(per_dim)
        return {"residual": m / max(float(m.max()), 1e-12)}


def _images(data, origin: str = "input") -> np.ndarray:
    images = data.images if isinstance(data, LabeledImages) else data
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
            or images.shape[-1] not in (1, 3):
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise InputError(f"{origin}: expected uint8 images (N, H, W, 1|3), got {got}")
    if len(images) == 0:
        raise InputError(f"{origin}: no images to score")
    return images


def _apply_rare_plan(data: LabeledImages, plan: dict[str, str | None]) -> LabeledImages:
    """Drop (None) or relabel (`other`) the images of rare classes; class order kept, `other` last."""
    keep = np.flatnonzero([plan.get(str(v), "") is not None for v in data.labels])
    data = data.subset(keep)
    labels = np.array([plan.get(str(v)) or v for v in data.labels], dtype=object)
    classes = [c for c in data.classes if c not in plan]
    if any(plan.values()) and "other" not in classes:
        classes.append("other")
    return LabeledImages(images=data.images, labels=labels, classes=tuple(classes), origin=data.origin, ids=data.ids)


def _safe(label: str) -> str:
    """A class name as a folder name: letters, digits, '-', '_' and '.' (never leading, so never `..`),
    at most 100 characters."""
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(label)).lstrip(".")
    return name[:100] or "_"


def check_class_folders(classes, origin: str) -> None:
    """Refuse class names that would share a folder of the published `images/` (e.g. `a b` and `a_b`, or
    `A` and `a` on a case-insensitive file system): one class's files would overwrite the other's."""
    seen: dict[str, str] = {}
    for cls in classes:
        key = _safe(cls).casefold()
        if key in seen:
            raise InputError(f"{origin}: classes {excerpt(seen[key])} and {excerpt(cls)} would be written to the same "
                             f"folder images/{_safe(cls)}/ of the synthetic dataset; rename one of them")
        seen[key] = cls


@register
class ImageModality(Modality):
    name = "image"
    container = LabeledImages
    default_generator = "conditional_gan"
    default_model = "conditional_gan"
    default_scorer = "fanogan"
    scorer_input = ImageInput

    # -- containers -------------------------------------------------------------------------------
    def owns(self, data) -> bool:
        return isinstance(data, (LabeledImages, np.ndarray))

    def subset(self, data, index: np.ndarray):
        return data.subset(index) if isinstance(data, LabeledImages) else data[index]

    def labels(self, data) -> np.ndarray | None:
        return np.asarray(data.labels).astype(str) if isinstance(data, LabeledImages) else None

    def classes(self, data) -> list[str]:
        return list(data.classes)

    def labeled(self, data, origin: str = "fit data") -> LabeledImages:
        """Bare uint8 arrays are one class, `normal`."""
        if isinstance(data, LabeledImages):
            return data
        images = _images(data, origin)
        return LabeledImages(images=images, labels=np.full(len(images), "normal", dtype=object), classes=("normal",))

    # -- the data path ------------------------------------------------------------------------------
    def load(self, spec, base_dir: Path):
        from synthgen.augment import load_pipeline
        from synthgen.data import split_images
        from synthgen.sources.images import read_images

        if spec.augment:
            load_pipeline(spec.augment, origin=f"{spec.name} spec")  # refuse a bad pipeline before training
        from synthgen.data import rare_class_plan

        data, source = read_images(spec.source, spec.image, base_dir)
        check_class_folders(data.classes, source.location)
        counts = data.class_counts()
        if len([c for c, n in counts.items() if n]) < 2:
            raise InputError(f"{source.location}: needs at least two classes with images, found {counts}")
        plan, notes = rare_class_plan(counts, min_rows=spec.split.min_class_rows, policy=spec.split.rare_classes,
                                      origin=source.location, label="class")
        if plan:
            data = _apply_rare_plan(data, plan)
            if len(data.classes) < 2:
                raise InputError(f"{source.location}: after split.rare_classes={spec.split.rare_classes} fewer "
                                 f"than two classes are left ({data.class_counts()})")
        train, holdout = split_images(data, holdout=spec.split.holdout, random_state=spec.split.random_state,
                                      stratify=spec.split.stratify)
        return train, holdout, source, notes

    def read_input(self, spec, path: Path, base_dir: Path) -> LabeledImages:
        from synthgen.sources.images import read_images

        source = spec.source.model_copy(update={"path": str(path), "builtin": None})
        data, _ = read_images(source, spec.image, base_dir)
        return data

    def input_chunks(self, spec, path: Path, base_dir: Path):
        """Image folders and NPZ in ranges (files / array rows); DICOM and NIfTI are read whole."""
        from synthgen.sources.images import image_chunks

        source = spec.source.model_copy(update={"path": str(path), "builtin": None})
        if not path.exists():
            raise InputError(f"{path}: input not found (--input)")
        return image_chunks(source, spec.image, path) or super().input_chunks(spec, path, base_dir)

    def save_real(self, work: Path, train: LabeledImages, holdout: LabeledImages) -> None:
        for name, data in (("train", train), ("holdout", holdout)):
            ids = data.ids if data.ids is not None else np.arange(len(data)).astype(str)
            np.savez(work / f"{name}.npz", images=data.images, labels=data.labels.astype(str),
                     classes=np.array(data.classes, dtype=str), ids=np.asarray(ids, dtype=str))

    def read(self, run: Path, which: str) -> LabeledImages:
        if which == "synthetic":
            return self.read_synthetic(run / "dataset")
        with np.load(run / "work" / f"{which}.npz", allow_pickle=False) as npz:
            classes = tuple(str(c) for c in npz["classes"])
            labels, images, ids = npz["labels"].astype(object), npz["images"], npz["ids"]
        return LabeledImages(images=images, labels=labels, classes=classes, origin=which, ids=ids)

    def read_synthetic(self, folder: Path) -> LabeledImages:
        with np.load(folder / "data.npz", allow_pickle=False) as npz:
            classes = tuple(str(c) for c in npz["label_names"])
            labels = np.array(classes, dtype=object)[npz["train_labels"][:, 0]]
            images = npz["train_images"]
        return LabeledImages(images=images[..., None] if images.ndim == 3 else images, labels=labels,
                             classes=classes, origin="synthetic")

    def item_bytes(self, data) -> float:
        return float(np.prod(data.shape))

    def write_synthetic(self, dataset: Path, synthetic: LabeledImages, *, random_state: int) -> None:
        """images/<class>/<n>.png + labels.parquet (file, label, seed) + data.npz (MedMNIST layout)."""
        from PIL import Image

        files = []
        counters = {c: 0 for c in synthetic.classes}
        for image, label in zip(synthetic.images, synthetic.labels):
            folder = dataset / "images" / _safe(label)
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{counters[label]:06d}.png"
            counters[label] += 1
            Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(folder / name)
            files.append(f"images/{_safe(label)}/{name}")
        pl.DataFrame({"file": files, "label": synthetic.labels.astype(str),
                      "seed": [random_state] * len(files)}).write_parquet(dataset / "labels.parquet")
        images = synthetic.images[..., 0] if synthetic.images.shape[-1] == 1 else synthetic.images
        np.savez_compressed(dataset / "data.npz", train_images=images,
                            train_labels=synthetic.label_index()[:, None].astype(np.int64),
                            label_names=np.array(synthetic.classes, dtype=str))

    def fit_options(self, spec, checkpoint_dir: Path) -> dict[str, Any]:
        from synthgen.augment import epoch_augmenter

        return {"checkpoint_dir": checkpoint_dir,
                "augment": epoch_augmenter(spec.augment, origin=f"{spec.name} spec",
                                           random_state=spec.model.random_state)}

    def candidate_judge(self, spec, train):
        from synthgen.validation.judges import image_candidate_judge

        return image_candidate_judge(train, spec.model.random_state, threads=spec.model.threads)

    def context(self, spec, train, holdout, synthetic):
        from synthgen.training.seeding import resolve_device
        from synthgen.validation.images import ImageValidationContext

        return ImageValidationContext(train, holdout, synthetic, max_rows=spec.validation.max_images,
                                      random_state=spec.split.random_state,
                                      classifier_epochs=spec.validation.classifier_epochs,
                                      threads=spec.model.threads, device=resolve_device(spec.validation.device),
                                      min_steps=spec.validation.min_steps)

    def report(self, card: dict, metrics: dict, train, holdout, synthetic, model_meta: dict) -> str:
        from synthgen.reporting.images import image_report

        return image_report(card, metrics, train, holdout, synthetic, model_meta)

    def review(self, card: dict, metrics: dict, train, holdout, synthetic) -> str | None:
        from synthgen.reporting.images import image_review

        return image_review(card, metrics, train, synthetic)
