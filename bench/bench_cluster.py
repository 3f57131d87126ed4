"""Beyond one process: spec fan-out on dask and streamed screening, each beside its baseline in one run.

    .venv/bin/python bench/bench_cluster.py [--part fanout|screen|all] [--out bench/out/cluster]

fanout: four small tabular specs (arrests, breast_cancer, hearts and arrests with another seed; CTGAN at
        `--epochs`) run by `synthgen run A B C D --no-prefect` one after another, then by the same command
        with `--workers 2` (a local dask cluster of two single-thread processes); wall time of each and
        the ratio, and whether the published rows are identical.
screen: an f-AnoGAN scorer trained once on the built-in MNIST sample (small budget: the scorer's quality
        does not change its speed), then NPZ inputs of 25k / 50k / 100k images (the sample tiled with
        random shifts and flips); each screened in a fresh process streamed (`synthgen screen --input`,
        chunks of 4096) and in memory (read whole, score whole: the path before this change), with
        img/s and the process's peak RSS.
Each measurement runs alone (2 cores: nothing else should run beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CLI = [PY, "-m", "synthgen.cli"]


def _yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data))
    return path


def _timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, done


def fanout(out: Path, epochs: int) -> dict:
    import polars as pl

    specs_dir = out / "specs"
    specs_dir.mkdir(parents=True, exist_ok=True)
    tables = [("arrests", "arrests", "released", 0), ("breast_cancer", "breast_cancer", "diagnosis", 0),
              ("hearts", "hearts", "target", 0), ("arrests_b", "arrests", "released", 1)]
    specs = []
    for name, builtin, label, seed in tables:
        specs.append(str(_yaml(specs_dir / f"{name}.yaml", {
            "modality": "tabular", "name": name, "source": {"builtin": builtin}, "label": label,
            "model": {"name": "ctgan", "epochs": epochs, "random_state": seed}})))
    results = {}
    for mode, extra in (("sequential", []), ("workers_2", ["--workers", "2"])):
        seconds, done = _timed([*CLI, "run", *specs, "--no-prefect", "--quiet", "--force", "--out",
                                str(out / mode), *extra], cwd=ROOT)
        results[mode] = {"seconds": round(seconds, 1), "exit_code": done.returncode,
                         "published": done.stdout.count("published")}
        print(mode, results[mode], done.stderr[-500:] if done.returncode not in (0, 3) else "", flush=True)
    same, refused = {}, {}
    for name, *_ in tables:
        found = {m: sorted((out / m / name).glob("*/data.parquet")) for m in ("sequential", "workers_2")}
        refused[name] = {m: bool(list((out / m / "_quarantine" / name).glob("*"))) for m in found}
        if all(found.values()):
            same[name] = pl.read_parquet(found["sequential"][-1]).equals(pl.read_parquet(found["workers_2"][-1]))
    results["identical_rows_where_published"] = same
    results["refused"] = refused
    results["ratio_workers_over_sequential"] = round(results["workers_2"]["seconds"] / results["sequential"]["seconds"], 3)
    return results


SCREEN_CODE = """
import json, resource, sys, time
from pathlib import Path
mode, spec, npz, datasets, out = sys.argv[1:6]
from synthgen import screening
start = time.perf_counter()
if mode == "streamed":
    s = screening.screen_spec(spec, input=npz, out=out, datasets=datasets, chunk_size=4096)
else:
    from synthgen.spec import load_spec
    loaded = load_spec(spec)
    scorer, _, _ = screening.scorer_for_spec(loaded.spec, loaded.base_dir, out=datasets)
    data = screening.read_input(loaded.spec, npz, loaded.base_dir)
    s = screening.screen_and_write(scorer, data, Path(out), top_k=16, title="bench", origin=npz, dataset="mnist")
seconds = time.perf_counter() - start
print(json.dumps({"n": s["n"], "flagged": s["flagged"], "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _tiled(images: np.ndarray, labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(images), n)
    out = images[idx].copy()
    for k in range(0, n, 5000):  # shifts of up to 2 px and a flip for a fifth: new images, same digits
        dy, dx = rng.integers(-2, 3, 2)
        block = np.roll(out[k:k + 5000], (int(dy), int(dx)), axis=(1, 2))
        if rng.random() < 0.2:
            block = block[:, :, ::-1]
        out[k:k + 5000] = block
    return out, labels[idx]


def screen(out: Path, sizes: list[int]) -> dict:
    from synthgen.modalities import MODALITIES
    from synthgen.spec import load_spec

    out.mkdir(parents=True, exist_ok=True)
    train_spec = _yaml(out / "mnist_bench.yaml", {
        "modality": "image", "name": "mnist", "source": {"builtin": "mnist"}, "sample": {"rows": 1000},
        "model": {"name": "conditional_gan", "train_images": 40000, "select_snapshot": False},
        "screen": {"normal_classes": ["0"], "scorer": {"name": "fanogan", "encoder_epochs": 3}},
        "gates": {k: None for k in ("label_fidelity_ratio", "fd_ratio", "coverage", "tstr_chance_ratio",
                                    "augmentation_no_harm", "memorization_share", "dcr_share")}})
    datasets = out / "datasets"
    if not list(datasets.glob("mnist/*/scorer/scorer.json")):
        seconds, done = _timed([*CLI, "run", str(train_spec), "--no-prefect", "--quiet", "--out", str(datasets)],
                               cwd=ROOT)
        print("trained the scorer", round(seconds), "s", done.returncode, done.stderr[-300:], flush=True)
    loaded = load_spec(train_spec)
    sample, _ = MODALITIES.get("image").load(loaded.spec, loaded.base_dir)[:2]
    codes = np.array([sample.classes.index(c) for c in sample.labels])
    results = {}
    for n in sizes:
        npz = out / f"input_{n}.npz"
        if not npz.exists():
            images, labels = _tiled(sample.images[..., 0], codes, n, seed=n)
            np.savez(npz, test_images=images, test_labels=labels)
        for mode in ("in_memory", "streamed"):
            target = out / f"screen_{mode}_{n}"
            subprocess.run(["rm", "-rf", str(target)])
            seconds, done = _timed([PY, "-c", SCREEN_CODE, mode, str(train_spec), str(npz), str(datasets),
                                    str(target)], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "2"})
            if done.returncode != 0:
                print(mode, n, "failed", done.stderr[-2000:], flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["img_per_s"] = round(row["n"] / row["seconds"])
            row["process_s"] = round(seconds, 1)
            results[f"{mode}_{n}"] = row
            print(mode, n, row, flush=True)
    streamed = [results[f"streamed_{n}"]["peak_rss_mb"] for n in sizes if f"streamed_{n}" in results]
    if streamed:
        results["streamed_rss_spread"] = round(max(streamed) / min(streamed) - 1, 3)
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["fanout", "screen", "all"], default="all")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "cluster")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--sizes", default="25000,50000,100000")
    args = ap.parse_args()
    args.out = args.out.resolve()
    results = {"cores": os.cpu_count()}
    if args.part in ("fanout", "all"):
        results["fanout"] = fanout(args.out / "fanout", args.epochs)
    if args.part in ("screen", "all"):
        results["screen"] = screen(args.out / "screen", [int(s) for s in args.sizes.split(",")])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"results_{args.part}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    _ = resource  # noqa: F841


if __name__ == "__main__":
    main()
