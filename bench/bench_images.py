"""Image benchmark: synthgen's conditional GAN vs a plain conditional DCGAN, same data, same budget.

    .venv/bin/python bench/bench_images.py [--minutes 5] [--pneumonia ../shared/data/pneumoniamnist.npz]

For each data set (MNIST-5k built in; PneumoniaMNIST when the NPZ is given) and each model, in its
own process with 2 torch threads: training throughput (img/s) over a fixed wall-clock budget,
sampling throughput, then synthgen's image metrics on the samples (label fidelity, TSTR vs TRTR,
Fréchet-distance ratio to the real floor, density/coverage, augmentation uplift, memorisation).
The baseline is the textbook conditional DCGAN: transposed convolutions, batch norm, label
embedding concatenated in G and D, BCE loss, no spectral norm, no DiffAugment, no EMA.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _data(name: str, npz: str | None):
    from synthgen.data import split_images
    from synthgen.sources.images import read_images
    from synthgen.spec import ImageShapeSpec, ImageSourceSpec

    if name == "mnist":
        source = ImageSourceSpec(builtin="mnist")
    else:
        source = ImageSourceSpec(path=npz, class_names={"0": "normal", "1": "pneumonia"})
    data, _ = read_images(source, ImageShapeSpec(), Path("."))
    return split_images(data, holdout=0.2, random_state=0)


class DCGAN:
    """Plain conditional DCGAN (Radford et al. 2016 layout, labels concatenated) for 28x28."""

    def __init__(self, n_classes: int, channels: int, latent: int = 64):
        import torch
        from torch import nn

        self.latent, self.n_classes = latent, n_classes
        self.g = nn.Sequential(
            nn.ConvTranspose2d(latent + n_classes, 128, 7, 1, 0), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, channels, 4, 2, 1), nn.Tanh())
        self.d = nn.Sequential(
            nn.Conv2d(channels + n_classes, 64, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, True),
            nn.Conv2d(128, 1, 7, 1, 0))
        self.torch = torch

    def _g(self, z, y):
        onehot = self.torch.nn.functional.one_hot(y, self.n_classes).float()
        return self.g(self.torch.cat([z, onehot], 1)[:, :, None, None])

    def _d(self, x, y):
        onehot = self.torch.nn.functional.one_hot(y, self.n_classes).float()[:, :, None, None]
        return self.d(self.torch.cat([x, onehot.expand(-1, -1, x.shape[2], x.shape[3])], 1)).view(-1)

    def fit(self, images, labels, minutes: float, batch: int = 64):
        torch = self.torch
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        og = torch.optim.Adam(self.g.parameters(), 2e-4, betas=(0.5, 0.999))
        od = torch.optim.Adam(self.d.parameters(), 2e-4, betas=(0.5, 0.999))
        x_all = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
        y_all = torch.from_numpy(labels)
        seen, start, epochs = 0, time.perf_counter(), 0
        while time.perf_counter() - start < 60 * minutes:
            order = torch.randperm(len(x_all))
            for s in range(len(x_all) // batch):
                idx = order[s * batch:(s + 1) * batch]
                real, y = x_all[idx], y_all[idx]
                fake = self._g(torch.randn(len(idx), self.latent), y)
                ld = bce(self._d(real, y), torch.ones(len(idx))) + bce(self._d(fake.detach(), y), torch.zeros(len(idx)))
                od.zero_grad()
                ld.backward()
                od.step()
                lg = bce(self._d(fake, y), torch.ones(len(idx)))
                og.zero_grad()
                lg.backward()
                og.step()
                seen += len(idx)
            epochs += 1
        return seen / (time.perf_counter() - start), epochs

    def sample(self, classes, per_class: int):
        torch = self.torch
        self.g.eval()
        out, labels = [], []
        with torch.no_grad():
            for i, c in enumerate(classes):
                x = self._g(torch.randn(per_class, self.latent), torch.full((per_class,), i, dtype=torch.long))
                out.append(((x.permute(0, 2, 3, 1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy())
                labels += [c] * per_class
        return np.concatenate(out), np.array(labels, dtype=object)


def _metrics(train, holdout, synthetic) -> dict:
    from synthgen.validation.images import ImageValidationContext
    from synthgen.validation.suite import run_metrics

    start = time.perf_counter()
    res = run_metrics(ImageValidationContext(train, holdout, synthetic, classifier_epochs=5), modality="image")
    out = {k: v.value for k, v in res.items()}
    out["tstr_accuracy"] = res["tstr_chance_ratio"].details["tstr_accuracy"]
    out["trtr_accuracy"] = res["tstr_chance_ratio"].details["trtr_accuracy"]
    out["fd"] = res["fd_ratio"].details.get("fd")
    out["validate_s"] = time.perf_counter() - start
    return out


def _one(variant: str, name: str, minutes: float, npz: str | None, params: dict | None = None) -> dict:
    import torch

    from synthgen.data import LabeledImages

    torch.set_num_threads(2)
    torch.manual_seed(0)
    train, holdout = _data(name, npz)
    per_class = len(train) // len(train.classes)
    if variant == "synthgen":
        from synthgen.generators import GENERATORS

        gen = GENERATORS.get("conditional_gan")(**{"epochs": 10_000, "max_minutes": minutes, "threads": 2,
                                                   "device": "cpu", **(params or {})})
        gen.fit(train)
        train_rate, epochs = gen.timings_["images_per_s"], gen.timings_["epochs_done"]
        start = time.perf_counter()
        syn = gen.sample(per_class * len(train.classes), balance=True, random_state=0)
        sample_rate = len(syn) / (time.perf_counter() - start)
    else:
        model = DCGAN(len(train.classes), train.shape[2])
        train_rate, epochs = model.fit(train.images, train.label_index(), minutes)
        start = time.perf_counter()
        images, labels = model.sample(train.classes, per_class)
        sample_rate = len(images) / (time.perf_counter() - start)
        syn = LabeledImages(images=images, labels=labels, classes=train.classes, origin="dcgan")
    return {"variant": variant, "dataset": name, "train_images": len(train), "minutes": minutes,
            "epochs": epochs, "train_img_per_s": train_rate, "sample_img_per_s": sample_rate,
            **_metrics(train, holdout, syn),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--one", nargs=3, metavar=("VARIANT", "DATASET", "MINUTES"))
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--pneumonia", default=None, help="PneumoniaMNIST NPZ (MedMNIST layout)")
    p.add_argument("--variants", nargs="+", default=["synthgen", "dcgan"])
    p.add_argument("--params", type=json.loads, default=None, help="JSON generator parameters for synthgen")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = p.parse_args()
    if args.one:
        print("RESULT " + json.dumps(_one(args.one[0], args.one[1], float(args.one[2]), args.pneumonia,
                                          args.params)))
        return
    datasets = ["mnist"] + (["pneumonia"] if args.pneumonia else [])
    rows = []
    for name in datasets:
        for variant in args.variants:
            cmd = [sys.executable, __file__, "--one", variant, name, str(args.minutes)]
            if args.pneumonia:
                cmd += ["--pneumonia", args.pneumonia]
            if args.params:
                cmd += ["--params", json.dumps(args.params)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
            if not line:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{variant} on {name} failed")
            r = json.loads(line[0][7:])
            rows.append(r)
            print(f"{name:9} {variant:8} epochs={r['epochs']:4} train={r['train_img_per_s']:6.0f} img/s "
                  f"sample={r['sample_img_per_s']:7.0f} img/s label_fidelity_ratio={r['label_fidelity_ratio']:.3f} "
                  f"TSTR={r['tstr_accuracy']:.3f} TRTR={r['trtr_accuracy']:.3f} chance_ratio={r['tstr_chance_ratio']:.3f} "
                  f"fd_ratio={r['fd_ratio']:.1f} density={r['density']:.3f} coverage={r['coverage']:.3f} "
                  f"uplift={r['augmentation_uplift']:+.3f} memorization={r['memorization_share']:.3f} "
                  f"validate={r['validate_s']:.0f}s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "images.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
