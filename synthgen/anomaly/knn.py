"""k-NN distance baseline: mean distance to the k nearest normal fit rows (pixels in [0, 1] for
images, the TableInput encoding for tables). Keeps the fit rows: a saved kNN scorer holds real data."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from synthgen.anomaly.base import SCORERS, Scorer, ScorerParams
from synthgen.distances import knn_distance


class ReferenceScorer(Scorer):
    """Scorers whose whole state is a reference matrix (plus their parameters)."""

    def _fit(self, X, *, generator=None) -> None:
        self.reference_ = self.input_.matrix(X, "fit data")
        self._prepare()

    def _prepare(self) -> None:
        """What a scorer derives from its reference once (after fit and after load); none by default."""

    def _reference(self) -> np.ndarray:
        return self.reference_

    def _state(self):
        return {}, {"reference": self.reference_}

    def _restore(self, state: dict, tensors: dict) -> None:
        self.reference_ = tensors["reference"].numpy()
        self._prepare()


class KNNScorerSpec(ScorerParams):
    name: Literal["knn"] = "knn"
    n_neighbors: int = Field(5, ge=1)


@SCORERS.register("knn")
class KNNScorer(ReferenceScorer):
    params_model = KNNScorerSpec

    def _score(self, X) -> np.ndarray:
        return knn_distance(self.input_.matrix(X), self.reference_, self.params["n_neighbors"])
