"""Train and apply the small CNN that image metrics use (feature network, label fidelity, TSTR)."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from synthgen.nn.convert import images_to_tensor
from synthgen.nn.image_gan import SmallClassifierNet
from synthgen.training.seeding import seeded


MIN_STEPS = 300  # small real sets (a few hundred scans) still get a usable judge


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray | None:
    """Loss weights that give every present class the same total weight (n / (K n_c)); None when the classes
    are already equal in size (the plain loss, bit for bit). Per-class measures (label fidelity, balanced TSTR)
    need a judge that does not learn to trade a small class away for accuracy on the large one (issue 25; not
    ablated on its own: it changed together with the cross-fitted judge)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = counts[counts > 0]
    if len(present) == 0 or present.min() == present.max():
        return None
    weights = np.where(counts > 0, counts.sum() / (len(present) * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


def train_classifier(images: np.ndarray, labels: np.ndarray, n_classes: int, *, epochs: int = 5,
                     batch_size: int = 64, random_state: int = 0, threads: int = 2,
                     device: str = "cpu", min_steps: int = MIN_STEPS, balanced: bool = True) -> SmallClassifierNet:
    """`epochs` passes over the data, raised so that training takes at least `min_steps` steps; classes of
    unequal size are weighted to equal total weight (`class_weights`). The net stays on `device`; `predict`
    follows it there."""
    gen = torch.Generator().manual_seed(random_state)
    with seeded(random_state, threads=threads):
        h, _, c = images.shape[1:]
        net = SmallClassifierNet(n_classes, c, h).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        x_all = images_to_tensor(images).to(device)
        y_all = torch.from_numpy(labels.astype(np.int64)).to(device)
        weight = class_weights(labels, n_classes) if balanced else None
        weight = None if weight is None else torch.from_numpy(weight).to(device)
        steps = max(1, int(np.ceil(len(x_all) / batch_size)))
        epochs = max(epochs, int(np.ceil(min_steps / steps)))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * steps)
        net.train()
        for _ in range(epochs):
            order = torch.randperm(len(x_all), generator=gen).to(device)
            for s in range(steps):
                idx = order[s * batch_size:(s + 1) * batch_size]
                if len(idx) < 2:
                    continue
                loss = F.cross_entropy(net(x_all[idx]), y_all[idx], weight=weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    return net.eval()


@torch.no_grad()
def predict(net: SmallClassifierNet, images: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """-> (probabilities (N, K), features (N, 128))."""
    probs, feats = [], []
    device = next(net.parameters()).device
    for start in range(0, len(images), batch_size):
        x = images_to_tensor(images[start:start + batch_size]).to(device)
        f = net.features(x)
        probs.append(torch.softmax(net.head(f), dim=1).cpu().numpy())
        feats.append(f.cpu().numpy())
    k = net.head.out_features
    return (np.concatenate(probs) if probs else np.zeros((0, k)),
            np.concatenate(feats) if feats else np.zeros((0, 128)))
