"""GAN-based scorer for table rows: how far a row is from what the trained GAN generates for the
normal classes (mean distance to its k nearest synthetic normal rows, in the TableInput encoding).

Why this design: CTGAN has no encoder and its discriminator judges packs of `pac` rows, so neither
an AnoGAN latent search nor an f-AnoGAN encoder maps cleanly onto single rows with mixed types.
The generator's samples, though, are a dense, labeled picture of the normal data that carries no
real record: the saved scorer holds synthetic rows only (the k-NN baseline must keep real ones),
and per-column contributions fall out of the nearest synthetic neighbour.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from synthgen.anomaly.base import SCORERS, ScorerParams
from synthgen.anomaly.knn import _ReferenceScorer
from synthgen.distances import knn_distance
from synthgen.errors import InputError


class GANKNNScorerSpec(ScorerParams):
    """Tabular: mean distance to the k nearest rows the trained GAN generates for the normal classes.
    The saved scorer holds synthetic rows only, never a real one."""

    name: Literal["gan_knn"] = "gan_knn"
    n_neighbors: int = Field(5, ge=1)
    reference_rows: int = Field(5000, ge=10, description="Synthetic normal rows drawn as the reference set.")


@SCORERS.register("gan_knn")
class GANKNNScorer(_ReferenceScorer):
    modalities = ("tabular",)
    holds_real_data = False  # GAN weights (the same as the published generator's) or synthetic rows
    params_model = GANKNNScorerSpec

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

    def _score(self, X) -> np.ndarray:
        return knn_distance(self.input_.matrix(X), self.reference_, self.params["n_neighbors"])

    def _state(self):
        return {"normal_classes": self.normal_classes_}, {"reference": self.reference_}

    def _restore(self, state: dict, tensors: dict) -> None:
        super()._restore(state, tensors)
        self.normal_classes_ = state["normal_classes"]
