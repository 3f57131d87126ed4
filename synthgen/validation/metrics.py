"""The metric contract and registry.

Each metric declares `name`, `kind` (quality | privacy | utility) and `direction`
(higher | lower is better) and one method, `compute(ctx) -> MetricResult`. The shared
`ValidationContext` replaces the (real, synthetic, holdout) arguments so that expensive views
(distances, encodings, the TRTR model) are computed once for all metrics. Gates read thresholds
by metric name; no code checks names to special-case a metric.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from synthgen.registry import Registry
from synthgen.validation.context import ValidationContext

METRICS: Registry = Registry("metric")


@dataclass
class MetricResult:
    name: str
    kind: str
    direction: str
    value: float | None
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Metric:
    name: ClassVar[str]
    kind: ClassVar[Literal["quality", "privacy", "utility"]]
    direction: ClassVar[Literal["higher", "lower"]]
    modality: ClassVar[str] = "tabular"

    def compute(self, ctx: ValidationContext) -> tuple[float | None, dict[str, Any]]:
        raise NotImplementedError

    def evaluate(self, ctx: ValidationContext) -> MetricResult:
        start = time.perf_counter()
        value, details = self.compute(ctx)
        value = None if value is None else float(value)
        return MetricResult(self.name, self.kind, self.direction, value, details,
                            time.perf_counter() - start)


def registered_metrics() -> Registry:
    """The registry with every built-in metric loaded (importing a module registers its metrics)."""
    from synthgen.validation import expectations, fidelity, images, privacy, utility  # noqa: F401

    return METRICS


def run_metrics(ctx: ValidationContext, names: list[str] | None = None, *,
                modality: str = "tabular") -> dict[str, MetricResult]:
    registry = registered_metrics()
    chosen = names or [n for n, cls in registry.items() if cls.modality == modality]
    return {name: METRICS.get(name)().evaluate(ctx) for name in chosen}
