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


def scorable_history(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The hourly rows of every vintage whose forecast has begun to come true (first hour observed)."""
    columns = ", ".join(f"h.{c}" for c in HISTORY_COLUMNS)
    return read_frame(
        con,
        f"""
        WITH ends AS (
            SELECT agency_id, max(bucket_start) AS last_observed FROM features.demand WHERE observed
            GROUP BY agency_id
        ),
        started AS (
            SELECT DISTINCT h.vintage, h.agency_id FROM forecast.history h JOIN ends USING (agency_id)
            WHERE h.bucket_start <= ends.last_observed
        ),
        final AS (
            SELECT {columns} FROM forecast.history h JOIN started USING (vintage, agency_id)
        )
        SELECT * FROM final ORDER BY vintage, agency_id, area_id, bucket_start
        """,
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


def write_accuracy(con: duckdb.DuckDBPyConnection, scored: pl.DataFrame, vintages: list[int]) -> int:
    """Replace the rows of ``vintages`` with ``scored``; returns the rows written."""
    frame = scored.select(list(ACCURACY_SCHEMA))
    with transaction(con):
        con.execute("DELETE FROM forecast.accuracy WHERE list_contains(?, vintage)", [vintages])
        con.register("_scored", frame.to_arrow())
        con.execute("INSERT INTO forecast.accuracy BY NAME SELECT * FROM _scored")
        con.unregister("_scored")
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
