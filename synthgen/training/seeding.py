"""Seeding and thread pinning for reproducible, non-oversubscribed training."""

from __future__ import annotations

import contextlib
import random

import numpy as np


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Pin torch's intra-op threads inside the block (None: leave them) and restore them afterwards.
    On a dask worker the cap of `synthgen.cluster` (cores / workers) wins over a larger request."""
    import torch

    from synthgen.cluster import thread_cap

    cap = thread_cap()
    if cap is not None:
        threads = min(threads or cap, cap)
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def seeded(random_state: int, *, threads: int | None = None):
    """Seed python/numpy/torch global RNGs inside the block and restore them afterwards.

    ctgan's training loop draws from the global RNGs, so this is what makes `fit` repeatable.
    `threads` pins torch's intra-op threads (2 threads on a busy 2-core box ran 5-12x slower).
    """
    import torch

    py_state = random.getstate()
    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]), torch_threads(threads):
        random.seed(random_state)
        np.random.seed(random_state % 2**32)
        torch.manual_seed(random_state)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        from synthgen.errors import InputError

        raise InputError("model.device: cuda requested but no CUDA device is available")
    return device
