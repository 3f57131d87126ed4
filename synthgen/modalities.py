"""What differs between modalities along the one data path: how real data is read and stored in a
run, how synthetic data is written, which validation context the metrics get, and the report.
The pipeline steps (pipeline.py) are the same for every modality and look the adapter up here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl

from synthgen.data import LabeledImages, LabeledTable


class TabularIO:
    modality: ClassVar[str] = "tabular"

    def load(self, spec, base_dir: Path):
        from synthgen.data import prepare_table, split_table
        from synthgen.sources import read_table

        frame, source = read_table(spec.source, base_dir)
        table = prepare_table(frame, label=spec.label, overrides={k: v.type for k, v in spec.columns.items()},
                              origin=source.location, near_unique_ratio=spec.validation.near_unique_ratio,
                              max_categories=spec.validation.max_categories)
        train, holdout = split_table(table, holdout=spec.split.holdout, random_state=spec.split.random_state,
                                     stratify=spec.split.stratify)
        return train, holdout, source, list(table.warnings)

    def save_real(self, work: Path, train: LabeledTable, holdout: LabeledTable) -> None:
        train.frame.write_parquet(work / "train.parquet")
        holdout.frame.write_parquet(work / "holdout.parquet")
        (work / "kinds.json").write_text(json.dumps({"label": train.label, "kinds": train.kinds}))

    def read(self, run: Path, which: str) -> LabeledTable:
        kinds = json.loads((run / "work" / "kinds.json").read_text())
        path = run / "dataset" / "data.parquet" if which == "synthetic" else run / "work" / f"{which}.parquet"
        return LabeledTable(frame=pl.read_parquet(path), label=kinds["label"], kinds=kinds["kinds"], origin=which)

    def write_synthetic(self, dataset: Path, synthetic: LabeledTable, *, random_state: int) -> None:
        synthetic.frame.write_parquet(dataset / "data.parquet")

    def fit_options(self, spec, run: Path, checkpoint_dir: Path) -> dict[str, Any]:
        return {}

    def context(self, spec, train, holdout, synthetic):
        from synthgen.validation.context import ValidationContext

        return ValidationContext(train, holdout, synthetic, max_rows=spec.validation.max_rows,
                                 random_state=spec.split.random_state)

    def report(self, card: dict, metrics: dict, train, holdout, synthetic, model_meta: dict) -> str:
        from synthgen.reporting.html import tabular_report

        return tabular_report(card, metrics, train, holdout, synthetic)


class ImageIO:
    modality: ClassVar[str] = "image"

    def load(self, spec, base_dir: Path):
        from synthgen.augment import load_pipeline
        from synthgen.data import split_images
        from synthgen.errors import InputError
        from synthgen.sources.images import read_images

        if spec.augment:
            load_pipeline(spec.augment, origin=f"{spec.name} spec")  # refuse a bad pipeline before training
        data, source = read_images(spec.source, spec.image, base_dir)
        counts = data.class_counts()
        if len([c for c, n in counts.items() if n]) < 2:
            raise InputError(f"{source.location}: needs at least two classes with images, found {counts}")
        small = {c: n for c, n in counts.items() if n < 2}
        if small:
            raise InputError(f"{source.location}: classes {sorted(small)} have fewer than 2 images; "
                             "every class needs images in both train and holdout")
        train, holdout = split_images(data, holdout=spec.split.holdout, random_state=spec.split.random_state,
                                      stratify=spec.split.stratify)
        return train, holdout, source, []

    def save_real(self, work: Path, train: LabeledImages, holdout: LabeledImages) -> None:
        for name, data in (("train", train), ("holdout", holdout)):
            ids = data.ids if data.ids is not None else np.arange(len(data)).astype(str)
            np.savez(work / f"{name}.npz", images=data.images, labels=data.labels.astype(str),
                     classes=np.array(data.classes, dtype=str), ids=np.asarray(ids, dtype=str))

    def read(self, run: Path, which: str) -> LabeledImages:
        path = run / "dataset" / "data.npz" if which == "synthetic" else run / "work" / f"{which}.npz"
        ids = None
        with np.load(path, allow_pickle=False) as npz:
            if which == "synthetic":
                classes = tuple(str(c) for c in npz["label_names"])
                labels = np.array(classes, dtype=object)[npz["train_labels"][:, 0]]
                images = npz["train_images"]
                images = images[..., None] if images.ndim == 3 else images
            else:
                classes = tuple(str(c) for c in npz["classes"])
                labels, images, ids = npz["labels"].astype(object), npz["images"], npz["ids"]
        return LabeledImages(images=images, labels=labels, classes=classes, origin=which, ids=ids)

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

    def fit_options(self, spec, run: Path, checkpoint_dir: Path) -> dict[str, Any]:
        from synthgen.augment import epoch_augmenter

        return {"checkpoint_dir": checkpoint_dir,
                "augment": epoch_augmenter(spec.augment, origin=f"{spec.name} spec",
                                           random_state=spec.model.random_state)}

    def context(self, spec, train, holdout, synthetic):
        from synthgen.validation.images import ImageValidationContext

        return ImageValidationContext(train, holdout, synthetic, max_rows=spec.validation.max_images,
                                      random_state=spec.split.random_state,
                                      classifier_epochs=spec.validation.classifier_epochs,
                                      threads=spec.model.threads)

    def report(self, card: dict, metrics: dict, train, holdout, synthetic, model_meta: dict) -> str:
        from synthgen.reporting.images import image_report

        return image_report(card, metrics, train, holdout, synthetic, model_meta)


def _safe(label: str) -> str:
    """A class name as a folder name."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(label)) or "_"


MODALITY_IO = {"tabular": TabularIO(), "image": ImageIO()}
