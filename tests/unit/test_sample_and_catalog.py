"""Serving published models: `synthgen sample` round trip, `list` and `show` (text and JSON)."""

import json

import polars as pl

from synthgen import pipeline
from synthgen.cli import main
from synthgen.sources.builtin import BUILTIN_TABLES
from tests.conftest import small_spec


def test_sample_round_trip_list_show_and_refusals(spec_file, tmp_path, capsys):
    frame = BUILTIN_TABLES["hearts"].load()
    csv = tmp_path / "hearts.csv"
    frame.write_csv(csv)
    out = tmp_path / "out"
    first = pipeline.run_pipeline(spec_file(small_spec(source={"path": str(csv)})), out=out)

    assert main(["sample", "hearts_tiny", "--datasets", str(out), "--rows", "150", "--per-class", "1=100",
                 "--seed", "11", "--no-prefect"]) == 0
    (second,) = [p for p in (out / "hearts_tiny").iterdir() if p.is_dir() and p != first]
    card = json.loads((second / "card.json").read_text())
    assert card["sampled_from"]["version"] == first.name and card["sampled_from"]["model_of"] == first.name
    assert card["reused_model"] == str(first / "model") and card["verdict"]["passed"]
    assert card["class_counts"]["synthetic"] == {"0": 50, "1": 100}
    assert card["spec"]["sample"]["random_state"] == 11 and card["rows"] == 150
    data = pl.read_parquet(second / "data.parquet")
    assert data.height == 150 and not data.equals(pl.read_parquet(first / "data.parquet").head(150))
    assert (out / "hearts_tiny" / "LATEST").read_text().strip() == second.name
    before = json.loads((first / "card.json").read_text())
    assert card["metrics"].keys() == before["metrics"].keys()  # the same gates judged it
    capsys.readouterr()

    assert main(["list", "--datasets", str(out)]) == 0
    text = capsys.readouterr().out
    assert first.name in text and second.name in text and "LATEST" in text and f"sampled from {first.name}" in text
    assert main(["list", "--datasets", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["version"] for r in rows] == [first.name, second.name] and rows[1]["latest"]
    assert all(r["gates_passed"] == r["gates"] > 0 for r in rows)
    assert main(["show", "hearts_tiny", "--datasets", str(out), "--version", first.name, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["card"]["version"] == first.name and not shown["latest"]
    assert main(["show", "hearts_tiny", "--datasets", str(out)]) == 0
    assert "dcr_share" in capsys.readouterr().out

    # refusals: unknown dataset / version, and a source that changed since the model was trained
    assert main(["sample", "nope", "--datasets", str(out), "--rows", "10", "--no-prefect"]) == 2
    assert "hearts_tiny" in capsys.readouterr().err
    assert main(["show", "hearts_tiny", "--datasets", str(out), "--version", "v9"]) == 2
    frame.head(frame.height - 3).write_csv(csv)
    assert main(["sample", "hearts_tiny", "--datasets", str(out), "--rows", "50", "--no-prefect"]) == 2
    err = capsys.readouterr().err
    assert "source changed" in err and "Traceback" not in err
    assert len([p for p in (out / "hearts_tiny").iterdir() if p.is_dir()]) == 2
    assert not (out / ".staging").exists()
