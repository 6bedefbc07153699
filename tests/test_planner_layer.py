"""The planner layer on small hand-made frames and an empty warehouse: shift totals, local
wall-clock times across DST, column comments, and the migration of a warehouse already published."""

from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
import pytest

from planning.publication import local_time
from planning.shift_totals import shift_totals
from warehouse.db import _migrations, migrate, transaction
from warehouse.publish import refresh_views

NEW_YORK = "America/New_York"
PLANNER_LAYER = "006_planner_layer.sql"


def _staffing() -> pl.DataFrame:
    """Two areas x two shifts of one agency, and one shift of another."""
    start = datetime(2026, 3, 7, 12, tzinfo=UTC)
    rows = []
    for agency, area, shift, offset, incidents, units, basis in (
        ("pd", "B01", "day", 0, 4.0, 3, "demand"),
        ("pd", "B02", "day", 0, 0.5, 1, "min_units"),
        ("pd", "B01", "night", 16, 2.0, 2, "demand"),
        ("pd", "B02", "night", 16, 0.2, 1, "min_units"),
        ("fd", "F01", "day", 0, 1.0, 2, "min_units"),
    ):
        begins = start + timedelta(hours=offset)
        rows.append({
            "agency_id": agency, "area_id": area, "shift_name": shift, "shift_date": date(2026, 3, 7),
            "shift_start": begins, "shift_end": begins + timedelta(hours=8),
            "shift_start_local": begins.replace(tzinfo=None) - timedelta(hours=5),
            "shift_end_local": begins.replace(tzinfo=None) + timedelta(hours=3), "shift_hours": 8.0,
            "expected_incidents": incidents, "workload_hours_p50": incidents, "workload_hours_p90": 2 * incidents,
            "recommended_units": units, "staffing_basis": basis, "fte": units * 1.5, "data_stale": False,
            "publication_id": 7,
        })  # fmt: skip
    return pl.DataFrame(rows, schema_overrides={"recommended_units": pl.Int32})


def test_shift_totals_sum_the_areas_of_each_shift():
    totals = shift_totals(_staffing())
    assert totals.select("agency_id", "shift_name").rows() == [("fd", "day"), ("pd", "day"), ("pd", "night")]
    day = totals.filter(agency_id="pd", shift_name="day").row(0, named=True)
    assert day["area_count"] == 2 and day["areas_at_min_units"] == 1
    assert day["expected_incidents"] == pytest.approx(4.5)
    assert day["workload_hours_p90"] == pytest.approx(9.0) and day["workload_hours_p50"] == pytest.approx(4.5)
    assert (day["recommended_units"], day["fte"]) == (4, pytest.approx(6.0))
    assert day["shift_start_local"] == datetime(2026, 3, 7, 7) and day["shift_hours"] == 8.0
    assert (day["data_stale"], day["publication_id"]) == (False, 7)
    assert totals.filter(agency_id="fd")["areas_at_min_units"].to_list() == [1]


def test_local_time_follows_each_agencys_zone_across_the_dst_changes():
    hours = [
        datetime(2026, 3, 8, 6, tzinfo=UTC),  # 01:00 EST
        datetime(2026, 3, 8, 7, tzinfo=UTC),  # 03:00 EDT: 02:00 does not happen
        datetime(2026, 11, 1, 5, tzinfo=UTC),  # 01:00 EDT
        datetime(2026, 11, 1, 6, tzinfo=UTC),  # 01:00 EST: the hour repeats
    ]
    frame = pl.DataFrame(
        {"agency_id": ["pd"] * 4 + ["lon"] * 4, "bucket_start": hours * 2},
        schema_overrides={"bucket_start": pl.Datetime("ns", "UTC")},
    )
    local = frame.select(local_time("bucket_start", {"pd": NEW_YORK, "lon": "Europe/London"}))["bucket_start"]
    assert local.dtype == pl.Datetime("us")
    assert local.to_list()[:4] == [
        datetime(2026, 3, 8, 1), datetime(2026, 3, 8, 3), datetime(2026, 11, 1, 1), datetime(2026, 11, 1, 1),
    ]  # fmt: skip
    assert local.to_list()[4:] == [  # London changes on other dates: GMT on both of New York's
        datetime(2026, 3, 8, 6), datetime(2026, 3, 8, 7), datetime(2026, 11, 1, 5), datetime(2026, 11, 1, 6),
    ]  # fmt: skip
    unknown = frame.select(local_time("bucket_start", {"fd": NEW_YORK}))["bucket_start"]
    assert unknown.is_null().all()


def test_every_column_of_every_forecast_table_and_view_has_a_comment(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    migrate(con)
    with transaction(con):
        refresh_views(con, ["pd", "fd"])
    missing = con.execute(
        """
        SELECT schema_name || '.' || table_name || '.' || column_name FROM duckdb_columns()
        WHERE (schema_name = 'forecast' OR (schema_name = 'meta' AND table_name = 'publications'))
          AND coalesce(comment, '') = ''
        """
    ).fetchall()
    assert missing == []
    assert (
        con.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'pd_shift_totals' AND column_name = 'fte'"
        ).fetchone()
        == con.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'shift_totals' AND column_name = 'fte'"
        ).fetchone()
    )
    views = con.execute("SELECT view_name FROM duckdb_views() WHERE schema_name = 'forecast'").fetchall()
    kinds = ("demand", "staffing", "shift_totals")
    assert {v for (v,) in views} == {f"{a}_{k}" for a in ("pd", "fd") for k in kinds} | {"joint_demand"}


def test_the_migration_keeps_what_was_published_and_puts_local_times_beside_utc(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("CREATE SCHEMA meta; CREATE TABLE meta.schema_migrations (version INTEGER PRIMARY KEY,"
                " name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")  # fmt: skip
    for version, name, sql in _migrations():
        if name < PLANNER_LAYER:  # a warehouse from before the planner layer
            con.execute(sql)
            con.execute("INSERT INTO meta.schema_migrations VALUES (?, ?, now())", [version, name])
    con.execute(
        """
        INSERT INTO forecast.demand VALUES ('pd', 'B01', '2026-03-08 06:00:00+00', 1, 1, 0, 1, 2, 1, 0, 1, 2, 1,
            [], 'time of day +5%', false, 'm', '3', 'run', '2026-03-08 07:00:00+00', '2026-03-08 06:00:00+00', 1);
        INSERT INTO forecast.history SELECT *, 1 FROM forecast.demand;
        CREATE VIEW forecast.pd_demand AS SELECT * FROM forecast.demand WHERE agency_id = 'pd';
        """
    )
    assert migrate(con)[0] == PLANNER_LAYER
    columns = [row[0] for row in con.execute("DESCRIBE forecast.pd_demand").fetchall()]
    assert columns[:5] == ["agency_id", "area_id", "bucket_start", "bucket_start_local", "horizon"]
    row = con.execute("SELECT horizon, drivers, bucket_start_local FROM forecast.pd_demand").fetchone()
    assert row == (1, "time of day +5%", None)
    assert con.execute("SELECT count(*), max(vintage) FROM forecast.history").fetchone() == (1, 1)
    staffing = [row[0] for row in con.execute("DESCRIBE forecast.staffing").fetchall()]
    assert staffing.index("shift_end_local") == staffing.index("shift_start_local") + 1
    assert staffing.index("staffing_basis") == staffing.index("recommended_units") + 1
    assert con.execute("SELECT count(*) FROM forecast.areas").fetchone() == (0,)
