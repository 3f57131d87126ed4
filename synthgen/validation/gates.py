"""Gate verdicts: thresholds from the spec by metric name, directions from the metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from synthgen.validation.metrics import MetricResult


@dataclass
class GateCheck:
    metric: str
    kind: str
    value: float | None
    threshold: float
    direction: str
    passed: bool

    @property
    def reason(self) -> str:
        op = ">=" if self.direction == "higher" else "<="
        shown = "not computed" if self.value is None else f"{self.value:.4f}"
        return f"{self.kind} gate {self.metric}: {shown} (needs {op} {self.threshold})"


@dataclass
class Verdict:
    passed: bool
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.checks if not c.passed]

    def as_dict(self) -> dict:
        return {"passed": self.passed, "reasons": self.reasons,
                "checks": [asdict(c) for c in self.checks]}


def judge(results: dict[str, MetricResult], thresholds: dict[str, float | None]) -> Verdict:
    """A metric with a threshold passes when its value is on the good side of it. A gated metric
    that could not be computed (value None) passes only if its details say why (e.g. a label that
    real data cannot predict either); a gated metric that is missing altogether fails."""
    checks = []
    for name, threshold in thresholds.items():
        if threshold is None:
            continue
        result = results.get(name)
        if result is None:
            checks.append(GateCheck(name, "unknown", None, threshold, "higher", False))
            continue
        if result.value is None:
            passed = "note" in result.details
        elif result.direction == "higher":
            passed = result.value >= threshold
        else:
            passed = result.value <= threshold
        checks.append(GateCheck(name, result.kind, result.value, threshold, result.direction, passed))
    return Verdict(all(c.passed for c in checks), checks)
