"""No path outside the output folder, whatever a spec, a pointer file or an argument says; pruning removes
only this dataset's own versions; a version name is taken by one run at a time."""

import json
import subprocess
import sys

import pytest

from synthgen import pipeline, publish
from synthgen.errors import GateFailed, InputError
from synthgen.cli import main
from tests.conftest import small_spec

CLI = [sys.executable, "-m", "synthgen.cli"]


@pytest.mark.parametrize("version", ["/tmp/elsewhere/v1", "../../x", "a/b", "a..b", ".hidden", "_quarantine", ""])
def test_check_refuses_versions_that_are_not_plain_names(spec_file, version, capsys):
    assert main(["check", str(spec_file(small_spec(output={"version": version})))]) == 2
    assert "output.version" in capsys.readouterr().err
    # the same value through --set is refused too
    assert main(["check", str(spec_file(small_spec())), "--set", f"output.version={version or '?'}"]) == 2


@pytest.mark.parametrize("dataset", ["_quarantine/hearts_tiny", "../x", "/etc", "hearts_tiny/../../x"])
def test_sample_refuses_paths_as_dataset_names_without_a_traceback(dataset, tmp_path):
    done = subprocess.run([*CLI, "sample", dataset, "--datasets", str(tmp_path), "--rows", "5", "--no-prefect"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "not a plain name" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_sample_never_serves_a_refused_version(spec_file, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(GateFailed) as err:
        pipeline.run_pipeline(spec_file(small_spec()), ["gates.quality_score=0.9999"], out=out)
    refused = err.value.quarantine.split("/")[-1]
    for version in (refused, f"../_quarantine/hearts_tiny/{refused}"):
        with pytest.raises(InputError):
            pipeline.sample_pipeline("hearts_tiny", out, version=version, rows=10)
    with pytest.raises(InputError, match="not a plain name"):
        pipeline.sample_pipeline("_quarantine", out, rows=10)


def test_keep_prunes_only_this_datasets_versions(spec_file, tmp_path):
    out = tmp_path / "out"
    spec = spec_file(small_spec(output={"keep": 1}))
    first = pipeline.run_pipeline(spec, out=out)
    root = out / "hearts_tiny"
    (root / "screening" / "v1").mkdir(parents=True)                   # screening reports live here
    (root / "notes").mkdir()
    (root / "notes" / "card.json").write_text(json.dumps({"dataset": "hearts_tiny", "version": "other"}))
    foreign = root / "20000101T000000000000Z"                         # a folder whose card names another dataset
    foreign.mkdir()
    (foreign / "card.json").write_text(json.dumps({"dataset": "else", "version": foreign.name, "created": "2000"}))
    second = pipeline.run_pipeline(spec, out=out, force=True)
    assert not first.exists() and second.exists()
    assert (root / "screening" / "v1").is_dir() and (root / "notes").is_dir() and foreign.is_dir()
    assert not list(root.glob(".pruned-*"))


def test_a_fixed_version_is_taken_once(spec_file, tmp_path):
    out = tmp_path / "out"
    spec = spec_file(small_spec(output={"version": "v1"}))
    pipeline.run_pipeline(spec, out=out)
    with pytest.raises(InputError, match="'v1' of 'hearts_tiny' already exists"):
        pipeline.run_pipeline(spec, out=out, force=True)
    with pytest.raises(GateFailed):                                   # refused into quarantine as v2 ...
        pipeline.run_pipeline(spec, ["output.version=v2", "gates.quality_score=0.9999"], out=out, force=True)
    with pytest.raises(InputError, match=r"'v2' of 'hearts_tiny' already exists \(refused, in quarantine\)"):
        pipeline.run_pipeline(spec, ["output.version=v2"], out=out, force=True)    # ... so v2 is taken
    assert not (out / ".staging").exists() or not list((out / ".staging").glob("hearts_tiny-*"))


def test_a_version_name_is_reserved_while_its_run_lives(tmp_path):
    out = tmp_path / "out"
    live = publish.create_staging(out, "ds", "v1")
    with pytest.raises(InputError, match="being written by another run"):
        publish.create_staging(out, "ds", "v1")
    other = publish.create_staging(out, "ds", "v2")                  # another version is free
    publish.discard(live)
    again = publish.create_staging(out, "ds", "v1")                  # released with its run
    # a reservation left by a dead run (no lock held, folder gone) is taken over
    publish.discard(again)
    (out / publish.STAGING / publish.RESERVED).mkdir(parents=True, exist_ok=True)
    (out / publish.STAGING / publish.RESERVED / "ds@v1").write_text("ds-v1-deadbeef")
    taken = publish.create_staging(out, "ds", "v1")
    for run in (taken, other):
        publish.discard(run)
    assert not (out / publish.STAGING).exists() or not list((out / publish.STAGING).rglob("ds@*"))


def test_a_latest_pointer_that_names_a_path_is_not_followed(tmp_path):
    from synthgen.catalog import latest_card

    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "LATEST").write_text("../../etc\n")
    with pytest.raises(InputError, match="not a plain name"):
        latest_card(tmp_path, "ds")


def test_clean_removes_half_written_folders_of_dead_writers_only(tmp_path):
    """A screening (or a model store copy) killed mid-write leaves a hidden folder beside its destination;
    its writer's lock is free, so `synthgen clean` removes it. One still being written stays."""
    from synthgen.atomic import WRITING, atomic_directory

    out = tmp_path / "out"
    dead = out / "ds" / "screening" / ".v1.abcd1234"
    dead.mkdir(parents=True)
    (dead / WRITING).touch()
    (dead / "scores.parquet").write_bytes(b"real items")
    with atomic_directory(out / "ds" / "screening" / "v2") as live:
        (live / "scores.parquet").write_bytes(b"being written")
        done = subprocess.run([*CLI, "clean", str(out)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "removed 1" in done.stdout
        assert not dead.exists() and live.exists()
    assert (out / "ds" / "screening" / "v2" / "scores.parquet").is_file()
    assert not (out / "ds" / "screening" / "v2" / WRITING).exists()
