"""An agency's totals per shift: the one definition of a shift total, over its areas' staffing rows.

forecast.shift_totals is this function's output, published with forecast.staffing; the
planner report and ``jointcast show staffing`` read the same numbers, so a shift total is
never summed two ways. Workload p50/p90 are sums of the areas' own quantiles (each area
staffed for its own busy shift), not the quantiles of the agency's total.
"""

from __future__ import annotations

import polars as pl

from planning.staffing import BASIS_FLOOR

SHIFT_COLUMNS = (
    "agency_id", "shift_name", "shift_date", "shift_start", "shift_end",
    "shift_start_local", "shift_end_local", "shift_hours",
)  # fmt: skip
SHIFT_KEYS = ("agency_id", "shift_name", "shift_start")  # one shift instance of one agency
SHARED = tuple(c for c in SHIFT_COLUMNS if c not in SHIFT_KEYS)  # the same in every area
SUMMED = ("expected_incidents", "workload_hours_p50", "workload_hours_p90", "recommended_units", "fte")
PROVENANCE = ("model_version", "generated_at", "publication_id")


def shift_totals(staffing: pl.DataFrame) -> pl.DataFrame:
    """One row per agency and shift instance: its areas' staffing rows summed.

    Args:
        staffing: forecast.staffing rows (one per agency x area x shift instance), with
            ``staffing_basis``; ``data_stale`` and the provenance columns are carried over
            when present.

    Returns:
        agency_id, the shift's name, local date, UTC and local start and end and real
        hours; ``area_count``, the summed expected incidents, workload p50/p90, units
        and FTE; ``areas_at_min_units`` (areas whose units the min_units floor set);
        sorted by agency and shift start.
    """
    flags = [c for c in ("data_stale",) if c in staffing.columns]
    carried = [c for c in PROVENANCE if c in staffing.columns]
    return (
        staffing.group_by(SHIFT_KEYS)
        .agg(
            pl.col(*SHARED).first(),
            pl.len().cast(pl.Int32).alias("area_count"),
            pl.col(*SUMMED).sum(),
            (pl.col("staffing_basis") == BASIS_FLOOR).sum().cast(pl.Int32).alias("areas_at_min_units"),
            *[pl.col(c).any() for c in flags],
            *[pl.col(c).first() for c in carried],
        )
        .with_columns(pl.col("recommended_units").cast(pl.Int64))
        .select(*SHIFT_COLUMNS, "area_count", *SUMMED, "areas_at_min_units", *flags, *carried)
        .sort("agency_id", "shift_start", "shift_name")
    )
