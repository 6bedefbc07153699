"""Reads and writes of `jointcast exercise`: the published plan and what arrived in, exercise.* out.

The exercise tables (migration 018) are written once, in one transaction, when the exercise is scored;
an exercise workspace holds one exercise, keyed by its file's SHA-256.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from warehouse.db import transaction
from warehouse.features_store import read_frame


def finished_exercise(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The exercise this workspace already holds (exercise.runs), or None."""
    frame = read_frame(con, "SELECT * FROM exercise.runs")
    return frame.row(0, named=True) if frame.height else None


def alert_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.execute("SELECT alert_id FROM quality.alerts").fetchall()}


def incident_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM core.incidents").fetchone()[0]


def published_plan(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame, str | None]:
    """The live publication: forecast.demand (agency_id, area_id, bucket_start, mean, p10, p90),
    forecast.staffing, and the model version that made it."""
    forecast = read_frame(con, "SELECT agency_id, area_id, bucket_start, mean, p10, p90, model_version"
                               " FROM forecast.demand")  # fmt: skip
    staffing = read_frame(con, "SELECT * EXCLUDE (assumptions), CAST(assumptions AS VARCHAR) AS assumptions"
                               " FROM forecast.staffing")  # fmt: skip
    versions = forecast["model_version"].unique().to_list()
    return forecast.drop("model_version"), staffing, (versions[0] if len(versions) == 1 else None)


def hourly_actuals(con: duckdb.DuckDBPyConnection, cells: pl.DataFrame, since: datetime) -> pl.DataFrame:
    """features.demand (agency_id, area_id, bucket_start, incidents) of the agency-areas from ``since``."""
    con.register("_exercise_cells", cells.select("agency_id", "area_id").unique().to_arrow())
    try:
        return read_frame(
            con,
            "SELECT d.agency_id, d.area_id, d.bucket_start, d.incidents FROM features.demand d"
            " JOIN _exercise_cells USING (agency_id, area_id) WHERE d.bucket_start >= ? AND d.observed",
            [since],
        )
    finally:
        con.unregister("_exercise_cells")


def first_records(con: duckdb.DuckDBPyConnection, truth: pl.DataFrame) -> dict[str, datetime | None]:
    """Per surge, the first record received in one of its area-hours (truth: surge_id, agency_id,
    area_id, bucket_start)."""
    con.register(
        "_exercise_truth", truth.select("surge_id", "agency_id", "area_id", "bucket_start").to_arrow()
    )
    try:
        rows = con.execute(
            "SELECT t.surge_id, min(i.received_at) FROM _exercise_truth t JOIN core.incidents i"
            " ON i.agency_id = t.agency_id AND i.area_id = t.area_id"
            " AND i.received_at >= t.bucket_start AND i.received_at < t.bucket_start + INTERVAL 1 HOUR"
            " GROUP BY t.surge_id"
        ).fetchall()
    finally:
        con.unregister("_exercise_truth")
    found = dict(rows)
    return {surge_id: found.get(surge_id) for surge_id in truth["surge_id"].unique().to_list()}


def read_alerts_of(con: duckdb.DuckDBPyConnection, deliveries: pl.DataFrame) -> pl.DataFrame:
    """Each delivery's alerts (deliveries: delivered_until, alert_ids) with what they say."""
    pairs = deliveries.select("delivered_until", "alert_ids").explode("alert_ids").drop_nulls("alert_ids")
    con.register("_exercise_alerts", pairs.rename({"alert_ids": "alert_id"}).to_arrow())
    try:
        return read_frame(
            con,
            "SELECT d.delivered_until, a.alert_id, a.agency_id, a.measure, a.size, a.threshold,"
            " a.window_start, a.window_end FROM _exercise_alerts d JOIN quality.alerts a USING (alert_id)"
            " ORDER BY d.delivered_until, a.agency_id, a.measure",
        )
    finally:
        con.unregister("_exercise_alerts")


def write_exercise(
    con: duckdb.DuckDBPyConnection, run: dict, surges: pl.DataFrame, deliveries: pl.DataFrame,
    scores: pl.DataFrame,
) -> None:  # fmt: skip
    """Every exercise table replaced in one transaction."""
    frames = {"exercise.runs": pl.DataFrame([run]), "exercise.surges": surges,
              "exercise.deliveries": deliveries, "exercise.scores": scores}  # fmt: skip
    with transaction(con):
        for table, frame in frames.items():
            con.execute(f"DELETE FROM {table}")
            con.register("_exercise_rows", frame.to_arrow())
            try:
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _exercise_rows")
            finally:
                con.unregister("_exercise_rows")


def read_scores(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return read_frame(con, "SELECT * FROM exercise.scores ORDER BY surge_id, agency_id, measure")
