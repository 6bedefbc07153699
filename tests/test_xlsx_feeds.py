"""Feeds delivered as Excel workbooks, as many agencies share their exports: typed cells (numbers,
dates) and text cells read alike, a named sheet, personal data dropped or hashed as in any feed."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from tests.test_ingest import _ingest, _query, assert_rows_accounted
from warehouse.db import load_extension, quote


def _workbook(path, rows: str, sheet: str | None = None, header: bool = True) -> None:
    """Write the SELECT ``rows`` to ``path`` as a workbook, each column typed as the query types it,
    under a header row of the query's column names (``header``), else from the sheet's first row."""
    con = duckdb.connect()
    load_extension(con, "duckdb_extension_excel")
    named = "" if sheet is None else f", SHEET {quote(sheet)}"
    con.execute(f"COPY ({rows}) TO '{path}' (FORMAT xlsx, HEADER {str(header).lower()}{named})")
    con.close()


@pytest.fixture
def xlsx_feed(police_workspace):
    config = police_workspace.config
    config.write_text(
        config.read_text().replace(
            'uri = "feeds/pd/*.csv"\nformat = "csv"', 'uri = "feeds/pd/*.xlsx"\nformat = "xlsx"'
        )
    )
    return police_workspace


def test_typed_cells_read_as_the_values_and_times_they_show(xlsx_feed):
    folder = xlsx_feed.root / "feeds" / "pd"
    _workbook(folder / "2024-01-15.xlsx", """
        SELECT CAST(100 + i AS DOUBLE) AS Id, 'TC' AS Type, 2 AS Prio, 911 AS Src,
            TIMESTAMP '2024-01-15 09:00:00' + i * INTERVAL 37 MINUTE AS Rcvd,
            TIMESTAMP '2024-01-15 09:05:30' + i * INTERVAL 37 MINUTE AS Disp,
            'B01' AS Area, 40.1 AS Lat, -75.2 AS Lon, '555-0100' AS Phone, 'Jane Roe' AS Caller
        FROM range(3) r(i)""")  # fmt: skip
    _ingest(xlsx_feed.config)
    rows = _query(xlsx_feed.config, """
        SELECT source_incident_id, priority, call_source, received_at, dispatched_at, lat, lon
        FROM core.incidents ORDER BY 1""")  # fmt: skip
    assert rows[0] == (
        "100", 2, "citizen", datetime(2024, 1, 15, 14, 0, tzinfo=UTC), datetime(2024, 1, 15, 14, 5, 30, tzinfo=UTC),
        40.1, -75.2,
    )  # fmt: skip  # the wall clock shown, in the feed's timezone (New York)
    assert [row[0] for row in rows] == ["100", "101", "102"]
    assert rows[2][3] == datetime(2024, 1, 15, 15, 14, tzinfo=UTC)
    assert_rows_accounted(xlsx_feed.config)


def test_a_named_sheet_is_read_past_an_empty_row_each_row_by_its_number(xlsx_feed):
    """Text dates read by the feed's format, a row with a bad one quarantined by its row in the sheet,
    and the rows after an empty row read too (an empty row is no record)."""
    config = xlsx_feed.config
    config.write_text(config.read_text().replace('format = "xlsx"', 'format = "xlsx"\nsheet = "Calls"'))
    _workbook(xlsx_feed.root / "feeds" / "pd" / "export.xlsx", """
        SELECT * FROM (VALUES
            ('A1', 'THEFT', '1', '911', '01/16/2024 09:00:00 AM', 'B02', '40.1', '-75.2', '555-0100', 'Jane Roe'),
            (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            ('A2', 'TC', '3', 'SELF', 'not a time', 'B02', '40.1', '-75.2', '555-0101', 'John Doe'),
            ('A3', 'TC', '2', '911', '01/16/2024 11:00:00 AM', 'B02', '40.1', '-75.2', '555-0102', 'Ann Poe')
        ) t(Id, Type, Prio, Src, Rcvd, Area, Lat, Lon, Phone, Caller)""", sheet="Calls")  # fmt: skip
    config.write_text(config.read_text().replace('dispatched_at = "Disp"\n', ""))
    _ingest(config)
    assert _query(
        config, "SELECT source_incident_id, incident_type, received_at FROM core.incidents ORDER BY 1"
    ) == [
        ("A1", "theft", datetime(2024, 1, 16, 14, 0, tzinfo=UTC)),
        ("A3", "traffic_collision", datetime(2024, 1, 16, 16, 0, tzinfo=UTC)),
    ]
    [(row_number, reasons, kept)] = _query(
        config, "SELECT row_number, reasons, raw_values::VARCHAR FROM quality.quarantine"
    )
    assert (row_number, reasons) == (3, ["unparseable_timestamp"])  # the sheet's 4th row, below the header
    assert (
        "555-0101" not in kept and "John Doe" not in kept
    )  # personal data dropped or hashed, as in any feed
    assert _query(config, "SELECT rows_read, rows_loaded, rows_quarantined FROM meta.batches") == [(3, 2, 1)]
    assert_rows_accounted(config)


@pytest.mark.parametrize(
    ("setting", "named"),
    [('sheet = "Calls"', "Calls"), ("header_row = 5", "header row (row 5)")],
    ids=["a-sheet-it-lacks", "a-header-row-below-its-last"],
)
def test_a_workbook_without_the_sheet_or_header_row_fails_the_file_in_one_line(xlsx_feed, setting, named):
    """A sheet the workbook does not have, or ``header_row`` below its last row (a workbook from
    another report): the file fails, its line naming it and what it lacks."""
    config = xlsx_feed.config
    config.write_text(config.read_text().replace('format = "xlsx"', f'format = "xlsx"\n{setting}'))
    _workbook(xlsx_feed.root / "feeds" / "pd" / "export.xlsx", "SELECT 'A1' AS Id")
    (outcome,) = _ingest(config, validate=False)
    [batch] = outcome.batches
    assert batch.status == "failed" and "export.xlsx" in batch.message and named in batch.message
    assert "\n" not in batch.message


def test_a_report_workbook_reads_from_its_header_row_every_named_column(xlsx_feed):
    """A workbook saved from a report: a title and a blank row above the header (``header_row = 3``),
    and a header cell left empty between two named ones; every column to the last named one is read,
    and rows keep their numbers below the header."""
    config = xlsx_feed.config
    config.write_text(config.read_text().replace('format = "xlsx"', 'format = "xlsx"\nheader_row = 3'))
    config.write_text(config.read_text().replace('dispatched_at = "Disp"\n', ""))
    header = "'Id', 'Type', 'Prio', 'Src', NULL, 'Rcvd', 'Area', 'Lat', 'Lon', 'Phone', 'Caller'"
    _workbook(xlsx_feed.root / "feeds" / "pd" / "report.xlsx", f"""
        SELECT * FROM (VALUES
            ('Calls for service, January 2024', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
            ({header}),
            ('A1', 'THEFT', '1', '911', 'note', '01/16/2024 09:00:00 AM', 'B02', '40.1', '-75.2', '555-0100', 'Jane Roe'),
            ('A2', 'TC', '3', 'SELF', NULL, 'not a time', 'B02', '40.1', '-75.2', '555-0101', 'John Doe')
        ) t(a, b, c, d, e, f, g, h, i, j, k)""", header=False)  # fmt: skip
    _ingest(config)
    assert _query(config, "SELECT source_incident_id, area_id, received_at FROM core.incidents") == [
        ("A1", "B02", datetime(2024, 1, 16, 14, 0, tzinfo=UTC))
    ]
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine") == [
        (2, ["unparseable_timestamp"])
    ]
    assert_rows_accounted(config)
