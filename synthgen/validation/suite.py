"""Every built-in metric, loaded (importing a metric module registers its metrics), and the runner."""

from __future__ import annotations

from synthgen.validation import expectations, fidelity, images, privacy, utility  # noqa: F401  (register)
from synthgen.validation.metrics import METRICS, MetricRegistry, MetricResult


def registered_metrics() -> MetricRegistry:
    return METRICS


def metric_groups(modality: str, names: list[str] | None = None) -> list[list[str]]:
    """The metrics of a modality as independent groups, in registry order: the tasks a cluster may run
    side by side. Two metrics that read a cached input in common (`Metric.reads`) are in one group, also
    through a chain (a reads x and y, b reads y: one group), so no worker computes an input twice."""
    groups: list[tuple[set[str], list[str]]] = []
    for name in names or list(METRICS.of(modality)):
        reads, members = set(METRICS.get(name, modality).reads), [name]
        for group in [g for g in groups if g[0] & reads]:
            groups.remove(group)
            reads |= group[0]
            members = group[1] + members
        groups.append((reads, members))
    order = {name: i for i, name in enumerate(names or list(METRICS.of(modality)))}
    return sorted((sorted(members, key=order.get) for _, members in groups), key=lambda m: order[m[0]])


def run_metrics(ctx, names: list[str] | None = None, *, modality: str = "tabular") -> dict[str, MetricResult]:
    """Every metric of the modality (or the named ones) on one shared context."""
    chosen = names or list(METRICS.of(modality))
    return {name: METRICS.get(name, modality)().evaluate(ctx) for name in chosen}
