"""The metric contract and registry (the metrics themselves live in fidelity.py, privacy.py, ...,
and are loaded by `synthgen.validation.suite`; this module imports none of them).

Each metric declares `name`, `kind` (quality | privacy | utility), `direction` (higher | lower is
better) and its `modality`, and one method, `compute(ctx) -> (value, details)`. The shared context
(ValidationContext, ImageValidationContext) replaces the (real, synthetic, holdout) arguments so
that expensive views (distances, encodings, the TRTR model) are computed once for all metrics.
Gates read thresholds by metric name within a modality; no code checks names to special-case a
metric: a metric declares the files it writes beside the dataset (`artifacts`) and the report
sections its details feed (`sections`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from synthgen.registry import Registry


class MetricRegistry(Registry):
    """Metrics are named within their modality: `dcr_share` of tables and of images are two metrics
    that measure the same thing, each gated by its modality's `gates.dcr_share`."""

    def register(self, name: str):
        def decorate(cls):
            cls.name = name
            return self.add(f"{cls.modality}/{name}", cls)

        return decorate

    def of(self, modality: str) -> dict[str, type["Metric"]]:
        return {cls.name: cls for _, cls in self.items() if cls.modality == modality}

    def get(self, name: str, modality: str = "tabular"):  # noqa: D102
        return super().get(f"{modality}/{name}")


METRICS: MetricRegistry = MetricRegistry("metric")


@dataclass
class MetricResult:
    name: str
    kind: str
    direction: str
    value: float | None
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    sections: list[str] = field(default_factory=list)  # report sections fed by `details`

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def share_standard_error(p: float, *sizes: int) -> float:
    """Sampling noise of a share whose real-data value is `p`, estimated from samples of these sizes
    (the holdout a percentile or neighbour set comes from, the distinct synthetic rows judged)."""
    return float(np.sqrt(sum(p * (1 - p) / max(n, 1) for n in sizes)))


def auroc_standard_error(n_pos: int, n_neg: int) -> float:
    """Standard error of an AUROC of 0.5 (no signal) with these class sizes (Hanley & McNeil 1982)."""
    return float(np.sqrt((n_pos + n_neg + 1) / (12 * max(n_pos, 1) * max(n_neg, 1))))


def paired_bootstrap_bound(statistic, n: int, rng: np.random.Generator, *, rounds: int = 200,
                           level: float = 0.95) -> tuple[float | None, dict[str, Any]]:
    """One-sided upper `level` bound of `statistic(index)` (a score difference on the same resampled
    holdout items for both models) over `rounds` bootstrap resamples; resamples where the statistic
    is undefined (NaN, e.g. one class only) are skipped."""
    full = float(statistic(np.arange(n)))
    draws = []
    for _ in range(rounds):
        value = statistic(rng.integers(0, n, n))
        if np.isfinite(value):
            draws.append(float(value))
    if len(draws) < rounds // 2:
        return None, {"not_measurable": f"only {len(draws)} of {rounds} bootstrap resamples of the {n} holdout "
                                        "items could be scored", "difference": full}
    return float(np.quantile(draws, level)), {"difference": full, "level": level, "rounds": rounds,
                                              "lower_bound": float(np.quantile(draws, 1 - level))}


class Metric:
    name: ClassVar[str]
    kind: ClassVar[Literal["quality", "privacy", "utility"]]
    direction: ClassVar[Literal["higher", "lower"]]
    modality: ClassVar[str] = "tabular"
    #: report sections this metric's details feed (e.g. "closest_pairs")
    sections: ClassVar[tuple[str, ...]] = ()
    #: the expensive cached inputs of the context this metric reads (the nearest-neighbour distances, the
    #: TRTR model, the judge network, ...): metrics that read one in common run as one task on a cluster
    #: (`suite.metric_groups`), so no input is computed twice; none: a task of its own
    reads: ClassVar[tuple[str, ...]] = ()

    def compute(self, ctx) -> tuple[float | None, dict[str, Any]]:
        raise NotImplementedError

    def evaluate(self, ctx) -> MetricResult:
        start = time.perf_counter()
        try:
            value, details = self.compute(ctx)
        except Exception as exc:  # noqa: BLE001 - a metric that fails on this data must not lose the run
            value, details = None, {"not_measurable": f"{self.name} failed on this data: "
                                                      f"{type(exc).__name__}: {exc}"}
        value = None if value is None else float(value)
        return MetricResult(self.name, self.kind, self.direction, value, details,
                            time.perf_counter() - start, list(self.sections))

    def artifacts(self, result: MetricResult) -> dict[str, Any]:
        """Files (name -> JSON content) to write beside the dataset; may slim `result.details` down
        to a pointer at them. Default: none."""
        return {}
