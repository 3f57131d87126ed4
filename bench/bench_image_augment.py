"""Image augmentation against what a team would do instead: synthgen's synthetic images vs classic
albumentations augmentation, for the same classifier, scored on a split no run ever saw.

    .venv/bin/python bench/bench_image_augment.py --suite-out bench/out/suite [--cases digits pneumoniamnist]

Reads a finished `bench/bench_suite.py` run (its results.json: the spec, the run folder, the unseen split)
for every image case that kept an unseen split and has a synthetic set (published or quarantined). Arms,
each with the gates' own small CNN (`training/classifier.py`) trained with three seeds:
- real: the run's training split;
- real + albumentations: as many extra images as the synthetic set holds, each a random training image
  through Affine (scale 0.9-1.1, shift <= 10%, rotation <= 10 degrees) + RandomBrightnessContrast, the
  classic recipe for small grey-scale sets (no flips: digits and chest X-rays are not mirror-symmetric);
- real + synthgen: the synthetic set added.
Reported: unseen accuracy, mean and spread over the seeds. Results: <suite-out>/image_augment.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SEEDS = (0, 1, 2)


def classic(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    import albumentations as A

    pipeline = A.Compose([A.Affine(scale=(0.9, 1.1), translate_percent=(-0.1, 0.1), rotate=(-10, 10), p=1.0),
                          A.RandomBrightnessContrast(p=0.5)], seed=seed)
    pick = np.random.default_rng(seed).integers(0, len(images), n)
    return np.stack([pipeline(image=images[i])["image"].reshape(images.shape[1:]) for i in pick]), pick


def run_case(row: dict, out: Path) -> dict | None:
    import bench_suite as suite
    from synthgen.modalities import MODALITIES
    from synthgen.spec import load_spec
    from synthgen.training.classifier import predict, train_classifier

    folder = suite._published_folder(Path(row["runs"]), load_spec(row["spec"], []).spec.name)
    if folder is None or not row.get("unseen"):
        return None
    loaded = load_spec(row["spec"], [])
    spec = loaded.spec
    adapter = MODALITIES.get("image")
    train, _, _, _ = adapter.load(spec, loaded.base_dir)
    synthetic = suite._synthetic(adapter, folder, train, out / "scratch" / row["case"])
    unseen = suite._unseen(spec, adapter, train, row["unseen"], loaded.base_dir)
    x, y = train.images, train.label_index()
    k = len(train.classes)
    arms: dict[str, list[float]] = {"real": [], "real + albumentations": [], "real + synthgen": []}
    for seed in SEEDS:
        extra, pick = classic(x, len(synthetic), seed)
        sets = {"real": (x, y), "real + albumentations": (np.concatenate([x, extra]), np.r_[y, y[pick]]),
                "real + synthgen": (np.concatenate([x, synthetic.images]), np.r_[y, synthetic.label_index()])}
        for arm, (xi, yi) in sets.items():
            net = train_classifier(xi, yi, k, random_state=seed)
            proba, _ = predict(net, unseen.images)
            arms[arm].append(float(np.mean(proba.argmax(1) == unseen.label_index())))
    return {"case": row["case"], "train": len(x), "added": len(synthetic), "unseen": len(unseen),
            "published": row.get("outcome") == "published",
            "accuracy": {a: {"mean": float(np.mean(v)), "sd": float(np.std(v)), "runs": v} for a, v in arms.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suite-out", type=Path, default=ROOT / "bench" / "out" / "suite")
    p.add_argument("--cases", nargs="+", default=None)
    args = p.parse_args()
    import torch

    torch.set_num_threads(2)
    rows = json.loads((args.suite_out / "results.json").read_text())["cases"]
    done = []
    for row in rows:
        if row["modality"] != "image" or (args.cases and row["case"] not in args.cases):
            continue
        result = run_case(row, args.suite_out)
        if result:
            done.append(result)
    (args.suite_out / "image_augment.json").write_text(json.dumps(done, indent=2))
    print("| case | train / added / unseen | arm | unseen accuracy (3 seeds) |\n|---|---|---|---|")
    for r in done:
        for arm, a in r["accuracy"].items():
            print(f"| {r['case']}{'' if r['published'] else ' (quarantined)'} | {r['train']} / {r['added']} / "
                  f"{r['unseen']} | {arm} | {a['mean']:.3f} ± {a['sd']:.3f} |")


if __name__ == "__main__":
    main()
