"""Shared fixtures: tiny but real configurations on real built-in data."""

from __future__ import annotations

import os
from pathlib import Path

# synthgen applies its environment defaults on import (no telemetry, patient ephemeral server).
import synthgen  # noqa: F401, E402

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pytest  # noqa: E402

from synthgen.data import LabeledTable, prepare_table, split_table  # noqa: E402
from synthgen.sources.builtin import BUILTIN_TABLES  # noqa: E402

# Snapshot selection is off in the tiny configurations (tests/unit/test_selection.py turns it on): on a
# 90-step model it kept a snapshot whose synthetic_knn screening AUROC was 0.66 instead of > 0.8, and every fit
# would train a judge too.
TINY_CTGAN = dict(epochs=2, batch_size=100, embedding_dim=16, generator_dim=[32, 32],
                  discriminator_dim=[32, 32], random_state=0, threads=1, select_snapshot=False)
TINY_ARGN = dict(epochs=2, hidden=16, threads=1)
TINY_GAN = dict(epochs=2, batch_size=32, latent_dim=16, base_channels=8, random_state=0, threads=2,
                device="cpu", select_snapshot=False)


def builtin_split(name: str, *, holdout: float = 0.2) -> tuple[LabeledTable, LabeledTable]:
    table = BUILTIN_TABLES[name]
    prepared = prepare_table(table.load(), label=table.label, overrides={}, origin=name)
    return split_table(prepared, holdout=holdout, random_state=0)


@pytest.fixture(scope="session")
def arrests_split():
    return builtin_split("arrests")


@pytest.fixture(scope="session")
def cancer_split():
    return builtin_split("breast_cancer", holdout=0.3)


def mnist_images(n_per_class: int = 150):
    """A class-balanced slice of the built-in MNIST sample (real digits)."""
    from synthgen.sources.images import read_images
    from synthgen.spec import ImageShapeSpec, ImageSourceSpec

    data, _ = read_images(ImageSourceSpec(builtin="mnist"), ImageShapeSpec(), Path("."))
    idx = np.concatenate([np.flatnonzero(data.labels == c)[:n_per_class] for c in data.classes])
    return data.subset(idx)


@pytest.fixture(scope="session")
def mnist_split():
    from synthgen.data import split_images

    return split_images(mnist_images(), holdout=0.25, random_state=0)


@pytest.fixture(scope="session")
def tiny_ctgan(arrests_split):
    from synthgen.generators import GENERATORS

    train, _ = arrests_split
    return GENERATORS.get("ctgan")(**TINY_CTGAN).fit(train)


def shuffled_columns(table: LabeledTable, seed: int = 0) -> LabeledTable:
    """Each column permuted independently: perfect marginals, no relations."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({c: table.frame.get_column(c).to_numpy()[rng.permutation(len(table))]
                          for c in table.columns}).cast(dict(table.frame.schema))
    return table.with_frame(frame)


def resampled(table: LabeledTable, n: int, seed: int = 0) -> LabeledTable:
    return table.with_frame(table.frame.sample(n, with_replacement=True, seed=seed))


@pytest.fixture()
def spec_file(tmp_path):
    """Write a spec YAML (dict) to a temp file and return its path."""
    import yaml

    def write(data: dict, name: str = "spec.yaml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def tiny_spec(**extra) -> dict:
    spec = {
        "modality": "tabular", "name": "arrests_tiny", "source": {"builtin": "arrests"},
        "label": "released",
        "model": {"name": "ctgan", **TINY_CTGAN},
        "sample": {"rows": 600},
        "gates": {"tstr_signal_ratio": None, "detection_auc": None, "quality_score": 0.5,
                  "gx_success_rate": 0.5, "augmentation_no_harm": None},
    }
    for key, value in extra.items():
        spec[key] = value
    return spec


@pytest.fixture(scope="session")
def digit_folder(tmp_path_factory, mnist_split):
    """Three classes of real MNIST digits as PNG files in class folders."""
    from PIL import Image

    root = tmp_path_factory.mktemp("digits")
    train, _ = mnist_split
    for cls in ("3", "5", "8"):
        (root / f"digit{cls}").mkdir()
        for i, k in enumerate(np.flatnonzero(train.labels == cls)[:40]):
            Image.fromarray(train.images[k, :, :, 0]).save(root / f"digit{cls}" / f"{i}.png")
    return root


def small_spec(**extra) -> dict:
    """tiny_spec on the 303-row hearts table: for tests that run the whole path several times."""
    return tiny_spec(**{"name": "hearts_tiny", "source": {"builtin": "hearts"}, "label": "target",
                        "sample": {"rows": 200}, **extra})


@pytest.fixture
def validations(monkeypatch) -> list[str]:
    """Every whole-spec validation from now on (its origin), however it is reached."""
    from synthgen import spec as specs

    calls, real = [], specs.validate_spec

    def counting(raw, *, origin):
        calls.append(origin)
        return real(raw, origin=origin)
    monkeypatch.setattr(specs, "validate_spec", counting)
    return calls
