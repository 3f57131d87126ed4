"""Runs that are safe to schedule, repeat, kill and run side by side (real subprocesses, --no-prefect)."""

import json
import os
import signal
import subprocess
import sys
import time

import polars as pl

from synthgen import pipeline
from synthgen.errors import Unchanged
from tests.conftest import small_spec
from tests.unit.test_image_pipeline import image_spec

CLI = [sys.executable, "-m", "synthgen.cli"]


def _versions(out, name):
    return sorted(p for p in (out / name).iterdir() if p.is_dir())


def test_unchanged_run_exits_0_without_retraining_force_runs_and_keep_prunes(spec_file, tmp_path):
    out = tmp_path / "out"
    spec = spec_file(small_spec(output={"keep": 2}))
    first = pipeline.run_pipeline(spec, out=out)
    try:
        pipeline.run_pipeline(spec, out=out)
        raise AssertionError("an unchanged run must stop")
    except Unchanged as exc:
        assert exc.exit_code == 0 and exc.latest == str(first) and "--force" in str(exc)
    assert _versions(out, "hearts_tiny") == [first] and not (out / ".staging").exists()

    cli = subprocess.run([*CLI, "run", spec, "--no-prefect", "--quiet", "--out", out], capture_output=True,
                         text=True, timeout=300)
    assert cli.returncode == 0 and "unchanged" in cli.stdout and len(_versions(out, "hearts_tiny")) == 1

    second = pipeline.run_pipeline(spec, out=out, force=True)
    card = json.loads((second / "card.json").read_text())
    assert card["reused_model"] == str(first / "model")  # same data and settings: the published model
    third = pipeline.run_pipeline(spec, out=out, force=True)
    assert _versions(out, "hearts_tiny") == [second, third]  # keep: 2 dropped the oldest
    assert (out / "hearts_tiny" / "LATEST").read_text().strip() == third.name

    # a changed source file is not "unchanged"
    from synthgen.sources.builtin import BUILTIN_TABLES

    frame = BUILTIN_TABLES["hearts"].load()
    csv = tmp_path / "hearts.csv"
    frame.write_csv(csv)
    from_file = spec_file(small_spec(source={"path": str(csv)}), "file.yaml")
    before = pipeline.run_pipeline(from_file, out=tmp_path / "f")
    frame.head(frame.height - 5).write_csv(csv)
    after = pipeline.run_pipeline(from_file, out=tmp_path / "f")
    assert after != before and json.loads((after / "card.json").read_text())["reused_model"] is None


def test_four_concurrent_runs_of_one_spec_give_four_intact_versions(spec_file, tmp_path):
    out = tmp_path / "out"
    spec = spec_file(small_spec())
    procs = [subprocess.Popen([*CLI, "run", spec, "--no-prefect", "--quiet", "--force", "--out", out],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in results]
    versions = _versions(out, "hearts_tiny")
    assert len(versions) == 4
    for v in versions:
        card = json.loads((v / "card.json").read_text())
        assert card["version"] == v.name and card["verdict"]["passed"]
        assert pl.read_parquet(v / "data.parquet").height == 200
    assert (out / "hearts_tiny" / "LATEST").read_text().strip() in {v.name for v in versions}
    cards = [json.loads((v / "card.json").read_text()) for v in versions]
    # the model lock: exactly one run trained, the three others waited and reused its model (same key)
    assert sum(card["reused_model"] is None for card in cards) == 1
    assert len({card["model_key"] for card in cards}) == 1
    assert not [p for p in (out / ".staging").glob("*") if p.name != "checkpoints"] if (out / ".staging").exists() else True
    # the catalogue page was rewritten by each run under the output folder's lock: it lists all four versions
    page = (out / "index.html").read_text()
    assert all(v.name in page for v in versions), page


def test_killed_run_leaves_no_dataset_and_the_next_run_resumes_and_cleans_up(spec_file, digit_folder, tmp_path):
    out = tmp_path / "out"
    spec = image_spec({"path": str(digit_folder)})
    spec["model"]["epochs"] = 40
    path = spec_file(spec)
    proc = subprocess.Popen([*CLI, "run", path, "--no-prefect", "--quiet", "--out", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((out / ".staging" / "checkpoints").rglob("last.pt")):
        assert proc.poll() is None and time.time() < deadline, "no checkpoint before the run ended"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "digits_tiny").exists()  # nothing half-published
    stale = [p for p in (out / ".staging").iterdir() if p.is_dir() and p.name not in ("checkpoints", "versions")]
    assert len(stale) == 1 and (stale[0] / "work" / "train.npz").is_file()  # the dead run's real-row copy

    # the next run removes the dead run's folder as it starts, and resumes from the checkpoint
    live = subprocess.Popen([*CLI, "run", path, "--no-prefect", "--quiet", "--out", out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while True:
        folders = [p for p in (out / ".staging").iterdir() if p.is_dir() and p.name not in ("checkpoints", "versions")]
        if not stale[0].exists() and folders:
            break
        assert live.poll() is None and time.time() < deadline, live.communicate()
        time.sleep(0.1)
    (mine,) = folders
    # a live run's folder survives `synthgen clean`
    clean = subprocess.run([*CLI, "clean", out], capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0 and "removed 0" in clean.stdout
    if live.poll() is None:                      # (unless it finished meanwhile: then nothing is left to keep)
        assert mine.exists()
    _, err = live.communicate(timeout=600)
    assert live.returncode == 0, err
    final = next(p for p in (out / "digits_tiny").iterdir() if (p / "card.json").is_file())
    timings = json.loads((final / "card.json").read_text())["model"]["timings"]
    assert timings["resumed_from_epoch"] >= 1 and timings["epochs_done"] == 40
    assert not (out / ".staging").exists()
