"""Reads and writes of the monitor stage: published vintages and actuals in, forecast.accuracy and
quality.alerts out.

Rescoring a vintage replaces its rows in one transaction, and an alert's id says what it is
(agency, measure, window), so a rerun on the same data writes the same rows and no duplicates.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import polars as pl

from planning.accuracy import ACCURACY_SCHEMA
from planning.drift import ALERT_SCHEMA
from warehouse.db import quote, transaction
from warehouse.features_store import read_frame

HISTORY_COLUMNS = ("vintage", "agency_id", "area_id", "bucket_start", "horizon", "mean", "model_version")


def observed_ends(con: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    """Per agency, the end (exclusive) of the panel's observed hours."""
    rows = con.execute(
        "SELECT agency_id, max(bucket_start) + INTERVAL 1 HOUR FROM features.demand WHERE observed"
        " GROUP BY agency_id"
    ).fetchall()
    return dict(rows)


def scorable_history(con: duckdb.DuckDBPyConnection, recent_days: int) -> pl.DataFrame:
    """The hourly rows of each vintage and agency to (re)score: its forecast has begun to come true,
    and it is not scored yet, still runs into the last ``recent_days`` of actuals (late records land
    there), or its scored shifts stop more than a day short of its end. A vintage scored whole and
    long past is left as it stands, so the work stays bounded as publications accumulate."""
    columns = ", ".join(f"h.{c}" for c in HISTORY_COLUMNS)
    return read_frame(
        con,
        f"""
        WITH ends AS (
            SELECT agency_id, max(bucket_start) AS last_observed FROM features.demand WHERE observed
            GROUP BY agency_id
        ),
        spans AS (
            SELECT vintage, agency_id, min(bucket_start) AS first_hour, max(bucket_start) AS last_hour
            FROM forecast.history GROUP BY vintage, agency_id
        ),
        scored AS (
            SELECT vintage, agency_id, max(shift_end) AS scored_to FROM forecast.accuracy
            GROUP BY vintage, agency_id
        ),
        pending AS (
            SELECT s.vintage, s.agency_id
            FROM spans s JOIN ends e USING (agency_id) LEFT JOIN scored d USING (vintage, agency_id)
            WHERE s.first_hour <= e.last_observed AND (
                d.scored_to IS NULL
                OR s.last_hour >= e.last_observed - to_days(CAST(? AS INTEGER))
                OR d.scored_to <= s.last_hour - INTERVAL 23 HOUR
            )
        ),
        final AS (
            SELECT {columns} FROM forecast.history h JOIN pending USING (vintage, agency_id)
        )
        SELECT * FROM final ORDER BY vintage, agency_id, area_id, bucket_start
        """,
        [recent_days],
    )


def panel_actuals(con: duckdb.DuckDBPyConnection, since: datetime) -> pl.DataFrame:
    """features.demand from ``since``: agency_id, area_id, bucket_start, incidents, observed."""
    return read_frame(
        con,
        "SELECT agency_id, area_id, bucket_start, incidents, observed FROM features.demand"
        " WHERE bucket_start >= ?",
        [since],
    )


def shift_dispersions(con: duckdb.DuckDBPyConnection) -> dict[int, dict[str, float]]:
    """Publication id -> agency -> the shift grain's alpha it was published with."""
    rows = con.execute("SELECT publication_id, dispersion FROM meta.publications").fetchall()
    return {int(pid): json.loads(text or "{}").get("shift", {}) for pid, text in rows}


def write_accuracy(con: duckdb.DuckDBPyConnection, scored: pl.DataFrame, rescored: pl.DataFrame) -> int:
    """Replace the rows of the ``rescored`` (vintage, agency_id) pairs with ``scored``; returns the rows
    written."""
    frame = scored.select(list(ACCURACY_SCHEMA))
    with transaction(con):
        con.register("_rescored", rescored.select("vintage", "agency_id").to_arrow())
        con.execute(
            "DELETE FROM forecast.accuracy a USING _rescored r"
            " WHERE a.vintage = r.vintage AND a.agency_id = r.agency_id"
        )
        con.unregister("_rescored")
        con.register("_scored", frame.to_arrow())
        con.execute("INSERT INTO forecast.accuracy BY NAME SELECT * FROM _scored")
        con.unregister("_scored")
    return frame.height


WEEKLY_COLUMNS = (
    "agency_id", "week", "vintages", "area_shifts", "hours", "actual", "forecast", "wape", "bias",
    "coverage_80", "backtest_wape", "backtest_bias", "backtest_coverage_80", "champion_version",
)  # fmt: skip


def write_weekly(con: duckdb.DuckDBPyConnection, weekly: pl.DataFrame) -> int:
    """Replace forecast.accuracy_weekly whole."""
    frame = weekly.select(list(WEEKLY_COLUMNS))
    with transaction(con):
        con.execute("DELETE FROM forecast.accuracy_weekly")
        con.register("_weekly", frame.to_arrow())
        con.execute("INSERT INTO forecast.accuracy_weekly BY NAME SELECT * FROM _weekly")
        con.unregister("_weekly")
    return frame.height


def read_accuracy(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> pl.DataFrame:
    where, parameters = ("WHERE shift_start >= ?", [since]) if since is not None else ("", [])
    sql = f"SELECT * FROM forecast.accuracy {where} ORDER BY vintage, shift_start"
    return read_frame(con, sql, parameters)


def record_alerts(
    con: duckdb.DuckDBPyConnection, alerts: pl.DataFrame, action: str, now: datetime
) -> pl.DataFrame:
    """Insert the alerts not raised before (by id) with ``action``; returns those new ones."""
    frame = alerts.select(list(ALERT_SCHEMA))
    with transaction(con):
        con.register("_alerts", frame.to_arrow())
        new = read_frame(
            con, "SELECT * FROM _alerts WHERE alert_id NOT IN (SELECT alert_id FROM quality.alerts)"
        )
        con.register("_new", new.to_arrow())
        con.execute(
            "INSERT INTO quality.alerts BY NAME SELECT *, ? AS raised_at, ? AS action FROM _new",
            [now, action],
        )
        con.unregister("_alerts")
        con.unregister("_new")
    return new


def set_alert_action(con: duckdb.DuckDBPyConnection, alert_ids: list[str], action: str) -> None:
    con.execute("UPDATE quality.alerts SET action = ? WHERE list_contains(?, alert_id)", [action, alert_ids])


def read_alerts(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> pl.DataFrame:
    where, parameters = ("WHERE window_end > ?", [since]) if since is not None else ("", [])
    sql = f"SELECT * FROM quality.alerts {where} ORDER BY raised_at, agency_id, measure"
    return read_frame(con, sql, parameters)


def agency_hourly_demand(con: duckdb.DuckDBPyConnection, since: datetime) -> pl.DataFrame:
    """Per agency and observed hour from ``since``: the agency's incidents (its areas summed)."""
    return read_frame(
        con,
        "SELECT agency_id, bucket_start, sum(incidents) AS incidents FROM features.demand"
        " WHERE observed AND bucket_start >= ? GROUP BY ALL ORDER BY agency_id, bucket_start",
        [since],
    )


def type_counts(con: duckdb.DuckDBPyConnection, since: datetime) -> pl.DataFrame:
    """Per agency, incident type and hour (received) from ``since``: the incidents recorded."""
    return read_frame(
        con,
        "SELECT agency_id, incident_type, date_trunc('hour', received_at) AS bucket_start,"
        " count(*) AS incidents FROM core.incidents WHERE received_at >= ? GROUP BY ALL",
        [since],
    )


def feature_values(
    con: duckdb.DuckDBPyConnection, features: tuple[str, ...], since: datetime, band: int
) -> pl.DataFrame:
    """Per agency and hour from ``since``: the named model inputs of the first horizon band, summed
    over the agency's areas; a name the inputs do not have is left out."""
    known = {row[0] for row in con.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'features' AND table_name = 'model_inputs'"
    ).fetchall()}  # fmt: skip
    present = [name for name in features if name in known]
    if not present:
        return pl.DataFrame(schema={"agency_id": pl.String, "bucket_start": pl.Datetime("us", "UTC")})
    sums = ", ".join(f"sum({quote(name)}) AS {quote(name)}" for name in present)
    return read_frame(
        con,
        f"SELECT agency_id, bucket_start, {sums} FROM features.model_inputs"
        " WHERE min_lag = ? AND bucket_start >= ? GROUP BY agency_id, bucket_start",
        [band, since],
    )
