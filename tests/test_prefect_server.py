"""Against a real `prefect server`: the pipeline's flow runs and the served, scheduled deployments."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flows.deployments import DEPLOYMENTS
from jointcast.config import load_settings
from tests.servers import free_port

# a real `prefect server`, and `jointcast run` trains the model
pytestmark = [pytest.mark.integration, pytest.mark.slow]
STAGES = {"pipeline", "ingest", "validate", "features", "train", "forecast", "publish"}


def _wait(check, what: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


@pytest.fixture
def prefect_server(tmp_path):
    """A real Prefect server on a free loopback port with its own PREFECT_HOME; yields its env."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
        "COLUMNS": "160",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait(
            lambda: httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).status_code == 200, "the server"
        )
        yield env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _post(env, path: str, body: dict | None = None):
    response = httpx.post(f"{env['PREFECT_API_URL']}{path}", json=body or {}, timeout=30)
    response.raise_for_status()
    return response.json()


def test_jointcast_run_and_serve_against_a_real_prefect_server(prefect_server, small_workspace):
    env, config = prefect_server, small_workspace / "jointcast.toml"
    run = subprocess.run(
        [sys.executable, "-m", "jointcast", "run", "--config", str(config)],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]

    flows = {f["id"]: f["name"] for f in _post(env, "/flows/filter")}
    runs = _post(env, "/flow_runs/filter")
    states = {flows[r["flow_id"]]: r["state_type"] for r in runs}
    assert set(states) >= STAGES
    assert {states[name] for name in STAGES} == {"COMPLETED"}
    [pipeline] = [r for r in runs if flows[r["flow_id"]] == "pipeline"]
    children = [r for r in runs if r["parent_task_run_id"] is not None]
    assert {flows[r["flow_id"]] for r in children} == STAGES - {"pipeline"}
    assert pipeline["parameters"]["settings"]["source_file"] == str(config.resolve())
    assert pipeline["name"].startswith(f"pipeline {config.parent.name} ")  # named, not Prefect's random name
    artifacts = {a["key"] for a in _post(env, "/artifacts/filter")}
    assert {"data-docs", "model", "publication"} <= artifacts
    assert "nothing to do" not in run.stdout

    again = subprocess.run(
        [sys.executable, "-m", "jointcast", "--config", str(config), "run"],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.startswith("nothing to do: ingest: no new files")
    assert len(_post(env, "/flow_runs/filter")) == len(runs)  # no Prefect run at all

    served = subprocess.Popen(
        [sys.executable, "-m", "jointcast", "serve", "--config", str(config)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    scheduled_runs = {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}
    try:
        deployments = _wait(
            lambda: (found := _post(env, "/deployments/filter")) and len(found) == len(DEPLOYMENTS) and found,
            "the deployments",
        )
        # the server's scheduler fills in each deployment's coming runs
        scheduled = _wait(
            lambda: (
                len(found := {r["deployment_id"] for r in _post(env, "/flow_runs/filter", scheduled_runs)})
                == len(DEPLOYMENTS)
                and found
            ),
            "scheduled runs of every deployment",
        )
    finally:
        os.killpg(served.pid, signal.SIGINT)
        served.wait(timeout=60)
    schedules = load_settings(config).orchestration.schedules
    expected = {
        "ingest-validate": schedules.ingest,
        "features-forecast-publish": schedules.publish,
        "train": schedules.train,
        "monitor": schedules.monitor,
    }
    assert {d["name"]: d["schedules"][0]["schedule"]["cron"] for d in deployments} == expected
    assert all(d["schedules"][0]["active"] for d in deployments)
    assert {d["name"]: d["parameters"] for d in deployments} == {
        name: {"config": str(config.resolve()), "part": part} for name, (part, _, _) in DEPLOYMENTS.items()
    }
    assert all(d["global_concurrency_limit"]["limit"] == 1 for d in deployments)
    assert scheduled == {d["id"] for d in deployments}


def test_deploy_registers_the_deployments_for_a_work_pool_on_a_real_server(prefect_server, small_workspace):
    env, config = prefect_server, small_workspace / "jointcast.toml"
    _post(env, "/work_pools/", {"name": "jointcast", "type": "process"})

    deployed = subprocess.run(
        [sys.executable, "-m", "jointcast", "--config", str(config), "deploy", "--work-pool", "jointcast"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert deployed.returncode == 0, deployed.stderr[-3000:]
    found = _post(env, "/deployments/filter")
    assert {d["name"] for d in found} == set(DEPLOYMENTS)
    assert {d["work_pool_name"] for d in found} == {"jointcast"}
    assert {d["entrypoint"] for d in found} == {"flows.deployments.scheduled_flow"}
