"""Fan-out on a real dask.distributed LocalCluster (two worker processes on 127.0.0.1)."""

import json
import os
import subprocess
import sys

import polars as pl

from synthgen import pipeline

from synthgen.cluster import MAX_THREADS_ENV, cluster, fan_out, thread_cap, worker_name
from tests.conftest import TINY_ARGN, small_spec


def _square(x):
    return x * x


def _fan(n):
    """A task that waits on tasks of its own (what a spec run does with its metrics)."""
    return fan_out(_square, list(range(n)), name="square")


def test_tasks_that_wait_on_tasks_do_not_deadlock_two_single_thread_workers():
    with cluster(workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        caps = client.run(thread_cap)
        assert set(caps.values()) == {max(1, (os.cpu_count() or 1) // 2)}
        assert set(client.run(lambda: os.environ[MAX_THREADS_ENV]).values()) == {str(caps.popitem()[1])}
        # both single-thread workers are busy with a waiting task; their pieces still run
        outer = [client.submit(_fan, 6, pure=False) for _ in range(2)]
        results = client.gather(outer, errors="raise")
    for result in results:
        assert [value for value, _ in result] == [i * i for i in range(6)]
    assert len({w for result in results for _, w in result}) == 2
    assert fan_out(_square, [2, 3]) == [(4, "local"), (9, "local")] and worker_name() == "local"


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "synthgen.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_run_workers_spreads_specs_metrics_and_classes_and_matches_one_process(spec_file, tmp_path):
    a = spec_file(small_spec(), "a.yaml")
    # b has two candidates: each is a task of its own (trained in parallel when workers are free)
    b = spec_file(small_spec(name="hearts_tiny_b", candidates=[{"name": "argn", **TINY_ARGN, "random_state": 0}]),
                  "b.yaml")
    bad = spec_file(small_spec(name="broken", label="no_such_column"), "bad.yaml")
    spread = _cli("run", a, b, bad, "--workers", "2", "--no-prefect", "--quiet", "--out", tmp_path / "spread",
                  cwd=tmp_path)
    assert spread.returncode == 2, spread.stderr  # the worst of the specs: the bad one, refused naming it
    assert "no_such_column" in spread.stderr and "Traceback" not in spread.stderr
    assert spread.stdout.count("published") == 2

    cards = {p.parent.parent.name: json.loads(p.read_text()) for p in (tmp_path / "spread").glob("*/*/card.json")}
    assert set(cards) == {"hearts_tiny", "hearts_tiny_b"}
    workers = {w for card in cards.values() for w in card["tasks"].values()}
    assert len(workers) >= 2 and "local" not in workers
    two = cards["hearts_tiny_b"]
    assert [c["name"] for c in two["candidates"]] == ["ctgan", "argn"] and two["chosen_by"]
    assert {"train:0", "train:1"} <= set(two["tasks"]) and "local" not in {c["worker"] for c in two["candidates"]}
    assert all(c["judged"] and c["train_s"] > 0 for c in two["candidates"])
    for card in cards.values():
        assert {"train-generator", "validate", "sample:0", "sample:1"} <= set(card["tasks"])
        assert sum(key.startswith("metrics:") for key in card["tasks"]) >= 4

    pipeline.run_pipeline(a, out=tmp_path / "single")  # the same spec in this one process
    alone = json.loads(next((tmp_path / "single").glob("hearts_tiny/*/card.json")).read_text())
    assert set(alone["tasks"].values()) == {"local"}
    assert alone["metrics"] == cards["hearts_tiny"]["metrics"]
    frames = [pl.read_parquet(next((tmp_path / d).glob("hearts_tiny/*/data.parquet"))) for d in ("single", "spread")]
    assert frames[0].equals(frames[1])


def test_an_existing_tls_scheduler_is_joined_and_insecure_or_wrong_addresses_are_refused(spec_file, tmp_path, capsys):
    """End to end on a running TLS LocalCluster (dask's temporary certificates, written to files as a team
    would hand them over): the run joins it after probing that the workers share the output folder (the
    probe files are gone after). The same scheduler without the certificates, a plain tcp:// scheduler on
    another host, nothing listening, and --cluster with --workers are refused before anything runs (exit 2,
    saying why)."""
    from distributed import LocalCluster
    from distributed.security import Security

    from synthgen.cli import main

    security = Security.temporary()
    files = {}
    for option, pem in (("--tls-ca", security.tls_ca_file), ("--tls-cert", security.tls_client_cert),
                        ("--tls-key", security.tls_client_key)):
        files[option] = tmp_path / f"{option[6:]}.pem"
        files[option].write_text(pem)
    tls = [str(v) for pair in files.items() for v in pair]
    spec = spec_file(small_spec())
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", protocol="tls",
                      security=security, dashboard_address=None) as running:
        address = running.scheduler_address
        assert address.startswith("tls://")
        assert main(["run", str(spec), "--cluster", address, *tls, "--no-prefect", "--quiet",
                     "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
        card = json.loads(next((tmp_path / "out").glob("hearts_tiny/*/card.json")).read_text())
        assert set(card["tasks"].values()) == {"0"}                        # every task on the one worker
        assert not list((tmp_path / "out").glob(".synthgen-probe-*"))     # the probe files are gone
        capsys.readouterr()
        assert main(["run", str(spec), "--cluster", address, "--no-prefect", "--out", str(tmp_path / "o2")]) == 2
        assert "--tls-ca" in capsys.readouterr().err
    assert main(["run", str(spec), "--cluster", "tcp://192.0.2.7:8786", "--no-prefect", "--out", str(tmp_path / "o3")]) == 2
    err = capsys.readouterr().err
    assert "--insecure" in err and "run code beside the real data" in err
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()
    assert main(["run", str(spec), "--cluster", "tcp://127.0.0.1:9", "--workers", "2"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["run", str(spec), "--cluster", "tcp://127.0.0.1:9", "--no-prefect"]) == 2
    assert "no dask scheduler" in capsys.readouterr().err
