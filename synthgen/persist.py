"""How estimators are saved: one JSON file + tensors written by torch.save and read back with
`weights_only=True` (a saved model cannot run code on load). Never a pickle of the object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.errors import InputError


def json_default(value: Any):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_state(directory: str | Path, json_name: str, meta: dict, tensors: dict) -> Path:
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / json_name).write_text(json.dumps(meta, indent=2, default=json_default))
    torch.save({k: torch.as_tensor(v) for k, v in tensors.items()}, directory / "weights.pt")
    return directory


def load_prefixed(net, tensors: dict, prefix: str):
    """Load the tensors saved under `prefix` (one weights file holds several nets) into `net`."""
    net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    return net


def load_state(directory: str | Path, json_name: str, what: str) -> tuple[dict, dict]:
    import torch

    directory = Path(directory)
    try:
        meta = json.loads((directory / json_name).read_text())
        tensors = torch.load(directory / "weights.pt", weights_only=True, map_location="cpu")
    except FileNotFoundError as exc:
        raise InputError(f"{directory}: not a saved synthgen {what} ({exc.filename} missing)") from None
    return meta, tensors
