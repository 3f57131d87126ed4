"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied identically to real and fake
images in both the D and the G step, so D cannot overfit a small training set; applied with a
probability that adaptive discriminator augmentation (ADA) can steer.

Every random draw comes from the given torch.Generator, so training is reproducible and resumable.
"""

from __future__ import annotations

import torch


def diff_augment(x: torch.Tensor, policy: str, gen: torch.Generator, p: float = 1.0) -> torch.Tensor:
    """Each augmentation of `policy` reaches each image with probability `p` (ADA's augment probability,
    Karras et al. 2020; p = 1 is DiffAugment as published, p = 0 leaves the batch untouched)."""
    if p <= 0:
        return x
    for name in [q.strip() for q in policy.split(",") if q.strip()]:
        out = AUGMENTS[name](x, gen)
        if p < 1:
            keep = _rand((len(x), 1, 1, 1), x, gen) >= p
            out = torch.where(keep, x, out)
        x = out
    return x


def _rand(shape, x, gen):
    return torch.rand(shape, generator=gen, device="cpu").to(x.device)


def color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b = len(x)
    x = x + (_rand((b, 1, 1, 1), x, gen) - 0.5)                                   # brightness
    if x.shape[1] == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_rand((b, 1, 1, 1), x, gen) * 2) + mean                 # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((b, 1, 1, 1), x, gen) + 0.5) + mean                # contrast


def translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = (_rand((b, 1, 1), x, gen) * (2 * sh + 1)).long() - sh
    ty = (_rand((b, 1, 1), x, gen) * (2 * sw + 1)).long() - sw
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy[None] + tx + 1, 0, h + 1)
    gx = torch.clamp(gx[None] + ty + 1, 0, w + 1)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, gy, gx].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = (_rand((b, 1, 1), x, gen) * (h + (1 - ch % 2))).long()
    ox = (_rand((b, 1, 1), x, gen) * (w + (1 - cw % 2))).long()
    gy, gx = torch.meshgrid(torch.arange(ch, device=x.device), torch.arange(cw, device=x.device), indexing="ij")
    gy = torch.clamp(gy[None] + oy - ch // 2, 0, h - 1)
    gx = torch.clamp(gx[None] + ox - cw // 2, 0, w - 1)
    mask = torch.ones(b, h, w, device=x.device, dtype=x.dtype)
    mask[torch.arange(b, device=x.device)[:, None, None], gy, gx] = 0
    return x * mask[:, None]


AUGMENTS = {"color": color, "translation": translation, "cutout": cutout}
