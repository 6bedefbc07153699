"""Planner overrides: recorded with who, when and why; withdrawn, never deleted."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from features.area_ids import named_area
from warehouse.db import transaction
from warehouse.features_store import read_frame


class OverrideError(ValueError):
    """An override that cannot be recorded or withdrawn, said in one line."""


def add_override(
    con: duckdb.DuckDBPyConnection,
    *,
    agency_id: str,
    area_id: str | None,
    starts_at: datetime,
    ends_at: datetime,
    factor: float,
    reason: str,
    created_by: str,
) -> int:
    if ends_at <= starts_at:
        raise OverrideError(f"override window is empty: --to {ends_at} is not after --from {starts_at}")
    if not factor > 0:
        raise OverrideError(f"--factor must be above 0 (got {factor}); 0.5 halves the forecast, 1.2 adds 20%")
    if not reason.strip():
        raise OverrideError("--reason is required: say why, for the audit trail")
    if area_id is not None:
        areas = con.execute(
            "SELECT DISTINCT area_id FROM features.demand WHERE agency_id = ?", [agency_id]
        ).fetchall()
        named = named_area(area_id, (area for (area,) in areas))
        if named is None:
            raise OverrideError(f"agency '{agency_id}' has no area '{area_id}' in features.demand")
        area_id = named  # recorded as the features name it (``b 01`` is ``B 01``)
    with transaction(con):
        return con.execute(
            """
            INSERT INTO forecast.overrides
                (agency_id, area_id, starts_at, ends_at, factor, reason, created_by, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, now())
            RETURNING override_id
            """,
            [agency_id, area_id, starts_at, ends_at, factor, reason.strip(), created_by],
        ).fetchone()[0]


def withdraw_override(
    con: duckdb.DuckDBPyConnection, override_id: int, withdrawn_by: str, reason: str
) -> None:
    with transaction(con):
        row = con.execute(
            "SELECT withdrawn_at FROM forecast.overrides WHERE override_id = ?", [override_id]
        ).fetchone()
        if row is None:
            raise OverrideError(f"no override {override_id}")
        if row[0] is not None:
            raise OverrideError(
                f"override {override_id} was already withdrawn at {row[0]:%Y-%m-%d %H:%M} UTC"
            )
        con.execute(
            """
            UPDATE forecast.overrides SET withdrawn_at = now(), withdrawn_by = ?, withdrawn_reason = ?
            WHERE override_id = ?
            """,
            [withdrawn_by, reason, override_id],
        )


def read_overrides(
    con: duckdb.DuckDBPyConnection, agency_id: str | None = None, include_withdrawn: bool = False
) -> pl.DataFrame:
    """Overrides, newest first: those in force only, unless ``include_withdrawn``."""
    where = ["TRUE" if include_withdrawn else "withdrawn_at IS NULL"]
    parameters = []
    if agency_id is not None:
        where.append("agency_id = ?")
        parameters.append(agency_id)
    return read_frame(
        con,
        f"SELECT * FROM forecast.overrides WHERE {' AND '.join(where)} ORDER BY override_id DESC",
        parameters,
    )
