"""`synthgen deploy` against a real `prefect server start` on 127.0.0.1: the spec's cron schedule
turns into scheduled flow runs on that server."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import tiny_spec

pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "DO_NOT_TRACK": "1", "PREFECT_API_URL": ""}
    env.pop("PREFECT_API_URL")
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.time() + 150
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("prefect server did not start:\n" + (home / "server.log").read_text()[-3000:])
            time.sleep(1)
        yield url, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_deployed_spec_gets_scheduled_runs(prefect_server, spec_file, tmp_path):
    url, env = prefect_server
    spec = spec_file(tiny_spec(schedule={"cron": "*/5 * * * *", "timezone": "UTC"}))
    env = {**env, "PREFECT_API_URL": url}
    done = subprocess.run([sys.executable, "-m", "synthgen.cli", "deploy", str(spec), "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=180, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    deployment_id = done.stdout.split()[1]

    code = f"""
import asyncio, time
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
async def main():
    async with get_client() as client:
        dep = await client.read_deployment("{deployment_id}")
        for _ in range(60):
            runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])))
            scheduled = [r for r in runs if r.state and r.state.is_scheduled()]
            if scheduled:
                print(dep.name, len(scheduled), dep.parameters["spec_path"])
                return
            await asyncio.sleep(1)
        print(dep.name, 0)
asyncio.run(main())
"""
    probe = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    name, count, *rest = probe.stdout.split()
    assert name == "arrests_tiny"
    assert int(count) >= 1
    assert rest == [str(spec.resolve())]


def test_deploy_without_schedule_or_server_is_refused(spec_file, tmp_path):
    from synthgen.cli import main

    assert main(["deploy", str(spec_file(tiny_spec()))]) == 2


def test_sampling_deployment_takes_requests_through_the_api(prefect_server, tmp_path):
    """`synthgen deploy --sampling` registers an unscheduled deployment; a flow run asked for through the
    API carries the caller's dataset, rows and seed (a worker or `prefect deployment run` executes it)."""
    url, env = prefect_server
    env = {**env, "PREFECT_API_URL": url}
    done = subprocess.run([sys.executable, "-m", "synthgen.cli", "deploy", "--sampling", "--datasets", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=180, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    code = """
import asyncio
from prefect.client.orchestration import get_client
async def main():
    async with get_client() as client:
        dep = await client.read_deployment_by_name("sample-dataset/on-request")
        run = await client.create_flow_run_from_deployment(dep.id, parameters={"dataset": "arrests_tiny", "rows": 50, "seed": 3})
        print(dep.schedules == [], dep.parameters["datasets"], run.parameters["dataset"], run.parameters["rows"], run.state.type.value)
asyncio.run(main())
"""
    probe = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["True", str(tmp_path.resolve()), "arrests_tiny", "50", "SCHEDULED"]
