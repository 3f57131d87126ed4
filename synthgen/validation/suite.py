"""Every built-in metric, loaded (importing a metric module registers its metrics), and the runner."""

from __future__ import annotations

from synthgen.validation import expectations, fidelity, images, privacy, utility  # noqa: F401  (register)
from synthgen.validation.metrics import METRICS, MetricRegistry, MetricResult


def registered_metrics() -> MetricRegistry:
    return METRICS


def metric_groups(modality: str, names: list[str] | None = None) -> list[list[str]]:
    """The metrics of a modality as independent groups (metrics that share a cached input together,
    `Metric.shares`), in registry order: the tasks a cluster may run side by side."""
    groups: dict[str, list[str]] = {}
    for name in names or list(METRICS.of(modality)):
        groups.setdefault(METRICS.get(name, modality).shares or f"metric:{name}", []).append(name)
    return list(groups.values())


def run_metrics(ctx, names: list[str] | None = None, *, modality: str = "tabular") -> dict[str, MetricResult]:
    """Every metric of the modality (or the named ones) on one shared context."""
    chosen = names or list(METRICS.of(modality))
    return {name: METRICS.get(name, modality)().evaluate(ctx) for name in chosen}
