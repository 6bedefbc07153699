"""Validation with real Great Expectations suites: batch gates, reasons, Data Docs."""

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import polars as pl

from expectations.runner import Validator, prune_results
from jointcast.config import load_settings
from tests.conftest import HEADER, police_row
from tests.test_ingest import _ingest, _query, assert_rows_accounted


def _drop_column(path: Path, column: str) -> None:
    frame = pl.read_csv(path, infer_schema=False)
    frame.drop(column).write_csv(path)


def test_a_batch_missing_a_mapped_column_is_rejected_and_the_other_feeds_still_load(workspace):
    config = workspace / "jointcast.toml"
    newest = sorted((workspace / "feeds" / "city_police_cad").glob("*.csv"))[-1]
    _drop_column(newest, "OnScene")
    _ingest(config)
    [(status, message)] = _query(
        config, f"SELECT status, message FROM meta.batches WHERE source_uri = '{newest}'"
    )
    assert status == "rejected"
    said, columns = message.split("; the file's columns: ")
    assert said == (
        f"feed city_police_cad: file {newest}: expectation failed: "
        "mapped column 'OnScene' (columns.on_scene_at) present"
    )
    assert "'IncidentNumber'" in columns and "'Dispatched'" in columns and "OnScene" not in columns
    in_core = _query(
        config,
        f"SELECT count(*) FROM core.incidents i JOIN meta.batches b USING (batch_id) WHERE b.source_uri = '{newest}'",
    )
    assert in_core == [(0,)]
    loaded = dict(_query(config, "SELECT feed_id, count(*) FROM core.incidents GROUP BY 1"))
    assert set(loaded) == {"city_police_cad", "county_fire_cad", "ems_epcr", "transit_police_rms"}
    assert_rows_accounted(config)


def test_a_batch_far_smaller_than_usual_is_rejected(workspace):
    config = workspace / "jointcast.toml"
    files = sorted((workspace / "feeds" / "ems_epcr").glob("*.parquet"))
    _ingest(config)  # history first: the band is set by the feed's earlier batches
    frame = pl.read_parquet(files[-1])
    frame.head(3).vstack(frame.tail(3)).write_parquet(files[-1].with_name("ems_epcr_trickle.parquet"))
    _ingest(config)
    [(status, message)] = _query(
        config, "SELECT status, message FROM meta.batches WHERE source_uri LIKE '%trickle%'"
    )
    assert status == "rejected"
    assert re.search(
        r"expectation failed: row count at least [\d,]+ \(about [\d,]+ usual for (the hours it covers"
        r"|its hours after the feed's earlier files, plus its [\d,]+ rows of hours they delivered)\)$",
        message,
    )


def test_the_data_docs_list_every_suite_and_its_latest_result(workspace):
    config = workspace / "jointcast.toml"
    _ingest(config)
    index = workspace / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    docs = Validator(workspace).build_docs()
    assert docs == index
    html = index.read_text()
    for feed in ("city_police_cad", "county_fire_cad", "ems_epcr", "transit_police_rms"):
        assert f"expectations/{feed}_suite.html" in html
        assert re.search(rf"validations/{feed}_suite/", html)


def test_every_validation_run_is_recorded_and_validating_again_changes_nothing(workspace):
    config = workspace / "jointcast.toml"
    _ingest(config)
    runs = _query(
        config,
        "SELECT feed_id, count(*), bool_and(success) FROM quality.validation_runs GROUP BY 1 ORDER BY 1",
    )
    batches = _query(config, "SELECT feed_id, count(*) FROM meta.batches GROUP BY 1 ORDER BY 1")
    assert [(f, n) for f, n, _ in runs] == batches
    assert all(ok for _, _, ok in runs)
    snapshot = "SELECT (SELECT count(*) FROM core.incidents), (SELECT count(*) FROM quality.quarantine), (SELECT count(*) FROM quality.validation_runs)"
    before = _query(config, snapshot)
    _ingest(config)
    assert _query(config, snapshot) == before


def test_a_stale_feed_still_loads_and_says_so(police_workspace):
    from tests.conftest import police_row

    police_workspace("pd_01.csv", [police_row(f"S{i}", "01/02/2024 10:00:00 AM") for i in range(5)])
    _ingest(police_workspace.config)
    [(status, loaded)] = _query(police_workspace.config, "SELECT status, rows_loaded FROM meta.batches")
    [warnings] = _query(police_workspace.config, "SELECT warnings FROM quality.validation_runs")[0]
    assert (status, loaded) == ("loaded", 5)
    assert len(warnings) == 1 and warnings[0].startswith("stale: no record after ")
    # how old the data is, not only what would have been fresh (10:00 in New York is 15:00 UTC)
    assert warnings[0].endswith(" UTC (max_lag_hours before now); the newest: 2024-01-02 15:00 UTC")


def _daily(day: datetime, rows: int, prefix: str) -> list[str]:
    """``rows`` police rows spread evenly over ``day`` (local times)."""
    return [
        police_row(
            f"{prefix}{i}", (day + timedelta(minutes=i * 1440 // rows + 7)).strftime("%m/%d/%Y %I:%M:%S %p")
        )
        for i in range(rows)
    ]


def _five_weeks_of_daily_files(police_workspace) -> datetime:
    """Five weeks of daily files of 48 rows from 2024-01-01, ingested: the history a file is sized by."""
    start = datetime(2024, 1, 1)
    for d in range(35):
        day = start + timedelta(days=d)
        police_workspace(f"pd_{day:%Y%m%d}.csv", _daily(day, 48, f"D{d}-"))
    _ingest(police_workspace.config)
    return start


def test_hourly_files_and_a_surge_day_load_while_a_day_a_third_full_is_refused(police_workspace):
    """A file is held to what the same hours of earlier weeks held: an hourly file (0 or 1 row) of a
    feed of 48 a day is no broken export, and a storm day at three times the usual loads, flagged;
    a day with a third of the usual rows is refused."""
    start = _five_weeks_of_daily_files(police_workspace)
    day = start + timedelta(days=35)
    quiet = _daily(day, 12, "H")  # a quiet day, delivered hour by hour
    for hour in range(24):
        stamp = (day + timedelta(hours=hour)).strftime("%m/%d/%Y %I:..:.. %p")
        police_workspace(f"pd_{day:%Y%m%d}_{hour:02d}.csv", [r for r in quiet if re.search(f",{stamp},", r)])
    police_workspace(f"pd_{day + timedelta(days=1):%Y%m%d}.csv", _daily(day + timedelta(days=1), 150, "S"))
    police_workspace(f"pd_{day + timedelta(days=2):%Y%m%d}.csv", _daily(day + timedelta(days=2), 16, "T"))
    _ingest(police_workspace.config)
    statuses = dict(_query(police_workspace.config, r"""
        SELECT regexp_extract(source_uri, 'pd_(\d+(_\d+)?)', 1), status FROM meta.batches WHERE batch_id > 35"""))  # fmt: skip
    # (the header-only hourly files are one file: the same bytes are received once)
    assert statuses.pop("20240207") == "rejected" and set(statuses.values()) == {"loaded"}, statuses
    assert {"20240205_02", "20240205_22", "20240206"} <= set(statuses)
    [(message,)] = _query(
        police_workspace.config, "SELECT message FROM meta.batches WHERE status = 'rejected'"
    )
    assert re.search(r"row count at least \d+ \(about 4\d usual for the hours it covers\)$", message), message
    [warnings] = _query(police_workspace.config, """
        SELECT r.warnings FROM quality.validation_runs r JOIN meta.batches b USING (batch_id)
        WHERE b.source_uri LIKE '%pd_20240206.csv'""")[0]  # fmt: skip
    assert warnings[0].startswith("row count above "), warnings


def test_a_file_that_resends_earlier_days_is_sized_on_its_new_hours(police_workspace):
    """A daily file that also carries records of days an earlier file delivered (late or updated
    records) is held to the usual rows of its own new day, plus those it re-sends: a whole day loads
    (its span of three days would otherwise ask for three days of rows), a day a fifth full does not."""
    start = _five_weeks_of_daily_files(police_workspace)
    late = start + timedelta(days=33)
    whole, short = start + timedelta(days=35), start + timedelta(days=36)
    police_workspace(f"pd_{whole:%Y%m%d}.csv", _daily(late, 20, "L") + _daily(whole, 48, "W"))
    police_workspace(
        f"pd_{short:%Y%m%d}.csv", _daily(late + timedelta(days=1), 20, "M") + _daily(short, 10, "S")
    )
    _ingest(police_workspace.config)
    statuses = dict(_query(police_workspace.config, r"""
        SELECT regexp_extract(source_uri, 'pd_(\d+)', 1), status FROM meta.batches WHERE batch_id > 35"""))  # fmt: skip
    assert statuses == {f"{whole:%Y%m%d}": "loaded", f"{short:%Y%m%d}": "rejected"}, statuses
    [(message,)] = _query(
        police_workspace.config, "SELECT message FROM meta.batches WHERE status = 'rejected'"
    )
    assert re.search(
        r"about 4\d usual for its hours after the feed's earlier files, plus its 20 rows", message
    ), message


def test_row_count_bounds_refuse_only_what_chance_cannot_explain():
    from expectations.suites import row_count_bounds

    assert row_count_bounds(0.5, 0.5) == (0, 7)  # an hourly file of a small feed: never refused
    assert row_count_bounds(12, 0.5)[0] == 0  # even an empty day of a feed of 12 a day is chance
    assert row_count_bounds(48, 0.5)[0] == 19  # a third of a day of a feed of 48 a day is not
    assert row_count_bounds(1000, 0.5) == (500, 1500)


def _page_text(page: Path) -> str:
    """A Data Docs page's visible words (scripts and styles left out)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", text)))


def test_data_docs_read_each_batch_as_it_went_named_by_feed_batch_and_file(police_workspace):
    police_workspace("pd_01.csv", [police_row(f"A{i}", "01/02/2024 10:00:00 AM") for i in range(5)]
                     + [police_row("A9", "01/02/2024 10:05:00 AM", type_code="XX")])  # fmt: skip
    police_workspace("pd_02.csv", [police_row(f"B{i}", "01/03/2024 10:00:00 AM") for i in range(5)],
                     header=HEADER.replace("Disp", "Dispatch"))  # fmt: skip
    _ingest(police_workspace.config)
    index = Validator(police_workspace.root).build_docs()
    site = index.parent
    runs = _query(
        police_workspace.config, "SELECT batch_id, run_name, success FROM quality.validation_runs ORDER BY 1"
    )
    assert runs == [(1, "pd_cad batch 1 pd_01.csv", True), (2, "pd_cad batch 2 pd_02.csv", False)]
    assert _query(police_workspace.config, "SELECT status FROM meta.batches ORDER BY batch_id") == [
        ("loaded",), ("rejected",)
    ]  # fmt: skip

    [kept] = site.glob("validations/pd_cad_suite/pd_cad batch 1 pd_01.csv/*/*.html")
    text = _page_text(kept)
    assert "Status: Succeeded" in text
    assert "Batch outcome: passed with 1 row quarantined" in text
    assert "Run Name pd_cad batch 1 pd_01.csv" in text
    [rejected] = site.glob("validations/pd_cad_suite/pd_cad batch 2 pd_02.csv/*/*.html")
    text = _page_text(rejected)
    assert "Status: Failed" in text
    assert "Batch outcome: rejected: mapped column 'Disp' (columns.dispatched_at) present" in text

    listed = re.findall(r"'run_name': '([^']*)'.*?'_validation_success_text': '(\w+)'", index.read_text())
    assert sorted(listed) == [("pd_cad batch 1 pd_01.csv", "Success"), ("pd_cad batch 2 pd_02.csv", "Failed")]
    [stored] = (police_workspace.root / "gx" / "uncommitted" / "validations").glob(
        "pd_cad_suite/pd_cad batch 1*/*/*.json"
    )
    result = json.loads(stored.read_text())
    assert result["success"] is True and result["meta"]["run_id"]["run_name"] == "pd_cad batch 1 pd_01.csv"
    assert result["meta"]["batch_outcome"]["status"] == "passed_with_quarantine"
    assert [r["expectation_config"]["meta"]["reason"] for r in result["results"] if not r["success"]] == [
        "unknown_type_code"
    ]  # GX's own verdict on each expectation stays as it was
    assert "Offline view" in index.read_text()  # shown only when the CDN styles do not load


def test_pruning_keeps_the_newest_results_by_run_time_whatever_their_run_names(tmp_path):
    suite = tmp_path / "validations" / "feed_suite"
    pages = tmp_path / "data_docs" / "local_site" / "validations" / "feed_suite"
    runs = {"feed batch 9 a.csv": "20240101T000000.000000Z", "feed batch 10 b.csv": "20240102T000000.000000Z",
            "feed batch 11 c.csv": "20240103T000000.000000Z"}  # fmt: skip
    for name, time in runs.items():
        for root in (suite, pages):
            (root / name / time).mkdir(parents=True)
    prune_results(tmp_path, keep=2)
    for root in (suite, pages):
        assert sorted(p.name for p in root.iterdir()) == ["feed batch 10 b.csv", "feed batch 11 c.csv"]


def test_one_source_column_may_feed_both_the_type_and_the_call_source(police_workspace):
    config = police_workspace.config
    text = config.read_text(encoding="utf-8").replace('call_source = "Src"', 'call_source = "Type"')
    text = text.replace('THEFT = "theft" }', 'THEFT = "theft", ALARM = "intrusion_alarm", SELF = "patrol" }')
    text = text.replace('{ "911" = "citizen", SELF = "officer" }', '{ ALARM = "alarm", SELF = "officer" }')
    config.write_text(text, encoding="utf-8")
    police_workspace("pd_01.csv", [
        police_row("T1", "01/02/2024 10:00:00 AM", type_code="TC"),
        police_row("T2", "01/02/2024 10:05:00 AM", type_code="ALARM"),
        police_row("T3", "01/02/2024 10:10:00 AM", type_code="SELF"),
    ])  # fmt: skip
    _ingest(config)
    assert _query(config, "SELECT status, rows_loaded FROM meta.batches") == [("loaded", 3)]
    rows = _query(
        config, "SELECT source_incident_id, incident_type, call_source FROM core.incidents ORDER BY 1"
    )
    assert rows == [("T1", "traffic_collision", "other"), ("T2", "intrusion_alarm", "alarm"),
                    ("T3", "patrol", "officer")]  # fmt: skip
    # a police agency counts every call source but officer-initiated work: unmapped codes too
    assert load_settings(config).agency("pd").counted_call_sources == ("citizen", "alarm", "other")


def test_a_fractional_priority_and_a_non_finite_coordinate_are_set_aside_not_rounded_or_passed(
    police_workspace,
):
    """2.7 is no priority (it is not rounded to 3); NaN and inf are no coordinates (NaN would pass a
    range check it cannot fail); a whole number written 3.0 is priority 3. Each incident still loads
    (it is demand), with the bad field null and listed in quality.field_issues."""
    good = police_row("OK1", "01/02/2024 10:00:00 AM")
    rows = [
        good,
        good.replace("OK1,TC,2,", "P27,TC,2.7,"),
        good.replace("OK1,TC,2,", "P30,TC,3.0,"),
        good.replace("OK1,", "NAN,").replace(",40.1,", ",NaN,"),
        good.replace("OK1,", "INF,").replace(",-75.2,", ",inf,"),
    ]
    police_workspace("pd_01.csv", rows)
    _ingest(police_workspace.config)
    assert_rows_accounted(police_workspace.config)
    aside = {i: (reasons, fields) for i, reasons, fields in _query(police_workspace.config, """
        SELECT json_extract_string(raw_values, '$.Id'), reasons, fields FROM quality.field_issues""")}  # fmt: skip
    assert aside == {"P27": (["unparseable_priority"], ["priority"]),
                     "NAN": (["unparseable_coordinates"], ["lat", "lon"]),
                     "INF": (["unparseable_coordinates"], ["lat", "lon"])}  # fmt: skip
    assert _query(police_workspace.config, "SELECT count(*) FROM quality.quarantine") == [(0,)]
    loaded = {i: (p, lat) for i, p, lat in _query(police_workspace.config, """
        SELECT source_incident_id, priority, lat FROM core.incidents""")}  # fmt: skip
    assert loaded == {
        "OK1": (2, 40.1),
        "P27": (None, 40.1),
        "P30": (3, 40.1),
        "NAN": (2, None),
        "INF": (2, None),
    }


def test_a_placeholder_dispatch_time_is_set_aside_alone_and_the_call_still_loads(police_workspace):
    """A CAD's 01/01/1900 for "not dispatched" is no time: that field is set aside (null, listed in
    quality.field_issues as dispatched_at_before_2000), the call loads, and nothing else is lost."""
    police_workspace("pd_01.csv", [
        police_row("OK", "01/02/2024 10:00:00 AM", dispatched="01/02/2024 10:05:00 AM"),
        police_row("NONE", "01/02/2024 11:00:00 AM", dispatched="01/01/1900 12:00:00 AM"),
    ])  # fmt: skip
    _ingest(police_workspace.config)
    assert _query(police_workspace.config, "SELECT source_incident_id, dispatched_at IS NULL, lat"
                  " FROM core.incidents ORDER BY 1") == [("NONE", True, 40.1), ("OK", False, 40.1)]  # fmt: skip
    assert _query(
        police_workspace.config, "SELECT row_number, reasons, fields FROM quality.field_issues"
    ) == [(2, ["dispatched_at_before_2000"], ["dispatched_at"])]
    assert_rows_accounted(police_workspace.config)


def test_a_rejected_batchs_line_names_what_quarantined_its_rows_not_fields_also_set_aside(police_workspace):
    """Rows with an unreadable time, priority, dispatch time and point: the file is rejected for the
    time (which quarantines them), and its line says so, however the other reasons' counts tie."""
    row = police_row("T", "2024-01-02 10:00", dispatched="later").replace(",2,911,", ",HIGH,911,")
    police_workspace(
        "pd_01.csv", [row.replace("T,", f"T{i},").replace(",40.1,", ",north,") for i in range(9)]
    )
    _ingest(police_workspace.config)
    [(message,)] = _query(police_workspace.config, "SELECT message FROM meta.batches")
    assert message.endswith("above max_quarantined_share 80% (unparseable_timestamp 9)"), message


def test_a_batch_mostly_quarantined_is_rejected_whole_with_one_line(police_workspace):
    """Every row's timestamp unreadable (a wrong format, say) is a broken file, not bad luck: the batch
    is rejected, nothing reaches core, and the line says why; the threshold is the feed's to set."""
    rows = [police_row(f"T{i}", "2024-01-02 10:00") for i in range(9)] + [
        police_row("OK", "01/02/2024 10:00:00 AM")
    ]
    police_workspace("pd_01.csv", rows)
    _ingest(police_workspace.config, validate=False)
    settings = load_settings(police_workspace.config)
    from expectations.validate import validate_feed
    from warehouse.db import open_warehouse

    with open_warehouse(settings.warehouse_path) as con:
        [batch] = validate_feed(con, settings, settings.feeds[0], Validator(settings.root)).batches
    assert not batch.success and batch.rows_loaded == 0 and batch.rows_quarantined == 10
    assert batch.problem == (f"feed pd_cad: file {batch.source_uri}: expectation failed: quarantined share 90% "
                             "of 10 rows is above max_quarantined_share 80% (unparseable_timestamp 9)")  # fmt: skip
    # each row keeps its own reason behind the batch's, for `jointcast quality` to show
    reasons = _query(
        police_workspace.config, "SELECT DISTINCT reasons[2:] FROM quality.quarantine ORDER BY 1"
    )
    assert reasons == [([],), (["unparseable_timestamp"],)]
    assert_rows_accounted(police_workspace.config)
    assert _query(police_workspace.config, "SELECT count(*) FROM core.incidents") == [(0,)]


def _validate_in_chunks(config: Path, chunk_rows: int):
    from expectations.validate import validate_feed
    from warehouse.db import open_warehouse

    settings = load_settings(config)
    with open_warehouse(settings.warehouse_path) as con:
        validator = Validator(settings.root)
        [batch] = validate_feed(con, settings, settings.feeds[0], validator, chunk_rows=chunk_rows).batches
    quarantine = _query(config, "SELECT row_number, reasons FROM quality.quarantine ORDER BY 1")
    [run] = _query(config, "SELECT statistics, rows_checked, rows_failed FROM quality.validation_runs")
    return batch, quarantine, run


def test_a_batch_validated_in_chunks_quarantines_exactly_what_one_chunk_does(police_workspace):
    """Chunks of 4 rows against one chunk: the same rows quarantined for the same reasons, the same
    result, though an id's two versions (rows 2 and 7) and a row and its copy (3 and 8) fall in
    different chunks, a batch-wide expectation (a hand-written uniqueness of the source id) sees
    rows of several chunks, and the last, partial chunk holds bad rows."""
    good = police_row("OK1", "01/02/2024 10:00:00 AM", "01/02/2024 10:04:00 AM")
    rows = [
        good,
        police_row("D1", "01/02/2024 10:01:00 AM"),  # superseded by row 7
        good.replace("OK1,", "C1,"),  # copied as row 8
        good.replace("OK1,", ","),  # blank id
        good.replace("OK1,", "OK5,"),
        police_row("M6", ""),  # missing timestamp
        police_row("D1", "01/02/2024 10:07:00 AM"),
        good.replace("OK1,", "C1,"),
        police_row("F9", "01/02/2099 10:00:00 AM"),  # future
        police_row("U10", "01/02/2024 10:10:00 AM", type_code="NOPE"),  # unknown type code
        good.replace("OK1,", "OK11,"),
        good.replace("OK1,", "OK12,"),
        good.replace("OK1,", "O13,").replace(",40.1,", ",41.5,"),  # out of jurisdiction
        police_row("T14", "yesterday"),  # unparseable timestamp
    ]
    police_workspace("pd_01.csv", rows)
    (police_workspace.root / "expectations").mkdir()
    (police_workspace.root / "expectations" / "pd_cad.json").write_text(json.dumps([
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "Id"},
         "meta": {"reason": "id_repeated"}},
    ]))  # fmt: skip
    _ingest(police_workspace.config, validate=False)
    one_chunk = police_workspace.root.parent / "one_chunk"
    shutil.copytree(police_workspace.root, one_chunk)

    batch, quarantine, run = _validate_in_chunks(police_workspace.config, chunk_rows=4)
    assert (batch.success, batch.rows_loaded, batch.rows_quarantined) == (True, 5, 9)
    assert _validate_in_chunks(one_chunk / "jointcast.toml", chunk_rows=1000) == (batch, quarantine, run)
    assert {row: sorted(reasons) for row, reasons in quarantine} == {
        2: ["duplicate_id", "id_repeated"], 3: ["id_repeated"], 4: ["blank_id"], 6: ["missing_timestamp"],
        7: ["id_repeated"], 8: ["duplicate_row", "id_repeated"], 9: ["future_timestamp"],
        10: ["unknown_type_code"], 14: ["unparseable_timestamp"],
    }  # fmt: skip
    # the point outside the jurisdiction is set aside, the incident loaded
    aside = _query(police_workspace.config, "SELECT row_number, reasons, fields FROM quality.field_issues")
    assert aside == [(13, ["out_of_jurisdiction"], ["lat", "lon"])]
    assert_rows_accounted(police_workspace.config)


def test_chunks_are_row_ranges_and_rows_sharing_a_key_come_together_last():
    """A key value several rows share leaves the row ranges for one chunk of its own, so the
    uniqueness expectation sees all its rows; rows without a key stay in their ranges."""
    import duckdb

    from warehouse.staging import StagedBatch, staged_chunks

    con = duckdb.connect()
    con.execute("""
        CREATE TEMP VIEW _checked AS SELECT * FROM (VALUES (1, 'a'), (2, 'k'), (3, NULL), (4, 'b'),
            (5, 'c'), (6, 'k'), (7, 'd'), (9, 'e')) t(_row_number, incident_key)""")  # fmt: skip
    con.execute("CREATE TEMP TABLE _shared_keys AS SELECT 'k' AS incident_key")
    staged = StagedBatch(8, 1, 9, {"_row_number": "_row_number", "incident_key": "incident_key"})
    chunks = [list(frame["_row_number"]) for frame in staged_chunks(con, staged, 3, ["incident_key"])]
    assert chunks == [[1, 3], [4, 5], [7, 9], [2, 6]]


def test_a_mapped_column_is_found_whatever_its_case_and_spacing_and_the_match_is_logged(
    police_workspace, caplog
):
    """A monthly export whose tool writes ``RCVD`` for the configured ``Rcvd`` loads as before."""
    header = "ID,TYPE,Prio,Src,RCVD,Disp, area ,Lat,Lon,Phone,Caller"
    police_workspace("pd_01.csv", [police_row(f"C{i}", "01/02/2024 10:00:00 AM") for i in range(4)], header)
    with caplog.at_level("WARNING"):
        _ingest(police_workspace.config)
    [(status, loaded, quarantined)] = _query(
        police_workspace.config, "SELECT status, rows_loaded, rows_quarantined FROM meta.batches"
    )
    assert (status, loaded, quarantined) == ("loaded", 4, 0)
    assert _query(police_workspace.config, "SELECT DISTINCT area_id FROM core.incidents") == [("B01",)]
    matches = sorted(m for m in caplog.messages if "the same name up to case and spacing" in m)
    assert [m.split(": ")[2].split(" is read")[0] for m in matches] == [
        "columns.area_id", "columns.received_at", "columns.source_incident_id", "columns.source_type"
    ]  # fmt: skip
    assert all(m.startswith("feed pd_cad: file ") for m in matches)


def test_a_name_the_header_holds_twice_up_to_case_is_not_guessed(police_workspace):
    from warehouse.staging import absent_columns, header_matched

    feed = load_settings(str(police_workspace.config)).feed("pd_cad")
    header = ("Id", "Type", "Prio", "Src", "RCVD", "rcvd", "Disp", "Area", "Lat", "Lon")
    same, matched = header_matched(feed, header)
    assert matched == {} and same is feed
    assert absent_columns(same, header) == {"columns.received_at": "Rcvd"}
    exact, matched = header_matched(feed, ("Rcvd", "RCVD", *header[:4], *header[6:]))
    assert matched == {} and exact.columns.received_at == "Rcvd"  # the exact name wins


def test_a_column_the_export_renamed_reads_under_each_of_its_names(police_workspace, caplog):
    """A feed whose export renamed its columns lists the names each has gone by: older and newer
    files load alike, the first name a header holds wins, and a file with none of them is refused
    naming the first."""
    config = police_workspace.config
    text = config.read_text().replace(
        'source_incident_id = "Id"', 'source_incident_id = ["Id", "IncidentNumber"]'
    )
    config.write_text(text.replace('received_at = "Rcvd"', 'received_at = ["Rcvd", "Call Received"]'))
    police_workspace("pd_2019.csv", [police_row("A1", "01/02/2019 10:00:00 AM")])
    renamed = HEADER.replace("Id,", "IncidentNumber,").replace("Rcvd", "Call Received")
    police_workspace("pd_2024.csv", [police_row("B1", "01/02/2024 10:00:00 AM")], header=renamed)
    neither = HEADER.replace("Rcvd", "Received Time")
    police_workspace("pd_2025.csv", [police_row("C1", "01/02/2025 10:00:00 AM")], header=neither)
    with caplog.at_level("WARNING"):
        _ingest(config)
    assert _query(config, "SELECT incident_key, received_at FROM core.incidents ORDER BY 1") == [
        ("pd:A1", datetime(2019, 1, 2, 15, 0, tzinfo=UTC)), ("pd:B1", datetime(2024, 1, 2, 15, 0, tzinfo=UTC)),
    ]  # fmt: skip
    assert not [m for m in caplog.messages if "up to case and spacing" in m]  # names found as written
    [(message,)] = _query(config, "SELECT message FROM meta.batches WHERE status = 'rejected'")
    assert "pd_2025.csv" in message and "'Rcvd' (columns.received_at)" in message, message
    assert_rows_accounted(config)
