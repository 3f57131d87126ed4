"""The whole data path without Prefect: publish, quarantine, atomicity, card and report."""

import json
from pathlib import Path

import polars as pl
import pytest

from synthgen import pipeline
from synthgen.errors import GateFailed, InputError
from synthgen.publish import MODELS_DIR
from tests.conftest import tiny_spec


def _dataset_dirs(out):
    return sorted(p for p in out.glob("*/*") if p.is_dir() and not p.parts[-2].startswith((".", "_")))


def test_published_dataset_is_complete_and_holds_no_real_rows(spec_file, tmp_path):
    out = tmp_path / "out"
    final = pipeline.run_pipeline(spec_file(tiny_spec()), out=out)
    assert final.parent == out / "arrests_tiny"
    names = {p.name for p in final.iterdir()}
    assert {"data.parquet", "card.json", "card.md", "report.html", "gx_results.json", "metrics.json",
            "model"} <= names
    assert (out / "arrests_tiny" / "LATEST").read_text().strip() == final.name
    assert not (out / ".staging").exists()

    data = pl.read_parquet(final / "data.parquet")
    assert data.height == 600 and "released" in data.columns
    card = json.loads((final / "card.json").read_text())
    for key in ("spec_hash", "source", "model", "metrics", "verdict", "sample", "timings", "versions"):
        assert key in card
    assert card["source"]["source"]["fingerprint"].startswith("sha256:")
    assert card["verdict"]["passed"] and card["rows"] == 600
    assert set(card["sample"]["acceptance"]) == {"Yes", "No"}
    assert card["versions"]["ctgan"] and card["model"]["params"]["epochs"] == 2
    gx = json.loads((final / "gx_results.json").read_text())
    assert gx["checkpoint"]["evaluated"] == len(gx["suite"]) > 10

    html = (final / "report.html").read_text()
    assert "<img src=\"data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html  # works offline, no CDN
    for metric in card["metrics"]:
        assert metric in html

    # no file of the published dataset holds the real train/holdout tables
    assert not list(final.rglob("train.parquet")) and not list(final.rglob("holdout.parquet"))
    # one rule for every published file (a card is as readable as its data); private areas are the owner's
    modes = {p.name: p.stat().st_mode & 0o777 for p in final.iterdir() if p.is_file()}
    assert len(set(modes.values())) == 1 and modes["card.json"] & 0o044, modes
    assert (out / ".staging").stat().st_mode & 0o777 == 0o700 if (out / ".staging").exists() else True
    assert (out / ".models").stat().st_mode & 0o777 == 0o700


def test_failed_gate_publishes_nothing_and_quarantines_evidence(spec_file, tmp_path):
    out = tmp_path / "out"
    spec = spec_file(tiny_spec())
    with pytest.raises(GateFailed) as err:
        pipeline.run_pipeline(spec, ["gates.quality_score=0.999"], out=out)
    assert err.value.exit_code == 3
    assert "quality_score" in err.value.reasons[0]
    assert _dataset_dirs(out) == []
    quarantined = list((out / "_quarantine" / "arrests_tiny").iterdir())
    assert len(quarantined) == 1
    reasons = json.loads((quarantined[0] / "reasons.json").read_text())
    assert "quality_score" in reasons["reasons"][0]
    assert (quarantined[0] / "report.html").exists()


def test_bad_input_leaves_nothing_behind(spec_file, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(InputError, match="label column 'nope' not found"):
        pipeline.run_pipeline(spec_file(tiny_spec(label="nope")), out=out)
    assert not any(out.rglob("*.parquet"))
    assert not (out / ".staging").exists()


def test_a_killed_run_leaves_no_dataset(spec_file, tmp_path):
    """Stop after validation (as a kill would): the dataset path must not exist."""
    out = tmp_path / "out"
    run = pipeline.start_run(spec_file(tiny_spec()), out=out)
    for step in pipeline.STEPS:
        step.fn(run)
    assert (run.path / "dataset" / "data.parquet").exists()
    assert _dataset_dirs(out) == []
    assert not (out / "arrests_tiny").exists()
    final = pipeline.finish(run)
    assert _dataset_dirs(out) == [final]


def test_existing_version_is_not_overwritten(spec_file, tmp_path):
    out = tmp_path / "out"
    spec = spec_file(tiny_spec(output={"version": "v1"}))
    pipeline.run_pipeline(spec, out=out)
    with pytest.raises(InputError, match="already exists"):
        pipeline.run_pipeline(spec, out=out)


def test_csv_source_relative_to_spec(spec_file, tmp_path):
    from synthgen.sources.builtin import BUILTIN_TABLES

    BUILTIN_TABLES["arrests"].load().head(1500).write_csv(tmp_path / "arrests.csv")
    final = pipeline.run_pipeline(spec_file(tiny_spec(source={"path": "arrests.csv"})), out=tmp_path / "o")
    card = json.loads((final / "card.json").read_text())
    assert card["source"]["source"]["kind"] == "csv" and card["source"]["train_rows"] == 1200


def test_a_failure_after_training_keeps_the_model_and_the_rerun_reuses_it(spec_file, tmp_path, monkeypatch, capsys):
    from synthgen.modalities.tabular import TabularModality

    out = tmp_path / "out"
    spec = spec_file(tiny_spec())

    def broken_report(*args, **kwargs):
        raise RuntimeError("report renderer broke")

    with monkeypatch.context() as m:
        m.setattr(TabularModality, "report", broken_report)
        with pytest.raises(RuntimeError, match="report renderer broke"):
            pipeline.run_pipeline(spec, out=out)
    kept = list((out / MODELS_DIR / "arrests_tiny").glob("*/generator.json"))
    assert len(kept) == 1 and _dataset_dirs(out) == []
    assert not (out / ".staging").exists() or not any((out / ".staging").iterdir())
    capsys.readouterr()
    # other gates and sample sizes are not training-relevant: the same model is reused
    final = pipeline.run_pipeline(spec_file({**tiny_spec(), "sample": {"rows": 500}}), out=out)
    assert "reusing the model" in capsys.readouterr().err
    card = json.loads((final / "card.json").read_text())
    assert card["reused_model"] == str(kept[0].parent) and card["rows"] == 500
    assert not kept[0].exists()  # published: the kept copy is gone, the model lives in the dataset
    # a training-relevant change trains anew
    pipeline.run_pipeline(spec_file(tiny_spec(model={**tiny_spec()["model"], "epochs": 3})), out=out)
    assert "reusing" not in capsys.readouterr().err


def test_a_sample_that_falls_short_is_quarantined_with_its_evidence(spec_file, tmp_path):
    """Refused at sampling (a stated minimum acceptance the 2-epoch model cannot meet): the same evidence as
    a gate refusal, not a discarded run: card, reasons naming the class and the knobs, what was drawn, the
    report and the model; nothing published, no staging left."""
    out = tmp_path / "out"
    with pytest.raises(GateFailed) as err:
        pipeline.run_pipeline(spec_file(tiny_spec()), ["sample.min_acceptance=1"], out=out)
    assert err.value.exit_code == 3 and _dataset_dirs(out) == []
    assert any("sample_complete[" in r and "sample.min_acceptance=" in r for r in err.value.reasons)
    folder = Path(err.value.quarantine)
    assert folder.parent == out / "_quarantine" / "arrests_tiny" and not (out / ".staging").exists()
    assert {"card.json", "card.md", "report.html", "data.parquet", "reasons.json", "model"} <= {p.name for p in folder.iterdir()}
    card = json.loads((folder / "card.json").read_text())
    checks = card["verdict"]["checks"]
    assert checks and all(c["kind"] == "sampling" and not c["passed"] and c["value"] < 1 for c in checks)
    short = card["sample"]["refusal"]["shortfall"]
    assert set(short) == {c["metric"][len("sample_complete["):-1] for c in checks}
    drawn = pl.read_parquet(folder / "data.parquet")
    assert drawn.height == card["rows"] < 600                      # what was drawn, short classes included
    for cls, record in card["sample"]["per_class"].items():        # what each class cost
        assert {"acceptance", "candidates", "budget", "kept"} <= set(record)
        assert drawn.filter(pl.col("released") == cls).height == record["kept"]
    reasons = json.loads((folder / "reasons.json").read_text())
    assert reasons["next_steps"] and reasons["reasons"] == err.value.reasons
    # the trained model was not thrown away: the next run (with a reachable budget) reuses it
    final = pipeline.run_pipeline(spec_file(tiny_spec()), out=out)
    assert json.loads((final / "card.json").read_text())["reused_model"]


def test_sample_requests_are_checked_before_training(spec_file, tmp_path):
    out = tmp_path / "out"
    for overrides, message in ((["sample.per_class={Maybe: 3}"], r"classes \['Maybe'\] do not exist"),
                               (["sample.per_class={Yes: 0, No: 0}", "sample.rows=null"], "0 rows of every class"),
                               (["sample.per_class={Yes: 700}"], "asks for 700 rows but sample.rows is 600"),
                               (["sample.rows=900000000000"], r"sample\.rows=900000000000 would need")):
        with pytest.raises(InputError, match=message):
            pipeline.run_pipeline(spec_file(tiny_spec()), overrides, out=out)
        assert not (out / ".models").exists() and _dataset_dirs(out) == []
    assert not (out / ".staging").exists() or not any((out / ".staging").iterdir())


def test_candidates_are_each_trained_judged_on_the_selection_split_and_the_best_published(spec_file, tmp_path):
    """Two configurations: both trained (each into the model store), each judged by the table judge on
    the selection split carved from train (the holdout never reaches it), and the one it ranks higher is
    the published model; the card records every candidate's point and the criterion."""
    from synthgen.training.selection import rank

    out = tmp_path / "out"
    first = json.loads(json.dumps({**tiny_spec()["model"], "epochs": 1}))   # no shared lists: no YAML aliases
    second = json.loads(json.dumps({**tiny_spec()["model"], "epochs": 4, "embedding_dim": 32}))
    final = pipeline.run_pipeline(spec_file(tiny_spec(model=first, candidates=[second])), out=out)
    card = json.loads((final / "card.json").read_text())
    points = [c["judged"] for c in card["candidates"]]
    assert [c["params"]["epochs"] for c in card["candidates"]] == [1, 4]
    assert all(p is not None and {"score", "detection_auc", "quality_score"} <= set(p) for p in points)
    chosen = card["chosen_by"]["chosen"]
    assert chosen == max(points, key=rank)["at"] and "selection split" in card["chosen_by"]["criterion"]
    assert card["model"]["params"]["epochs"] == card["candidates"][chosen]["params"]["epochs"]
    assert card["model_key"] == card["candidates"][chosen]["key"] != card["candidates"][1 - chosen]["key"]
    assert not list((out / MODELS_DIR).rglob("generator.json"))   # published: no candidate left in the store
    # candidates share the seed their selection split is carved with, or the spec is refused
    with pytest.raises(InputError, match=r"candidates\[0\]\.random_state"):
        pipeline.run_pipeline(spec_file(tiny_spec(model=first, candidates=[{**second, "random_state": 1}])), out=out)


def test_auto_trains_argn_first_and_keeps_it_where_the_selection_split_cannot_rank():
    """`model: auto` on a table: argn then CTGAN. A selection split under MIN_JUDGE_ROWS rows cannot tell
    candidates apart (hearts: 303 rows), so the run keeps the first; arrests' split (~420 rows) can."""
    from synthgen.spec import validate_spec
    from synthgen.validation.judges import MIN_JUDGE_ROWS, table_candidate_judge
    from tests.conftest import builtin_split

    spec = validate_spec({"modality": "tabular", "name": "t", "source": {"builtin": "hearts"}, "label": "target"},
                         origin="test")
    assert [m.name for m in spec.candidate_models()] == ["argn", "ctgan"]
    small, _ = builtin_split("hearts")
    large, _ = builtin_split("arrests")
    assert "fewer than the 200" in table_candidate_judge(small, 0).unresolved and MIN_JUDGE_ROWS == 200
    assert table_candidate_judge(large, 0).unresolved is None


def test_candidates_are_ranked_on_the_auroc_their_sets_lose_not_on_a_ratio_of_noise():
    """The suite's car table (TRTR AUROC 0.59): the snapshot score's signal ratio put a CTGAN whose set a
    detector always told from real above an argn far closer to real; the candidate score does not."""
    from synthgen.training.selection import rank
    from synthgen.validation.judges import _candidate_point

    ctgan = {"at": 1, "score": 1.149, "quality_score": 0.856, "detection_auc": 1.0, "tstr_signal_ratio": 0.79,
             "tstr_auroc_lost": 0.02}
    argn = {"at": 0, "score": 0.715, "quality_score": 0.905, "detection_auc": 0.716, "tstr_signal_ratio": 0.03,
            "tstr_auroc_lost": 0.088}
    assert max([argn, ctgan], key=rank) is ctgan                     # the snapshot score
    points = [_candidate_point(argn), _candidate_point(ctgan)]
    assert max(points, key=rank)["at"] == 0 and points[1]["snapshot_score"] == 1.149
