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

Inputs: whatever a modality adapter accepts (images as LabeledImages or uint8 (N, H, W, C) arrays;
tables as LabeledTable or polars DataFrames). The adapter's ScorerInput remembers the shape / columns
the scorer was fitted on and refuses anything else by name; the scorers never test a type.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from synthgen.distances import nearest_index
from synthgen.errors import InputError
from synthgen.modalities import MODALITIES, adapter_for
from synthgen.params import Params
from synthgen.persist import load_state, save_state
from synthgen.registry import Registry, resolve_params, saved_params
from synthgen.training.seeding import torch_threads

SCORERS: Registry = Registry("scorer")


class ScorerParams(Params):
    """What every scorer takes; a scorer's own model adds its fields and a `name` literal."""

    false_alarm_rate: float = Field(0.05, gt=0, lt=1, description="The threshold is the (1 - this) quantile "
                                    "of normal calibration scores: the share of normal data expected to be flagged.")
    calibration_share: float = Field(0.2, gt=0, lt=1, description="Share of the normal data held back to calibrate "
                                     "the threshold when fit() gets no calibration set.")
    random_state: int = 0
    threads: int = Field(2, ge=1)


class GANScorerParams(ScorerParams):
    """What every GAN-based scorer adds: the generator to train when `fit` is given none."""

    gan: dict[str, Any] | None = Field(None, description="Spec of the generator trained when fit() gets no "
                                          "generator: its `name` (default: the modality's default generator) "
                                          "and parameters. A run fills it from the spec's `model`.")


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
        adapter = adapter_for(X)
        self.input_ = adapter.scorer_input.fit(X)
        if self.input_.modality not in self.modalities:
            raise InputError(f"scorer {self.name!r} does not score {self.input_.modality} data "
                             f"(it scores: {', '.join(self.modalities)})")
        n = adapter.size(X)
        if calibration is None:
            if n < 10:
                raise InputError(f"fit data: {n} normal samples; need at least 10 to fit and calibrate a scorer")
            rng = np.random.default_rng(self.params["random_state"])
            held = np.zeros(n, dtype=bool)
            held[rng.choice(n, size=max(2, int(round(n * self.params["calibration_share"]))), replace=False)] = True
            fit_part, calibration = adapter.subset(X, np.flatnonzero(~held)), adapter.subset(X, np.flatnonzero(held))
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
        nearest = ref[nearest_index(q, ref)]
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
        self = klass(**saved_params(klass.params_model, meta["params"]))
        facts = meta["input"]
        self.input_ = MODALITIES.get(facts["modality"]).scorer_input.from_facts(facts)
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
        return self.input_.explain_nearest(q, nearest)

    @property
    def adapter(self):
        """The modality adapter of the data this scorer was fitted on."""
        return MODALITIES.get(self.input_.modality)

    def trained_generator(self, X, generator=None, *, threads: int):
        """The generator to build on: the one given (train once, use twice), else one trained now on X
        with the `gan` parameters (their `name`, or the modality's default generator)."""
        if generator is not None:
            return generator
        from synthgen.generators import GENERATORS

        gan = dict(self.params.get("gan", {}))
        name = gan.pop("name", None) or self.adapter.default_generator
        gan = {"threads": threads, "random_state": self.params["random_state"], **gan}
        return GENERATORS.get(name)(**gan).fit(X)

    def _check_fitted(self) -> None:
        if not hasattr(self, "input_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
