"""The one conversion between stored images and network tensors.

uint8 (N, H, W, C) in [0, 255]  <->  float (N, C, H, W) in [-1, 1].
"""

from __future__ import annotations

import numpy as np


def images_to_tensor(images, *, channels_last: bool = False):
    """uint8 (N, H, W, C) array (or tensor) -> float (N, C, H, W) in [-1, 1]; `channels_last` gives the
    memory layout the frozen scorer nets run fastest with on CPU."""
    import torch

    source = images if isinstance(images, torch.Tensor) else torch.from_numpy(images)
    x = source.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def tensor_to_images(x) -> np.ndarray:
    """float (N, C, H, W) in [-1, 1] -> uint8 (N, H, W, C)."""
    import torch

    return ((x.permute(0, 2, 3, 1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
