"""Every kpi.* table from one set of inputs, and the planning KPIs (staffing against capacity, accuracy).

Pure: ``build_kpis(inputs, settings_view)`` takes frames read from the warehouse and returns
the tables by name (demand, response, joint, sharing, planning); flows/kpi.py reads, calls it
and writes the result in one transaction.

Planning KPIs, per agency and period (planning.kpi's local months and latest ISO weeks):
the published shifts (forecast.shift_totals, the agency's units summed over areas, by local
shift date) against the agency's configured ``available_units`` (null when not given), and,
when forecast.accuracy exists, the scored shifts of its local days: WAPE = sum |forecast -
actual| / sum actual, bias = sum (forecast - actual) / sum actual, coverage_80 = share of
rows inside p10-p90 (null where nothing was scored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from planning.kpi import PERIOD_KEYS, WEEKS, as_schema, demand_kpis, in_periods, joint_kpis, response_kpis
from planning.kpi_sharing import sharing_kpis

PLANNING_SCHEMA = {
    "agency_id": pl.String, "period": pl.String, "period_start": pl.Date, "period_end": pl.Date,
    "shifts": pl.Int64, "recommended_units_mean": pl.Float64, "recommended_units_max": pl.Int64,
    "available_units": pl.Int64, "shifts_over_available": pl.Int64, "scored_rows": pl.Int64,
    "actual_incidents": pl.Float64, "wape": pl.Float64, "bias": pl.Float64, "coverage_80": pl.Float64,
}  # fmt: skip
ACCURACY_COLUMNS = {
    "agency_id": pl.String, "local_day": pl.Date, "actual": pl.Float64, "forecast": pl.Float64,
    "inside": pl.Boolean,
}  # fmt: skip
"""What the planning KPIs read of forecast.accuracy (``inside``: inside the p10-p90 band)."""


@dataclass(frozen=True)
class KpiInputs:
    """What the KPIs are computed from, as read from the warehouse."""

    incidents: pl.DataFrame  # core.incidents: incident_key, agency_id, incident_type, call_source,
    # priority, received_at, dispatched_at, on_scene_at, joint_event_id, batch_id
    batches: pl.DataFrame  # meta.batches: feed_id, batch_id, loaded_at, status, rows_read/loaded/quarantined
    reasons: pl.DataFrame  # batch_id, reason, rows: quarantined rows per batch and reason code
    shift_totals: pl.DataFrame  # forecast.shift_totals: agency_id, shift_date, shift_start, recommended_units
    accuracy: pl.DataFrame | None = field(default=None)  # ACCURACY_COLUMNS, None before forecast.accuracy


@dataclass(frozen=True)
class KpiSettings:
    """What the KPIs take from the config."""

    zones: Mapping[str, str]  # agency id -> IANA time zone
    feeds: Mapping[str, tuple[str, tuple[str, ...]]]  # feed id -> (time zone, agency ids)
    roles: Mapping[str, tuple[str, tuple[str, ...]]]  # incident type -> (lead, supporting)
    available_units: Mapping[str, int | None]  # agency id -> configured units, or None
    weeks: int = WEEKS

    @classmethod
    def from_settings(cls, settings, weeks: int = WEEKS) -> KpiSettings:
        return cls(
            zones={a.id: a.timezone for a in settings.agencies},
            feeds={f.id: (f.timezone, f.agency_ids) for f in settings.feeds},
            roles=settings.role_map,
            available_units={a.id: a.available_units for a in settings.agencies},
            weeks=weeks,
        )


def build_kpis(inputs: KpiInputs, kpi: KpiSettings) -> dict[str, pl.DataFrame]:
    """The kpi.* tables by name: demand, response, joint, sharing, planning."""
    incidents = inputs.incidents
    return {
        "demand": demand_kpis(incidents, kpi.zones, kpi.weeks),
        "response": response_kpis(incidents, kpi.zones, kpi.weeks),
        "joint": joint_kpis(incidents, kpi.roles, kpi.zones, kpi.weeks),
        "sharing": sharing_kpis(
            inputs.batches, incidents.select("batch_id", "received_at"), inputs.reasons, kpi.feeds, kpi.weeks
        ),
        "planning": planning_kpis(inputs.shift_totals, inputs.accuracy, kpi.available_units, kpi.weeks),
    }


def planning_kpis(
    shift_totals: pl.DataFrame,
    accuracy: pl.DataFrame | None,
    available_units: Mapping[str, int | None],
    weeks: int = WEEKS,
) -> pl.DataFrame:
    """Recommended units per shift against the configured capacity, and accuracy where scored."""
    capacity = pl.DataFrame(
        list(available_units.items()),
        schema={"agency_id": pl.String, "available_units": pl.Int64},
        orient="row",
    )
    shifts = (
        shift_totals.select("agency_id", "recommended_units", _day=pl.col("shift_date"))
        .join(capacity, on="agency_id", how="left")
        .with_columns(kind=pl.lit("shift"))
    )
    scored = (
        (accuracy if accuracy is not None else pl.DataFrame(schema=ACCURACY_COLUMNS))
        .select(pl.col(name).cast(dtype) for name, dtype in ACCURACY_COLUMNS.items())
        .rename({"local_day": "_day"})
        .with_columns(kind=pl.lit("scored"))
    )
    rows = pl.concat([shifts, scored], how="diagonal_relaxed")
    if rows.is_empty():
        return pl.DataFrame(schema=PLANNING_SCHEMA)
    is_shift, is_scored = pl.col("kind") == "shift", pl.col("kind") == "scored"
    actual = pl.col("actual").filter(is_scored)
    units = pl.col("recommended_units").filter(is_shift)
    over = units > pl.col("available_units").filter(is_shift)
    error = (pl.col("forecast") - pl.col("actual")).filter(is_scored)
    scored_any = pl.col("actual_incidents") > 0
    summary = (
        in_periods(rows, "agency_id", weeks)
        .group_by("agency_id", *PERIOD_KEYS)
        .agg(
            shifts=is_shift.sum(),
            recommended_units_mean=units.mean(),
            recommended_units_max=units.max(),
            shifts_over_available=over.sum(),
            scored_rows=is_scored.sum(),
            actual_incidents=actual.sum(),
            absolute_error=error.abs().sum(),
            signed_error=error.sum(),
            coverage_80=pl.col("inside").filter(is_scored).cast(pl.Float64).mean(),
        )
        .with_columns(
            available_units=pl.col("agency_id").replace_strict(
                dict(available_units), default=None, return_dtype=pl.Int64
            ),
            wape=pl.when(scored_any).then(pl.col("absolute_error") / pl.col("actual_incidents")),
            bias=pl.when(scored_any).then(pl.col("signed_error") / pl.col("actual_incidents")),
            actual_incidents=pl.when(pl.col("scored_rows") > 0).then("actual_incidents"),
        )
        .with_columns(
            shifts_over_available=pl.when(pl.col("available_units").is_not_null()).then(
                "shifts_over_available"
            )
        )
    )
    return as_schema(summary, PLANNING_SCHEMA, "agency_id", "period", "period_start")
