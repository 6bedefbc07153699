"""A full disk mid-command: one clear line naming what could not be written, a non-zero exit, no
traceback, and nothing half-done.

The command runs in a subprocess whose file-size limit (RLIMIT_FSIZE) stops every write past a
few kilobytes, with SIGXFSZ ignored so the write fails with EFBIG as it would with ENOSPC on a
full disk; no root needed. The Prefect API is the session's own server, outside the limit.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_ingest import _query

pytestmark = pytest.mark.integration

LIMIT_BYTES = 64 * 1024


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))


def jointcast_on_a_full_disk(config: Path, *args: str) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", "COLUMNS": "160"}
    command = [str(Path(sys.executable).parent / "jointcast"), "--config", str(config), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, preexec_fn=_limited)


def assert_one_clear_line(result: subprocess.CompletedProcess, *names: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    [line] = errors
    assert "cannot write" in line and all(name in line for name in names), line
    return line


def test_validate_on_a_full_disk_stops_with_one_line_and_loads_nothing(prefect, small_workspace):
    from tests.test_ingest import _ingest

    config = small_workspace / "jointcast.toml"
    _ingest(config, validate=False)
    before = _query(config, "SELECT batch_id, status FROM meta.batches ORDER BY 1")
    result = jointcast_on_a_full_disk(config, "validate")
    assert_one_clear_line(result, str(small_workspace))
    assert _query(config, "SELECT batch_id, status FROM meta.batches ORDER BY 1") == before
    assert _query(config, "SELECT count(*) FROM core.incident_records") == [(0,)]
    assert _query(config, "SELECT count(*) FROM quality.quarantine") == [(0,)]


@pytest.mark.slow
def test_publish_on_a_full_disk_stops_with_one_line_and_the_last_publication_stands(prefect, published):
    config = published / "jointcast.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("min_units = 1", "min_units = 2", 1), encoding="utf-8")  # new inputs
    before = _query(config, "SELECT max(publication_id), count(*) FROM forecast.staffing")
    pages = {page: page.read_bytes() for page in (published / "report").glob("*.html")}
    result = jointcast_on_a_full_disk(config, "publish")
    assert_one_clear_line(result, str(published))
    assert _query(config, "SELECT max(publication_id), count(*) FROM forecast.staffing") == before
    assert {page: page.read_bytes() for page in (published / "report").glob("*.html")} == pages


@pytest.mark.slow
def test_export_on_a_full_disk_stops_with_one_line_and_writes_nothing(prefect, published, tmp_path):
    out = tmp_path / "export"
    result = jointcast_on_a_full_disk(
        published / "jointcast.toml",
        "export",
        "--agency",
        "city_police",
        "--format",
        "csv",
        "--out",
        str(out),
    )
    assert_one_clear_line(result, str(out))
    assert not out.exists() or not list(out.iterdir())
    assert not list(tmp_path.glob(".export-*"))  # nor a part of it beside


def test_ingest_on_a_full_disk_is_one_line_per_file_it_could_not_write_and_keeps_no_part(
    prefect, small_workspace
):
    from warehouse.db import open_warehouse

    config = small_workspace / "jointcast.toml"
    result = jointcast_on_a_full_disk(config, "ingest")
    assert result.returncode != 0 and "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines and all("cannot write" in line for line in lines), lines
    # a file that could not be written is named with its feed; the warehouse's own log with its path
    per_file = [line for line in lines if line.startswith("error: feed ")]
    assert all(line in per_file or "warehouse.duckdb" in line for line in lines), lines
    quality = subprocess.run(  # a read-only command after it (it may not replay the log): one line at most
        [str(Path(sys.executable).parent / "jointcast"), "--config", str(config), "quality"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in quality.stderr + quality.stdout
    assert quality.returncode == 0 or len(quality.stderr.strip().splitlines()) == 1, quality.stderr
    with open_warehouse(small_workspace / "warehouse.duckdb") as con:  # as the next run opens it
        batches = con.execute("SELECT feed_id, batch_id, status FROM meta.batches").fetchall()
    raw = {path.relative_to(small_workspace / "raw") for path in (small_workspace / "raw").rglob("*.*")}
    received = {
        Path(feed) / f"batch-{batch:08d}.parquet" for feed, batch, status in batches if status == "received"
    }
    assert raw == received  # a failed batch leaves no raw file, not even a temporary one
    assert len([status for *_, status in batches if status == "failed"]) <= len(per_file)
