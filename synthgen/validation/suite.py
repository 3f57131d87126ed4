"""Every built-in metric, loaded (importing a metric module registers its metrics), and the runner."""

from __future__ import annotations

from synthgen.validation import expectations, fidelity, images, privacy, utility  # noqa: F401  (register)
from synthgen.validation.metrics import METRICS, MetricRegistry, MetricResult


def registered_metrics() -> MetricRegistry:
    return METRICS


def run_metrics(ctx, names: list[str] | None = None, *, modality: str = "tabular") -> dict[str, MetricResult]:
    """Every metric of the modality (or the named ones) on one shared context."""
    chosen = names or list(METRICS.of(modality))
    return {name: METRICS.get(name, modality)().evaluate(ctx) for name in chosen}
