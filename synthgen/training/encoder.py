"""izi_f training of the f-AnoGAN encoder (Schlegl et al. 2019): G and D stay frozen; the encoder
learns E so that x -> G(E(x)) reproduces x in pixels and in the discriminator's features:
loss = MSE(x, G(E(x))) + kappa * MSE(f(x), f(G(E(x)))), the same formula as the anomaly score."""

from __future__ import annotations

import time

import numpy as np
import torch

from synthgen.nn.image_gan import EncoderNet


def izif_residuals(x: torch.Tensor, x_hat: torch.Tensor, features) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (pixel MSE, feature MSE)."""
    pixel = (x - x_hat).pow(2).flatten(1).mean(dim=1)
    f_x, f_hat = features(torch.cat([x, x_hat])).chunk(2)               # one discriminator pass
    feat = (f_x - f_hat).pow(2).mean(dim=1)
    return pixel, feat


def train_encoder(generator, features, images: torch.Tensor, classes: torch.Tensor, *, latent_dim: int,
                  base_channels: int, kappa: float, epochs: int, batch_size: int, lr: float,
                  random_state: int, device: str = "cpu") -> tuple[EncoderNet, dict]:
    """images: (N, C, S, S) in [-1, 1]; classes: the generator's class index of each image.
    `generator` and `features` must be frozen (eval mode, no grad on their weights)."""
    torch.manual_seed(random_state)
    rng = torch.Generator().manual_seed(random_state)
    n, c, s, _ = images.shape
    encoder = EncoderNet(latent_dim, c, s, base_channels).to(device)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr, betas=(0.5, 0.999))
    history = {"loss": []}
    started = time.perf_counter()
    steps = max(n // batch_size, 1)
    for _ in range(epochs):
        order = torch.randperm(n, generator=rng)
        losses = []
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            x, y = images[idx].to(device), classes[idx].to(device)
            pixel, feat = izif_residuals(x, generator(encoder(x), y), features)
            loss = (pixel + kappa * feat).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history["loss"].append(float(np.mean(losses)))
    encoder.eval()
    seconds = time.perf_counter() - started
    return encoder.cpu(), {"history": history, "train_s": seconds, "images_per_s": epochs * steps * batch_size / seconds}
