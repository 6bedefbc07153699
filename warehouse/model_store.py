"""Reads for training and forecasting: model inputs, the data's end, the simulator's truth."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from warehouse.features_store import read_frame


def read_model_inputs(con: duckdb.DuckDBPyConnection, since: datetime | None = None) -> pl.DataFrame:
    """features.model_inputs; with ``since``, only its rows from that hour on, filtered in DuckDB so
    the rows no training window reads never leave the warehouse."""
    if since is None:
        return read_frame(con, "SELECT * FROM features.model_inputs")
    return read_frame(con, "SELECT * FROM features.model_inputs WHERE bucket_start >= ?", [since])


_FUTURE = "FROM features.model_inputs WHERE incidents IS NULL AND NOT outage"
"""The model-input rows still to forecast: no target yet, and not an outage hour (whose target is
unknown for another reason)."""


def read_forecast_inputs(
    con: duckdb.DuckDBPyConnection, agency_id: str | None = None
) -> tuple[pl.DataFrame, dict[str, datetime]]:
    """The model-input rows still to forecast and the data end of each agency (of one agency, given
    ``agency_id``, filtered in DuckDB)."""
    one, parameters = ("AND agency_id = ?", [agency_id]) if agency_id is not None else ("", [])
    future = read_frame(con, f"SELECT * EXCLUDE (outage) {_FUTURE} {one}", parameters)
    ends = con.execute(
        "SELECT agency_id, max(bucket_start) + INTERVAL 1 HOUR FROM features.demand "
        f"WHERE true {one} GROUP BY agency_id",
        parameters,
    ).fetchall()
    return future, dict(ends)


def forecast_agencies(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    """The agencies with hours to forecast, in order, and the columns ``read_forecast_inputs`` gives."""
    agencies = [
        agency for (agency,) in con.execute(f"SELECT DISTINCT agency_id {_FUTURE} ORDER BY 1").fetchall()
    ]
    columns = [
        row[0]
        for row in con.execute("DESCRIBE SELECT * EXCLUDE (outage) FROM features.model_inputs").fetchall()
    ]
    return agencies, columns


def data_end(con: duckdb.DuckDBPyConnection) -> tuple[datetime, str]:
    """The end of the observed panel (exclusive) and a digest of its contents."""
    end, digest = con.execute(
        """
        SELECT max(bucket_start) + INTERVAL 1 HOUR,
               CAST(sum(hash(agency_id, area_id, bucket_start, incidents, observed)) AS VARCHAR)
        FROM features.demand
        """
    ).fetchone()
    if end is None:
        raise LookupError("features.demand is empty: run `jointcast features` first")
    return end, digest


def truth_path(root: Path) -> Path:
    """Where a simulated workspace keeps the simulator's true rates."""
    return root / "truth" / "rates.parquet"


def read_truth(root: Path) -> pl.DataFrame | None:
    """The simulator's true rates, when this workspace was simulated (truth/rates.parquet)."""
    path = truth_path(root)
    return pl.read_parquet(path) if path.is_file() else None
