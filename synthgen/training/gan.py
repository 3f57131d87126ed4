"""Training loop of the class-conditional image GAN: hinge loss, DiffAugment in both steps, an EMA
copy of the generator, a checkpoint after every epoch and exact resume.

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
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


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
    mode_seeking: float = 0.0
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
    stopped_early: bool = False


def build_nets(cfg: GANConfig):
    g = ConditionalGeneratorNet(cfg.latent_dim, cfg.n_classes, cfg.channels, cfg.size, cfg.base_channels)
    d = ProjectionDiscriminatorNet(cfg.n_classes, cfg.channels, cfg.size, cfg.base_channels)
    return g, d


def train_gan(images: np.ndarray, labels: np.ndarray, cfg: GANConfig, *, device: str = "cpu",
              checkpoint_dir: Path | None = None, augment: Callable[[np.ndarray, int], np.ndarray] | None = None,
              progress: bool = False, stop_after_epochs: int | None = None) -> TrainResult:
    """images: uint8 (N, H, W, C); labels: int class indices (N,).

    `augment(images, epoch)` (albumentations, seeded per epoch) runs on the uint8 images before each
    epoch. `stop_after_epochs` simulates an interruption (tests)."""
    torch.manual_seed(cfg.random_state)
    gen = torch.Generator().manual_seed(cfg.random_state)
    g, d = build_nets(cfg)
    ema = copy.deepcopy(g).eval()
    g, d, ema = g.to(device), d.to(device), ema.to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.generator_lr, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.discriminator_lr, betas=(0.0, 0.99))
    history: dict[str, list[float]] = {"d_loss": [], "g_loss": [], "images_per_s": []}
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

    x_all = torch.from_numpy(images)
    y_all = torch.from_numpy(labels.astype(np.int64))
    n = len(x_all)
    steps = max(n // cfg.batch_size, 1)
    started = time.perf_counter()
    seen = 0
    epoch = start_epoch
    stopped = False
    bar = _progress(range(start_epoch, cfg.epochs), progress, initial=start_epoch, total=cfg.epochs)
    for epoch in bar:
        epoch_start = time.perf_counter()
        source = torch.from_numpy(augment(images, epoch)) if augment is not None else x_all
        real_all = images_to_tensor(source)  # (N, C, H, W) in [-1, 1]
        order = torch.randperm(n, generator=gen)
        d_losses, g_losses = [], []
        g.train()
        d.train()
        for step in range(steps):
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            real = real_all[idx].to(device)
            y = y_all[idx].to(device)
            z = torch.randn(len(idx), cfg.latent_dim, generator=gen).to(device)
            fake = g(z, y)
            d_loss = d_hinge_loss(d(diff_augment(real, cfg.diffaugment, gen), y),
                                  d(diff_augment(fake.detach(), cfg.diffaugment, gen), y))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            g_loss = g_hinge_loss(d(diff_augment(fake, cfg.diffaugment, gen), y))
            if cfg.mode_seeking:
                # mode-seeking term (Mao et al. 2019): two latents, same classes, images must differ
                z2 = torch.randn(len(idx), cfg.latent_dim, generator=gen).to(device)
                fake2 = g(z2, y)
                ratio = (fake - fake2).abs().mean(dim=(1, 2, 3)) / (z - z2).abs().mean(dim=1)
                g_loss = g_loss + cfg.mode_seeking / (ratio.mean() + 1e-5)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            ema_update(ema, g, cfg.ema_decay, epoch * steps + step)
            d_losses.append(d_loss.item())
            g_losses.append(g_loss.item())
            seen += len(idx)
        rate = steps * cfg.batch_size / (time.perf_counter() - epoch_start)
        history["d_loss"].append(float(np.mean(d_losses)))
        history["g_loss"].append(float(np.mean(g_losses)))
        history["images_per_s"].append(rate)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(d_loss=f"{history['d_loss'][-1]:.3f}", g_loss=f"{history['g_loss'][-1]:.3f}",
                            img_s=f"{rate:.0f}")
        if ckpt is not None:
            _save_checkpoint(ckpt, g, d, ema, opt_g, opt_d, gen, history, epoch + 1, cfg.key(), data_key)
        if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs:
            stopped = True
            break
        if cfg.max_minutes is not None and time.perf_counter() - started > 60 * cfg.max_minutes:
            stopped = True
            break
    elapsed = time.perf_counter() - started
    done = epoch + 1 if cfg.epochs > start_epoch else start_epoch
    return TrainResult(g.cpu(), ema.cpu(), d.cpu().eval(), done, history, seen / elapsed if elapsed > 0 and seen else 0.0,
                       elapsed, start_epoch, stopped)


def _save_checkpoint(path: Path, g, d, ema, opt_g, opt_d, gen, history, epoch, config_key, data_key) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"generator": g.state_dict(), "discriminator": d.state_dict(), "ema": ema.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": gen.get_state(),
                "history": history, "epoch": epoch, "config_key": config_key, "data_key": data_key}, tmp)
    os.replace(tmp, path)  # a kill mid-write never corrupts the last good checkpoint


def _progress(iterable, enabled: bool, **kw):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc="GAN epochs", unit="epoch", **kw)
