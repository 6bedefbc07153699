"""Feeds pulled over HTTP, as open-data portals publish them: one URL (often with a query string)
whose content is replaced by each day's export. A real HTTP server on loopback serves them."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import police_row
from tests.test_ingest import _ingest, _query, assert_rows_accounted


class _Quiet(SimpleHTTPRequestHandler):
    requested: list[str]

    def log_message(self, *args) -> None:  # the test reads what was asked, not the server's log
        pass

    def send_head(self):
        self.requested.append(self.path)
        return super().send_head()


@contextmanager
def serving(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """``folder`` over HTTP on a free loopback port (query strings ignored, as a static server does);
    yields the base URL and the list of paths requested."""
    requested: list[str] = []
    handler = functools.partial(type("Handler", (_Quiet,), {"requested": requested}), directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served(police_workspace):
    """The police workspace's feed folder served over HTTP; the config's uri set by each test."""
    with serving(police_workspace.root / "feeds" / "pd") as (base, requested):
        police_workspace.base = base
        police_workspace.requested = requested
        yield police_workspace


def _point_at(workspace, uri: str) -> None:
    config = workspace.config
    config.write_text(config.read_text().replace('uri = "feeds/pd/*.csv"', f'uri = "{uri}"'))


def test_a_portal_export_with_a_query_string_is_received_then_replaced(served):
    """A Socrata-style export URL: each day's file replaces the last; the newer content's version
    of an incident wins, the same bytes again change nothing, and no row is lost on the way."""
    served(
        "export.csv", [police_row("A1", "01/15/2024 09:00:00 AM"), police_row("A2", "01/15/2024 10:00:00 AM")]
    )
    _point_at(served, f"{served.base}/export.csv?$limit=50000&$order=Rcvd")

    _ingest(served.config)
    assert served.requested[-1] == "/export.csv?$limit=50000&$order=Rcvd"  # the query reaches the server
    assert _query(served.config, "SELECT count(*) FROM core.incidents") == [(2,)]

    before = _query(served.config, "SELECT count(*) FROM meta.batches")
    _ingest(served.config)  # the same bytes: nothing new
    assert _query(served.config, "SELECT count(*) FROM meta.batches") == before

    served("export.csv", [
        police_row("A1", "01/15/2024 09:00:00 AM", type_code="THEFT"),  # corrected since yesterday
        police_row("A2", "01/15/2024 10:00:00 AM"),
        police_row("A3", "01/16/2024 08:00:00 AM"),
    ])  # fmt: skip
    _ingest(served.config)
    assert _query(served.config, "SELECT count(*) FROM meta.batches") == [(2,)]
    assert _query(
        served.config, "SELECT source_incident_id, incident_type FROM core.incidents ORDER BY 1"
    ) == [("A1", "theft"), ("A2", "traffic_collision"), ("A3", "traffic_collision")]
    assert_rows_accounted(served.config)


def test_a_remote_file_that_is_gone_is_one_line_naming_it(served):
    _point_at(served, f"{served.base}/missing.csv?$limit=10")
    (outcome,) = _ingest(served.config, validate=False)
    assert "missing.csv" in str(outcome)
    assert _query(served.config, "SELECT count(*) FROM core.incidents") == [(0,)]


def test_a_glob_over_a_served_folder_receives_each_file_listed(served):
    """A web server's folder listing (an agency's file drop over HTTP): the glob finds its files."""
    served("2024-01-15.csv", [police_row("A1", "01/15/2024 09:00:00 AM")])
    served("2024-01-16.csv", [police_row("A2", "01/16/2024 09:00:00 AM")])
    served("notes.txt", [])
    _point_at(served, f"{served.base}/*.csv")
    (outcome,) = _ingest(served.config)
    assert sorted(batch.uri.rsplit("/", 1)[-1] for batch in outcome.batches) == [
        "2024-01-15.csv",
        "2024-01-16.csv",
    ]
    assert _query(served.config, "SELECT source_incident_id FROM core.incidents ORDER BY 1") == [
        ("A1",),
        ("A2",),
    ]
