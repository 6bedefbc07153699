"""Publishing: the forecast tables, the per-agency views and the publication log, all at once.

A publication replaces forecast.demand, forecast.staffing and forecast.joint_crosswalk,
appends the new vintage to forecast.history and forecast.staffing_history, refreshes the
views and appends its row to meta.publications, in one transaction: any failure leaves
every table as it was.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import polars as pl

from warehouse.db import literal, quote, transaction
from warehouse.features_store import read_frame

PUBLISHED = {  # table -> the key its checksum orders rows by
    "demand": "agency_id, area_id, bucket_start",
    "staffing": "agency_id, area_id, shift_start",
    "joint_crosswalk": "agency_id, area_id, incident_type, lead_area_id",
}
JOINT_DEMAND_VIEW = """
CREATE OR REPLACE VIEW forecast.joint_demand AS
WITH demand AS (
    SELECT agency_id, area_id, bucket_start, mean FROM forecast.demand
),
crosswalk AS (
    SELECT * FROM forecast.joint_crosswalk
),
final AS (
    SELECT
        c.lead_area_id AS area_id,
        d.bucket_start,
        c.incident_type,
        c.lead_agency,
        any_value(c.supporting_agencies) AS supporting_agencies,
        sum(d.mean * c.event_share) AS expected_events,
        sum(d.mean * c.record_share) AS expected_records,
        list(DISTINCT d.agency_id ORDER BY d.agency_id) AS agencies
    FROM demand d
    JOIN crosswalk c USING (agency_id, area_id)
    GROUP BY c.lead_area_id, d.bucket_start, c.incident_type, c.lead_agency
)
SELECT * FROM final
"""


def next_publication_id(con: duckdb.DuckDBPyConnection) -> int:
    """The next number in the log; a concurrent publisher taking it first fails on the key."""
    return con.execute("SELECT coalesce(max(publication_id), 0) + 1 FROM meta.publications").fetchone()[0]


def latest_publication(con: duckdb.DuckDBPyConnection) -> dict | None:
    row = read_frame(con, "SELECT * FROM meta.publications ORDER BY publication_id DESC LIMIT 1")
    return row.to_dicts()[0] if row.height else None


def publication_at(con: duckdb.DuckDBPyConnection, when: datetime) -> dict | None:
    """The publication planners saw at ``when``: the last one made by then."""
    row = read_frame(
        con,
        "SELECT * FROM meta.publications WHERE published_at <= ? ORDER BY publication_id DESC LIMIT 1",
        [when],
    )
    return row.to_dicts()[0] if row.height else None


def read_model_forecast(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The model's own numbers of the current publication (overrides not applied)."""
    return read_frame(
        con,
        """
        SELECT agency_id, area_id, bucket_start, horizon, model_mean, model_p10, model_p50, model_p90, drivers
        FROM forecast.demand ORDER BY agency_id, area_id, bucket_start
        """,
    )


def read_recent_incidents(con: duckdb.DuckDBPyConnection, days: int) -> pl.DataFrame:
    """Each agency's incidents of its last ``days`` days (service times, type mix, joint events)."""
    return read_frame(
        con,
        f"""
        WITH ends AS (
            SELECT agency_id, max(received_at) - INTERVAL {int(days)} DAY AS since
            FROM core.incidents GROUP BY agency_id
        )
        SELECT incident_key, agency_id, area_id, incident_type, call_source, received_at, dispatched_at,
               on_scene_at, cleared_at, lat, lon, joint_event_id
        FROM core.incidents JOIN ends USING (agency_id)
        WHERE received_at >= since
        ORDER BY incident_key
        """,
    )


def read_actuals(con: duckdb.DuckDBPyConnection, since: datetime) -> pl.DataFrame:
    """Per agency x hour: observed incidents since ``since`` (features.demand summed over areas)."""
    return read_frame(
        con,
        """
        SELECT agency_id, bucket_start, sum(incidents)::DOUBLE AS incidents FROM features.demand
        WHERE bucket_start >= ? GROUP BY ALL ORDER BY agency_id, bucket_start
        """,
        [since],
    )


def write_publication(
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, pl.DataFrame],
    agencies: list[str],
    record: dict,
) -> dict:
    """Replace the published tables and views and log the publication, all or nothing.

    ``tables`` maps "demand", "staffing" and "joint_crosswalk" to their frames; ``record``
    holds meta.publications' descriptive columns. Returns the record as logged.
    """
    with transaction(con):
        for name, frame in tables.items():
            con.register("_frame", frame.to_arrow())
            con.execute(f"DELETE FROM forecast.{name}")
            con.execute(f"INSERT INTO forecast.{name} BY NAME SELECT * FROM _frame")
            con.unregister("_frame")
        vintage = record["publication_id"]
        for current, history in (("demand", "history"), ("staffing", "staffing_history")):
            con.execute(
                f"INSERT INTO forecast.{history} BY NAME"
                f" SELECT *, {vintage} AS vintage FROM forecast.{current}"
            )
        refresh_views(con, agencies)
        counts, checksums = {}, {}
        for name, key in PUBLISHED.items():
            rows = f"string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY {key})"
            count, checksum = con.execute(
                f"SELECT count(*), sha256(coalesce({rows}, '')) FROM forecast.{name} t"
            ).fetchone()
            counts[name], checksums[name] = count, checksum
        logged = {**record, "row_counts": counts, "checksums": checksums}
        columns = list(logged)
        values = [json.dumps(v, default=str) if isinstance(v, dict) else v for v in logged.values()]
        con.execute(
            f"INSERT INTO meta.publications ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            values,
        )
    return logged


def refresh_views(con: duckdb.DuckDBPyConnection, agencies: list[str]) -> None:
    """forecast.<agency>_demand and _staffing for each configured agency (no others), and
    forecast.joint_demand."""
    wanted = {f"{agency}_{kind}" for agency in agencies for kind in ("demand", "staffing")}
    existing = {
        row[0]
        for row in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'forecast' AND NOT internal"
        ).fetchall()
    }
    for name in sorted(existing - wanted - {"joint_demand"}):
        con.execute(f"DROP VIEW forecast.{quote(name)}")
    for agency in agencies:
        for kind in ("demand", "staffing"):
            con.execute(
                f"CREATE OR REPLACE VIEW forecast.{quote(f'{agency}_{kind}')} AS "
                f"SELECT * FROM forecast.{kind} WHERE agency_id = {literal(agency)}"
            )
    con.execute(JOINT_DEMAND_VIEW)


def read_staffing(con: duckdb.DuckDBPyConnection, agency_id: str) -> pl.DataFrame:
    """One agency's published shifts, in time order."""
    return read_frame(
        con, "SELECT * FROM forecast.staffing WHERE agency_id = ? ORDER BY shift_start, area_id", [agency_id]
    )


def read_published_tables(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The current forecast.demand and forecast.staffing."""
    demand = read_frame(con, "SELECT * FROM forecast.demand ORDER BY agency_id, area_id, bucket_start")
    staffing = read_frame(con, "SELECT * FROM forecast.staffing ORDER BY agency_id, area_id, shift_start")
    return demand, staffing
