"""A gate is only real once it FAILS on known-bad data and passes on known-good data.

Known-bad: a "generator" that returns training rows (privacy must fail), one that shuffles each
column independently (fidelity/utility must fail), uniform noise (quality must fail).
Known-good: fresh real rows, neither train nor the holdout half the gates judge against (a resample of the
judged holdout would be compared with itself: detection and quality could not fail, nor dcr_share). Known-bad
sets that need real rows the model never saw take them from the fresh half too.
"""

import numpy as np
import polars as pl
import pytest

from synthgen.spec import TabularGates
from synthgen.validation.context import ValidationContext
from synthgen.validation.gates import verdict as decide
from synthgen.validation.suite import registered_metrics, run_metrics

METRICS = registered_metrics()
from tests.conftest import resampled, shuffled_columns

DEFAULTS = TabularGates().model_dump()


def _verdict(train, holdout, synthetic):
    results = run_metrics(ValidationContext(train, holdout, synthetic, max_rows=4000))
    verdict = decide(results, DEFAULTS)
    failed = {c.metric for c in verdict.checks if not c.passed}
    return results, verdict, failed


@pytest.fixture(scope="module", params=["arrests", "cancer"])
def split(request, arrests_split, cancer_split):
    return {"arrests": arrests_split, "cancer": cancer_split}[request.param]


def test_copies_of_training_rows_fail_privacy(split):
    train, holdout = split
    copies = resampled(train, len(train), seed=1)
    results, verdict, failed = _verdict(train, holdout, copies)
    assert not verdict.passed
    assert {"exact_copy_excess", "mia_auroc"} <= failed, failed
    assert all(results[m].kind == "privacy" for m in failed)


@pytest.mark.parametrize("name", ["arrests", pytest.param("cancer", marks=pytest.mark.xfail(strict=True, reason=(
    "known gap (found by issue 22's fresh-row test): gx_success_rate has no small-sample allowance; 86 fresh "
    "breast-cancer rows (resampled to the train size) score 0.766-0.821 over six seeds against the 0.8 gate "
    "(0.766 with this seed), the judged 85 holdout rows themselves 0.772: the suite's tolerances (0.25 sd on "
    "means and quantiles) are about 2 standard errors at that size. A resample of the judged holdout passed "
    "by chance. Needed: the real-data noise of the success rate at the run's sizes, as the privacy gates have")))])
def test_fresh_real_rows_pass_every_gate(name, arrests_split, cancer_split):
    train, holdout = {"arrests": arrests_split, "cancer": cancer_split}[name]
    judged, fresh = _judged_and_fresh(holdout)
    results, verdict, failed = _verdict(train, judged, resampled(fresh, len(train), seed=2))
    assert verdict.passed, verdict.reasons
    dcr = results["dcr_share"]   # fresh rows land on a training row as often as the null says (0.5 rescaled)
    assert abs(dcr.value - 0.5) < 3 * dcr.details["standard_error"], dcr.details


def test_independently_shuffled_columns_fail_fidelity(split):
    train, holdout = split
    results, verdict, failed = _verdict(train, holdout, shuffled_columns(train))
    assert not verdict.passed
    assert "tstr_signal_ratio" in failed
    assert results["tstr_signal_ratio"].value < 0.2
    # marginals are perfect, so the shapes stay high while relations collapse
    shapes = results["column_shapes"]
    assert shapes.value >= shapes.details["real_floor"] - 0.02
    assert results["column_pair_trends"].value < results["column_pair_trends"].details["real_floor"]


def test_shuffled_correlated_table_fails_quality_gates_too(cancer_split):
    train, holdout = cancer_split
    _, _, failed = _verdict(train, holdout, shuffled_columns(train))
    assert "detection_auc" in failed


def test_noise_fails_quality(cancer_split):
    train, holdout = cancer_split
    rng = np.random.default_rng(0)
    frame = train.frame.select(
        [pl.Series(c, rng.uniform(-5, 5, len(train)) * train.frame.get_column(c).std() * 10)
         if train.kinds[c] == "numeric" else train.frame.get_column(c) for c in train.columns])
    results, verdict, failed = _verdict(train, holdout, train.with_frame(frame))
    assert {"gx_success_rate", "quality_score", "detection_auc"} <= failed, failed


def test_near_unique_values_copied_are_caught_per_column(cancer_split):
    """Rows are fresh (holdout resample) but one near-unique column copies training values: the
    exact-row check cannot see it, the per-column rare-value check must."""
    train, holdout = cancer_split
    judged, fresh = _judged_and_fresh(holdout)
    syn = resampled(fresh, len(train), seed=3)
    leaked = train.frame.get_column("mean area").sample(len(train), with_replacement=True, seed=4)
    syn = syn.with_frame(syn.frame.with_columns(leaked.alias("mean area")))
    results, verdict, failed = _verdict(train, judged, syn)
    assert results["exact_copy_excess"].value <= DEFAULTS["exact_copy_excess"]
    assert "rare_value_excess" in failed
    assert results["rare_value_excess"].details["worst_column"] == "mean area"


def test_every_metric_declares_its_contract_and_every_gate_has_a_metric():
    for name, cls in METRICS.items():
        assert cls.kind in ("quality", "privacy", "utility")
        assert cls.direction in ("higher", "lower")
    assert set(DEFAULTS) <= set(METRICS.of("tabular"))  # see also tests/conformance/test_metrics.py


def test_flipped_labels_fail_augmentation_no_harm(split):
    """Real feature rows with the label flipped: added to the real training rows they confidently lower
    the holdout AUROC, so the no-harm gate refuses them (with a next step that says so)."""
    train, holdout = split
    judged, fresh = _judged_and_fresh(holdout)
    syn = resampled(fresh, len(train), seed=5)
    labels = syn.frame.get_column(syn.label).cast(pl.String)
    classes = sorted(labels.unique().to_list())
    flipped = labels.replace({classes[0]: classes[1], classes[1]: classes[0]}).cast(syn.frame.schema[syn.label])
    results, verdict, failed = _verdict(train, judged, syn.with_frame(syn.frame.with_columns(flipped.alias(syn.label))))
    assert "augmentation_no_harm" in failed
    assert results["augmentation_no_harm"].value < -0.01
    assert "augmentation" in verdict.next_steps["augmentation_no_harm"]


def test_a_metric_that_cannot_be_measured_fails_its_gate_saying_why():
    from synthgen.validation.metrics import MetricResult

    unmeasured = MetricResult("dcr_share", "privacy", "lower", None, {"not_measurable": "ValueError: boom"})
    verdict = decide({"dcr_share": unmeasured}, {"dcr_share": 0.6})
    assert not verdict.passed and "not measurable (ValueError: boom)" in verdict.reasons[0]
    assert "try:" in verdict.reasons[0]
    # a note alone no longer passes a gate (it did: a None value with any note was waved through)
    noted = MetricResult("dcr_share", "privacy", "lower", None, {"note": "whatever"})
    assert not decide({"dcr_share": noted}, {"dcr_share": 0.6}).passed


@pytest.mark.parametrize("condition", ["label_unpredictable", "few_holdout_images"])
def test_named_not_applicable_conditions_pass_and_say_so(condition):
    from synthgen.validation.gates import NOT_APPLICABLE
    from synthgen.validation.metrics import MetricResult

    result = MetricResult("x", "utility", "higher", None, {"not_applicable": condition})
    verdict = decide({"x": result}, {"x": 0.5})
    assert verdict.passed and verdict.checks[0].note == NOT_APPLICABLE[condition]


def test_label_unpredictable_on_real_data_is_the_named_condition(arrests_split):
    """A label that is noise in the real data too: TSTR has nothing to keep, the gate does not apply."""
    train, holdout = arrests_split
    rng = np.random.default_rng(9)
    noise = lambda t: t.with_frame(t.frame.with_columns(  # noqa: E731
        pl.Series(t.label, rng.permutation(t.frame.get_column(t.label).to_numpy()))))
    results, verdict, _ = _verdict(noise(train), noise(holdout), resampled(noise(holdout), 800, seed=6))
    assert results["tstr_signal_ratio"].value is None
    assert results["tstr_signal_ratio"].details["not_applicable"] == "label_unpredictable"


def test_missing_gated_metric_fails():
    verdict = decide({}, {"dcr_share": 0.6})
    assert not verdict.passed and "dcr_share" in verdict.reasons[0]


def _suggested_sets(modality: str) -> set[str]:
    import re

    from synthgen.spec import ImageGates
    from synthgen.validation.gates import next_step
    from synthgen.validation.metrics import MetricResult

    gates = TabularGates if modality == "tabular" else ImageGates
    out = set()
    for name in gates.model_fields:
        for value, details in ((0.5, {"worst_column": "released"}), (None, {"not_measurable": "x"}), (0.5, {})):
            text = next_step(name, MetricResult(name, "quality", "higher", value, details), {"epochs": 60})
            assert text, name
            out |= set(re.findall(r"--set ([^\s);]+)", text))
    return out


@pytest.mark.parametrize("spec_name", ["arrests", "mnist"])
def test_every_suggested_override_passes_check(spec_name, capsys):
    """A refusal's next steps are only useful if what they suggest can be run as is."""
    from pathlib import Path

    from synthgen.cli import main

    path = Path(__file__).resolve().parents[2] / "schemas" / f"{spec_name}.yaml"
    modality = "tabular" if spec_name == "arrests" else "image"
    suggested = _suggested_sets(modality)
    assert len(suggested) >= 3
    for override in sorted(suggested):
        assert main(["check", str(path), "--set", override]) == 0, (override, capsys.readouterr().err)


def _result(value, se, null=0.5, direction="lower"):
    from synthgen.validation.metrics import MetricResult

    return MetricResult(name="dcr_share", kind="privacy", direction=direction, value=value,
                        details={"standard_error": se, "null_value": null}, seconds=0.0)


def test_small_sample_allowance_follows_the_noise_of_real_data():
    from synthgen.validation.gates import NOISE_Z

    # 49 holdout rows: fresh real data scatters +-0.07 around 0.5, so 0.65 is no evidence of leakage
    small = decide({"dcr_share": _result(0.65, 0.07)}, {"dcr_share": 0.6})
    assert small.passed and small.checks[0].allowance == pytest.approx(0.5 + NOISE_Z * 0.07 - 0.6)
    assert decide({"dcr_share": _result(0.75, 0.07)}, {"dcr_share": 0.6}).reasons[0].count("small-sample allowance")
    assert not decide({"dcr_share": _result(0.75, 0.07)}, {"dcr_share": 0.6}).passed
    # 5,000 rows: the noise sits inside the fixed margin; the threshold is the threshold
    large = decide({"dcr_share": _result(0.61, 0.007)}, {"dcr_share": 0.6})
    assert not large.passed and large.checks[0].allowance == 0.0


def test_fresh_real_rows_of_a_small_table_pass_the_privacy_gates_and_copies_still_fail():
    """300 arrests rows (train 192 / holdout 48) and 60 unseen rows: the fixed thresholds alone refused
    such fresh real data on small suite tables; the noise allowance must not let copies through."""
    from synthgen.data import prepare_table, split_table
    from synthgen.sources.builtin import BUILTIN_TABLES

    table = BUILTIN_TABLES["arrests"]
    frame = table.load().sample(360, seed=4)
    prepared = prepare_table(frame, label=table.label, overrides={}, origin="arrests")
    rest, unseen = split_table(prepared, holdout=60 / 360, random_state=1)
    train, holdout = split_table(rest, holdout=0.2, random_state=0)
    privacy = {k: v for k, v in DEFAULTS.items() if METRICS.get(k).kind == "privacy"}
    fresh = run_metrics(ValidationContext(train, holdout, resampled(unseen, len(train), seed=7)), list(privacy))
    assert decide(fresh, privacy).passed, decide(fresh, privacy).reasons
    copies = run_metrics(ValidationContext(train, holdout, resampled(train, len(train), seed=8)), list(privacy))
    verdict = decide(copies, privacy)
    assert not verdict.passed and "exact_copy_excess" in {c.metric for c in verdict.checks if not c.passed}


def test_five_percent_copies_still_fail_where_real_rows_do_not_repeat(cancer_split):
    """Breast cancer (569 rows of continuous measurements: no real row repeats another): 5% verbatim
    training rows mixed into fresh real rows are still refused with the allowance. (On arrests, where
    56% of holdout rows equal some train row, a 5% copy excess is within the noise of real data: there
    the distance gates and membership inference do the work.)"""
    import polars as pl

    train, holdout = cancer_split
    judged, fresh = _judged_and_fresh(holdout)
    n = len(train)
    mixed = train.with_frame(pl.concat([resampled(train, n // 20, seed=9).frame,
                                        resampled(fresh, n - n // 20, seed=10).frame]))
    results, verdict, failed = _verdict(train, judged, mixed)
    assert "exact_copy_excess" in failed, results["exact_copy_excess"]


def test_a_singleton_category_of_a_low_cardinality_column_is_caught(arrests_split):
    """Known-bad: the synthetic rows are fresh real rows (not train, not the judged holdout), but 15% of them
    carry a category that one training row alone has (in a column of a handful of categories, which the
    per-column check used to skip). Known-good: the same fresh rows without it."""
    train, holdout = arrests_split
    half = len(holdout) // 2
    judged, fresh = (holdout.with_frame(holdout.frame[i]) for i in (slice(0, half), slice(half, None)))
    assert train.frame.get_column("colour").n_unique() < 20
    lone = train.frame.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("Violet"))
                                    .otherwise(pl.col("colour")).alias("colour"))
    train = train.with_frame(lone)
    good = resampled(fresh, 600, seed=2)
    results, _, failed = _verdict(train, judged, good)
    assert "rare_value_excess" not in failed
    rng = np.random.default_rng(0)
    bad_colour = np.where(rng.random(600) < 0.15, "Violet", good.frame.get_column("colour").to_numpy())
    bad = good.with_frame(good.frame.with_columns(pl.Series("colour", bad_colour)))
    results, _, failed = _verdict(train, judged, bad)
    assert "rare_value_excess" in failed and results["rare_value_excess"].details["worst_column"] == "colour"


def _judged_and_fresh(holdout):
    """The holdout split in two: the half the gates judge against, and fresh real rows that are neither
    train nor that half (the known-good side)."""
    half = len(holdout) // 2
    return holdout.with_frame(holdout.frame[:half]), holdout.with_frame(holdout.frame[half:])


def _near_copies(train, n, scale, seed):
    """Training rows with every numeric value moved by `scale` of its column's standard deviation."""
    rng = np.random.default_rng(seed)
    rows = resampled(train, n, seed=seed).frame
    moved = [(pl.col(c) + pl.Series(rng.normal(0, scale * train.frame.get_column(c).std(), n))).cast(train.frame.schema[c])
             for c in train.columns if train.kinds[c] == "numeric" and train.frame.schema[c].is_float()]
    return train.with_frame(rows.with_columns(moved))


DISTANCE_CASES = [
    ("copies", "close_to_train_share"), ("near_copies", "close_to_train_share"), ("near_copies", "dcr_share"),
    ("copies", "dcr_share"),
]


@pytest.mark.parametrize("bad,gate", DISTANCE_CASES)
def test_distance_gates_fail_on_copies_and_near_copies_and_pass_fresh_rows(cancer_split, bad, gate):
    """Known-bad = training rows (verbatim, or with 2% of a standard deviation of noise on every measurement,
    which no exact-match check sees); known-good = fresh real rows that are neither train nor the holdout half
    the gates judge against."""
    train, holdout = cancer_split
    judged, fresh = _judged_and_fresh(holdout)
    gates = {gate: DEFAULTS[gate]}
    good = run_metrics(ValidationContext(train, judged, resampled(fresh, 300, seed=3)), list(gates))
    assert decide(good, gates).passed, decide(good, gates).reasons
    synthetic = resampled(train, 300, seed=4) if bad == "copies" else _near_copies(train, 300, 0.02, seed=4)
    found = run_metrics(ValidationContext(train, judged, synthetic), list(gates))
    failed = {c.metric for c in decide(found, gates).checks if not c.passed}
    assert failed == set(gates), {k: v.value for k, v in found.items()}
    if bad == "near_copies":
        exact = run_metrics(ValidationContext(train, judged, synthetic), ["exact_copy_excess"])
        assert exact["exact_copy_excess"].value <= DEFAULTS["exact_copy_excess"]   # invisible to exact matching


def test_rank_auroc_equals_sklearn_binary_and_one_vs_rest_with_ties():
    """The no-harm bootstrap's AUROC (ranks, 22x faster) must be sklearn's roc_auc_score, ties included."""
    from sklearn.metrics import roc_auc_score

    from synthgen.validation.utility import _auroc

    rng = np.random.default_rng(0)
    for trial in range(60):
        k = 2 + trial % 3
        classes = np.array([f"c{i}" for i in range(k)])
        y = classes[np.r_[np.arange(k), rng.integers(0, k, 40)]]
        proba = rng.random((len(y), k))
        proba = (np.round(proba, 1) + 0.01) if trial % 2 else proba      # ties on every other trial
        proba /= proba.sum(axis=1, keepdims=True)
        renormalised = proba / proba.sum(axis=1, keepdims=True)   # as the sklearn call this replaced was given
        expected = roc_auc_score(y == classes[1], proba[:, 1]) if k == 2 else \
            roc_auc_score(y, renormalised, multi_class="ovr", average="macro", labels=classes)
        assert abs(_auroc(y, proba, classes) - expected) < 1e-12
    assert _auroc(np.array(["a", "a"]), np.ones((2, 2)), np.array(["a", "b"])) == 0.5
