"""Scenarios in the warehouse: stored with who, when and why; their runs' rows in ``scenario.*``.

A run's rows replace that scenario's rows only, in one transaction; nothing here writes a
``forecast.*`` table, so the live publication (and its checksums) stays as it was.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import duckdb
import polars as pl

from warehouse.db import transaction
from warehouse.features_store import read_frame

OUTPUTS = ("demand", "staffing", "difference", "mutual_aid")
"""The scenario.* tables a run writes, keyed by scenario_id, in the order they are written."""
ORDER = {
    "demand": "agency_id, area_id, bucket_start",
    "staffing": "agency_id, area_id, shift_start",
    "difference": "agency_id, area_id, shift_start",
    "mutual_aid": "agency_id, shift_start",
}
"""Each output table's key within a scenario (its rows' order in reads, marts and exports)."""
SCENARIO_COLUMNS = (
    "scenario_id, name, description, reason, created_by, created_at, last_run_at, baseline_publication_id,"
    " model_version"
)
"""What an agency's mart and export say of a scenario (its file, which may describe other agencies, stays)."""


def add_scenario(
    con: duckdb.DuckDBPyConnection, *, name: str, description: str, spec_json: str, source_file: str,
    reason: str, created_by: str,
) -> int:  # fmt: skip
    """Store a scenario; a name already stored is an error (drop it first)."""
    if not reason.strip():
        raise ValueError("--reason is required: say why, for the audit trail")
    with transaction(con):
        if con.execute("SELECT 1 FROM scenario.scenarios WHERE name = ?", [name]).fetchone():
            raise ValueError(f"scenario '{name}' is already stored: `jointcast scenario drop {name}` first")
        scenario_id = con.execute(
            "SELECT coalesce(max(scenario_id), 0) + 1 FROM scenario.scenarios"
        ).fetchone()[0]
        con.execute(
            "INSERT INTO scenario.scenarios (scenario_id, name, description, spec, spec_sha256, source_file,"
            " reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
            [scenario_id, name, description, spec_json, hashlib.sha256(spec_json.encode()).hexdigest(),
             source_file, reason.strip(), created_by],
        )  # fmt: skip
    return scenario_id


def _stored(con: duckdb.DuckDBPyConnection) -> bool:
    """The warehouse has the scenario tables (a read-only session on one not yet migrated has not)."""
    found = "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'scenario' AND table_name = 'scenarios'"
    return con.execute(found).fetchone()[0] > 0


def read_scenarios(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    if not _stored(con):
        return pl.DataFrame(schema={"scenario_id": pl.Int64, "name": pl.String})
    return read_frame(con, "SELECT * FROM scenario.scenarios ORDER BY scenario_id")


def read_scenario(con: duckdb.DuckDBPyConnection, name: str) -> dict:
    """One stored scenario by name (or id); one line when there is none."""
    if not _stored(con):
        raise LookupError(f"no scenario '{name}': none is stored yet (`jointcast scenario add FILE`)")
    row = read_frame(
        con,
        "SELECT * FROM scenario.scenarios WHERE name = ? OR CAST(scenario_id AS VARCHAR) = ?",
        [name, name],
    )
    if row.is_empty():
        raise LookupError(f"no scenario '{name}': `jointcast scenario list` shows those stored")
    return row.to_dicts()[0]


def read_scenario_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Each agency's run scenarios: agency_id, name, reason, created_by, last_run_at (for the index pages)."""
    schema = {"agency_id": pl.String, "name": pl.String, "reason": pl.String, "created_by": pl.String,
              "last_run_at": pl.Datetime("us", "UTC")}  # fmt: skip
    if not _stored(con):
        return pl.DataFrame(schema=schema)
    return read_frame(
        con,
        "SELECT DISTINCT d.agency_id, s.name, s.reason, s.created_by, s.last_run_at"
        " FROM scenario.scenarios AS s JOIN scenario.difference AS d USING (scenario_id)"
        " ORDER BY d.agency_id, s.name",
    )


def drop_scenario(con: duckdb.DuckDBPyConnection, scenario_id: int) -> None:
    """The scenario and every row its runs wrote."""
    with transaction(con):
        for table in OUTPUTS:
            con.execute(f"DELETE FROM scenario.{table} WHERE scenario_id = ?", [scenario_id])
        con.execute("DELETE FROM scenario.scenarios WHERE scenario_id = ?", [scenario_id])


def write_scenario_run(
    con: duckdb.DuckDBPyConnection, scenario_id: int, tables: dict[str, pl.DataFrame],
    baseline_publication: int, model_version: str, run_at: datetime,
) -> dict[str, int]:  # fmt: skip
    """Replace the scenario's rows of every scenario.* output table, all or nothing; rows per table."""
    counts = {}
    with transaction(con):
        for table in OUTPUTS:
            frame = tables[table].with_columns(scenario_id=pl.lit(scenario_id, pl.Int64))
            con.execute(f"DELETE FROM scenario.{table} WHERE scenario_id = ?", [scenario_id])
            con.register("_frame", frame.to_arrow())
            con.execute(f"INSERT INTO scenario.{table} BY NAME SELECT * FROM _frame")
            con.unregister("_frame")
            counts[table] = frame.height
        con.execute(
            "UPDATE scenario.scenarios SET last_run_at = ?, baseline_publication_id = ?, model_version = ?"
            " WHERE scenario_id = ?",
            [run_at, baseline_publication, model_version, scenario_id],
        )
    return counts


def read_scenario_table(
    con: duckdb.DuckDBPyConnection, table: str, scenario_id: int, agency_id: str | None = None
):
    """One scenario's rows of scenario.<table> (one agency's, when given), in key order."""
    if table not in OUTPUTS:
        raise ValueError(f"unknown scenario table '{table}'")
    where, parameters = "scenario_id = ?", [scenario_id]
    if agency_id is not None:
        where, parameters = where + " AND agency_id = ?", [*parameters, agency_id]
    return read_frame(
        con, f"SELECT * FROM scenario.{table} WHERE {where} ORDER BY {ORDER[table]}", parameters
    )


def read_live(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """What a scenario compares with and starts from: the live forecast.demand, staffing and areas."""
    return {
        "demand": read_frame(
            con,
            "SELECT agency_id, area_id, bucket_start, bucket_start_local, horizon, mean, data_as_of"
            " FROM forecast.demand ORDER BY agency_id, area_id, bucket_start",
        ),
        "staffing": read_frame(
            con, "SELECT * FROM forecast.staffing ORDER BY agency_id, area_id, shift_start"
        ),
        "areas": read_frame(con, "SELECT * FROM forecast.areas ORDER BY agency_id, area_id"),
        "service_profile": read_frame(
            con, "SELECT * FROM features.service_profile ORDER BY agency_id, incident_type"
        ),
        "panel": read_frame(
            con,
            "SELECT agency_id, area_id, bucket_start, incidents, observed FROM features.demand"
            " ORDER BY agency_id, area_id, bucket_start",
        ),
    }
