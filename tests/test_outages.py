"""Feed outages and feed windows: found, stored, masked in the panel, listed; windows quarantine."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from features.build import FeatureParameters, build_features
from features.model_inputs import AgencyCalendar
from features.outages import OutageRule, feed_outages
from jointcast.cli import app
from jointcast.config import load_settings
from tests.conftest import POLICE_FEED, police_row
from tests.test_ingest import _ingest, _query, assert_rows_accounted
from tests.test_simulator import _all_bytes

START = datetime(2024, 1, 1, tzinfo=UTC)
ZONE = "America/New_York"


def _incidents(per_day: float, days: int, hole: tuple[datetime, datetime] | None = None, seed: int = 1):
    """A feed's records: Poisson per hour at ``per_day`` a day, busiest in the afternoon, quiet at
    night (a 10:1 ratio), with nothing received in ``hole``."""
    rng = np.random.default_rng(seed)
    hours = pl.datetime_range(START, START + timedelta(days=days), "1h", closed="left", eager=True)
    local_hour = hours.dt.convert_time_zone(ZONE).dt.hour().to_numpy()
    shape = 1 + 9 * np.exp(-(((local_hour - 16) / 4.0) ** 2))
    counts = rng.poisson(per_day * shape / shape.mean() / 24)
    stamps = hours.to_numpy().repeat(counts)
    frame = pl.DataFrame({"received_at": stamps}).with_columns(
        pl.col("received_at").dt.replace_time_zone("UTC"),
        feed_id=pl.lit("pd_cad"),
        agency_id=pl.lit("pd"),
    )
    if hole is not None:
        frame = frame.filter(~pl.col("received_at").is_between(*hole, closed="left"))
    return frame.with_row_index("incident_key").with_columns(pl.col("incident_key").cast(pl.String))


def _rule(**overrides) -> OutageRule:
    return OutageRule(feed_id="pd_cad", agency_ids=("pd",), timezone=ZONE, **overrides)


def test_a_ten_day_hole_is_found_with_its_dates_to_the_hour():
    hole = (START + timedelta(days=60, hours=14), START + timedelta(days=70, hours=9))
    outages = feed_outages(_incidents(400, 120, hole).lazy(), [_rule()]).collect()
    assert outages.select("feed_id", "start_at", "end_at", "hours", "how_found", "records_seen").rows() == [
        ("pd_cad", hole[0], hole[1], 235, "detected", 0)
    ]
    assert outages["expected_records"][0] == pytest.approx(400 * 235 / 24, rel=0.15)
    assert outages["agency_ids"].to_list() == [["pd"]]


def test_a_small_feeds_quiet_nights_are_not_outages_but_its_ten_day_hole_is():
    quiet = feed_outages(_incidents(5, 365, seed=2).lazy(), [_rule()]).collect()
    assert quiet.is_empty(), quiet
    hole = (START + timedelta(days=200), START + timedelta(days=210))
    [(start, end)] = (
        feed_outages(_incidents(5, 365, hole, seed=2).lazy(), [_rule()])
        .collect()
        .select("start_at", "end_at")
        .rows()
    )
    # a feed of 5 a day says only that nothing came between its last record and its next
    assert hole[0] - timedelta(hours=24) <= start <= hole[0]
    assert hole[1] <= end <= hole[1] + timedelta(hours=24)


def test_a_day_far_below_its_usual_level_is_an_outage_day_in_local_time():
    frame = _incidents(2000, 60, seed=3)
    local_day = pl.col("received_at").dt.convert_time_zone(ZONE).dt.date()
    thinned = frame.filter(
        (local_day != date(2024, 2, 14)) | (pl.col("incident_key").cast(pl.Int64) % 20 == 0)
    )
    outages = feed_outages(thinned.lazy(), [_rule()]).collect()
    [(start, end, found)] = outages.select("start_at", "end_at", "how_found").rows()
    assert (start, end, found) == (
        datetime(2024, 2, 14, 5, tzinfo=UTC),
        datetime(2024, 2, 15, 5, tzinfo=UTC),
        "detected",
    )
    assert feed_outages(thinned.lazy(), [_rule(low_share=0.01)]).collect().is_empty()


def test_configured_outages_are_listed_as_configured_with_what_the_feed_delivered_in_them():
    known = (START + timedelta(days=10), START + timedelta(days=12), "CAD export failed")
    outages = feed_outages(_incidents(400, 30).lazy(), [_rule(detect=False, known=(known,))]).collect()
    [row] = outages.to_dicts()
    assert (row["start_at"], row["end_at"], row["hours"], row["how_found"], row["reason"]) == (
        known[0], known[1], 48, "configured", "CAD export failed"
    )  # fmt: skip
    assert row["records_seen"] > 0


def _features(incidents: pl.DataFrame, *rules: OutageRule):
    agencies = incidents["agency_id"].unique().sort().to_list()
    params = FeatureParameters(
        counted_sources={agency: ("citizen",) for agency in agencies},
        calendars=[AgencyCalendar(agency, ZONE, "US", None) for agency in agencies],
        horizon_hours=48,
        events_timezone={agency: ZONE for agency in agencies},
        outages=rules,
    )
    located = incidents.with_columns(
        area_id=pl.lit("B01"), incident_type=pl.lit("theft"), call_source=pl.lit("citizen"),
        dispatched_at=pl.lit(None, pl.Datetime("us", "UTC")), on_scene_at=pl.lit(None, pl.Datetime("us", "UTC")),
        cleared_at=pl.lit(None, pl.Datetime("us", "UTC")), lat=pl.lit(None, pl.Float64), lon=pl.lit(None, pl.Float64),
    )  # fmt: skip
    return build_features(located.lazy(), None, params)


def test_outage_hours_are_unobserved_not_zero_and_not_mistaken_for_hours_to_forecast():
    hole = (START + timedelta(days=40), START + timedelta(days=50))
    built = _features(_incidents(200, 70, hole), _rule())
    demand = built.demand
    in_hole = pl.col("bucket_start").is_between(*hole, closed="left")
    assert demand.filter(in_hole)["observed"].not_().all()
    assert demand.filter(~in_hole)["observed"].all()
    assert demand["incidents"].null_count() == 0  # counted as delivered (zeros), for accounting
    week = built.model_inputs(168).collect()
    outage_rows = week.filter(in_hole)
    assert outage_rows["outage"].all() and outage_rows["incidents"].null_count() == outage_rows.height
    # a lag that reads an outage hour is null, not zero
    after = pl.col("bucket_start").is_between(hole[1], hole[1] + timedelta(days=7), closed="left")
    lagged = week.filter(after)
    assert lagged["lag_week_1"].null_count() == lagged.height
    assert lagged["incidents"].null_count() == 0
    assert lagged["mean_24"].null_count() == lagged.height
    # a trailing mean that reaches past the hole averages the hours observed, never its zeros
    assert lagged["mean_672"].null_count() == 0 and lagged["mean_672"].min() > 200 / 24 * 0.8
    # the hours to forecast: target null and no outage, all after the data's end
    future = week.filter(pl.col("incidents").is_null(), pl.col("outage").not_())
    assert future["bucket_start"].min() > demand["bucket_start"].max()
    assert future.height == 48


def test_another_agencys_outage_leaves_its_demand_beside_ours_unknown_not_zero():
    hole = (START + timedelta(days=40), START + timedelta(days=45))
    fire = _incidents(100, 70, hole, seed=5).with_columns(feed_id=pl.lit("fd_cad"), agency_id=pl.lit("fd"),
                                                           incident_key=pl.lit("fd:") + pl.col("incident_key"))  # fmt: skip
    fire_rule = OutageRule(feed_id="fd_cad", agency_ids=("fd",), timezone=ZONE)
    built = _features(pl.concat([_incidents(200, 70), fire]), _rule(), fire_rule)
    police = (
        built.model_inputs(24)
        .collect()
        .filter(pl.col("agency_id") == "pd", pl.col("incidents").is_not_null())
    )
    in_hole = pl.col("bucket_start").is_between(*hole, closed="left")
    assert police.filter(in_hole)["other_incidents"].null_count() == 5 * 24
    assert police.filter(~in_hole)["other_incidents"].null_count() == 0
    assert police["outage"].not_().all()


def test_feed_windows_quarantine_records_outside_with_a_reason(police_workspace):
    extra = "start = 2024-01-01\nend = 2024-02-01T00:00:00"
    police_workspace.config.write_text(POLICE_FEED.format(extra=extra), encoding="utf-8")
    police_workspace("pd_2024.csv", [
        police_row("1", "12/31/2023 11:59:00 PM"),
        police_row("2", "01/01/2024 12:00:00 AM"),
        police_row("3", "01/31/2024 11:59:00 PM"),
        police_row("4", "02/01/2024 12:00:00 AM"),
    ])  # fmt: skip
    _ingest(police_workspace.config)
    assert _query(police_workspace.config, "SELECT source_incident_id FROM core.incidents ORDER BY 1") == [
        ("2",),
        ("3",),
    ]
    reasons = _query(police_workspace.config, "SELECT row_number, reasons FROM quality.quarantine ORDER BY 1")
    assert reasons == [
        (1, ["before_feed_start: received_at 2023-12-31 23:59 before the feed's start 2024-01-01"]),
        (
            4,
            [
                "after_feed_end: received_at 2024-02-01 00:00 at or after the feed's end (exclusive) 2024-02-01 00:00:00"
            ],
        ),
    ]
    assert_rows_accounted(police_workspace.config)


def test_outage_and_window_settings_are_checked_and_read_in_the_feeds_time_zone(police_workspace):
    extra = (
        "start = 2024-01-01\n"
        "[feeds.outages]\nmin_hours = 12\n"
        'known = [{ start = 2024-03-01T00:00:00Z, end = 2024-03-02, reason = "CAD export failed" }]'
    )
    police_workspace.config.write_text(POLICE_FEED.format(extra=extra), encoding="utf-8")
    feed = load_settings(police_workspace.config).feeds[0]
    assert feed.window == (datetime(2024, 1, 1, 5, tzinfo=UTC), None)
    assert feed.known_outages == (
        (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, 5, tzinfo=UTC), "CAD export failed"),
    )
    police_workspace.config.write_text(POLICE_FEED.format(extra="[feeds.outages]\nlow_level = 0.2"))
    with pytest.raises(ValueError, match=r"feeds\[0\]\.outages\.low_level: unknown key"):
        load_settings(police_workspace.config)


def test_the_simulator_injects_an_outage_and_says_where(tmp_path):
    from jointcast.simulator import simulate

    runs = []
    for name in ("a", "b"):
        simulate(tmp_path / name, days=20, seed=4, agencies=1, end=date(2024, 3, 1),
                 outages=[("city_police_cad", date(2024, 2, 20), 3)])  # fmt: skip
        runs.append(_all_bytes(tmp_path / name))  # the random PII key aside
    assert runs[0] == runs[1]
    [truth] = json.loads((tmp_path / "a" / "truth" / "outages.json").read_text())
    assert truth["feed_id"] == "city_police_cad" and truth["records_removed"] > 0
    assert (truth["start"], truth["end"]) == ("2024-02-20T00:00:00+00:00", "2024-02-23T00:00:00+00:00")
    with pytest.raises(ValueError, match="not a simulated feed"):
        simulate(tmp_path / "c", days=20, agencies=1, outages=[("ems_epcr", date(2024, 2, 20), 3)])


def test_jointcast_quality_lists_the_outages_found(tmp_path, prefect):
    from flows.features import features_flow

    root = tmp_path / "ws"
    result = CliRunner().invoke(app, ["simulate", "--out", str(root), "--days", "60", "--agencies", "1",
                                      "--end", "2024-03-01", "--outage", "city_police_cad:2024-02-01:5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    config = root / "jointcast.toml"
    _ingest(config)
    features_flow(settings=load_settings(config))
    outages = _query(config, "SELECT feed_id, start_at, end_at, how_found FROM quality.outages")
    assert outages == [
        ("city_police_cad", datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 2, 6, tzinfo=UTC), "detected")
    ]
    shown = CliRunner().invoke(app, ["--config", str(config), "quality"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    row = r"city_police_cad\s+│ 2024-02-01 00:00\s+│ 2024-02-06 00:00\s+│ 120\s+│ detected\s+│ 0 of ~[\d,]+"
    assert re.search(row, shown.output), shown.output


def test_a_rejected_files_hours_are_an_outage_unless_a_loaded_file_covers_them(police_workspace):
    """A day whose file was refused holds nothing in core: its hours are missing, not a day of no
    demand. A loaded file spanning the same hours (a cumulative export) means they are not."""
    from flows.pending import feature_parameters
    from tests.test_validate import _daily
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_incidents

    first = datetime(2024, 1, 1)
    for d in range(28):
        day = first + timedelta(days=d)
        police_workspace(f"pd_{day:%Y%m%d}.csv", _daily(day, 48, f"D{d}-"))
    _ingest(police_workspace.config)
    refused, after = first + timedelta(days=28), first + timedelta(days=29)
    police_workspace(f"pd_{refused:%Y%m%d}.csv", _daily(refused, 6, "R"))  # a truncated export
    police_workspace(f"pd_{after:%Y%m%d}.csv", _daily(after, 48, "A"))
    _ingest(police_workspace.config)
    settings = load_settings(police_workspace.config)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        params = feature_parameters(con, settings)
        built = build_features(read_incidents(con).lazy(), None, params)
    [(start, end, reason)] = params.outages[0].rejected
    local = ZoneInfo(ZONE)
    assert start == refused.replace(tzinfo=local).astimezone(UTC)  # its records' first hour ...
    assert end == (refused + timedelta(hours=21)).replace(tzinfo=local).astimezone(UTC)  # ... to their last
    assert reason.startswith("file rejected: ") and reason.endswith(f"pd_{refused:%Y%m%d}.csv")
    [outage] = built.outages.filter(pl.col("how_found") == "rejected").to_dicts()
    assert (outage["start_at"], outage["end_at"], outage["records_seen"]) == (start, end, 0)
    hours = built.demand.filter(pl.col("bucket_start").is_between(start, end, closed="left"))
    assert hours.height == 21 and hours["observed"].not_().all()
    # the same day's hours inside a loaded file's span: covered, no outage
    cumulative = [row for d in range(27, 30) for row in _daily(first + timedelta(days=d), 48, f"C{d}-")]
    police_workspace("pd_cumulative.csv", cumulative)
    _ingest(police_workspace.config)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        assert feature_parameters(con, settings).outages[0].rejected == ()
