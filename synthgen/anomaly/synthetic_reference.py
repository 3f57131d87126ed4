"""Scorers for table rows built on what the trained generator (CTGAN or argn: in a run, the published one)
generates for the normal classes. Named `gan_ecod` / `gan_knn` until the generator could be other than a
GAN; models saved under the old names still load (`SCORERS.renamed`).

- `synthetic_ecod` (the tabular default): ECOD's per-column tail probabilities, with the empirical CDFs taken
  from the generator's samples instead of the real fit rows;
- `synthetic_knn`: mean distance to the k nearest synthetic normal rows, in the TableInput encoding.

Why this design: CTGAN has no encoder and its discriminator judges packs of `pac` rows, so neither
an AnoGAN latent search nor an f-AnoGAN encoder maps cleanly onto single rows with mixed types.
The generator's samples, though, are a dense, labeled picture of the normal data that carries no
real record: the saved scorer holds synthetic rows only (the k-NN and ECOD baselines must keep real
ones). Measured on the suite's hearts case (154 normal fit rows, 91 test rows; bench/bench_suite.py):
ECOD on the real rows 0.893, k-NN 0.789, IsolationForest 0.834; synthetic_ecod 0.901 / 0.924 (two CTGAN
seeds), synthetic_knn 0.766-0.893 (seed to seed). A few thousand generated rows give smoother tails than a
hundred real ones, where k-NN distances in a one-hot space swing with the seed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from synthgen.anomaly.base import SCORERS, GANScorerParams
from synthgen.anomaly.ecod import ECODScorer
from synthgen.anomaly.knn import ReferenceScorer
from synthgen.distances import knn_distance
from synthgen.errors import InputError


class _SyntheticReference:
    """The reference matrix is rows the trained generator samples for the normal classes (in their
    training shares): never a real row."""

    holds_real_data = False  # generator weights (the same as the published generator's) or synthetic rows
    modalities = ("tabular",)

    def _fit(self, X, *, generator=None) -> None:
        X = self.adapter.labeled(X, "fit data")
        normal = [c for c, n in X.class_counts().items() if n]
        generator = self.trained_generator(X, generator, threads=1)
        missing = [c for c in normal if c not in generator.classes_]
        if missing:
            raise InputError(f"normal classes {missing} are not classes of the generator ({generator.classes_})")
        share = np.array([X.class_counts()[c] for c in normal], dtype=float)
        counts = np.floor(share / share.sum() * self.params["reference_rows"]).astype(int)
        counts[0] += self.params["reference_rows"] - counts.sum()
        synthetic = generator.sample(per_class={c: int(k) for c, k in zip(normal, counts)},
                                     random_state=self.params["random_state"])
        self.normal_classes_ = normal
        self.reference_ = self.input_.matrix(synthetic, "generator samples")
        self._prepare()

    def _state(self):
        return {"normal_classes": self.normal_classes_}, {"reference": self.reference_}

    def _restore(self, state: dict, tensors: dict) -> None:
        super()._restore(state, tensors)
        self.normal_classes_ = state["normal_classes"]


class SyntheticKNNScorerSpec(GANScorerParams):
    """Tabular: mean distance to the k nearest rows the trained generator generates for the normal classes.
    The saved scorer holds synthetic rows only, never a real one."""

    name: Literal["synthetic_knn"] = "synthetic_knn"
    n_neighbors: int = Field(5, ge=1)
    reference_rows: int = Field(5000, ge=10, description="Synthetic normal rows drawn as the reference set.")


@SCORERS.register("synthetic_knn")
class SyntheticKNNScorer(_SyntheticReference, ReferenceScorer):
    params_model = SyntheticKNNScorerSpec

    def _score(self, X) -> np.ndarray:
        return knn_distance(self.input_.matrix(X), self.reference_, self.params["n_neighbors"])


class SyntheticECODScorerSpec(GANScorerParams):
    """Tabular: ECOD tail probabilities with the per-column CDFs of rows the trained generator generates for the
    normal classes. The saved scorer holds synthetic rows only, never a real one."""

    name: Literal["synthetic_ecod"] = "synthetic_ecod"
    reference_rows: int = Field(5000, ge=10, description="Synthetic normal rows drawn as the reference set.")


@SCORERS.register("synthetic_ecod")
class SyntheticECODScorer(_SyntheticReference, ECODScorer):
    params_model = SyntheticECODScorerSpec


SCORERS.renamed.update(gan_knn="synthetic_knn", gan_ecod="synthetic_ecod")
