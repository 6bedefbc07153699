"""Shapes real exports write that the config maps: text priorities, a date and a time in two columns,
both coordinates in one column, projected coordinates. Ingested for real into a DuckDB file."""

from datetime import UTC, datetime

import pytest

from jointcast.config import load_settings
from tests.conftest import HEADER, police_row
from tests.test_ingest import _ingest, _query, assert_rows_accounted


def _configure(workspace, *changes: tuple[str, str]) -> None:
    config = workspace.config
    text = config.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text
        text = text.replace(old, new, 1)
    config.write_text(text, encoding="utf-8")


def _loaded(workspace, column: str) -> dict:
    return dict(_query(workspace.config, f"SELECT source_incident_id, {column} FROM core.incidents"))


def _quarantined(workspace) -> dict:
    return dict(
        _query(
            workspace.config,
            "SELECT json_extract_string(raw_values, '$.Id'), reasons FROM quality.quarantine",
        )
    )


def _set_aside(workspace) -> dict:
    return dict(
        _query(
            workspace.config,
            "SELECT json_extract_string(raw_values, '$.Id'), reasons FROM quality.field_issues",
        )
    )


def test_text_priorities_are_read_through_the_feeds_codes_and_pattern(police_workspace):
    """A CAD that writes "E" or "HIGH" maps them to numbers; one that writes "P1", "2A" or
    "1 - EMERGENCY" takes the number from the text; a value neither reads is unparseable: the
    incident loads without a priority, listed in quality.field_issues."""
    _configure(
        police_workspace,
        (
            'format = "csv"',
            "format = \"csv\"\npriority_codes = { E = 1, HIGH = 2 }\npriority_pattern = '^P?(\\w+)'",
        ),
    )
    good = police_row("OK", "01/02/2024 10:00:00 AM")
    values = {"E": "E", "HIGH": "HIGH", "P3": "P3", "TWO_A": "2A", "EMERG": "1 - EMERGENCY", "ZULU": "Z9"}
    police_workspace("pd_01.csv", [good.replace("OK,TC,2,", f"{i},TC,{v},") for i, v in values.items()])
    _ingest(police_workspace.config)
    assert_rows_accounted(police_workspace.config)
    # "2A": the pattern's word is "2A", neither a code nor a whole number
    assert _loaded(police_workspace, "priority") == {
        "E": 1, "HIGH": 2, "P3": 3, "EMERG": 1, "TWO_A": None, "ZULU": None,
    }  # fmt: skip
    assert _set_aside(police_workspace) == {
        "TWO_A": ["unparseable_priority"],
        "ZULU": ["unparseable_priority"],
    }


def test_a_date_and_a_time_in_two_columns_are_read_as_one_instant(police_workspace):
    """The date's column is the `*_at` key, the time's the `*_time` key; the text joined by a space is
    read with timestamp_format, in the feed's time zone. A date without its time is no instant."""
    _configure(
        police_workspace,
        ('"%m/%d/%Y %I:%M:%S %p"', '"%m/%d/%Y %H%M"'),
        ('received_at = "Rcvd"', 'received_at = "Rcvd"\nreceived_time = "RcvdTime"'),
        ('dispatched_at = "Disp"', 'dispatched_at = "Disp"\ndispatched_time = "DispTime"'),
    )
    header = HEADER.replace("Rcvd,Disp", "Rcvd,RcvdTime,Disp,DispTime")
    rows = [
        police_row("T1", "07/04/2024,2359", "07/05/2024,0004"),  # 23:59 EDT -> 03:59 UTC the next day
        police_row("T2", "01/02/2024,0930", ","),  # not yet dispatched
        police_row("T3", "01/02/2024,", ","),  # no time of receipt
    ]
    police_workspace("pd_01.csv", rows, header=header)
    _ingest(police_workspace.config)
    assert_rows_accounted(police_workspace.config)
    stamps = dict(_query(police_workspace.config, """
        SELECT source_incident_id, [received_at, dispatched_at] FROM core.incidents"""))  # fmt: skip
    assert stamps == {
        "T1": [datetime(2024, 7, 5, 3, 59, tzinfo=UTC), datetime(2024, 7, 5, 4, 4, tzinfo=UTC)],
        "T2": [datetime(2024, 1, 2, 14, 30, tzinfo=UTC), None],
    }
    assert _quarantined(police_workspace) == {"T3": ["missing_timestamp"]}


@pytest.mark.parametrize(
    ("order", "values"),
    [
        ("lat_lon", {"WKT": "POINT (-75.2 40.1)", "PAIR": '"(40.1, -75.2)"', "BARE": '"40.1,-75.2"'}),
        ("lon_lat", {"WKT": "POINT Z (-75.2 40.1 12)", "PAIR": '"[-75.2, 40.1]"', "BARE": "-75.2 40.1"}),
    ],
)
def test_both_coordinates_in_one_point_column_are_split_by_its_shape(police_workspace, order, values):
    """WKT is always longitude then latitude; a bare pair is in the feed's point_order. An empty WKT
    point is no coordinate, as a blank is; text that is no point is unparseable."""
    _configure(
        police_workspace,
        ('lat = "Lat"\nlon = "Lon"', 'point = "Loc"'),
        ('format = "csv"', f'format = "csv"\npoint_order = "{order}"'),
    )
    header = HEADER.replace("Lat,Lon", "Loc")
    good = police_row("OK", "01/02/2024 10:00:00 AM").replace(",40.1,-75.2,", ",{point},")
    values = {**values, "EMPTY": "POINT EMPTY", "BLANK": "", "WORDS": "Main St & 5th"}
    police_workspace(
        "pd_01.csv", [good.replace("OK,", f"{i},").format(point=v) for i, v in values.items()], header
    )
    _ingest(police_workspace.config)
    assert_rows_accounted(police_workspace.config)
    points = _loaded(police_workspace, "[lat, lon]")
    assert points == {"WKT": [40.1, -75.2], "PAIR": [40.1, -75.2], "BARE": [40.1, -75.2],
                      "EMPTY": [None, None], "BLANK": [None, None], "WORDS": [None, None]}  # fmt: skip
    assert _set_aside(police_workspace) == {"WORDS": ["unparseable_coordinates"]}


def test_projected_coordinates_are_stored_as_longitude_and_latitude(police_workspace):
    """A feed in its state plane (Pennsylvania South, US feet) maps x to lon and y to lat and names its
    coordinate system; the warehouse holds degrees, checked against the agency's bbox as any other."""
    _configure(police_workspace, ('format = "csv"', 'format = "csv"\ncoordinates_crs = "EPSG:2272"'))
    good = police_row("HALL", "01/02/2024 10:00:00 AM")
    rows = [
        good.replace(",40.1,-75.2,", ",255000,2692000,"),  # near Philadelphia's city hall
        good.replace("HALL,", "FAR,").replace(",40.1,-75.2,", ",255000,9692000,"),  # far outside the bbox
        good.replace("HALL,", "NONE,").replace(",40.1,-75.2,", ",,,"),
        good.replace("HALL,", "ZERO,").replace(",40.1,-75.2,", ",0,0,"),  # a CAD's "no location"
    ]
    police_workspace("pd_01.csv", rows)
    _ingest(police_workspace.config)
    assert_rows_accounted(police_workspace.config)
    points = _loaded(police_workspace, "[round(lat, 4), round(lon, 4)]")
    assert points == {"HALL": [40.0043, -75.167], "NONE": [None, None], "FAR": [None, None],
                      "ZERO": [None, None]}  # fmt: skip
    assert _set_aside(police_workspace) == {
        "FAR": ["out_of_jurisdiction"],  # the bbox, on the degrees
        "ZERO": ["out_of_jurisdiction", "impossible_coordinates"],  # (0, 0) as written, in any CRS
    }


def test_a_point_no_incident_lies_at_is_set_aside_without_a_bbox(police_workspace):
    """An agency with no bbox still gets no place at (0, 0) or off the globe; a point that could be
    somewhere (swapped, but within range) is not guessed at."""
    _configure(police_workspace, ("bbox = [-75.5, 39.9, -75.0, 40.3]\n", ""))
    good = police_row("OK", "01/02/2024 10:00:00 AM")
    rows = [
        good,
        good.replace("OK,", "ZERO,").replace(",40.1,-75.2,", ",0.0,0,"),
        good.replace("OK,", "LAT,").replace(",40.1,-75.2,", ",95.5,-75.2,"),
        good.replace("OK,", "LON,").replace(",40.1,-75.2,", ",40.1,-275.2,"),
        good.replace("OK,", "SWAP,").replace(",40.1,-75.2,", ",-75.2,40.1,"),
    ]
    police_workspace("pd_01.csv", rows)
    _ingest(police_workspace.config)
    assert_rows_accounted(police_workspace.config)
    assert _loaded(police_workspace, "[lat, lon]") == {
        "OK": [40.1, -75.2], "ZERO": [None, None], "LAT": [None, None], "LON": [None, None],
        "SWAP": [-75.2, 40.1],
    }  # fmt: skip
    assert _set_aside(police_workspace) == dict.fromkeys(("ZERO", "LAT", "LON"), ["impossible_coordinates"])


def test_quality_names_the_most_common_values_behind_each_reason(police_workspace):
    """Onboarding a feed, the data team sees which codes to map: the source values behind each reason,
    most common first, of the rows quarantined and of those loaded with a field set aside (both
    coordinates of a point outside the bbox). A file rejected whole (every row an unknown type)
    keeps its rows' own reasons to read, and its error line names the commonest."""
    from typer.testing import CliRunner

    from jointcast.cli import app
    from jointcast.config import load_settings
    from warehouse.db import open_warehouse
    from warehouse.reports import reason_examples

    good = police_row("OK", "01/02/2024 10:00:00 AM")
    rows = [good.replace("OK,TC,2,", f"H{i},TC,HIGH,") for i in range(3)]
    rows += [good.replace("OK,TC,2,", "L1,TC,LOW,"), good.replace("OK,TC,", "A1,ARSON,")]
    rows += [good.replace("OK,", "FAR,").replace(",40.1,-75.2,", ",0,0,"), good]
    police_workspace("pd_01.csv", rows)
    _ingest(police_workspace.config)
    unknown = [good.replace("OK,TC,", f"B{i},{'ARSON' if i < 3 else 'BURGLARY'},") for i in range(4)]
    police_workspace("pd_02.csv", unknown)
    _ingest(police_workspace.config)
    settings = load_settings(police_workspace.config)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        quarantined = reason_examples(con, settings.feeds)
        aside = reason_examples(con, settings.feeds, table="field_issues")
    assert quarantined == {("pd_cad", "unknown_type_code"): [("ARSON", 4), ("BURGLARY", 1)]}
    assert aside == {
        ("pd_cad", "unparseable_priority"): [("HIGH", 3), ("LOW", 1)],
        ("pd_cad", "out_of_jurisdiction"): [("Lat=0 | Lon=0", 1)],
        ("pd_cad", "impossible_coordinates"): [("Lat=0 | Lon=0", 1)],
    }
    shown = CliRunner().invoke(app, ["quality", "--config", str(police_workspace.config)])
    assert shown.exit_code == 0, shown.output
    assert "'HIGH' (3)" in shown.output and "'ARSON' (4)" in shown.output
    assert "loaded with fields set aside" in shown.output
    [(message,)] = _query(
        police_workspace.config, "SELECT message FROM meta.batches WHERE status = 'rejected'"
    )
    assert message.endswith("above max_quarantined_share 80% (unknown_type_code 4)")


def test_a_star_in_type_codes_types_every_code_the_map_does_not_list(police_workspace):
    """A CAD with hundreds of call types maps the ones that matter; "*" takes the rest, which would
    otherwise be quarantined as unknown_type_code, so new codes never drop demand."""
    _configure(police_workspace, ('THEFT = "theft" }', 'THEFT = "theft", "*" = "other" }'))
    good = police_row("OK", "01/02/2024 10:00:00 AM")
    police_workspace("pd_01.csv", [good, good.replace("OK,TC,", "NEW,ARSON,")])
    _ingest(police_workspace.config)
    assert_rows_accounted(police_workspace.config)
    assert _loaded(police_workspace, "incident_type") == {"OK": "traffic_collision", "NEW": "other"}


def test_a_cp1252_feed_reads_windows_text_and_quarantines_a_byte_cp1252_leaves_undefined(police_workspace):
    """A Windows export: "€", "–" and curly quotes are cp1252 bytes that Latin-1 reads as control
    codes; read as cp1252 they load as written. 0x81 is no cp1252 character: its line alone is
    quarantined, as an invalid byte of any encoding is."""
    _configure(police_workspace, ('format = "csv"', 'format = "csv"\nencoding = "cp1252"'))
    rows = [police_row(i, "01/02/2024 10:00:00 AM") for i in ("€1", "A–2", "“Q”3")]
    path = police_workspace("pd_01.csv", rows, encoding="cp1252")
    path.write_bytes(path.read_bytes() + police_row("X4", "01/02/2024 11:00:00 AM").encode() + b"\x81\n")
    _ingest(police_workspace.config)
    assert_rows_accounted(police_workspace.config)
    assert set(_loaded(police_workspace, "incident_type")) == {"€1", "A–2", "“Q”3"}
    [(row, reasons)] = _query(police_workspace.config, "SELECT row_number, reasons FROM quality.quarantine")
    assert row == 4
    assert "invalid encoding: not cp1252" in str(reasons)


def test_a_latin1_file_with_a_utf8_byte_order_mark_keeps_its_first_column(police_workspace):
    """Read as Latin-1, a UTF-8 mark is three letters before the first name ("ï»¿Id"): the header's
    column is still the mapped one, matched as a name up to case and spacing is, with a warning."""
    _configure(police_workspace, ('format = "csv"', 'format = "csv"\nencoding = "latin-1"'))
    path = police_workspace("pd_01.csv", [police_row("É1", "01/02/2024 10:00:00 AM")], encoding="latin-1")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    _ingest(police_workspace.config)
    assert _loaded(police_workspace, "incident_type") == {"É1": "traffic_collision"}


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])  # DuckDB's reader, and the record-by-record one
def test_a_report_export_with_title_lines_above_its_header_reads_from_header_row(police_workspace, encoding):
    """An export that writes a report's title and run time above the header: ``header_row`` names the
    header's line; rows keep their numbers below it and an unreadable line is named by the file's line."""
    config = police_workspace.config
    text = config.read_text().replace(
        'format = "csv"', f'format = "csv"\nheader_row = 4\nencoding = "{encoding}"'
    )
    config.write_text(text)
    rows = [police_row("A1", "01/15/2024 09:00:00 AM"), "A2,TC,2", police_row("A3", "01/15/2024 10:00:00 AM")]
    police_workspace("report.csv", rows, header="Calls for Service report\nRun 01/16/2024 06:00\n\n" + HEADER)
    _ingest(config)
    assert _query(config, "SELECT source_incident_id FROM core.incidents ORDER BY 1") == [("A1",), ("A3",)]
    [(row_number, reasons)] = _query(config, "SELECT row_number, reasons FROM quality.quarantine")
    assert (
        row_number == 2 and reasons[0].startswith("unreadable_row: ") and reasons[0].endswith("(line 6)")
    ), reasons
    assert_rows_accounted(config)


def test_header_row_is_refused_for_a_format_without_lines(police_workspace):
    config = police_workspace.config
    config.write_text(config.read_text().replace('format = "csv"', 'format = "parquet"\nheader_row = 2'))
    with pytest.raises(ValueError, match="header_row: read in csv and xlsx feeds only, not parquet"):
        load_settings(config)
