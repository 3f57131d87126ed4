"""The scorer contract (after PyOD, minus its mistakes) and the inputs scorers read.

- `fit(X)` sets `decision_scores_` (= decision_function(X)), `threshold_` and `labels_`, returns self.
  The threshold is the (1 - false_alarm_rate) quantile of scores on *normal calibration data the
  scorer did not fit on* (a given calibration set, or a seeded share of X held back), so the false
  alarm rate it promises is measured, not the optimistic rate on its own training data.
- `decision_function(X)`: higher = more anomalous; pure: no weight, buffer or RNG state changes,
  the same input gives the same scores whatever the batch it sits in.
- `predict(X)` = (decision_function(X) > threshold_) as 0/1.
- `explain(X)`: what a reviewer looks at: per-pixel residual maps (images) or per-column
  contributions (tables).
- `save(dir)` / `load(dir)`: JSON + tensors loaded with `weights_only=True` (never a pickle).

Inputs: images as LabeledImages or uint8 (N, H, W, C) arrays; tables as LabeledTable or polars
DataFrames. A scorer remembers the shape / columns it was fitted on and refuses anything else by name.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl

from synthgen.data import LabeledImages, LabeledTable
from synthgen.errors import InputError
from synthgen.persist import load_state, save_state
from synthgen.registry import Registry, resolve_params
from synthgen.training.seeding import torch_threads
from synthgen.validation.context import DistanceEncoder

SCORERS: Registry = Registry("scorer")


# -- inputs -----------------------------------------------------------------------------------------
class ImageInput:
    """uint8 (N, H, W, C) images; the fitted shape is the only one accepted."""

    modality = "image"

    def __init__(self, shape: tuple[int, int, int]):
        self.shape = tuple(int(v) for v in shape)

    @classmethod
    def fit(cls, data) -> "ImageInput":
        return cls(_images(data).shape[1:])

    def facts(self) -> dict:
        return {"modality": "image", "shape": list(self.shape)}

    def check(self, data, origin: str = "input") -> np.ndarray:
        images = _images(data, origin)
        if images.shape[1:] != self.shape:
            h, w, c = images.shape[1:]
            eh, ew, ec = self.shape
            what = "channels" if (h, w) == (eh, ew) else "size"
            raise InputError(f"{origin}: images are {h}x{w} with {c} channel(s) but the scorer was fitted on "
                             f"{eh}x{ew} with {ec} channel(s) (wrong {what}); set image.size / image.channels "
                             "in the spec to match")
        return images

    def matrix(self, data, origin: str = "input") -> np.ndarray:
        """(N, H*W*C) float32 in [0, 1] (what the classic baselines read)."""
        images = self.check(data, origin)
        return images.reshape(len(images), -1).astype(np.float32) / 255.0


def _images(data, origin: str = "input") -> np.ndarray:
    images = data.images if isinstance(data, LabeledImages) else data
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
            or images.shape[-1] not in (1, 3):
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise InputError(f"{origin}: expected uint8 images (N, H, W, 1|3), got {got}")
    if len(images) == 0:
        raise InputError(f"{origin}: no images to score")
    return images


class TableInput(DistanceEncoder):
    """Feature columns (the label excluded) in validation's distance encoding, plus the checks a
    scorer needs: missing columns and empty input are refused by name."""

    modality = "tabular"

    def __init__(self, plan: list, label: str | None):
        super().__init__(plan)
        self.label = label

    @classmethod
    def fit(cls, data) -> "TableInput":
        frame, label, kinds = _table(data)
        plan = DistanceEncoder.fit(frame, kinds, exclude=(label,)).plan
        if not plan:
            raise InputError("fit data: no feature columns besides the label")
        return cls(plan, label)

    def facts(self) -> dict:
        return {"modality": "tabular", "plan": [list(p) for p in self.plan], "label": self.label}

    def check(self, data, origin: str = "input") -> pl.DataFrame:
        frame, _, _ = _table(data, origin)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise InputError(f"{origin}: columns {missing} are missing (the scorer was fitted on {self.columns})")
        if frame.height == 0:
            raise InputError(f"{origin}: no rows to score")
        return frame

    def matrix(self, data, origin: str = "input") -> np.ndarray:
        return self.transform(self.check(data, origin), origin)


def _table(data, origin: str = "input") -> tuple[pl.DataFrame, str | None, dict]:
    if isinstance(data, LabeledTable):
        return data.frame, data.label, dict(data.kinds)
    if isinstance(data, pl.DataFrame):
        return data, None, {}
    raise InputError(f"{origin}: expected a table (polars DataFrame or LabeledTable), got {type(data).__name__}")


def input_for(data):
    if isinstance(data, (LabeledImages, np.ndarray)):
        return ImageInput.fit(data)
    return TableInput.fit(data)


def subset(data, index: np.ndarray):
    if isinstance(data, LabeledImages):
        return data.subset(index)
    if isinstance(data, np.ndarray):
        return data[index]
    if isinstance(data, LabeledTable):
        return data.with_frame(data.frame[index.tolist()])
    return data[index.tolist()]


def size(data) -> int:
    return len(data.frame) if isinstance(data, LabeledTable) else len(data)


# -- the contract ------------------------------------------------------------------------------------
class Scorer:
    """Base class: owns fit/decision_function/predict/save/load; subclasses write `_fit`, `_score`,
    `_state`/`_restore` and may override `explain`."""

    name: ClassVar[str]
    modalities: ClassVar[tuple[str, ...]] = ("image", "tabular")
    params_model: ClassVar[type | None] = None
    #: whether a saved scorer contains real rows/images (then it must not ship with a synthetic dataset)
    holds_real_data: ClassVar[bool] = True

    def __init__(self, **params: Any):
        self.params = resolve_params(self.params_model, params)

    # -- public ---------------------------------------------------------------------------------
    def fit(self, X, *, calibration=None, generator=None) -> "Scorer":
        """X: normal data only. `calibration`: more normal data, not fitted on, for the threshold
        (default: a seeded `calibration_share` of X is held back). `generator`: a trained synthgen
        generator to reuse (GAN scorers; train once, use twice)."""
        start = time.perf_counter()
        self.input_ = input_for(X)
        if self.input_.modality not in self.modalities:
            raise InputError(f"scorer {self.name!r} does not score {self.input_.modality} data "
                             f"(it scores: {', '.join(self.modalities)})")
        n = size(X)
        if calibration is None:
            if n < 10:
                raise InputError(f"fit data: {n} normal samples; need at least 10 to fit and calibrate a scorer")
            rng = np.random.default_rng(self.params["random_state"])
            held = np.zeros(n, dtype=bool)
            held[rng.choice(n, size=max(2, int(round(n * self.params["calibration_share"]))), replace=False)] = True
            fit_part, calibration = subset(X, np.flatnonzero(~held)), subset(X, np.flatnonzero(held))
        else:
            fit_part = X
        self.timings_: dict[str, float] = {}
        self._fit(fit_part, generator=generator)
        self.timings_["fit_s"] = time.perf_counter() - start
        cal = self.decision_function(calibration)
        far = self.params["false_alarm_rate"]
        self.threshold_ = float(np.quantile(cal, 1 - far, method="higher"))
        self.calibration_ = {"n": int(len(cal)), "false_alarm_rate": far,
                             "flagged_share": float(np.mean(cal > self.threshold_)),
                             "mean": float(np.mean(cal)), "std": float(np.std(cal))}
        self.decision_scores_ = self.decision_function(X)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(np.int64)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Anomaly scores, higher = more anomalous. Never changes the scorer."""
        self._check_fitted()
        with torch_threads(self.params["threads"]):
            return np.asarray(self._score(X), dtype=np.float64)

    def predict(self, X) -> np.ndarray:
        return (self.decision_function(X) > self.threshold_).astype(np.int64)

    def explain(self, X) -> dict[str, Any]:
        """Images: {"residual": (N, H, W) float in [0, 1]} against the closest normal reference;
        tables: {"contributions": DataFrame, one column per feature, rows sum to 1}."""
        self._check_fitted()
        ref = self._reference()
        q = self.input_.matrix(X)
        nearest = ref[_nearest_index(q, ref)]
        return self._explain_from(q, nearest)

    def save(self, directory: str | Path) -> Path:
        self._check_fitted()
        state, tensors = self._state()
        meta = {"scorer": self.name, "params": self.params, "threshold": self.threshold_,
                "calibration": self.calibration_, "input": self.input_.facts(), "timings": self.timings_,
                "state": state}
        return save_state(directory, "scorer.json", meta, tensors)

    @classmethod
    def load(cls, directory: str | Path) -> "Scorer":
        """Tensors are read with weights_only=True: a saved scorer cannot run code on load."""
        meta, tensors = load_state(directory, "scorer.json", "scorer")
        klass = SCORERS.get(meta["scorer"])
        self = klass(**meta["params"])
        facts = meta["input"]
        self.input_ = ImageInput(facts["shape"]) if facts["modality"] == "image" \
            else TableInput(facts["plan"], facts["label"])
        self.threshold_ = float(meta["threshold"])
        self.calibration_ = meta["calibration"]
        self.timings_ = meta.get("timings", {})
        self._restore(meta["state"], tensors)
        return self

    # -- for subclasses -------------------------------------------------------------------------
    def _fit(self, X, *, generator=None) -> None:
        raise NotImplementedError

    def _score(self, X) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> tuple[dict, dict]:
        """(JSON-serialisable state, dict of arrays/tensors)."""
        raise NotImplementedError

    def _restore(self, state: dict, tensors: dict) -> None:
        raise NotImplementedError

    def _reference(self) -> np.ndarray:
        """Normal reference rows in `input_.matrix` space, for explain()."""
        raise NotImplementedError

    def _explain_from(self, q: np.ndarray, nearest: np.ndarray) -> dict[str, Any]:
        diff = (q - nearest) ** 2
        if isinstance(self.input_, ImageInput):
            h, w, c = self.input_.shape
            return {"residual": np.sqrt(diff).reshape(len(q), h, w, c).mean(axis=3)}
        per_col = np.column_stack([diff[:, sl].sum(axis=1) for _, sl in self.input_.blocks()])
        total = per_col.sum(axis=1, keepdims=True)
        share = np.divide(per_col, total, out=np.zeros_like(per_col), where=total > 0)
        return {"contributions": pl.DataFrame(share, schema=self.input_.columns, orient="row")}

    def _check_fitted(self) -> None:
        if not hasattr(self, "input_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")


def _nearest_index(q: np.ndarray, ref: np.ndarray, chunk: int = 2048) -> np.ndarray:
    import torch

    r = torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float32))
    out = []
    with torch.inference_mode():
        for start in range(0, len(q), chunk):
            d = torch.cdist(torch.from_numpy(np.ascontiguousarray(q[start:start + chunk], dtype=np.float32)), r)
            out.append(d.argmin(dim=1).numpy())
    return np.concatenate(out)


def knn_distance(q: np.ndarray, ref: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """Mean Euclidean distance of each query row to its k nearest reference rows (chunked torch.cdist)."""
    import torch

    r = torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float32))
    k = min(k, len(r))
    out = []
    with torch.inference_mode():
        for start in range(0, len(q), chunk):
            d = torch.cdist(torch.from_numpy(np.ascontiguousarray(q[start:start + chunk], dtype=np.float32)), r)
            out.append(d.topk(k, dim=1, largest=False).values.mean(dim=1).double().numpy())
    return np.concatenate(out)
