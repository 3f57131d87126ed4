"""The modality adapter contract: everything on the data path that differs between modalities.

The pipeline steps, screening and the scorers are the same for every modality; they ask the
adapter (looked up by `spec.modality`, by a saved model's facts, or by `adapter_for(data)`) and
never branch on the modality or test a container's type themselves.

An adapter owns: its container; reading, checking and splitting a source; how a run stores real and
synthetic data; the validation context its metrics get; the scorer input (shape / column checks and
the matrix classic scorers read); the default generator and scorer; and its reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from synthgen.errors import InputError
from synthgen.registry import Registry

MODALITIES: Registry = Registry("modality")


class ScorerInput:
    """What a scorer remembers about the data it was fitted on, and checks every input against."""

    modality: ClassVar[str]

    @classmethod
    def fit(cls, data) -> "ScorerInput":
        raise NotImplementedError

    def facts(self) -> dict:
        """JSON facts saved with the scorer (`modality` names the adapter that rebuilds it)."""
        raise NotImplementedError

    def check(self, data, origin: str = "input"):
        raise NotImplementedError

    def matrix(self, data, origin: str = "input") -> np.ndarray:
        """(N, D) float32: what distance-based scorers read."""
        raise NotImplementedError

    def explain_nearest(self, q: np.ndarray, nearest: np.ndarray) -> dict[str, Any]:
        """Explain rows `q` by their nearest normal reference rows."""
        raise NotImplementedError

    def explain_tails(self, per_dim: np.ndarray) -> dict[str, Any]:
        """Explain rows by non-negative per-dimension scores (e.g. ECOD's tail probabilities)."""
        raise NotImplementedError


class Modality:
    name: ClassVar[str]
    container: ClassVar[type]
    default_generator: ClassVar[str]     # the generator a GAN scorer trains when none is given
    # the order `model: auto` trains its generators in, the preferred first (kept when the selection split is
    # too small to rank them); empty: the default generator first
    preferred_generators: ClassVar[tuple[str, ...]] = ()
    default_model: ClassVar[str] = ""    # the spec's `model:` when it names none ("auto": every generator)
    default_scorer: ClassVar[str]
    scorer_input: ClassVar[type[ScorerInput]]

    # -- containers -------------------------------------------------------------------------------
    def owns(self, data) -> bool:
        """Whether `data` is this modality's container (or a bare form its scorers accept)."""
        return isinstance(data, self.container)

    def size(self, data) -> int:
        return len(data)

    def subset(self, data, index: np.ndarray):
        raise NotImplementedError

    def labels(self, data) -> np.ndarray | None:
        """Class of every item as text, or None for unlabeled input."""
        raise NotImplementedError

    def classes(self, data) -> list[str]:
        raise NotImplementedError

    def labeled(self, data, origin: str = "fit data"):
        """The container with labels (bare inputs get one class, `normal`, where that makes sense)."""
        if self.labels(data) is None:
            raise InputError(f"{origin}: a GAN scorer needs a {self.container.__name__} (it trains or reuses a "
                             "class-conditional GAN)")
        return data

    # -- the data path ------------------------------------------------------------------------------
    def load(self, spec, base_dir: Path):
        """-> (train, holdout, source, warnings): read, check and split the spec's source."""
        raise NotImplementedError

    def read_input(self, spec, path: Path, base_dir: Path):
        """New data to screen, read with the spec's own source settings."""
        raise NotImplementedError

    def input_chunks(self, spec, path: Path, base_dir: Path) -> "InputChunks":
        """New data to screen as ranges `read(a, b)` (each what `read_input` gives for those items).
        Default: read whole, then slice; adapters override it for formats they can read in parts."""
        return WholeInput(self.read_input(spec, path, base_dir), self.name)

    def save_real(self, work: Path, train, holdout) -> None:
        raise NotImplementedError

    def read(self, run: Path, which: str):
        """train / holdout (real, the run's work folder) or synthetic (its dataset folder)."""
        raise NotImplementedError

    def read_synthetic(self, folder: Path):
        """The synthetic data a dataset folder holds (a run's, or a published or refused version): a polars
        frame for tables, a LabeledImages for images; what `read(run, "synthetic")` and the Python API read."""
        raise NotImplementedError

    def write_synthetic(self, dataset: Path, synthetic, *, random_state: int) -> None:
        raise NotImplementedError

    def fit_options(self, spec, checkpoint_dir: Path) -> dict[str, Any]:
        return {}

    def context(self, spec, train, holdout, synthetic):
        raise NotImplementedError

    def candidate_judge(self, spec, train):
        """`validation.judges.CandidateJudge`: scores a trained generator on the selection split of
        `train` (the select step's judge when a run has several candidates; never the holdout)."""
        raise NotImplementedError

    def item_bytes(self, data) -> float:
        """Bytes one row / image of `data` takes in memory (to bound a sample before it is drawn)."""
        raise NotImplementedError

    def report(self, card: dict, metrics: dict, train, holdout, synthetic, model_meta: dict) -> str:
        """The dataset report: synthetic data, distances and aggregates only (it is published)."""
        raise NotImplementedError

    def review(self, card: dict, metrics: dict, train, holdout, synthetic) -> str | None:
        """A report that shows real data beside synthetic data (never published: written to the private
        review folder outside the dataset), or None when the dataset report needs no such companion."""
        return None


@dataclass(frozen=True)
class WholeInput:
    """Input already in memory, served in ranges (formats without a chunked reader)."""

    data: Any
    modality: str
    streamed: bool = False

    @property
    def n(self) -> int:
        return MODALITIES.get(self.modality).size(self.data)

    def read(self, start: int, stop: int):
        return MODALITIES.get(self.modality).subset(self.data, np.arange(start, stop))

    def take(self, index):
        return MODALITIES.get(self.modality).subset(self.data, np.asarray(index, dtype=int))


InputChunks = Any  # anything with `n`, `streamed`, `read(start, stop)` and `take(index)`; picklable for cluster workers


def adapter_for(data) -> Modality:
    """The adapter whose container (or accepted bare form) `data` is."""
    for _, adapter in MODALITIES.items():
        if adapter.owns(data):
            return adapter
    raise InputError(f"input: {type(data).__name__} is not data synthgen reads "
                     f"(expected one of: {', '.join(a.container.__name__ for _, a in MODALITIES.items())})")


def register(cls: type[Modality]) -> type[Modality]:
    """Register an adapter class under its `name` (adapters are stateless: one instance serves)."""
    MODALITIES.add(cls.name, cls())
    return cls
