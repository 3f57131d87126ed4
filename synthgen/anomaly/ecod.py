"""ECOD (Li et al. 2022): empirical-CDF tail probabilities per dimension, summed as -log.

Written by hand (~30 lines) rather than taken from PyOD: PyOD pulls numba and matplotlib-era pins,
and its ECOD re-fits the CDFs on train + test inside decision_function (scores of one sample then
depend on the others). Here the CDFs are the fit data's only, so scoring is pure.
score = max(sum left-tail, sum right-tail, sum skewness-chosen tail), as in the paper.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from synthgen.anomaly.base import SCORERS, ScorerParams
from synthgen.anomaly.knn import ReferenceScorer


class ECODScorerSpec(ScorerParams):
    name: Literal["ecod"] = "ecod"


@SCORERS.register("ecod")
class ECODScorer(ReferenceScorer):
    params_model = ECODScorerSpec

    def _prepare(self) -> None:
        from scipy.stats import skew

        self.sorted_ = np.sort(self.reference_, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.right_skewed_ = np.nan_to_num(skew(self.reference_, axis=0)) > 0

    def tails(self, q: np.ndarray) -> np.ndarray:
        """(N, D) per-dimension tail scores -log P, the tail chosen by each dimension's skewness."""
        n = len(self.sorted_)
        left = np.empty_like(q, dtype=np.float64)
        right = np.empty_like(q, dtype=np.float64)
        for j in range(q.shape[1]):  # searchsorted is per column; D is at most a few thousand
            col = self.sorted_[:, j]
            left[:, j] = np.searchsorted(col, q[:, j], side="right")
            right[:, j] = n - np.searchsorted(col, q[:, j], side="left")
        left = -np.log((left + 1) / (n + 1))
        right = -np.log((right + 1) / (n + 1))
        return left, right, np.where(self.right_skewed_, right, left)

    def _score(self, X) -> np.ndarray:
        left, right, auto = self.tails(self.input_.matrix(X))
        return np.maximum(np.maximum(left.sum(1), right.sum(1)), auto.sum(1))

    def _explain_from(self, q, nearest):
        left, right, _ = self.tails(q)
        return self.input_.explain_tails(np.maximum(left, right))
