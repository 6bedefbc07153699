"""Each agency's mart: one encrypted DuckDB file holding only what that agency may see.

``<workspace>/marts/<agency_id>.duckdb`` is encrypted with the agency's key (DuckDB's
encrypted database files, AES-GCM: ``ATTACH ... (ENCRYPTION_KEY ...)``) and holds

- ``forecast.demand``, ``staffing``, ``shift_totals``, ``areas``, ``overrides``: the agency's rows;
- ``forecast.joint_demand``: the joint aggregates of the incident types the agency leads or
  supports (``[[roles]]``), summed over the forecasts of the agencies that share them
  (``share_joint``), with no per-agency column; none when the agency itself opted out;
- ``forecast.joint_summary``: the agency's own joint events;
- ``kpi.<table>``: the agency's KPIs as its kpi views show them (``kpi.sharing`` without the
  freshness, which is relative to when it is read: exports add it);
- ``scenario.demand``, ``staffing``, ``difference``, ``mutual_aid``: the agency's rows of every
  what-if scenario run (warehouse.scenarios), and ``scenario.scenarios`` those scenarios (name,
  description, who, when, why; not their file, which may describe other agencies);
- ``meta.mart``: one row saying whose mart it is, from which publication, and its ``stamp``.

A mart is built in a temporary file beside it and renamed into place, so a reader sees the
old mart or the new one, never a part. It is written again only when its rows change: the
stamp digests every table's rows (``stamp``), computed in the warehouse before anything is built.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from jointcast.config import Settings
from jointcast.faults import reach
from warehouse.db import literal, load_extension, owner_only
from warehouse.kpi_store import KPI_TABLES, agency_queries
from warehouse.published import published
from warehouse.scenarios import ORDER as SCENARIO_ORDER
from warehouse.scenarios import SCENARIO_COLUMNS

log = logging.getLogger(__name__)

FORECAST_TABLES = ("demand", "staffing", "shift_totals", "areas")
JOINT_COLUMNS = (
    "area_id, bucket_start, incident_type, lead_agency, supporting_agencies, expected_events,"
    " expected_records"
)
ORDER = {
    **{f"forecast.{name}": published(name).key for name in FORECAST_TABLES},
    "forecast.overrides": "override_id",
    "forecast.joint_demand": "incident_type, area_id, bucket_start",
    "forecast.joint_summary": published("joint_summary").key,
    **{f"kpi.{name}": key for name, key in KPI_TABLES.items()},
    "scenario.scenarios": "scenario_id",
    **{f"scenario.{name}": f"scenario_id, {key}" for name, key in SCENARIO_ORDER.items()},
}
"""Every mart table, with the columns its rows are ordered by (in the mart and in exports)."""


class MartError(ValueError):
    """A mart that cannot be opened (missing, wrong key, another agency's), said in one line."""


def mart_queries(agency_id: str, joint: bool) -> dict[str, str]:
    """Mart table -> the warehouse query of its rows for the agency (``joint``: it shares and
    receives the joint aggregates)."""
    mine = literal(agency_id)
    own = (*FORECAST_TABLES, "overrides", "joint_summary")
    queries = {f"forecast.{name}": f"SELECT * FROM forecast.{name} WHERE agency_id = {mine}" for name in own}
    entitled = f"(lead_agency = {mine} OR list_contains(supporting_agencies, {mine}))" if joint else "false"
    queries["forecast.joint_demand"] = f"SELECT {JOINT_COLUMNS} FROM forecast.joint_demand WHERE {entitled}"
    queries = {table: f"{query} ORDER BY {ORDER[table]}" for table, query in queries.items()}
    kpis = agency_queries(agency_id, freshness=False)
    scenarios = {
        f"scenario.{name}": f"SELECT * FROM scenario.{name} WHERE agency_id = {mine}"
        for name in SCENARIO_ORDER
    }
    scenarios["scenario.scenarios"] = (
        f"SELECT {SCENARIO_COLUMNS} FROM scenario.scenarios WHERE scenario_id IN"
        f" (SELECT scenario_id FROM scenario.demand WHERE agency_id = {mine})"
    )
    scenarios = {table: f"{query} ORDER BY {ORDER[table]}" for table, query in scenarios.items()}
    return queries | {f"kpi.{name}": query for name, query in kpis.items()} | scenarios


def stamp(con: duckdb.DuckDBPyConnection, queries: dict[str, str]) -> str:
    """SHA-256 over each mart table's row count and the sum of its rows' 64-bit hashes: what tells
    a mart to write from one already written (a change detector, not a checksum: a tenth of the
    time of hashing every row's text, which matters with a mart per agency on every publication)."""
    digest = hashlib.sha256()
    for table, query in queries.items():
        count, total = con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM ({query}) t").fetchone()
        digest.update(f"{table}:{count}:{total}\n".encode())
    return digest.hexdigest()


def write_mart(
    con: duckdb.DuckDBPyConnection, agency_id: str, key: str, path: Path, joint: bool, publication_id: int
) -> bool:
    """Build the agency's mart from the warehouse ``con`` into ``path``; False when the mart
    there already holds these rows (and opens with this key)."""
    queries = mart_queries(agency_id, joint)
    current = stamp(con, queries)
    if path.exists() and _stamp_of(path, key, agency_id) == current:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    owner_only(path.parent)
    building = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    building.unlink(missing_ok=True)
    _load_openssl(con)
    con.execute(f"ATTACH {literal(str(building))} AS _mart (ENCRYPTION_KEY {literal(key)})")
    try:
        for schema in ("forecast", "kpi", "meta", "scenario"):
            con.execute(f"CREATE SCHEMA _mart.{schema}")
        for table, query in queries.items():
            con.execute(f"CREATE TABLE _mart.{table} AS {query}")
        con.execute(
            "CREATE TABLE _mart.meta.mart AS SELECT ? AS agency_id, ? AS publication_id, ? AS stamp,"
            " ? AS written_at, ? AS shares_joint",
            [agency_id, publication_id, current, datetime.now(UTC), joint],
        )
        con.execute("CHECKPOINT _mart")
    except BaseException:
        con.execute("DETACH _mart")
        building.unlink(missing_ok=True)
        raise
    con.execute("DETACH _mart")
    os.replace(owner_only(building), path)
    return True


def refresh_marts(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, str]:
    """Bring every agency's mart up to the warehouse: agency -> "written", "current" or why it
    has none. An agency without a usable key gets no mart (its old one is removed, so no
    planner reads an outdated publication) and one warning line; the others are written."""
    from warehouse.agency_keys import KeyProblem, require_key

    (publication_id,) = con.execute("SELECT max(publication_id) FROM meta.publications").fetchone()
    if publication_id is None:
        return {}
    for leftover in settings.mart_root.glob(".*.tmp"):  # a killed writer's (runs take turns: none is live)
        leftover.unlink(missing_ok=True)
    joint = set(settings.joint_agencies)
    outcome = {}
    for agency_id in settings.agency_ids:
        path = settings.mart_path(agency_id)
        try:
            key = require_key(settings, agency_id)
        except KeyProblem as exc:
            path.unlink(missing_ok=True)
            log.warning("%s: no mart written: %s", agency_id, exc)
            outcome[agency_id] = str(exc)
            continue
        written = write_mart(con, agency_id, key, path, agency_id in joint, publication_id)
        outcome[agency_id] = "written" if written else "current"
        reach("publish.mid_marts")
    return outcome


@contextmanager
def open_mart(path: Path, key: str, agency_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only session on the agency's mart, its tables unqualified (``forecast.staffing``)."""
    if not path.exists():
        raise MartError(f"no mart for agency '{agency_id}' at {path}: run `jointcast publish`")
    con = duckdb.connect()
    try:
        try:
            con.execute(f"ATTACH {literal(str(path))} AS mart (ENCRYPTION_KEY {literal(key)}, READ_ONLY)")
        except duckdb.Error as exc:
            if "encryption key" in str(exc).lower():
                problem = f"the key given for agency '{agency_id}' does not open {path}: wrong key"
                raise MartError(problem) from None
            raise MartError(f"mart {path} cannot be opened: {str(exc).splitlines()[0]}") from None
        con.execute("USE mart")
        con.execute("SET TimeZone = 'UTC'")
        (owner,) = con.execute("SELECT agency_id FROM meta.mart").fetchone()
        if owner != agency_id:
            raise MartError(f"mart {path} is agency '{owner}''s, not '{agency_id}''s")
        yield con
    finally:
        con.close()


def _mart_row(path: Path, key: str, agency_id: str) -> tuple[str, int] | None:
    """The (stamp, publication_id) of the mart at ``path``; None when it does not open with ``key``."""
    try:
        with open_mart(path, key, agency_id) as con:
            return con.execute("SELECT stamp, publication_id FROM meta.mart").fetchone()
    except (MartError, duckdb.Error):
        return None


def _stamp_of(path: Path, key: str, agency_id: str) -> str | None:
    """The stamp of the mart at ``path``; None when it does not open with ``key`` (a new key)."""
    row = _mart_row(path, key, agency_id)
    return None if row is None else row[0]


def opens_with(path: Path, key: str, agency_id: str, publication_id: int | None = None) -> bool:
    """The agency's mart is there and opens with ``key`` (and, given one, holds ``publication_id``:
    a run killed between a publication's commit and its marts leaves them behind)."""
    row = _mart_row(path, key, agency_id)
    return row is not None and (publication_id is None or row[1] == publication_id)


def _load_openssl(con: duckdb.DuckDBPyConnection) -> None:
    """httpfs, whose OpenSSL DuckDB needs to write an encrypted file (its built-in crypto only reads)."""
    load_extension(con, "duckdb_extension_httpfs")
