"""Gate verdicts: thresholds from the spec by metric name, directions from the metrics.

A gated metric that could not be measured FAILS, saying why and what to do. The only exceptions are
the named conditions in NOT_APPLICABLE, where the gate's question has no answer on this data (a
metric sets `details["not_applicable"]` to one of the names); the README lists them. Every failed
gate carries a next step that fits its value (`next_step`), with `--set` overrides that pass
`synthgen check`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from synthgen.validation.metrics import MetricResult

# A metric whose value is noisy on small data reports what fresh real data would score
# (`details["null_value"]`: 0.5 for a DCR share or an attack's AUROC, 0.05 for the share below a 5th
# percentile) and that value's sampling noise at this run's sizes (`details["standard_error"]`). The gate
# then refuses only beyond max(threshold, null_value + NOISE_Z * standard_error): the fixed threshold
# where the data is large enough for it to mean something, the noise level of real data where it is not.
# NOISE_Z = 3 because a verdict is about ten gates at once: at 2 standard errors fresh real data would be
# refused by one of them about one run in five. Measured by bench/bench_suite.py: with fixed thresholds
# alone, fresh real rows (an unseen split) failed close_to_train_share, rare_value_excess and dcr_share
# on tables of 300-350 rows; on a few thousand rows the noise is below the fixed margins and nothing
# changes (copies of training rows still fail, tests/unit/test_gates.py).
NOISE_Z = 3.0

NOT_APPLICABLE = {
    "label_unpredictable": "the label is barely predictable from the real data either (real-data model "
                           "near chance on the holdout), so there is no signal for synthetic data to keep",
    "few_holdout_images": "fewer than 10 holdout images: too few for a Fréchet distance",
}


@dataclass
class GateCheck:
    metric: str
    kind: str
    value: float | None
    threshold: float
    direction: str
    passed: bool
    note: str = ""         # why a value is missing (not measurable / does not apply)
    next_step: str = ""    # what to try when the gate failed
    allowance: float = 0.0  # small-sample allowance added to the threshold (NOISE_Z standard errors)

    @property
    def reason(self) -> str:
        op = ">=" if self.direction == "higher" else "<="
        shown = f"not measurable ({self.note})" if self.value is None else f"{self.value:.4f}"
        needs = f"{op} {self.threshold}" + (f" {'-' if self.direction == 'higher' else '+'} {self.allowance:.4f} "
                                             "small-sample allowance" if self.allowance else "")
        text = f"{self.kind} gate {self.metric}: {shown} (needs {needs})"
        if self.note and self.value is not None:   # a check that explains its value (sampling)
            text += f": {self.note}"
        return f"{text}; try: {self.next_step}" if self.next_step else text


@dataclass
class Verdict:
    passed: bool
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.checks if not c.passed]

    @property
    def next_steps(self) -> dict[str, str]:
        return {c.metric: c.next_step for c in self.checks if not c.passed and c.next_step}

    def as_dict(self) -> dict:
        return {"passed": self.passed, "reasons": self.reasons, "next_steps": self.next_steps,
                "checks": [asdict(c) for c in self.checks]}


def _epochs(context: dict, factor: float) -> str:
    epochs = context.get("epochs")
    return str(max(1, int(round(epochs * factor)))) if epochs else ("200" if factor > 1 else "20")


def next_step(metric: str, result: MetricResult | None, context: dict) -> str:
    """What to try for a failed gate, fitted to the value. `context`: facts of the run (`epochs`)."""
    longer = f"train longer (--set model.epochs={_epochs(context, 2)})"
    shorter = f"train for fewer epochs (--set model.epochs={_epochs(context, 0.5)}) or give it more real data"
    details = result.details if result is not None else {}
    if result is None:
        return "the metric is missing: check the spec's gates for a typo"
    if result.value is None:
        return f"{details.get('not_measurable', 'the metric could not be computed')}; more holdout data " \
               "(--set split.holdout=0.3) or fewer classes (--set split.rare_classes=merge) usually fixes it"
    worst = details.get("worst_column")
    advice = {
        "gx_success_rate": f"{longer}; gx_results.json lists the expectations the synthetic data missed",
        "quality_score": f"{longer}; the report's per-column plots show which columns drift",
        "detection_auc": f"{longer}; check the column typing in the card and drop ID-like columns "
                         "(columns.<name>.type: drop in the spec)",
        "tstr_signal_ratio": f"{longer}; a label with many rare classes learns poorly: --set split.rare_classes=merge",
        "augmentation_uplift": f"{longer}, or sample fewer synthetic rows (--set sample.rows=1000)",
        "augmentation_no_harm": "do not use this synthetic data for augmentation: it lowers a model's holdout "
                                f"score; {longer}, or sample fewer synthetic rows (--set sample.rows=1000)",
        "exact_copy_excess": f"{shorter}; check that no near-unique column is typed categorical",
        "dcr_share": f"{shorter}",
        "close_to_train_share": f"{shorter}",
        "mia_auroc": f"{shorter}; check that no near-unique column is typed categorical",
        "rare_value_excess": (f"column {worst!r} reproduces values seen only in train: declare it numeric "
                              f"(--set columns.{worst}.type=numeric) if it is a quantity, or drop it "
                              f"(--set columns.{worst}.type=drop)") if worst else shorter,
        "label_fidelity_ratio": f"{longer}; balance the classes (--set sample.balance=true) and look at the "
                                "per-class ratios in metrics.json; less latent variety helps fidelity "
                                "(--set model.truncation=0.5)",
        "fd_ratio": f"{longer}",
        "coverage": f"{longer}; more variety per class: --set model.truncation=1.0",
        "tstr_chance_ratio": f"{longer}; check that every class is sampled (--set sample.balance=true)",
        "memorization_share": f"{shorter}; or augment the real images while training "
                              "(--set model.diffaugment=translation,cutout)",
    }
    return advice.get(metric, longer)


def _allowance(result: MetricResult, threshold: float) -> float:
    """How far the noise of real data at this size reaches past the threshold (0 when it does not)."""
    se, null = result.details.get("standard_error"), result.details.get("null_value")
    if not se or null is None:
        return 0.0
    if result.direction == "higher":
        return max(0.0, threshold - (null - NOISE_Z * se))
    return max(0.0, null + NOISE_Z * se - threshold)


def verdict(results: dict[str, MetricResult], thresholds: dict[str, float | None],
          context: dict | None = None) -> Verdict:
    """A metric with a threshold passes when its value is on the good side of it. A gated metric that
    could not be measured (value None) fails, unless its details name a NOT_APPLICABLE condition; a
    gated metric that is missing altogether fails."""
    context = context or {}
    checks = []
    for name, threshold in thresholds.items():
        if threshold is None:
            continue
        result = results.get(name)
        if result is None:
            checks.append(GateCheck(name, "unknown", None, threshold, "higher", False, "no such metric",
                                    next_step(name, None, context)))
            continue
        note = ""
        allowance = _allowance(result, threshold)
        if result.value is None:
            condition = result.details.get("not_applicable")
            passed = condition in NOT_APPLICABLE
            note = NOT_APPLICABLE[condition] if passed else \
                result.details.get("not_measurable") or result.details.get("note") or "no value"
        elif result.direction == "higher":
            passed = result.value >= threshold - allowance
        else:
            passed = result.value <= threshold + allowance
        checks.append(GateCheck(name, result.kind, result.value, threshold, result.direction, passed, note,
                                "" if passed else next_step(name, result, context), round(allowance, 6)))
    return Verdict(all(c.passed for c in checks), checks)


def sampling_verdict(refusal: dict) -> Verdict:
    """A run whose sample fell short of its counts is refused on that alone: one failed check per short
    class (`sample_complete[<class>]`: the share of the class's rows drawn, needs 1), carrying what the
    class cost and the knobs that help. No metric is computed on an incomplete sample."""
    checks = []
    for cls, record in refusal["shortfall"].items():
        share = record["kept"] / record["rows"] if record["rows"] else 0.0
        checks.append(GateCheck(f"sample_complete[{cls}]", "sampling", round(share, 4), 1.0, "higher", False,
                                note=record.get("message", ""),
                                next_step=" or ".join(record.get("knobs") or [])
                                or "train longer (model.steps) or lower sample.min_acceptance"))
    return Verdict(False, checks)
