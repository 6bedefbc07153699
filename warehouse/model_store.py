"""Reads for training and forecasting: model inputs, the data's end, the simulator's truth."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from warehouse.features_store import read_frame


def read_model_inputs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return read_frame(con, "SELECT * FROM features.model_inputs")


def read_forecast_inputs(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, dict[str, datetime]]:
    """The model-input rows still to forecast (no target yet, and not an outage hour, whose target
    is unknown for another reason) and each agency's data end."""
    future = read_frame(
        con, "SELECT * EXCLUDE (outage) FROM features.model_inputs WHERE incidents IS NULL AND NOT outage"
    )
    ends = con.execute(
        "SELECT agency_id, max(bucket_start) + INTERVAL 1 HOUR FROM features.demand GROUP BY agency_id"
    ).fetchall()
    return future, dict(ends)


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
