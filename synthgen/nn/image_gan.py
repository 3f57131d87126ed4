"""Pure torch modules of the class-conditional image GAN (no optimisers, no I/O).

Sized for small labeled sets on CPU (28-64 px, 1 or 3 channels): a few hundred thousand weights,
so a 2-core machine trains MNIST-sized data at hundreds of images per second.
Shapes: B batch, Z latent_dim, K classes, C channels, S side, c base_channels.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def upsamplings(size: int) -> int:
    """Doublings from the first feature map to `size` (28 -> 7x7 x4, 32 -> 8x8 x4, 64 -> 8x8 x8).
    A side that is not a multiple of 2**n (25 px faces) is generated one multiple up and centre-cropped;
    the strided convolutions of the discriminator and encoder take any side."""
    return 2 if size <= 32 else 3


class ConditionalGeneratorNet(nn.Module):
    """z (B, Z) + class (B,) -> image (B, C, S, S) in [-1, 1].

    DCGAN-style transposed convolutions (fast on CPU); the class enters twice: as an embedding
    concatenated to z, and as a per-class gain and bias of every normalisation (conditional batch
    norm), which keeps the class visible at every scale.
    """

    def __init__(self, latent_dim: int, n_classes: int, channels: int, size: int, base_channels: int = 32):
        super().__init__()
        n_up = upsamplings(size)
        self.start = -(-size // 2 ** n_up)                            # ceil: 25 px -> 7 -> 28, cropped
        self.size = size
        # halving widths, e.g. c=32 at 28 px: 128 (7x7) -> 64 (14x14) -> image (28x28)
        widths = [max(8, base_channels * 2 ** n_up // 2 ** i) for i in range(n_up)]
        self.embed = nn.Embedding(n_classes, latent_dim)
        self.stem = nn.ConvTranspose2d(2 * latent_dim, widths[0], self.start)  # (B, w0, s0, s0)
        self.norms = nn.ModuleList(_ConditionalBatchNorm(w, n_classes) for w in widths)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(w_in, w_out, 4, 2, 1)
                                 for w_in, w_out in zip(widths, widths[1:] + [channels]))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.stem(torch.cat([z, self.embed(y)], dim=1)[:, :, None, None])
        for norm, up in zip(self.norms, self.ups):
            h = up(torch.relu(norm(h, y)))                            # doubles the side
        if h.shape[-1] != self.size:
            o = (h.shape[-1] - self.size) // 2
            h = h[:, :, o:o + self.size, o:o + self.size]
        return torch.tanh(h)                                          # (B, C, S, S)


class _ConditionalBatchNorm(nn.Module):
    def __init__(self, channels: int, n_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(n_classes, channels)
        self.bias = nn.Embedding(n_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(h) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class ProjectionDiscriminatorNet(nn.Module):
    """image (B, C, S, S) + class (B,) -> realness score (B,).

    Spectral norm on every layer; the class enters by projection (Miyato & Koyama 2018):
    score = w . phi(x) + <embed(y), phi(x)>.
    """

    def __init__(self, n_classes: int, channels: int, size: int, base_channels: int = 32):
        super().__init__()
        n_down = upsamplings(size)
        widths = [base_channels * 2 ** i for i in range(n_down + 1)]  # e.g. [32, 64, 128]
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(channels, widths[0], 3, padding=1)),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [spectral_norm(nn.Conv2d(w_in, w_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(widths[-1], 1))
        self.embed = spectral_norm(nn.Embedding(n_classes, widths[-1]))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        phi = self.features(x).sum(dim=(2, 3))                        # (B, w)
        return self.linear(phi).squeeze(1) + (self.embed(y) * phi).sum(dim=1)


class SmallClassifierNet(nn.Module):
    """The feature network of image metrics: a small CNN trained on the real training split.
    `features(x)` (B, 128) feeds Fréchet distance, density/coverage and memorisation distances."""

    def __init__(self, n_classes: int, channels: int, size: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(128, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class EncoderNet(nn.Module):
    """image (B, C, S, S) -> latent (B, Z): the izi_f encoder of f-AnoGAN (Schlegl et al. 2019).

    The discriminator's downsampling shape without spectral norm or class input (a sample's class
    is unknown when it is screened); unbounded output, since G's latents are N(0, 1)."""

    def __init__(self, latent_dim: int, channels: int, size: int, base_channels: int = 32):
        super().__init__()
        n_down = upsamplings(size)
        widths = [base_channels * 2 ** i for i in range(n_down + 1)]
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(w_in, w_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        side = size // 2 ** n_down
        self.head = nn.Linear(widths[-1] * side * side, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))                  # (B, Z)
