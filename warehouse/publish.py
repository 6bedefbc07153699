"""Publishing: the forecast tables, the per-agency views and the publication log, all at once.

A publication replaces the tables of ``PUBLISHED`` (warehouse.published: forecast.demand,
staffing, shift_totals, areas, joint_crosswalk, joint_summary), appends the new vintage to
forecast.history and forecast.staffing_history, refreshes the views and their column comments and appends its
row to meta.publications, in one transaction: any failure leaves every table as it was.

Column comments: each table's are set by its migration; a per-agency view or a history
table (``HISTORIES``) copies a table's columns and takes that table's comments at every
refresh, so each sentence has one copy. forecast.joint_demand's are ``JOINT_DEMAND_COLUMNS``.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import polars as pl

from warehouse.db import durable, literal, quote, transaction
from warehouse.features_store import read_frame
from warehouse.published import PUBLISHED, published

AGENCY_VIEWS = tuple(table.name for table in PUBLISHED if table.agency_view)
"""forecast.<agency_id>_<kind>: one agency's rows of forecast.<kind>, with ``area_name`` beside
``area_id`` where the kind has areas."""
AREA_NAME = "The area's name (forecast.areas.name): a polygon's name, else the area id."
HISTORIES = {table.name: table.history for table in PUBLISHED if table.history}
JOINT_DEMAND_VIEW = """
CREATE OR REPLACE VIEW forecast.joint_demand AS
WITH demand AS (
    SELECT agency_id, area_id, bucket_start, mean FROM forecast.demand WHERE {sharing}
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
"""Joint demand sums the forecasts of the agencies that share them (``{sharing}``: config
``share_joint``); an agency that opted out is in no joint aggregate."""
JOINT_DEMAND_COLUMNS = {
    "area_id": "Lead agency's area the joint demand falls in.",
    "bucket_start": "Start of the forecast hour, UTC.",
    "incident_type": "Incident type with a [[roles]] entry in the config.",
    "lead_agency": "Agency that leads this incident type.",
    "supporting_agencies": "Agencies that support the lead agency on this incident type.",
    "expected_events": "Expected real events in the hour, a joint event counted once.",
    "expected_records": "Expected incident records in the hour, one per agency that records the event.",
    "agencies": "Agencies whose forecasts add up to these numbers (those that share joint aggregates).",
}


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
        SELECT agency_id, area_id, bucket_start, horizon, model_mean, model_p10, model_p50, model_p90,
            model_quantiles, drivers
        FROM forecast.demand ORDER BY agency_id, area_id, bucket_start
        """,
    )


def read_derived_features(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame] | None:
    """features.service_profile, joint_crosswalk, areas and joint_summary, by name; None when
    the features stage has not built them (a warehouse whose features predate them)."""
    names = ("service_profile", "joint_crosswalk", "areas", "joint_summary")
    built = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'features'"
        ).fetchall()
    }
    if not built.issuperset(names):
        return None
    order = {
        "service_profile": "agency_id, incident_type",
        "joint_crosswalk": "agency_id, area_id, incident_type, lead_area_id",
        "areas": "agency_id, area_id",
        "joint_summary": "agency_id, incident_type, lead_agency",
    }
    return {name: read_frame(con, f"SELECT * FROM features.{name} ORDER BY {order[name]}") for name in names}


def read_actuals(con: duckdb.DuckDBPyConnection, since: datetime) -> pl.DataFrame:
    """Per agency x hour: observed incidents since ``since`` (features.demand summed over areas);
    null in a feed outage's hours, which are missing data, not zeros."""
    return read_frame(
        con,
        """
        SELECT agency_id, bucket_start,
               CASE WHEN bool_and(observed) THEN sum(incidents)::DOUBLE END AS incidents
        FROM features.demand
        WHERE bucket_start >= ? GROUP BY ALL ORDER BY agency_id, bucket_start
        """,
        [since],
    )


def write_publication(
    con: duckdb.DuckDBPyConnection,
    tables: dict[str, pl.DataFrame],
    agencies: list[str],
    record: dict,
    joint_agencies: list[str] | None = None,
) -> dict:
    """Replace the published tables and views and log the publication, all or nothing.

    ``tables`` maps "demand", "staffing" and "joint_crosswalk" to their frames; ``record``
    holds meta.publications' descriptive columns; ``joint_agencies`` those whose forecasts
    make forecast.joint_demand (default: every agency). Returns the record as logged.
    """
    if missing := [t.name for t in PUBLISHED if t.name not in tables]:
        raise ValueError(f"a publication needs every published table; missing {missing}")
    with transaction(con):
        for table in PUBLISHED:
            con.register("_frame", tables[table.name].to_arrow())
            con.execute(f"DELETE FROM forecast.{table.name}")
            con.execute(f"INSERT INTO forecast.{table.name} BY NAME SELECT * FROM _frame")
            con.unregister("_frame")
        vintage = record["publication_id"]
        for current, history in HISTORIES.items():
            con.execute(
                f"INSERT INTO forecast.{history} BY NAME"
                f" SELECT *, {vintage} AS vintage FROM forecast.{current}"
            )
        refresh_views(con, agencies, joint_agencies)
        counts, checksums = {}, {}
        for table in PUBLISHED:
            rows = f"string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY {table.key})"
            count, checksum = con.execute(
                f"SELECT count(*), sha256(coalesce({rows}, '')) FROM forecast.{table.name} t"
            ).fetchone()
            counts[table.name], checksums[table.name] = count, checksum
        logged = {**record, "row_counts": counts, "checksums": checksums}
        columns = list(logged)
        values = [json.dumps(v, default=str) if isinstance(v, dict) else v for v in logged.values()]
        con.execute(
            f"INSERT INTO meta.publications ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            values,
        )
    durable(con)  # the views' column comments (warehouse.db.durable)
    return logged


def refresh_views(
    con: duckdb.DuckDBPyConnection, agencies: list[str], joint_agencies: list[str] | None = None
) -> None:
    """forecast.<agency>_<kind> for each configured agency (no others) and kind of
    ``AGENCY_VIEWS``, and forecast.joint_demand over ``joint_agencies`` (default: all), each
    column with its comment."""
    wanted = {f"{agency}_{kind}" for agency in agencies for kind in AGENCY_VIEWS}
    existing = {
        row[0]
        for row in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'forecast' AND NOT internal"
        ).fetchall()
    }
    for name in sorted(existing - wanted - {"joint_demand"}):
        con.execute(f"DROP VIEW forecast.{quote(name)}")
    derived = {history: current for current, history in HISTORIES.items()}
    by_area = {
        table
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_columns()"
            " WHERE schema_name = 'forecast' AND column_name = 'area_id'"
        ).fetchall()
    }
    for agency in agencies:
        for kind in AGENCY_VIEWS:
            view = f"{agency}_{kind}"
            rows = _agency_rows(kind, agency, by_area)
            con.execute(f"CREATE OR REPLACE VIEW forecast.{quote(view)} AS {rows}")
            about = f"forecast.{kind} rows of agency {agency}."
            con.execute(f"COMMENT ON VIEW forecast.{quote(view)} IS {literal(about)}")
            derived[view] = kind
    sharing = agencies if joint_agencies is None else joint_agencies
    members = ", ".join(literal(agency) for agency in sharing)
    con.execute(JOINT_DEMAND_VIEW.format(sharing=f"agency_id IN ({members})" if members else "false"))
    _comment_columns(con, derived)


def _agency_rows(kind: str, agency: str, by_area: set[str]) -> str:
    """The query of forecast.<agency>_<kind>: the agency's rows, each area's name beside its id."""
    mine = f"WHERE t.agency_id = {literal(agency)}"
    if kind not in by_area or "areas" not in by_area:
        return f"SELECT * FROM forecast.{kind} t {mine}"
    return (
        f"SELECT t.agency_id, t.area_id, a.name AS area_name, t.* EXCLUDE (agency_id, area_id) "
        f"FROM forecast.{kind} t LEFT JOIN forecast.areas a ON a.agency_id = t.agency_id "
        f"AND a.area_id = t.area_id {mine}"
    )


def _comment_columns(con: duckdb.DuckDBPyConnection, derived: dict[str, str]) -> None:
    """Comment each column of a ``derived`` relation (copy -> the table it copies) as its
    table's column is commented, and forecast.joint_demand's columns."""
    columns = con.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = 'forecast'"
    ).fetchall()
    texts = {(table, column): text for table, column, text in columns if text}
    texts |= {("joint_demand", column): text for column, text in JOINT_DEMAND_COLUMNS.items()}
    texts |= {(kind, "area_name"): AREA_NAME for kind in AGENCY_VIEWS}
    statements = [
        f"COMMENT ON COLUMN forecast.{quote(table)}.{quote(column)} IS {literal(text)};"
        for table, column, _ in columns
        if table in derived or table == "joint_demand"
        if (text := texts.get((derived.get(table, table), column)))
    ]
    if statements:
        con.execute("\n".join(statements))


def read_staffing(con: duckdb.DuckDBPyConnection, agency_id: str) -> pl.DataFrame:
    """One agency's published shifts, in time order."""
    return read_frame(
        con, "SELECT * FROM forecast.staffing WHERE agency_id = ? ORDER BY shift_start, area_id", [agency_id]
    )


def read_shift_totals(con: duckdb.DuckDBPyConnection, agency_id: str) -> pl.DataFrame:
    """One agency's published shift totals (forecast.shift_totals), in time order."""
    return read_frame(
        con,
        "SELECT * FROM forecast.shift_totals WHERE agency_id = ? ORDER BY shift_start, shift_name",
        [agency_id],
    )


def read_published(con: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame:
    """One current published table (warehouse.published: forecast.<name>), in its key's order."""
    return read_frame(con, f"SELECT * FROM forecast.{name} ORDER BY {published(name).key}")


def read_published_tables(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The current forecast.demand and forecast.staffing."""
    demand = read_frame(con, "SELECT * FROM forecast.demand ORDER BY agency_id, area_id, bucket_start")
    staffing = read_frame(con, "SELECT * FROM forecast.staffing ORDER BY agency_id, area_id, shift_start")
    return demand, staffing
