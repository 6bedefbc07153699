"""Validation with real Great Expectations suites: batch gates, reasons, Data Docs."""

import re
from pathlib import Path

import polars as pl

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
    assert message == (
        f"feed city_police_cad: file {newest}: expectation failed: "
        "mapped column 'OnScene' (columns.on_scene_at) present"
    )
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
    assert re.search(r"expectation failed: row count within \d+\.\.\d+$", message)


def test_the_data_docs_list_every_suite_and_its_latest_result(workspace):
    config = workspace / "jointcast.toml"
    _ingest(config)
    index = workspace / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    from expectations.runner import Validator

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
    assert len(warnings) == 1 and warnings[0].startswith("newest record after ")
