"""Image GAN training throughput at 28x28 on 2 threads: today's loop beside the loop of a baseline revision.

    .venv/bin/python bench/bench_gan_speed.py [--images 24000] [--baseline-rev 0b9ed87]

The baseline is the training loop (`synthgen/training/gan.py`) as it was at `--baseline-rev`, read with
`git show` and run on the same nets, data, batch size and threads in the same process, one after the
other (alternating, twice each), so both see the same machine. Snapshot selection is off in both (its cost
is reported separately by the main job's card). Figures: img/s over all epochs after the first.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _baseline_module(rev: str):
    text = subprocess.run(["git", "show", f"{rev}:synthgen/training/gan.py"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "gan_baseline.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("gan_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gan_baseline"] = module      # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def _run(module, images, labels, epochs: int, threads: int, **extra) -> dict:
    import torch

    torch.set_num_threads(threads)
    names = set(module.GANConfig.__dataclass_fields__)
    cfg = module.GANConfig(latent_dim=64, n_classes=10, channels=1, size=28, base_channels=32, batch_size=32,
                           epochs=epochs, mode_seeking=1.0, random_state=0,
                           **{k: v for k, v in extra.items() if k in names})
    start = time.perf_counter()
    result = module.train_gan(images, labels, cfg)
    total = time.perf_counter() - start
    rates = result.history["images_per_s"][1:] or result.history["images_per_s"]
    return {"img_s": float(np.median(rates)), "seconds": total}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=24_000, help="images shown per run")
    p.add_argument("--baseline-rev", default="0b9ed87")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import synthgen  # noqa: F401
    from synthgen.sources.images import read_images
    from synthgen.spec import ImageShapeSpec, ImageSourceSpec
    from synthgen.training import gan as current

    data, _ = read_images(ImageSourceSpec(builtin="mnist"), ImageShapeSpec(), Path("."))
    images, labels = data.images[:4000], data.label_index()[:4000]
    epochs = max(2, args.images // len(images))
    baseline = _baseline_module(args.baseline_rev)
    rows = {"baseline": [], "current": [], "current, ADA on (target 0.6)": []}
    for _ in range(2):
        rows["baseline"].append(_run(baseline, images, labels, epochs, args.threads))
        rows["current"].append(_run(current, images, labels, epochs, args.threads))
        rows["current, ADA on (target 0.6)"].append(_run(current, images, labels, epochs, args.threads, ada_target=0.6))
    base = np.median([r["img_s"] for r in rows["baseline"]])
    print(f"| loop | img/s (2 runs) | vs baseline {args.baseline_rev} |\n|---|---|---|")
    for name, runs in rows.items():
        rate = np.median([r["img_s"] for r in runs])
        shown = ", ".join(f"{r['img_s']:.0f}" for r in runs)
        print(f"| {name} | {shown} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
