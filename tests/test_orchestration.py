"""Orchestration: a flaky feed is retried then isolated, one run at a time per warehouse, Dask scale-out."""

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import pytest

from flows.common import StageFailed
from jointcast.config import load_settings
from tests.servers import free_port
from tests.test_ingest import _ingest, _query, assert_rows_accounted

# the session's Prefect API, the command in subprocesses, a local Dask cluster
pytestmark = pytest.mark.integration
FEEDS = ("city_police_cad", "county_fire_cad", "ems_epcr", "transit_police_rms")

HOLDER = """
import sys, time
from pathlib import Path
from warehouse.lock import run_lock

with run_lock(Path(sys.argv[1]), "test holder"):
    print("holding", flush=True)
    while True:
        time.sleep(60)
"""


def _orchestrate(config: Path, **options) -> Path:
    """Append an [orchestration] table to a workspace's config."""
    text = config.read_text(encoding="utf-8")
    assert "[orchestration]" not in text
    lines = ["", "[orchestration]", *(f"{key} = {json.dumps(value)}" for key, value in options.items())]
    config.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    return config


def _files(root: Path, feed_id: str) -> int:
    return sum(1 for path in (root / "feeds" / feed_id).iterdir() if path.is_file())


def _batches(config: Path) -> list[tuple]:
    """(feed_id, content_sha256, status) of every batch; none when there is no warehouse yet."""
    if not load_settings(config).warehouse_path.exists():
        return []
    return _query(config, "SELECT feed_id, content_sha256, status FROM meta.batches ORDER BY batch_id")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "jointcast", *args]


def _env() -> dict[str, str]:
    """The real command's environment: the test session's Prefect API, a wide console."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", "COLUMNS": "160"}


def _start(*args: str) -> subprocess.Popen:
    pipe = subprocess.PIPE
    return subprocess.Popen(_cli(*args), stdout=pipe, stderr=pipe, text=True, env=_env())


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cli(*args), capture_output=True, text=True, timeout=600, env=_env())


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _settled(client, flow_run_id: UUID, done) -> list:
    """The flow run's task runs once ``done(runs)`` holds: task runs reach the API through events."""
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId

    only = TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id]))
    deadline = time.monotonic() + 60
    while True:
        runs = client.read_task_runs(task_run_filter=only)
        if done(runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.25)


def _final(runs, count: int) -> bool:
    return len(runs) == count and all(run.state_type and run.state.is_final() for run in runs)


def test_a_feed_whose_server_is_down_is_retried_then_fails_alone_naming_it_while_the_others_load(
    prefect, workspace
):
    from prefect.client.orchestration import get_client

    from flows.ingest import ingest_flow

    config = workspace / "jointcast.toml"
    text = config.read_text(encoding="utf-8")
    local = 'uri = "feeds/county_fire_cad/*.jsonl"'
    assert local in text
    remote = f"http://127.0.0.1:{free_port()}/county_fire_cad/*.jsonl"  # nothing listens there
    config.write_text(text.replace(local, f'uri = "{remote}"'), encoding="utf-8")
    _orchestrate(config, retries=2, retry_delay_seconds=0)

    state = ingest_flow(settings=load_settings(str(config)), return_state=True)

    assert state.is_failed()
    assert "county_fire_cad" in state.message
    with pytest.raises(StageFailed) as failure:
        state.result()
    [problem] = failure.value.problems
    assert problem.startswith(f"feed county_fire_cad: cannot list '{remote}'")
    others = [feed for feed in FEEDS if feed != "county_fire_cad"]
    received = _query(
        config, "SELECT feed_id, count(*) FROM meta.batches WHERE status = 'received' GROUP BY 1"
    )
    assert dict(received) == {feed: _files(workspace, feed) for feed in others}
    assert _query(config, "SELECT count(*) FROM meta.batches WHERE status <> 'received'") == [(0,)]
    for feed in others:
        assert _query(config, f"SELECT count(*) > 0 FROM raw.{feed}") == [(True,)]

    with get_client(sync_client=True) as client:
        runs = _settled(client, state.state_details.flow_run_id, lambda runs: _final(runs, len(FEEDS)))
        by_feed = {run.name.removeprefix("ingest-").rsplit("-", 1)[0]: run for run in runs}
        assert set(by_feed) == set(FEEDS), [run.name for run in runs]
        flaky = by_feed["county_fire_cad"]
        assert flaky.state_type.value == "FAILED"
        assert flaky.run_count == 3  # retries + 1
        history = [s.name for s in client.read_task_run_states(flaky.id)]
        assert history.count("Retrying") == 2, history  # with no delay, a retry runs at once
        for feed in others:
            assert by_feed[feed].state_type.value == "COMPLETED" and by_feed[feed].run_count == 1


def _waiting_ingest(client, config: str):
    """The CLI's ingest flow run on ``config`` once the API shows it Running (the lock is inside it)."""
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    deadline = time.monotonic() + 120
    while True:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["ingest"])))
        running = [
            r
            for r in runs
            if (r.parameters.get("settings") or {}).get("source_file") == str(Path(config).resolve())
            and r.state_type.value == "RUNNING"
        ]
        if running or time.monotonic() > deadline:
            return running
        time.sleep(0.25)


def test_a_busy_warehouse_refuses_a_run_naming_the_holder_and_a_waiting_run_goes_on_once_it_is_free(
    prefect, workspace
):
    """Timeout 0: exit 1, one error line, nothing written. With lock_timeout_seconds: the run waits, then loads."""
    from prefect.client.orchestration import get_client

    config = str(workspace / "jointcast.toml")
    files = sum(_files(workspace, feed) for feed in FEEDS)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(load_settings(config).warehouse_path)],
        stdout=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    waiting = None
    try:
        assert holder.stdout.readline().strip() == "holding"
        refused = _run("ingest", "--config", config)
        assert refused.returncode == 1, refused.stderr
        [error] = _errors(refused.stderr)
        assert "is in use by another run" in error and f"(test holder, pid {holder.pid}," in error
        assert "Traceback" not in refused.stderr
        assert _batches(Path(config)) == []
        assert not (workspace / "raw").exists()

        _orchestrate(Path(config), lock_timeout_seconds=300)
        waiting = _start("ingest", "--config", config)
        with get_client(sync_client=True) as client:
            assert _waiting_ingest(client, config), "the second ingest never started"
        assert waiting.poll() is None and _batches(Path(config)) == []  # it waits: nothing written yet
    finally:
        holder.kill()
        holder.wait()
        if waiting is not None and waiting.poll() is None:
            try:
                waiting.wait(timeout=300)
            except subprocess.TimeoutExpired:
                waiting.kill()
    _, stderr = waiting.communicate()
    assert waiting.returncode == 0, stderr
    batches = _batches(Path(config))
    assert len(batches) == files and {status for *_, status in batches} == {"received"}


def _new_files(stderr: str) -> int:
    """How many files an ingest run says it received (its one `ingest in ...` line), else 0."""
    found = re.search(r"ingest in [^:]*: \d+ feeds, (\d+) new files", stderr)
    return int(found.group(1)) if found else 0


def test_two_ingests_started_together_load_every_file_exactly_once(prefect, workspace):
    """One loads; the other is refused (warehouse in use) or, had it come later, finds nothing new."""
    config = workspace / "jointcast.toml"
    runs = [_start("ingest", "--config", str(config)) for _ in range(2)]
    outputs = [run.communicate(timeout=600)[1] for run in runs]

    files = sum(_files(workspace, feed) for feed in FEEDS)
    received = [_new_files(stderr) for stderr in outputs]
    assert sorted(received) == [0, files], outputs
    loader, other = sorted(range(2), key=lambda i: -received[i])
    assert runs[loader].returncode == 0, outputs[loader]
    if runs[other].returncode != 0:
        [error] = _errors(outputs[other])
        assert runs[other].returncode == 1, outputs[other]
        assert f"is in use by another run (ingest, pid {runs[loader].pid}," in error
    batches = _batches(config)
    assert len(batches) == len({(feed, sha) for feed, sha, _ in batches}) == files
    _ingest(config)  # validate what was received
    assert_rows_accounted(config)
    assert _query(config, "SELECT count(*) FROM meta.batches WHERE status <> 'loaded'") == [(0,)]
    assert _query(config, "SELECT count(*) - count(DISTINCT incident_key) FROM core.incidents") == [(0,)]


@pytest.mark.slow  # the whole pipeline, training included
def test_the_pipeline_on_a_local_dask_cluster_fits_on_it_and_runs_agencies_as_dask_tasks(
    prefect, small_workspace, caplog
):
    """Train fits each fold's model and the final one over the cluster's workers with LightGBM's Dask
    interface, forecast's agencies run as tasks on worker processes, and it all publishes."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    from flows.pipeline import pipeline_flow

    config = small_workspace / "jointcast.toml"
    agencies = {agency.id for agency in load_settings(config).agencies}
    text = config.read_text(encoding="utf-8")
    assert "horizon_hours = 336" in text and "backtest_folds = 3" in text
    # A day ahead keeps it quick; two folds make two backtest tasks for the two workers.
    text = text.replace("horizon_hours = 336", "horizon_hours = 24").replace(
        "backtest_folds = 3", "backtest_folds = 2"
    )
    config.write_text(text, encoding="utf-8")
    _orchestrate(config, task_runner="dask", dask_workers=2)
    caplog.set_level(logging.INFO)

    state = pipeline_flow(settings=load_settings(str(config)), return_state=True)

    assert state.is_completed(), state.message
    said = [r.getMessage() for r in caplog.records]
    created = [m for m in said if m.startswith("Creating a new Dask cluster")]
    assert len(created) == 1 and "LocalCluster" in created[0], said  # forecast's
    assert any(m.startswith("dask: a local cluster of 2 workers") for m in said), said  # train's
    fits = [m for m in said if m.startswith("train: fitting on ") and "on 2 Dask workers" in m]
    assert len(fits) == 3, said  # two folds, then the final model
    # Task runs executed in this process log here; the ingest stage's did, the parts must not have.
    here = {getattr(r, "task_run_id", None) for r in caplog.records}
    assert any(getattr(r, "task_name", "").startswith("ingest-") for r in caplog.records)
    with get_client(sync_client=True) as client:
        subflows = {
            run.flow_id: run
            for run in client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["train", "forecast"])),
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[state.state_details.flow_run_id])
                ),
            )
        }
        names = {client.read_flow(flow_id).name: run for flow_id, run in subflows.items()}
        assert set(names) == {"train", "forecast"}
        for stage, parts in (("train", 2), ("forecast", len(agencies))):
            runs = _settled(client, names[stage].id, lambda runs, n=parts: _final(runs, n))
            named = sorted(run.name.rsplit("-", 1)[0] for run in runs)  # Prefect adds "-<n>"
            if stage == "train":  # task runs named after what they do: the fold, the agency
                assert len(named) == parts and all(n.startswith("fold from ") for n in named), named
            else:
                assert named == [f"agency {agency}" for agency in sorted(agencies)], named
            assert all(run.state_type.value == "COMPLETED" for run in runs), stage
            if stage == "forecast":  # a fold's task runs here, its fit on the workers (above)
                assert not here & {str(run.id) for run in runs}, f"{stage} parts ran in the test process"
    demand = _query(config, "SELECT agency_id, count(*) FROM forecast.demand GROUP BY 1")
    assert {agency for agency, rows in demand if rows > 0} == agencies
