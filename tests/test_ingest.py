"""Ingest on a real DuckDB file: shapes, time zones, idempotency and every bad-input case."""

import gzip
from datetime import UTC, datetime

import polars as pl

from expectations.runner import Validator
from expectations.validate import validate_feed
from jointcast.config import load_settings
from tests.conftest import police_row
from warehouse.db import open_warehouse
from warehouse.ingest import ingest_feed


def _ingest(config, validate: bool = True):
    """Receive every feed's files and, unless told not to, validate them into core."""
    settings = load_settings(config)
    with open_warehouse(settings.warehouse_path) as con:
        outcomes = [ingest_feed(con, settings, feed) for feed in settings.feeds]
        if validate:
            validator = Validator(settings.root)
            for feed in settings.feeds:
                validate_feed(con, settings, feed, validator)
    return outcomes


def _query(config, sql):
    settings = load_settings(config)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        return con.execute(sql).fetchall()


def _utc(*args):
    return datetime(*args, tzinfo=UTC)


def assert_rows_accounted(config):
    for batch_id, read, loaded, quarantined, in_quarantine in _query(
        config,
        """
        SELECT b.batch_id, rows_read, rows_loaded, rows_quarantined,
            (SELECT count(*) FROM quality.quarantine q WHERE q.batch_id = b.batch_id)
        FROM meta.batches b
        """,
    ):
        assert read == loaded + quarantined, f"batch {batch_id} loses rows"
        assert quarantined == in_quarantine


def test_local_times_become_utc_across_both_dst_changes(police_workspace):
    police_workspace("pd_2024.csv", [
        police_row("W1", "01/15/2024 09:00:00 AM"),   # EST, UTC-5
        police_row("S1", "03/10/2024 01:59:00 AM"),   # just before spring-forward
        police_row("S2", "03/10/2024 03:00:00 AM"),   # just after: EDT, UTC-4
        police_row("S3", "03/10/2024 02:30:00 AM"),   # a local time that never happened
        police_row("F1", "11/03/2024 12:59:00 AM"),   # before fall-back, EDT
        police_row("F2", "11/03/2024 01:30:00 AM"),   # happens twice: read as standard time
        police_row("F3", "11/03/2024 02:00:00 AM"),   # after fall-back, EST
    ])  # fmt: skip
    _ingest(police_workspace.config)
    got = dict(_query(police_workspace.config, "SELECT source_incident_id, received_at FROM core.incidents"))
    assert got["W1"] == _utc(2024, 1, 15, 14, 0)
    assert got["S1"] == _utc(2024, 3, 10, 6, 59)
    assert got["S2"] == _utc(2024, 3, 10, 7, 0)
    assert got["S3"] == _utc(2024, 3, 10, 7, 30)
    assert got["F1"] == _utc(2024, 11, 3, 4, 59)
    assert got["F2"] == _utc(2024, 11, 3, 6, 30)
    assert got["F3"] == _utc(2024, 11, 3, 7, 0)


def test_a_resent_incident_is_updated_not_duplicated(police_workspace):
    police_workspace(
        "pd_01.csv", [police_row("R1", "01/31/2024 11:50:00 PM"), police_row("R2", "01/31/2024 11:55:00 PM")]
    )
    police_workspace("pd_02.csv", [police_row("R1", "01/31/2024 11:50:00 PM", "02/01/2024 12:05:00 AM")])
    _ingest(police_workspace.config)
    rows = _query(
        police_workspace.config,
        "SELECT source_incident_id, dispatched_at, batch_id FROM core.incidents ORDER BY 1",
    )
    assert [r[0] for r in rows] == ["R1", "R2"]
    assert rows[0][1] == _utc(2024, 2, 1, 5, 5)
    assert rows[0][2] > rows[1][2]  # R1 now comes from the later batch


def test_a_late_file_never_overwrites_a_newer_version_latest_is_by_file_order(police_workspace):
    """The correction (pd_02) arrives first and the original (pd_01) later, as after a failed
    batch received again: core keeps the correction, and each row still counts as loaded."""
    police_workspace("pd_02.csv", [police_row("R1", "01/31/2024 11:50:00 PM", "02/01/2024 12:05:00 AM")])
    _ingest(police_workspace.config)
    police_workspace(
        "pd_01.csv", [police_row("R1", "01/31/2024 11:50:00 PM"), police_row("R2", "01/31/2024 11:55:00 PM")]
    )
    _ingest(police_workspace.config)
    rows = _query(
        police_workspace.config,
        "SELECT source_incident_id, dispatched_at, regexp_extract(source_uri, '[^/]+$') FROM core.incidents "
        "JOIN meta.batches USING (batch_id) ORDER BY 1",
    )
    assert rows == [("R1", _utc(2024, 2, 1, 5, 5), "pd_02.csv"), ("R2", None, "pd_01.csv")]
    counts = _query(police_workspace.config, "SELECT sum(rows_read), sum(rows_loaded) FROM meta.batches")
    assert counts == [(3, 3)]  # the outdated R1 is loaded and at once superseded, not lost unaccounted


def test_a_later_row_of_the_same_file_received_again_wins(police_workspace):
    """A file re-sent with new content under the same name: its new content is the later version."""
    path = police_workspace("pd_01.csv", [police_row("R1", "01/31/2024 11:50:00 PM")])
    _ingest(police_workspace.config)
    police_workspace("pd_01.csv", [police_row("R1", "01/31/2024 11:50:00 PM", "02/01/2024 12:05:00 AM")])
    _ingest(police_workspace.config)
    rows = _query(police_workspace.config, "SELECT source_incident_id, dispatched_at FROM core.incidents")
    assert path.exists() and rows == [("R1", _utc(2024, 2, 1, 5, 5))]


def test_reloading_the_same_files_changes_nothing(police_workspace):
    police_workspace("pd_01.csv", [police_row(f"I{i}", "01/02/2024 10:00:00 AM") for i in range(50)])
    first = _ingest(police_workspace.config)
    police_workspace.root.joinpath("feeds/pd/pd_01_copy.csv").write_bytes(
        police_workspace.root.joinpath("feeds/pd/pd_01.csv").read_bytes()
    )
    before = _query(
        police_workspace.config, "SELECT count(*), (SELECT count(*) FROM meta.batches) FROM core.incidents"
    )
    second = _ingest(police_workspace.config)
    after = _query(
        police_workspace.config, "SELECT count(*), (SELECT count(*) FROM meta.batches) FROM core.incidents"
    )
    assert first[0].batches[0].status == "received"
    assert {b.status for b in second[0].batches} == {"skipped"}
    assert before == after == [(50, 1)]


def test_pii_is_dropped_or_hashed_before_it_is_stored(police_workspace):
    police_workspace("pd_01.csv", [police_row("P1", "01/02/2024 10:00:00 AM")])
    _ingest(police_workspace.config)
    columns = [r[0] for r in _query(police_workspace.config, "DESCRIBE raw.pd_cad")]
    caller = _query(police_workspace.config, 'SELECT "Caller" FROM raw.pd_cad')[0][0]
    assert "Phone" not in columns
    assert caller != "Jane Roe" and len(caller) == 64


def test_bad_rows_are_quarantined_with_their_reasons(police_workspace):
    good = police_row("G1", "01/02/2024 10:00:00 AM")
    police_workspace("pd_01.csv", [
        good,
        police_row("", "01/02/2024 10:00:00 AM"),
        police_row("B2", ""),
        police_row("B3", "yesterday-ish"),
        good,
        good + ",one field too many",
    ])  # fmt: skip
    _ingest(police_workspace.config)
    reasons = dict(_query(police_workspace.config, "SELECT row_number, reasons FROM quality.quarantine"))
    assert reasons[2] == ["blank_id"]
    assert reasons[3] == ["missing_timestamp"]
    assert reasons[4] == ["unparseable_timestamp"]
    assert reasons[5] == ["duplicate_row"]
    assert reasons[6][0].startswith("unreadable_row: too many columns")
    assert _query(police_workspace.config, "SELECT source_incident_id, row_number FROM core.incidents") == [
        ("G1", 1)
    ]
    assert_rows_accounted(police_workspace.config)


def test_a_file_in_the_wrong_encoding_quarantines_the_rows_it_cannot_decode(police_workspace):
    police_workspace(
        "pd_01.csv",
        [
            police_row("E1", "01/02/2024 10:00:00 AM").replace("Jane", "Renée"),
            police_row("E2", "01/02/2024 10:00:00 AM"),
        ],
        encoding="latin-1",
    )
    _ingest(police_workspace.config)
    reasons = _query(police_workspace.config, "SELECT row_number, reasons FROM quality.quarantine")
    assert [(n, r[0].split(":")[:2]) for n, r in reasons] == [(1, ["unreadable_row", " invalid encoding"])]
    assert _query(police_workspace.config, "SELECT source_incident_id FROM core.incidents") == [("E2",)]
    assert_rows_accounted(police_workspace.config)


def test_an_empty_file_fails_its_batch_but_not_the_feed(police_workspace):
    police_workspace("pd_01.csv", [police_row("A1", "01/02/2024 10:00:00 AM")])
    police_workspace.root.joinpath("feeds/pd/pd_02.csv").write_bytes(b"")
    [outcome] = _ingest(police_workspace.config)
    assert [b.status for b in outcome.batches] == ["received", "failed"]
    [message] = outcome.errors
    assert (
        message.startswith("feed pd_cad: file ") and "pd_02.csv" in message and message.endswith("empty file")
    )


def test_a_feed_with_no_files_is_one_clear_error(police_workspace):
    [outcome] = _ingest(police_workspace.config)
    assert outcome.errors == [f"feed pd_cad: no files match '{police_workspace.root}/feeds/pd/*.csv'"]


JSONL_FEED = """
[[agencies]]
id = "fd"
name = "Fire"
kind = "fire"
[[feeds]]
id = "fd_cad"
agency = "fd"
uri = "fd.jsonl"
format = "jsonl"
timestamp_format = "epoch_ms"
[feeds.columns]
source_incident_id = "incident_id"
received_at = "alarm_ts"
source_type = "nature_code"
"""


def test_jsonl_with_epoch_milliseconds_and_a_malformed_line(tmp_path):
    (tmp_path / "jointcast.toml").write_text(JSONL_FEED)
    (tmp_path / "fd.jsonl").write_text(
        '{"incident_id": "1", "nature_code": "STRUC", "alarm_ts": 1704200400000}\n'
        '{"incident_id": "2", "nature_code": "VEH", "alarm_ts": 17042\n'
        "\n"
        '{"incident_id": "3", "nature_code": "VEH", "alarm_ts": 1704204000000, "extra": [1]}\n'
    )
    _ingest(tmp_path / "jointcast.toml")
    config = tmp_path / "jointcast.toml"
    assert _query(
        config, "SELECT source_incident_id, incident_type, received_at FROM core.incidents ORDER BY 1"
    ) == [
        ("1", "struc", _utc(2024, 1, 2, 13, 0)),
        ("3", "veh", _utc(2024, 1, 2, 14, 0)),
    ]
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine") == [(2, ["malformed_json"])]
    assert_rows_accounted(config)


PARQUET_FEED = """
[[agencies]]
id = "ems"
name = "EMS"
kind = "ems"
[[agencies]]
id = "fire"
name = "Fire"
kind = "fire"
[[feeds]]
id = "county_911"
uri = "file://{root}/calls.parquet"
format = "parquet"
[feeds.agency_from]
column = "title"
pattern = '^(\\w+):'
map = {{ EMS = "ems", Fire = "fire" }}
[feeds.columns]
source_incident_id = "call_id"
received_at = "ts"
source_type = "title"
"""


def test_a_shared_parquet_feed_carries_several_agencies(tmp_path):
    config = tmp_path / "jointcast.toml"
    config.write_text(PARQUET_FEED.format(root=tmp_path))
    pl.DataFrame({
        "call_id": ["a", "b", "c"],
        "title": ["EMS: FALL VICTIM", "Fire: FIRE ALARM", "Traffic: DISABLED VEHICLE"],
        "ts": [datetime(2024, 1, 2, 10), datetime(2024, 1, 2, 11), datetime(2024, 1, 2, 12)],
    }).write_parquet(tmp_path / "calls.parquet")  # fmt: skip
    _ingest(config)
    assert _query(
        config,
        "SELECT agency_id, source_incident_id, incident_type, received_at FROM core.incidents ORDER BY 1",
    ) == [
        ("ems", "a", "ems_fall_victim", _utc(2024, 1, 2, 10)),
        ("fire", "b", "fire_fire_alarm", _utc(2024, 1, 2, 11)),
    ]
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine") == [(3, ["unknown_agency"])]
    assert_rows_accounted(config)


def test_a_shared_feeds_agency_values_match_up_to_case_and_spacing_and_star_takes_the_rest(tmp_path):
    """Hand-keyed exports write one code many ways: ``ems`` and `` Ems `` are the map's ``EMS``; with a
    ``"*"`` entry every value the map does not list is that agency's, not unknown_agency."""
    config = tmp_path / "jointcast.toml"
    config.write_text(PARQUET_FEED.format(root=tmp_path).replace("pattern = '^(\\w+):'\n", ""))
    pl.DataFrame({
        "call_id": ["a", "b", "c", "d"],
        "title": ["EMS", "ems", " Fire ", "Traffic"],
        "ts": [datetime(2024, 1, 2, h) for h in range(10, 14)],
    }).write_parquet(tmp_path / "calls.parquet")  # fmt: skip
    _ingest(config)
    assert _query(config, "SELECT source_incident_id, agency_id FROM core.incidents ORDER BY 1") == [
        ("a", "ems"), ("b", "ems"), ("c", "fire"),
    ]  # fmt: skip
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine") == [(4, ["unknown_agency"])]
    config.write_text(config.read_text().replace('Fire = "fire" }', 'Fire = "fire", "*" = "fire" }'))
    (tmp_path / "warehouse.duckdb").unlink()
    _ingest(config)
    assert _query(config, "SELECT agency_id FROM core.incidents WHERE source_incident_id = 'd'") == [
        ("fire",)
    ]
    assert_rows_accounted(config)


def test_code_maps_match_up_to_case_and_spacing_an_exact_entry_first(police_workspace):
    """type_codes, call_source_codes and priority_codes read ``tc``, ``Self`` and ``e`` as the codes they
    name; an entry written exactly as the value wins over one that differs only in case."""
    config = police_workspace.config
    config.write_text(config.read_text().replace(
        'pii = {', 'priority_codes = { E = 1, e = 3, "2" = 2 }\npii = {'))  # fmt: skip
    police_workspace("pd_01.csv", [
        "A1,tc,E,911,01/02/2024 10:00:00 AM,,B01,40.1,-75.2,555-0100,Jane Roe",
        "A2, Theft ,e,Self,01/02/2024 10:05:00 AM,,B01,40.1,-75.2,555-0100,Jane Roe",
        "A3,T C,2, self ,01/02/2024 10:10:00 AM,,B01,40.1,-75.2,555-0100,Jane Roe",
    ])  # fmt: skip
    _ingest(config)
    assert _query(config, "SELECT source_incident_id, incident_type, call_source, priority FROM core.incidents"
                  " ORDER BY 1") == [
        ("A1", "traffic_collision", "citizen", 1), ("A2", "theft", "officer", 3),
    ]  # fmt: skip
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine") == [
        (3, ["unknown_type_code"])
    ]
    assert_rows_accounted(config)


def test_a_shared_feed_checks_each_row_against_its_own_agencys_jurisdiction(tmp_path):
    config = tmp_path / "jointcast.toml"
    text = PARQUET_FEED.format(root=tmp_path)
    text = text.replace('kind = "ems"\n', 'kind = "ems"\nbbox = [-76.0, 40.0, -75.0, 41.0]\n')
    text = text.replace('kind = "fire"\n', 'kind = "fire"\nbbox = [-80.0, 35.0, -79.0, 36.0]\n')
    text = text.replace('received_at = "ts"\n', 'received_at = "ts"\nlat = "lat"\nlon = "lon"\n')
    config.write_text(text)
    pl.DataFrame({
        "call_id": ["a", "b", "c", "d", "e"],
        "title": ["EMS: FALL", "EMS: FALL", "Fire: ALARM", "Fire: ALARM", "EMS: FALL"],
        "ts": [datetime(2024, 1, 2, h) for h in range(10, 15)],
        "lat": [40.5, 35.5, 35.5, 40.5, None],  # b: a fire point in EMS's feed rows; d: an EMS point
        "lon": [-75.5, -79.5, -79.5, -75.5, None],
    }).write_parquet(tmp_path / "calls.parquet")  # fmt: skip
    _ingest(config)
    # b and d are still demand: loaded without the point that lies outside their own agency's bbox
    assert _query(config, "SELECT source_incident_id, lat FROM core.incidents ORDER BY 1") == [
        ("a", 40.5), ("b", None), ("c", 35.5), ("d", None), ("e", None),
    ]  # fmt: skip
    assert _query(config, "SELECT row_number, reasons FROM quality.field_issues ORDER BY 1") == [
        (2, ["out_of_jurisdiction"]),
        (4, ["out_of_jurisdiction"]),
    ]
    assert_rows_accounted(config)


def test_a_gzipped_file_loads_and_one_read_again_record_by_record_is_decompressed_too(police_workspace):
    """A ``.csv.gz`` file is read decompressed. One whose unterminated quote makes DuckDB's reader
    misread it is read again record by record, decompressed as well: its bad line is quarantined
    alone with its line number and every other row loaded."""
    config = police_workspace.config
    config.write_text(config.read_text().replace('"feeds/pd/*.csv"', '"feeds/pd/*.csv.gz"'))
    files = {
        "pd_01.csv.gz": [police_row(f"A{i}", "01/02/2024 10:00:00 AM") for i in range(5)],
        "pd_02.csv.gz": [police_row("B0", "01/03/2024 10:00:00 AM"),
                         police_row("B1", "01/03/2024 10:05:00 AM").replace("Jane Roe", '"Jane Roe'),
                         police_row("B2", "01/03/2024 10:10:00 AM")],
    }  # fmt: skip
    for name, rows in files.items():
        plain = police_workspace(name.removesuffix(".gz"), rows)
        plain.with_name(name).write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()
    _ingest(config)
    loaded = _query(config, "SELECT source_incident_id FROM core.incidents ORDER BY 1")
    assert [r[0] for r in loaded] == ["A0", "A1", "A2", "A3", "A4", "B0", "B2"]
    [(row, reasons)] = _query(config, "SELECT row_number, reasons FROM quality.quarantine")
    assert row == 2 and reasons == ["unreadable_row: unterminated quote (line 3)"]
    assert_rows_accounted(config)
