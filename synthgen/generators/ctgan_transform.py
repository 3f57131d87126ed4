"""Mode-specific normalisation for CTGAN, vectorised and JSON-serialisable.

ctgan's own DataTransformer fits an rdt ClusterBasedNormalizer (a 10-component Bayesian GMM) on
every row of every continuous column and then picks each row's mode in a Python loop: 47-63 s at
32k rows before the first epoch, and its state can only be saved by pickling. This class produces
exactly the same encoding (value = (x - mu_k) / (4 sigma_k) clipped to +-0.99, plus a one-hot of
the sampled mode k; one-hot for discrete columns; same `output_info_list`) but fits each GMM on a
random sample of at most `gmm_fit_rows` rows, samples the modes with numpy in one shot, and keeps
only means/stds/categories, so it round-trips through JSON.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from ctgan.data_transformer import SpanInfo

STD_MULTIPLIER = 4.0  # as rdt's ClusterBasedNormalizer


class ModeNormalizer:
    def __init__(self, *, max_clusters: int = 10, weight_threshold: float = 0.005,
                 gmm_fit_rows: int | None = 5000, random_state: int = 0):
        self.max_clusters = max_clusters
        self.weight_threshold = weight_threshold
        self.gmm_fit_rows = gmm_fit_rows
        self.random_state = random_state
        self.seconds = 0.0

    # -- the interface ctgan.CTGAN.fit uses --------------------------------------------------
    def fit(self, raw_data: pd.DataFrame, discrete_columns=()) -> None:
        start = time.perf_counter()
        rng = np.random.default_rng(self.random_state)
        self.columns: list[dict] = []
        for name in raw_data.columns:
            values = raw_data[name].to_numpy()
            if name in discrete_columns:
                self.columns.append({"name": name, "type": "discrete",
                                     "categories": sorted({str(v) for v in values})})
            else:
                self.columns.append(self._fit_continuous(name, values.astype(float), rng))
        self._index_gmms = None
        self.seconds += time.perf_counter() - start

    def _fit_continuous(self, name: str, x: np.ndarray, rng: np.random.Generator) -> dict:
        from sklearn.mixture import BayesianGaussianMixture

        fit_x = x
        if self.gmm_fit_rows and len(x) > self.gmm_fit_rows:
            fit_x = rng.choice(x, size=self.gmm_fit_rows, replace=False)
        n_components = max(1, min(self.max_clusters, len(np.unique(fit_x))))
        gmm = BayesianGaussianMixture(
            n_components=n_components,
            weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=0.001,
            n_init=1,
            random_state=self.random_state,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on low-cardinality columns
            gmm.fit(fit_x.reshape(-1, 1))
        valid = gmm.weights_ > self.weight_threshold
        if not valid.any():
            valid[np.argmax(gmm.weights_)] = True
        means = gmm.means_.ravel()
        stds = np.sqrt(gmm.covariances_.ravel())
        stds = np.maximum(stds, 1e-6 * (np.abs(means) + 1.0))
        return {"name": name, "type": "continuous", "means": means[valid].tolist(),
                "stds": stds[valid].tolist(), "_gmm": gmm, "_valid": valid}

    @property
    def output_info_list(self) -> list[list[SpanInfo]]:
        info = []
        for col in self.columns:
            if col["type"] == "discrete":
                info.append([SpanInfo(len(col["categories"]), "softmax")])
            else:
                info.append([SpanInfo(1, "tanh"), SpanInfo(len(col["means"]), "softmax")])
        return info

    @property
    def output_dimensions(self) -> int:
        return sum(span.dim for spans in self.output_info_list for span in spans)

    def transform(self, raw_data: pd.DataFrame) -> np.ndarray:
        start = time.perf_counter()
        rng = np.random.default_rng(self.random_state + 1)
        blocks = []
        for col in self.columns:
            values = raw_data[col["name"]].to_numpy()
            if col["type"] == "discrete":
                lookup = {c: i for i, c in enumerate(col["categories"])}
                idx = np.array([lookup[str(v)] for v in values])
                block = np.zeros((len(values), len(lookup)))
                block[np.arange(len(values)), idx] = 1.0
            else:
                block = self._transform_continuous(col, values.astype(float), rng)
            blocks.append(block)
        out = np.concatenate(blocks, axis=1).astype(float)
        self.seconds += time.perf_counter() - start
        return out

    def _transform_continuous(self, col: dict, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        means, stds = np.asarray(col["means"]), np.asarray(col["stds"])
        probs = col["_gmm"].predict_proba(x.reshape(-1, 1))[:, col["_valid"]] + 1e-6
        probs /= probs.sum(axis=1, keepdims=True)
        # one categorical draw per row, vectorised (rdt loops over rows with np.random.choice)
        chosen = (probs.cumsum(axis=1) < rng.random((len(x), 1))).sum(axis=1)
        chosen = np.minimum(chosen, len(means) - 1)
        normalized = np.clip((x - means[chosen]) / (STD_MULTIPLIER * stds[chosen]), -0.99, 0.99)
        block = np.zeros((len(x), 1 + len(means)))
        block[:, 0] = normalized
        block[np.arange(len(x)), 1 + chosen] = 1.0
        return block

    # -- persistence and decoding --------------------------------------------------------------
    def state(self) -> list[dict]:
        return [{k: v for k, v in col.items() if not k.startswith("_")} for col in self.columns]

    @classmethod
    def from_state(cls, columns: list[dict]) -> "ModeNormalizer":
        self = cls()
        self.columns = [dict(c) for c in columns]
        return self

    def cond_offset(self, column: str, value: str) -> int:
        """Index of (column == value) in ctgan's conditional vector (discrete columns only)."""
        offset = 0
        for col in self.columns:
            if col["type"] != "discrete":
                continue
            if col["name"] == column:
                return offset + col["categories"].index(value)
            offset += len(col["categories"])
        raise KeyError(column)

    @property
    def cond_dim(self) -> int:
        return sum(len(c["categories"]) for c in self.columns if c["type"] == "discrete")

    def decode(self, values: dict[str, np.ndarray], modes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """values: tanh output per continuous column, or category index per discrete column;
        modes: chosen mode index per continuous column. Returns raw column arrays."""
        out = {}
        for col in self.columns:
            name = col["name"]
            if col["type"] == "discrete":
                out[name] = np.asarray(col["categories"], dtype=object)[values[name]]
            else:
                means, stds = np.asarray(col["means"]), np.asarray(col["stds"])
                k = modes[name]
                out[name] = np.clip(values[name], -1, 1) * STD_MULTIPLIER * stds[k] + means[k]
        return out
