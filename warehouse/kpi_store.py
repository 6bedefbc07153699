"""The kpi.* tables: what they are computed from, how they are written, and who sees which rows.

Written whole in one transaction (a failure leaves the old KPIs), so a rerun on the same
data writes the same rows. The per-agency views ``kpi.<agency_id>_<table>`` follow the
forecast tables' isolation rule: an agency sees its own rows, and of the joint events only
aggregates (counts, partner and lead agencies), never another agency's incidents. A feed's
sharing rows are seen by every agency whose records it carries; its view adds
``freshness_hours``, the hours from the feed's newest received_at to the moment of the query.
``jointcast export --agency`` exports the same rows (``agency_queries``).
"""

from __future__ import annotations

import duckdb
import polars as pl

from planning.kpi_tables import KpiInputs
from warehouse.db import literal, quote, transaction
from warehouse.features_store import read_frame

KPI_TABLES = {
    "demand": "agency_id, period, period_start, incident_type, call_source",
    "response": "agency_id, period, period_start, priority, measure",
    "joint": "agency_id, period, period_start, lead_agency",
    "sharing": "feed_id, period, period_start",
    "planning": "agency_id, period, period_start",
}
"""The kpi.* tables (planning.kpi_tables.build_kpis makes them), each with the columns its rows are
ordered by in views, exports and checksums."""
FRESHNESS = (
    "round(epoch(now() - max(newest_received_at) OVER (PARTITION BY feed_id)) / 3600, 2) AS freshness_hours"
)


def agency_queries(agency_id: str, freshness: bool = True) -> dict[str, str]:
    """kpi table name -> the query of the agency's rows of it (its view and its mart; the mart's
    ``kpi.sharing`` leaves out the freshness, which depends on when it is read)."""
    mine = literal(agency_id)
    queries = {}
    for name in KPI_TABLES:
        if name == "sharing":
            queries[name] = (
                f"SELECT *{f', {FRESHNESS}' if freshness else ''} FROM kpi.sharing"
                f" WHERE list_contains(agency_ids, {mine}) ORDER BY {KPI_TABLES[name]}"
            )
        else:
            queries[name] = f"SELECT * FROM kpi.{name} WHERE agency_id = {mine} ORDER BY {KPI_TABLES[name]}"
    return queries


def read_kpi_inputs(con: duckdb.DuckDBPyConnection) -> KpiInputs:
    """core.incidents, meta.batches, the quarantine's reasons, the published shifts and, once the
    monitor has scored any, forecast.accuracy."""
    incidents = read_frame(
        con,
        """
        SELECT incident_key, agency_id, feed_id, incident_type, call_source, priority, received_at,
               dispatched_at, on_scene_at, joint_event_id, batch_id
        FROM core.incidents ORDER BY incident_key
        """,
    )
    batches = read_frame(
        con,
        "SELECT feed_id, batch_id, loaded_at, status, rows_read, rows_loaded, rows_quarantined"
        " FROM meta.batches ORDER BY batch_id",
    )
    reasons = read_frame(
        con,
        """
        SELECT batch_id, split_part(reason, ':', 1) AS reason, count(*)::BIGINT AS "rows"
        FROM (SELECT batch_id, unnest(reasons) AS reason FROM quality.quarantine)
        GROUP BY ALL ORDER BY batch_id, reason
        """,
    )
    shifts = read_frame(
        con, "SELECT agency_id, shift_date, shift_start, recommended_units FROM forecast.shift_totals"
    )
    return KpiInputs(incidents, batches, reasons, shifts, _read_accuracy(con))


def _read_accuracy(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """What kpi.planning reads of forecast.accuracy (migration 013; empty before `monitor` ran)."""
    return read_frame(
        con, "SELECT agency_id, local_day, actual, forecast, inside_80 AS inside FROM forecast.accuracy"
    )


def write_kpis(
    con: duckdb.DuckDBPyConnection, tables: dict[str, pl.DataFrame], agencies: list[str]
) -> dict[str, int]:
    """Replace every kpi table and refresh the per-agency views, all or nothing; rows per table."""
    if missing := [name for name in KPI_TABLES if name not in tables]:
        raise ValueError(f"the KPIs need every kpi table; missing {missing}")
    with transaction(con):
        for name in KPI_TABLES:
            con.register("_frame", tables[name].to_arrow())
            con.execute(f"DELETE FROM kpi.{name}")
            con.execute(f"INSERT INTO kpi.{name} BY NAME SELECT * FROM _frame")
            con.unregister("_frame")
        _refresh_views(con, agencies)
    return {name: con.execute(f"SELECT count(*) FROM kpi.{name}").fetchone()[0] for name in KPI_TABLES}


def _refresh_views(con: duckdb.DuckDBPyConnection, agencies: list[str]) -> None:
    """kpi.<agency>_<table> for each configured agency (views of agencies no longer configured go)."""
    wanted = {f"{agency}_{name}": (agency, name) for agency in agencies for name in KPI_TABLES}
    existing = {
        name
        for (name,) in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'kpi' AND NOT internal"
        ).fetchall()
    }
    for name in sorted(existing - set(wanted)):
        con.execute(f"DROP VIEW kpi.{quote(name)}")
    for view, (agency, name) in wanted.items():
        con.execute(f"CREATE OR REPLACE VIEW kpi.{quote(view)} AS {agency_queries(agency)[name]}")
        con.execute(f"COMMENT ON VIEW kpi.{quote(view)} IS {literal(f'kpi.{name} rows of agency {agency}.')}")


def table_checksums(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """kpi table -> SHA-256 of its rows in key order: equal checksums, equal tables."""
    sums = {}
    for name in KPI_TABLES:
        rows = f"string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY {KPI_TABLES[name]})"
        sums[name] = con.execute(f"SELECT sha256(coalesce({rows}, '')) FROM kpi.{name} t").fetchone()[0]
    return sums


def read_agency_kpis(con: duckdb.DuckDBPyConnection, agency_id: str) -> dict[str, pl.DataFrame]:
    """The agency's rows of every kpi table, as its views show them (empty frames before any KPIs)."""
    return {name: read_frame(con, query) for name, query in agency_queries(agency_id).items()}
