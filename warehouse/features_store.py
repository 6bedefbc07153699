"""Reads and writes around the features stage: core incidents in, features.* tables out."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import duckdb
import polars as pl

from warehouse.db import transaction
from warehouse.stages import record_inputs

INCIDENT_COLUMNS = (
    "incident_key", "agency_id", "feed_id", "area_id", "incident_type", "call_source", "received_at",
    "dispatched_at", "on_scene_at", "cleared_at", "lat", "lon", "units", "unit_hours",
)  # fmt: skip


def read_frame(con: duckdb.DuckDBPyConnection, sql: str, parameters: list | None = None) -> pl.DataFrame:
    """A query's result as a polars frame (through Arrow)."""
    with warnings.catch_warnings():
        # DuckDB notes the copy Arrow makes of a DB-API result; that result is what leaves
        # the connection free for the next statement, so the copy is the price paid.
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
        return pl.from_arrow(con.execute(sql, parameters or []).to_arrow_table())


def read_incidents(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return read_frame(con, f"SELECT {', '.join(INCIDENT_COLUMNS)} FROM core.incidents ORDER BY incident_key")


def read_events(path: Path | None) -> pl.DataFrame | None:
    """The planned-events file as text columns (features.calendar parses and checks it)."""
    if path is None:
        return None
    return pl.read_csv(path, infer_schema=False)


def write_features(
    con: duckdb.DuckDBPyConnection,
    joint_events: pl.DataFrame,
    tables: dict[str, pl.DataFrame],
    model_input_parts: Iterable[pl.DataFrame],
    inputs_digest: str | None = None,
    outages: pl.DataFrame | None = None,
) -> dict[str, int]:
    """Replace the features.* tables (joint links included) and quality.outages in one transaction.

    Model inputs arrive a part at a time (``FeatureSet.model_input_parts``: one agency x horizon
    band), so only one part is in memory. The ``inputs_digest`` they were built from is recorded in
    the same transaction.
    """
    counts = {}
    with transaction(con):
        con.register("_links", joint_events.to_arrow())
        con.execute("DELETE FROM features.joint_links")
        con.execute(
            "INSERT INTO features.joint_links SELECT incident_key, joint_event_id FROM _links"
            " WHERE joint_event_id IS NOT NULL"
        )
        con.unregister("_links")
        for name, frame in tables.items():
            con.register("_frame", frame.to_arrow())
            con.execute(f"CREATE OR REPLACE TABLE features.{name} AS SELECT * FROM _frame")
            con.unregister("_frame")
            counts[name] = frame.height
        con.execute("DROP TABLE IF EXISTS features.model_inputs")
        counts["model_inputs"] = 0
        for number, frame in enumerate(model_input_parts):
            con.register("_frame", frame.to_arrow())
            if number == 0:  # the first part makes the table, even an empty one
                con.execute("CREATE TABLE features.model_inputs AS SELECT * FROM _frame")
            else:
                con.execute("INSERT INTO features.model_inputs SELECT * FROM _frame")
            con.unregister("_frame")
            counts["model_inputs"] += frame.height
        if outages is not None:
            con.register("_outages", outages.to_arrow())
            con.execute("DELETE FROM quality.outages")
            con.execute(f"INSERT INTO quality.outages ({', '.join(outages.columns)}) SELECT * FROM _outages")
            con.unregister("_outages")
        if inputs_digest is not None:
            record_inputs(con, "features", inputs_digest)
    return counts


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows in each features table but the joint links (what a skipped rebuild reports)."""
    names = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'features'"
        " AND table_name <> 'joint_links' ORDER BY table_name"
    ).fetchall()
    return {name: con.execute(f"SELECT count(*) FROM features.{name}").fetchone()[0] for (name,) in names}
