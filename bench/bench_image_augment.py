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

`--mode stack` asks the question a team that already augments asks: does adding synthgen's images on top of
classic augmentation help? Arms (two seeds by default):
- classic: real + N classic images (N = the synthetic set's size);
- classic x2: real + 2N classic images (as many images, and training steps, as the next arm);
- classic + synthgen: real + the same N classic images + the synthetic set.
Reported: the mean difference over seeds of unseen accuracy, classic + synthgen minus classic (and minus
classic x2), with a 95% paired bootstrap interval over the unseen images (each image's correctness averaged
over the seeds). Results: <suite-out>/image_augment_stack.json.
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


def paired_interval(a: np.ndarray, b: np.ndarray, seed: int = 0, rounds: int = 2000) -> dict:
    """Mean of b - a (per-image correctness, (seeds, images)) and its 95% bootstrap interval over images."""
    diff = (b.astype(float) - a.astype(float)).mean(axis=0)
    rng = np.random.default_rng(seed)
    draws = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(rounds)]
    return {"difference": float(diff.mean()), "low": float(np.quantile(draws, 0.025)),
            "high": float(np.quantile(draws, 0.975)),
            "per_seed": [float(v) for v in (b.astype(float) - a.astype(float)).mean(axis=1)]}


def run_case(row: dict, out: Path, mode: str = "compare", seeds: tuple[int, ...] = SEEDS) -> dict | None:
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
    sx, sy = synthetic.images, synthetic.label_index()
    arms: dict[str, list[np.ndarray]] = {}
    for seed in seeds:
        n = len(synthetic)
        extra, pick = classic(x, (2 if mode == "stack" else 1) * n, seed)
        if mode == "stack":
            sets = {"classic": (np.concatenate([x, extra[:n]]), np.r_[y, y[pick[:n]]]),
                    "classic x2": (np.concatenate([x, extra]), np.r_[y, y[pick]]),
                    "classic + synthgen": (np.concatenate([x, extra[:n], sx]), np.r_[y, y[pick[:n]], sy])}
        else:
            sets = {"real": (x, y), "real + albumentations": (np.concatenate([x, extra]), np.r_[y, y[pick]]),
                    "real + synthgen": (np.concatenate([x, sx]), np.r_[y, sy])}
        for arm, (xi, yi) in sets.items():
            net = train_classifier(xi, yi, k, random_state=seed)
            proba, _ = predict(net, unseen.images)
            arms.setdefault(arm, []).append(proba.argmax(1) == unseen.label_index())
    result = {"case": row["case"], "train": len(x), "added": len(synthetic), "unseen": len(unseen),
              "published": row.get("outcome") == "published", "seeds": list(seeds),
              "accuracy": {a: {"mean": float(np.mean(v)), "sd": float(np.std(np.mean(v, axis=1))),
                               "runs": [float(r.mean()) for r in v]} for a, v in arms.items()}}
    if mode == "stack":
        both = np.asarray(arms["classic + synthgen"])
        result["classic + synthgen - classic"] = paired_interval(np.asarray(arms["classic"]), both)
        result["classic + synthgen - classic x2"] = paired_interval(np.asarray(arms["classic x2"]), both)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suite-out", type=Path, default=ROOT / "bench" / "out" / "suite")
    p.add_argument("--cases", nargs="+", default=None)
    p.add_argument("--mode", choices=["compare", "stack"], default="compare",
                   help="compare: real / + albumentations / + synthgen; stack: classic vs classic + synthgen")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (compare), 0 1 (stack)")
    args = p.parse_args()
    seeds = tuple(args.seeds) if args.seeds else (SEEDS if args.mode == "compare" else SEEDS[:2])
    import torch

    torch.set_num_threads(2)
    rows = json.loads((args.suite_out / "results.json").read_text())["cases"]
    done = []
    for row in rows:
        if row["modality"] != "image" or (args.cases and row["case"] not in args.cases):
            continue
        result = run_case(row, args.suite_out, args.mode, seeds)
        if result:
            done.append(result)
    name = "image_augment.json" if args.mode == "compare" else "image_augment_stack.json"
    (args.suite_out / name).write_text(json.dumps(done, indent=2))
    if args.mode == "stack":
        print("| case | train / added / unseen | classic | classic x2 | classic + synthgen | + synthgen - classic "
              "[95%] | + synthgen - classic x2 [95%] |\n|---|---|---|---|---|---|---|")
        for r in done:
            a = r["accuracy"]
            d1, d2 = r["classic + synthgen - classic"], r["classic + synthgen - classic x2"]
            print(f"| {r['case']}{'' if r['published'] else ' (quarantined)'} | {r['train']} / {r['added']} / "
                  f"{r['unseen']} | " + " | ".join(f"{a[k]['mean']:.3f}" for k in ("classic", "classic x2",
                                                                                  "classic + synthgen"))
                  + f" | {d1['difference']:+.3f} [{d1['low']:+.3f}, {d1['high']:+.3f}] | "
                  f"{d2['difference']:+.3f} [{d2['low']:+.3f}, {d2['high']:+.3f}] |")
        return
    print(f"| case | train / added / unseen | arm | unseen accuracy ({len(seeds)} seeds) |\n|---|---|---|---|")
    for r in done:
        for arm, a in r["accuracy"].items():
            print(f"| {r['case']}{'' if r['published'] else ' (quarantined)'} | {r['train']} / {r['added']} / "
                  f"{r['unseen']} | {arm} | {a['mean']:.3f} ± {a['sd']:.3f} |")


if __name__ == "__main__":
    main()
