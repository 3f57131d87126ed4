"""Isolation Forest baseline (scikit-learn). sklearn's forest can only be saved by pickling it, so
the saved scorer keeps the fit rows and the seed instead and regrows the identical forest on load
(IsolationForest is deterministic given data and random_state; a test checks the scores match)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from synthgen.anomaly.base import SCORERS, ScorerParams
from synthgen.anomaly.knn import ReferenceScorer


class IsolationForestScorerSpec(ScorerParams):
    name: Literal["isolation_forest"] = "isolation_forest"
    n_estimators: int = Field(200, ge=1)
    max_samples: int = Field(256, ge=2)


@SCORERS.register("isolation_forest")
class IsolationForestScorer(ReferenceScorer):
    params_model = IsolationForestScorerSpec

    def _prepare(self) -> None:
        """The forest is regrown from the reference and the seed, after fit and after load."""
        from sklearn.ensemble import IsolationForest

        p = self.params
        self.forest_ = IsolationForest(n_estimators=p["n_estimators"], max_samples=min(p["max_samples"],
                                       len(self.reference_)), random_state=p["random_state"], n_jobs=1)
        self.forest_.fit(self.reference_)

    def _score(self, X) -> np.ndarray:
        return -self.forest_.score_samples(self.input_.matrix(X))  # sklearn: lower = more abnormal
