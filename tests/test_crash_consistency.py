"""Crash consistency by fault injection: a command killed (SIGKILL) at each of jointcast.faults.POINTS,
then run again once, leaves the workspace as an uninterrupted run does.

Each case copies a workspace prepared up to the stage the point belongs to, runs that stage's
command with ``JOINTCAST_KILL_AT`` set (it must die there: a point never reached fails), then
`jointcast run` and the export without it, and compares with the uninterrupted run: the same
core rows and batches, the same features, the same published numbers; every publication's
logged checksums match its tables; report pages and marts show the latest publication; the
export is whole; the run lock is free; no temporary file is left; and the temporary Prefect
server the killed command started is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from jointcast.config import load_settings
from jointcast.faults import KILL_AT, POINTS
from warehouse.lock import run_lock
from warehouse.published import PUBLISHED

# subprocess CLI runs with Prefect's temporary server, and they train
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]  # `make test-faults`

COMMAND_OF_STAGE = {"ingest": "ingest", "validate": "validate", "features": "features", "train": "train",
                    "publish": "forecast", "export": "export"}  # fmt: skip
"""The command a point's stage is killed in (publication happens in `forecast`)."""
STAGES = ("ingest", "validate", "features", "train", "publish")
"""The stages in order: each one's workspace is the previous one's after its command."""
AGENCY = "city_police"
CASE = "JOINTCAST_FAULT_CASE"  # marks a case's processes (and its Prefect server's) in /proc


def _jointcast(root: Path, verb: str, env: dict) -> subprocess.CompletedProcess:
    config = str(root / "jointcast.toml")
    extra = (
        ["--agency", AGENCY, "--format", "csv", "--out", str(root / "exports" / AGENCY)]
        if verb == "export"
        else []
    )
    return subprocess.run(
        [sys.executable, "-m", "jointcast", "--config", config, verb, *extra],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def _env(home: Path, case: str, kill_at: str | None = None) -> dict:
    """A case's environment: the module's Prefect home, Prefect's temporary server, its marker."""
    env = {k: v for k, v in os.environ.items() if k not in (KILL_AT, "PREFECT_API_URL")}
    env |= {CASE: case, "COLUMNS": "160", "PREFECT_HOME": str(home)}
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = (
        "120"  # a new home's database, on a busy machine
    )
    return env | ({KILL_AT: kill_at} if kill_at else {})


def _run_ok(root: Path, verb: str, env: dict) -> None:
    done = _jointcast(root, verb, env)
    assert done.returncode == 0, f"{verb}: {done.stdout[-2000:]}{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def prepared(small_feeds, tmp_path_factory):
    """Workspaces made once: the simulated feeds (one backtest fold), each stage's input, and the
    uninterrupted reference (`run`, then the export)."""
    folder = tmp_path_factory.mktemp("faults")
    env = _env(folder / "prefect-home", "prepare")
    base = folder / "base"
    shutil.copytree(small_feeds, base)
    config = base / "jointcast.toml"
    config.write_text(config.read_text().replace("backtest_folds = 3", "backtest_folds = 1"))
    ready = {"ingest": base}
    for earlier, stage in zip(STAGES, STAGES[1:], strict=False):
        ready[stage] = folder / f"before-{stage}"
        shutil.copytree(ready[earlier], ready[stage])
        _run_ok(ready[stage], COMMAND_OF_STAGE[earlier], env)
    reference = folder / "reference"
    shutil.copytree(base, reference)
    _run_ok(reference, "run", env)
    _run_ok(reference, "export", env)
    ready["export"] = reference
    return ready, _state(reference), folder / "prefect-home"


@pytest.mark.parametrize("point", POINTS)
def test_a_command_killed_at_a_commit_boundary_is_made_whole_by_the_next_run(prepared, point, tmp_path):
    ready, expected, home = prepared
    stage = point.split(".")[0]
    root = tmp_path / "workspace"
    shutil.copytree(ready[stage], root)
    case = uuid.uuid4().hex

    killed = _jointcast(root, COMMAND_OF_STAGE[stage], _env(home, case, point))

    assert killed.returncode == -9, (
        f"{point} was never reached: {killed.stdout[-1500:]}{killed.stderr[-1500:]}"
    )
    assert _live_processes(case) == [], "the killed command's temporary Prefect server outlived it"
    _run_ok(root, "run", _env(home, case))
    _run_ok(root, "export", _env(home, case))
    assert _state(root) == expected
    _assert_whole(root)
    with run_lock(load_settings(str(root / "jointcast.toml")).warehouse_path, "check", 0):
        pass  # the run lock is free
    assert _live_processes(case) == []


def _live_processes(case: str, wait_seconds: float = 15.0) -> list[int]:
    """Processes still carrying the case's marker (the command, its Prefect server), after a wait."""
    deadline = time.monotonic() + wait_seconds
    marker = f"{CASE}={case}".encode()
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if marker in (entry / "environ").read_bytes().split(b"\0"):
                        found.append(int(entry.name))
                except OSError:
                    continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _state(root: Path) -> dict:
    """What an interrupted and an uninterrupted run must agree on (ids and times left out; numbers to
    six decimals, as sums in another order differ in the last bits)."""
    settings = load_settings(str(root / "jointcast.toml"))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        state = {
            "batches": con.execute(
                """
                SELECT feed_id, regexp_extract(source_uri, '[^/]+$'), content_sha256, rows_read, rows_loaded,
                    rows_quarantined, status
                FROM meta.batches ORDER BY ALL
                """
            ).fetchall(),
            "core": _digest(
                con,
                """
                SELECT i.* EXCLUDE (batch_id), regexp_extract(b.source_uri, '[^/]+$') AS source_file
                FROM core.incidents i JOIN meta.batches b USING (batch_id) ORDER BY incident_key
                """,
            ),
            "quarantine": con.execute(
                "SELECT feed_id, row_number, reasons FROM quality.quarantine ORDER BY ALL"
            ).fetchall(),
            "validation_runs": con.execute(
                "SELECT feed_id, success, count(*), count(docs_uri) FROM quality.validation_runs GROUP BY ALL "
                "ORDER BY ALL"
            ).fetchall(),
            "demand_panel": _digest(con, "SELECT * FROM features.demand ORDER BY ALL"),
            "publications": con.execute("SELECT count(*) FROM meta.publications").fetchone()[0],
            "forecast": _digest(
                con,
                "SELECT agency_id, area_id, bucket_start, horizon, round(mean, 6), round(p10, 6), round(p50, 6), "
                "round(p90, 6) FROM forecast.demand ORDER BY ALL",
            ),
            "staffing": _digest(
                con,
                "SELECT agency_id, area_id, shift_start, round(expected_incidents, 6), "
                "round(workload_hours_p90, 6), recommended_units, round(fte, 6) FROM forecast.staffing ORDER BY ALL",
            ),
        }
    manifest = json.loads((root / "exports" / AGENCY / "manifest.json").read_text())
    state["export"] = (manifest["publication_id"], {name: f["rows"] for name, f in manifest["files"].items()})
    return state


def _digest(con, query: str) -> str:
    rows = con.execute(f"SELECT string_agg(CAST(t AS VARCHAR), chr(10)) FROM ({query}) t").fetchone()[0]
    return hashlib.sha256((rows or "").encode()).hexdigest()


def _assert_whole(root: Path) -> None:
    """Every publication's checksums match its tables; pages, marts and the export show the latest
    publication; nothing temporary is left."""
    from warehouse.agency_keys import require_key
    from warehouse.marts import opens_with
    from warehouse.pages import page_publication

    settings = load_settings(str(root / "jointcast.toml"))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        latest, logged = con.execute(
            "SELECT publication_id, checksums FROM meta.publications ORDER BY publication_id DESC LIMIT 1"
        ).fetchone()
        for table in PUBLISHED:
            rows = f"string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY {table.key})"
            (checksum,) = con.execute(
                f"SELECT sha256(coalesce({rows}, '')) FROM forecast.{table.name} t"
            ).fetchone()
            assert json.loads(logged)[table.name] == checksum, table.name
    for agency_id in settings.agency_ids:
        assert page_publication(settings.report_path(agency_id)) == str(latest)
        assert opens_with(settings.mart_path(agency_id), require_key(settings, agency_id), agency_id, latest)
    export = root / "exports" / AGENCY
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["publication_id"] == latest
    assert {p.name for p in export.iterdir()} == {*manifest["files"], "manifest.json"}
    for name, described in manifest["files"].items():
        assert hashlib.sha256((export / name).read_bytes()).hexdigest() == described["sha256"], name
    from mlflow import MlflowClient

    versions = MlflowClient(settings.tracking_uri).search_model_versions(
        f"name = '{settings.mlflow.registered_model}'"
    )
    undecided = [v.version for v in versions if "decision" not in v.tags]
    assert undecided == [], "registered versions with no gate decision (champion, challenger or interrupted)"
    leftovers = [
        p
        for p in root.rglob("*")
        if p.name.endswith((".tmp", ".renumbered")) or p.name.startswith(".export-")
    ]
    assert leftovers == []
