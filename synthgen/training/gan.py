"""Training loop of the class-conditional image GAN: hinge loss, DiffAugment in both steps with an
adaptive augment probability (ADA), optional lazy R1, an EMA copy of the generator, snapshot
selection on a split carved from train, a checkpoint after every epoch and exact resume.

Everything random (batch order, latent draws, DiffAugment) comes from one torch.Generator whose
state is part of the checkpoint, so "stop after k epochs, resume" reaches the same weights as an
uninterrupted run. Checkpoints are plain tensors/dicts, read back with weights_only=True.
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from synthgen.nn.convert import images_to_tensor
from synthgen.nn.image_gan import ConditionalGeneratorNet, ProjectionDiscriminatorNet
from synthgen.training.diffaugment import diff_augment


def d_hinge_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def g_hinge_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """EMA with warm-up: early on the average follows the model closely (short runs on small sets
    would otherwise sample from an average dominated by the first, untrained steps)."""
    decay = min(decay, (1 + step) / (10 + step))
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


# An epoch whose mean hinge D loss is below this has a discriminator that wins outright (real scores above +1,
# fake below -1 almost everywhere): its gradients to G carry no sign of what to change. The card records the
# share of such epochs (`d_loss_low_share`); a tenth of the budget or more is a wasted start (issue 25).
D_LOSS_LOW = 0.1


def d_loss_low_share(history: dict) -> float | None:
    losses = history.get("d_loss") or []
    return float(np.mean(np.asarray(losses) < D_LOSS_LOW)) if losses else None


ADA_INTERVAL = 4       # steps between updates of the augment probability (StyleGAN2-ADA)
R1_INTERVAL = 16       # lazy R1: the penalty every 16 D steps, scaled by 16 (StyleGAN2)


@dataclass
class GANConfig:
    latent_dim: int
    n_classes: int
    channels: int
    size: int
    base_channels: int = 32
    batch_size: int = 32
    epochs: int = 30
    generator_lr: float = 2e-4
    discriminator_lr: float = 2e-4
    ema_decay: float = 0.999
    diffaugment: str = "translation"
    ada_target: float | None = None
    ada_images: int = 50_000
    r1_gamma: float = 0.0
    mode_seeking: float = 0.0
    mode_seeking_warmup: int = 0
    class_balance: float = 0.0
    random_state: int = 0
    max_minutes: float | None = None

    def key(self) -> str:
        """What a checkpoint must match to be resumed (not epochs/max_minutes: those may grow)."""
        fixed = {k: v for k, v in self.__dict__.items() if k not in ("epochs", "max_minutes")}
        return hashlib.sha256(repr(sorted(fixed.items())).encode()).hexdigest()[:16]


@dataclass
class TrainResult:
    generator: ConditionalGeneratorNet
    ema: ConditionalGeneratorNet
    discriminator: ProjectionDiscriminatorNet
    epochs_done: int
    history: dict[str, list[float]] = field(default_factory=dict)
    images_per_s: float = 0.0
    train_s: float = 0.0
    resumed_from: int = 0
    stop_reason: str = "budget"
    images_shown: int = 0
    selection: dict | None = None


def build_nets(cfg: GANConfig):
    g = ConditionalGeneratorNet(cfg.latent_dim, cfg.n_classes, cfg.channels, cfg.size, cfg.base_channels)
    d = ProjectionDiscriminatorNet(cfg.n_classes, cfg.channels, cfg.size, cfg.base_channels)
    return g, d


class _Ada:
    """Adaptive discriminator augmentation (Karras et al. 2020): r_t = E[sign(D(real))] over the last
    ADA_INTERVAL steps; above the target D is overfitting, so the augment probability p rises, below it
    falls, at a speed that can move p from 0 to 1 in `ada_images` images. Off (`target` None): p = 1."""

    def __init__(self, cfg: GANConfig):
        self.target, self.p = cfg.ada_target, 0.0 if cfg.ada_target is not None else 1.0
        self.step_size = cfg.batch_size * ADA_INTERVAL / max(cfg.ada_images, 1)
        self.signs, self.count, self.steps = 0.0, 0, 0
        self.epoch_rt: list[float] = []

    def observe(self, real_scores: torch.Tensor) -> None:
        if self.target is None:
            return
        self.signs += float(torch.sign(real_scores.detach()).sum())
        self.count += len(real_scores)
        self.steps += 1
        if self.steps % ADA_INTERVAL == 0:
            rt = self.signs / max(self.count, 1)
            self.epoch_rt.append(rt)
            self.p = float(np.clip(self.p + np.sign(rt - self.target) * self.step_size, 0.0, 1.0))
            self.signs, self.count = 0.0, 0

    def end_epoch(self) -> float:
        rt = float(np.mean(self.epoch_rt)) if self.epoch_rt else float("nan")
        self.epoch_rt = []
        return rt


def epoch_order(labels: torch.Tensor, gen: torch.Generator, balance: float) -> torch.Tensor:
    """The positions one epoch visits (as many as there are images). Classes of equal size, or `balance` 0:
    a permutation. Otherwise class c gets a share of the epoch proportional to n_c ** (1 - balance) (1 = equal
    shares, so D and G see a 134-image class as often as a 365-image one), filled by cycling through fresh
    permutations of that class's images (each image shown as evenly as its quota allows), then shuffled.
    The fake half of every batch is conditioned on the real half's classes, so G is balanced the same way."""
    n = len(labels)
    counts = torch.bincount(labels)
    sizes = counts[counts > 0]
    if balance <= 0 or int(sizes.min()) == int(sizes.max()):
        return torch.randperm(n, generator=gen)
    share = counts.double().pow(1.0 - balance) * (counts > 0)
    exact = n * share / share.sum()
    quota = exact.floor().long()
    short = n - int(quota.sum())
    if short:
        quota[torch.argsort(exact - quota, descending=True, stable=True)[:short]] += 1
    parts = []
    for c in torch.nonzero(counts).squeeze(1).tolist():
        idx = torch.nonzero(labels == c).squeeze(1)
        laps = -(-int(quota[c]) // len(idx))
        parts.append(torch.cat([idx[torch.randperm(len(idx), generator=gen)] for _ in range(laps)])[:int(quota[c])])
    order = torch.cat(parts)
    return order[torch.randperm(n, generator=gen)]


def _r1_penalty(d, real: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(real, y).sum(), real, create_graph=True)
    return grad.pow(2).sum(dim=(1, 2, 3)).mean()


def _paired_labels(y: torch.Tensor) -> torch.Tensor:
    """Labels of the fake half-batch pairs: the second half repeats the first half's classes (an odd
    last label keeps its own), so fake[i] and fake[i + b/2] share a class for the mode-seeking term.
    Each fake label is still a draw from the training labels."""
    h = len(y) // 2
    return torch.cat([y[:h], y[:h], y[2 * h:]])


def train_gan(images: np.ndarray, labels: np.ndarray, cfg: GANConfig, *, device: str = "cpu",
              checkpoint_dir: Path | None = None, augment: Callable[[np.ndarray, int], np.ndarray] | None = None,
              progress: bool = False, stop_after_epochs: int | None = None,
              selector=None) -> TrainResult:
    """images: uint8 (N, H, W, C); labels: int class indices (N,).

    `augment(images, epoch)` (albumentations, seeded per epoch) runs on the uint8 images before each
    epoch. `selector` (training.selection.SnapshotSelector) judges the EMA generator after the epochs it
    names, and the best snapshot (EMA generator and discriminator) is what is returned.
    `stop_after_epochs` simulates an interruption (tests)."""
    torch.manual_seed(cfg.random_state)
    gen = torch.Generator().manual_seed(cfg.random_state)
    g, d = build_nets(cfg)
    ema = copy.deepcopy(g).eval()
    g, d, ema = g.to(device), d.to(device), ema.to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.generator_lr, betas=(0.0, 0.99), fused=True)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.discriminator_lr, betas=(0.0, 0.99), fused=True)
    history: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "images_per_s": [], "augment_p": [], "r_t": []}
    ada = _Ada(cfg)

    def snapshot() -> dict:
        return {"ema": ema.state_dict(), "discriminator": d.state_dict()}
    start_epoch = 0
    data_key = hashlib.sha256(images.tobytes() + labels.astype(np.int64).tobytes()).hexdigest()[:16]
    ckpt = checkpoint_dir / "last.pt" if checkpoint_dir else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, weights_only=True, map_location=device)
        if state["config_key"] == cfg.key() and state["data_key"] == data_key:
            g.load_state_dict(state["generator"])
            d.load_state_dict(state["discriminator"])
            ema.load_state_dict(state["ema"])
            opt_g.load_state_dict(state["opt_g"])
            opt_d.load_state_dict(state["opt_d"])
            gen.set_state(state["rng"])
            history = {k: list(v) for k, v in state["history"].items()}
            start_epoch = int(state["epoch"])
            ada.p, ada.steps = float(state["ada"]["p"]), int(state["ada"]["steps"])
            if selector is not None:
                selector.restore(state.get("selection"))

    x_all = torch.from_numpy(images)
    y_all = torch.from_numpy(labels.astype(np.int64))
    n = len(x_all)
    steps = max(n // cfg.batch_size, 1)
    started = time.perf_counter()
    seen = 0
    epoch = start_epoch
    stop_reason = "budget"
    policy = cfg.diffaugment
    bar = _progress(range(start_epoch, cfg.epochs), progress, initial=start_epoch, total=cfg.epochs)
    for epoch in bar:
        epoch_start = time.perf_counter()
        source = torch.from_numpy(augment(images, epoch)) if augment is not None else x_all
        real_all = images_to_tensor(source).to(device)  # (N, C, H, W) in [-1, 1]
        order = epoch_order(y_all, gen, cfg.class_balance)
        d_sum = torch.zeros((), device=device)
        g_sum = torch.zeros((), device=device)
        g.train()
        d.train()
        for step in range(steps):
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            real = real_all[idx]
            y = y_all[idx].to(device)
            b = len(idx)
            z = torch.randn(b, cfg.latent_dim, generator=gen).to(device)
            y_fake = _paired_labels(y) if cfg.mode_seeking else y
            fake = g(z, y_fake)
            # one D pass over real and fake together (one spectral-norm power iteration per step)
            both = diff_augment(torch.cat([real, fake.detach()]), policy, gen, ada.p)
            scores = d(both, torch.cat([y, y_fake]))
            real_scores, fake_scores = scores[:b], scores[b:]
            d_loss = d_hinge_loss(real_scores, fake_scores)
            ada.observe(real_scores)
            global_step = epoch * steps + step
            if cfg.r1_gamma and global_step % R1_INTERVAL == 0:
                d_loss = d_loss + cfg.r1_gamma / 2 * R1_INTERVAL * _r1_penalty(d, both[:b], y)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            d.requires_grad_(False)   # the G step needs gradients through D, not D's weight gradients
            g_loss = g_hinge_loss(d(diff_augment(fake, policy, gen, ada.p), y_fake))
            if cfg.mode_seeking:
                # mode-seeking term (Mao et al. 2019): two latents, same class, images must differ; the
                # pairs are the two halves of the batch (_paired_labels), so no second generator pass. Its
                # weight can ramp up over the first `mode_seeking_warmup` images (off by default: it helped the
                # full mni152 set and hurt the built-in axial one; see the parameter's description).
                h = b // 2
                ratio = (fake[:h] - fake[h:2 * h]).abs().mean(dim=(1, 2, 3)) / (z[:h] - z[h:2 * h]).abs().mean(dim=1)
                ramp = min(1.0, (global_step + 1) * cfg.batch_size / cfg.mode_seeking_warmup) if cfg.mode_seeking_warmup else 1.0
                g_loss = g_loss + ramp * cfg.mode_seeking / (ratio.mean() + 1e-5)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            d.requires_grad_(True)
            opt_g.step()
            ema_update(ema, g, cfg.ema_decay, global_step)
            d_sum += d_loss.detach()
            g_sum += g_loss.detach()
            seen += b
        rate = steps * cfg.batch_size / (time.perf_counter() - epoch_start)
        history["d_loss"].append(float(d_sum) / steps)
        history["g_loss"].append(float(g_sum) / steps)
        history["images_per_s"].append(rate)
        history["augment_p"].append(ada.p)
        history["r_t"].append(ada.end_epoch())
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(d_loss=f"{history['d_loss'][-1]:.3f}", g_loss=f"{history['g_loss'][-1]:.3f}",
                            p=f"{ada.p:.2f}", img_s=f"{rate:.0f}")
        if selector is not None:
            selector.step(epoch + 1, ema, snapshot)
        if ckpt is not None:
            _save_checkpoint(ckpt, g, d, ema, opt_g, opt_d, gen, history, epoch + 1, cfg.key(), data_key,
                             {"p": ada.p, "steps": ada.steps}, selector.state() if selector is not None else None)
        if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs:
            stop_reason = "interrupted"
            break
        if cfg.max_minutes is not None and time.perf_counter() - started > 60 * cfg.max_minutes:
            stop_reason = "max_minutes"
            break
    elapsed = time.perf_counter() - started
    done = epoch + 1 if cfg.epochs > start_epoch else start_epoch
    if selector is not None and stop_reason != "interrupted":
        if stop_reason == "max_minutes":
            selector.points = sorted(set(selector.points) | {done})
            selector.step(done, ema, snapshot)   # the capped run's last snapshot is judged too
        best = selector.best_state
        if best is not None:
            ema.load_state_dict(best["ema"])
            d.load_state_dict(best["discriminator"])
    return TrainResult(g.cpu(), ema.cpu(), d.cpu().eval(), done, history, seen / elapsed if elapsed > 0 and seen else 0.0,
                       elapsed, start_epoch, stop_reason, done * steps * cfg.batch_size,
                       selector.summary() if selector is not None else None)


def _save_checkpoint(path: Path, g, d, ema, opt_g, opt_d, gen, history, epoch, config_key, data_key,
                     ada: dict, selection: dict | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"generator": g.state_dict(), "discriminator": d.state_dict(), "ema": ema.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": gen.get_state(),
                "history": history, "epoch": epoch, "config_key": config_key, "data_key": data_key,
                "ada": ada, "selection": selection}, tmp)
    os.replace(tmp, path)  # a kill mid-write never corrupts the last good checkpoint


def _progress(iterable, enabled: bool, **kw):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc="GAN epochs", unit="epoch", **kw)
