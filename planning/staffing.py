"""Units on duty per area and shift from hourly forecasts: the staffing maths of DESIGN.md.

Shifts are local wall-clock times in the agency's time zone, so their real length
changes across daylight-saving changes. A shift's incident total is negative binomial
around the sum of its hourly means (models.distribution), and its p90 -- never a sum of
hourly p90s -- sets the workload. Erlang C (an M/M/N queue) is the alternative for
call-taking and dispatch centres.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import polars as pl

from features.shifts import LOCAL_TIME, SHIFT_SCHEMA, UTC_TIME, shift_instances  # noqa: F401
from jointcast.config import Shift
from models.distribution import count_quantiles

OUTPUT_COLUMNS = (
    "agency_id", "area_id", *SHIFT_SCHEMA, "expected_incidents", "incidents_p50", "incidents_p90",
    "workload_hours_p50", "workload_hours_p90", "recommended_units", "staffing_basis", "fte", "assumptions",
)  # fmt: skip
BASIS_DEMAND, BASIS_FLOOR, BASIS_SERVICE_LEVEL = "demand", "min_units", "service_level"
"""What sets a row's recommended_units: the p90 workload, the min_units floor, or Erlang C."""


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a call waits in an M/M/N queue with ``traffic`` Erlangs and N agents.

    Computed from the Erlang B recursion, which stays stable for hundreds of agents
    where factorials overflow. 1.0 when agents <= traffic (the queue never clears).
    """
    if traffic < 0 or agents < 0:
        raise ValueError("traffic and agents must not be negative")
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def service_level(
    calls_per_hour: float, handling_seconds: float, agents: int, answer_seconds: float
) -> float:
    """Share of calls answered within ``answer_seconds``: 1 - C(N, A) x exp(-(N - A) t / h)."""
    traffic = calls_per_hour * handling_seconds / 3600
    if traffic == 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    return 1.0 - erlang_c(traffic, agents) * math.exp(-(agents - traffic) * answer_seconds / handling_seconds)


def agents_needed(
    calls_per_hour: float, handling_seconds: float, target: float, answer_seconds: float
) -> int:
    """The fewest agents that answer ``target`` of calls within ``answer_seconds`` (0 with no calls)."""
    if not 0 < target < 1:
        raise ValueError("the service level target must be strictly between 0 and 1")
    if calls_per_hour <= 0:
        return 0
    agents = math.floor(calls_per_hour * handling_seconds / 3600) + 1
    while service_level(calls_per_hour, handling_seconds, agents, answer_seconds) < target:
        agents += 1
    return agents


@dataclass(frozen=True, kw_only=True)
class StaffingPlan:
    """Every parameter of one agency's staffing calculation, resolved from config and history."""

    agency_id: str
    timezone: str
    shifts: tuple[Shift, ...]
    service_hours: float
    units_per_incident: float
    service_source: str
    min_units: int
    proactive_share: float
    relief_factor: float
    method: Literal["workload", "erlang_c"]
    service_level_target: float = 0.9
    answer_seconds: float = 15.0
    alpha: float
    quantile: float = 0.9

    def __post_init__(self) -> None:
        if self.method not in ("workload", "erlang_c"):
            raise ValueError(f"unknown staffing method '{self.method}'")
        if not 0 <= self.proactive_share < 1 or not 0 < self.quantile < 1:
            raise ValueError("proactive_share must be in [0, 1) and quantile in (0, 1)")
        if self.service_hours <= 0 or self.units_per_incident <= 0 or self.alpha < 0 or self.min_units < 0:
            raise ValueError("service_hours and units_per_incident must be > 0, alpha and min_units >= 0")
        object.__setattr__(self, "shifts", tuple(self.shifts))

    @property
    def target_utilisation(self) -> float:
        return 1.0 - self.proactive_share

    @property
    def hours_per_incident(self) -> float:
        return self.service_hours * self.units_per_incident


def workload_units(incidents, hours_per_incident: float, shift_hours, target_utilisation: float):
    """Units' worth of work in ``incidents`` over a shift of ``shift_hours``, each unit busy at most
    ``target_utilisation`` of it (not rounded: whole units are its ceiling, less a hair so an exact
    fit is not one more). Scalars or numpy arrays alike: the one workload rule of the staffing table
    and of an exercise's check."""
    hours = np.asarray(incidents, dtype=float) * hours_per_incident
    return hours / (np.asarray(shift_hours, dtype=float) * target_utilisation)


def staffing_table(hourly: pl.DataFrame, plan: StaffingPlan, start: datetime, end: datetime) -> pl.DataFrame:
    """Recommended units and FTE for every area and shift instance inside [start, end).

    Args:
        hourly: One agency's forecast: agency_id, area_id, bucket_start (hourly, UTC)
            and mean (incidents per hour), covering every shift in the window.
        plan: The agency's staffing parameters.
        start: Time-zone-aware start of the window.
        end: Time-zone-aware end of the window.

    Returns:
        One row per area and shift, sorted by area and shift start, with every
        parameter used as a JSON string in ``assumptions``. Erlang C plans size agents
        for the service level on the p90 call rate and do not use the proactive share.
        ``staffing_basis`` says what set ``recommended_units``: ``min_units`` where the
        demand needs less than the floor (the p90 workload fills fewer than min_units
        units at the target utilisation, before rounding up; for Erlang C, fewer agents),
        else ``demand`` (workload) or ``service_level`` (Erlang C). With min_units = 1,
        an area whose busy shift is a fraction of one unit's work is at the floor.
    """
    others = hourly.filter(pl.col("agency_id") != plan.agency_id)
    if others.height:
        raise ValueError(f"hourly holds rows of agency '{others['agency_id'][0]}', not '{plan.agency_id}'")
    if getattr(hourly.schema["bucket_start"], "time_zone", None) is None:
        raise ValueError("hourly.bucket_start must be a time-zone-aware datetime")
    shifts = shift_instances(plan.shifts, plan.timezone, start, end)
    totals = _shift_totals(hourly, shifts)
    expected = totals["expected_incidents"].to_numpy()
    p50, p90 = np.clip(count_quantiles(expected, plan.alpha, (0.5, plan.quantile)), 0, None).T
    shift_hours = totals["shift_hours"].to_numpy()
    workload_p90 = p90 * plan.hours_per_incident
    if plan.method == "workload":
        demand_units = workload_units(p90, plan.hours_per_incident, shift_hours, plan.target_utilisation)
        needed = np.ceil(demand_units - 1e-9)
        workload = {"proactive_share": plan.proactive_share, "target_utilisation": plan.target_utilisation}
        extras = [workload] * len(p90)
    else:
        needed, extras = _erlang_c_units(p90 / shift_hours, plan)
        demand_units = np.asarray(needed, dtype=float)  # agents come whole
    units = np.maximum(plan.min_units, np.asarray(needed, dtype=float)).astype(np.int32)
    by_demand = BASIS_DEMAND if plan.method == "workload" else BASIS_SERVICE_LEVEL
    basis = np.where(demand_units < plan.min_units - 1e-9, BASIS_FLOOR, by_demand)
    base = {
        "method": plan.method,
        "service_hours_per_incident": plan.service_hours,
        "service_source": plan.service_source,
        "units_per_incident": plan.units_per_incident,
        "hours_per_incident": plan.hours_per_incident,
        "quantile": plan.quantile,
        "dispersion_alpha": plan.alpha,
        "min_units": plan.min_units,
        "relief_factor": plan.relief_factor,
    }
    assumptions = [
        json.dumps({**base, "shift_name": name, "shift_hours": hours, **extra}, sort_keys=True)
        for name, hours, extra in zip(totals["shift_name"], shift_hours.tolist(), extras, strict=True)
    ]
    return totals.with_columns(
        pl.lit(plan.agency_id, pl.String).alias("agency_id"),
        pl.Series("incidents_p50", p50, pl.Float64),
        pl.Series("incidents_p90", p90, pl.Float64),
        pl.Series("workload_hours_p50", p50 * plan.hours_per_incident, pl.Float64),
        pl.Series("workload_hours_p90", workload_p90, pl.Float64),
        pl.Series("recommended_units", units, pl.Int32),
        pl.Series("staffing_basis", basis.tolist(), pl.String),
        pl.Series("fte", units * plan.relief_factor, pl.Float64),
        pl.Series("assumptions", assumptions, pl.String),
    ).select(OUTPUT_COLUMNS)


def _shift_totals(hourly: pl.DataFrame, shifts: pl.DataFrame) -> pl.DataFrame:
    """Area x shift rows with the forecast means summed over each shift's hours.

    An hourly bucket that a shift only partly covers (a half-hour time zone, a shift
    of 7.5 hours) counts in proportion to the overlap. A shift whose hours the
    forecast does not cover exactly (missing or repeated buckets) is an error.
    """
    first = pl.col("shift_start").dt.truncate("1h")
    last = (pl.col("shift_end") - timedelta(microseconds=1)).dt.truncate("1h")
    bucket_end = pl.col("bucket_start") + timedelta(hours=1)
    overlap = pl.min_horizontal(bucket_end, "shift_end") - pl.max_horizontal("bucket_start", "shift_start")
    buckets = (
        shifts.select(
            "shift_name", "shift_start", "shift_end", bucket_start=pl.datetime_ranges(first, last, "1h")
        )
        .explode("bucket_start")
        .with_columns(weight=overlap.dt.total_microseconds() / 3.6e9)
    )
    forecast = hourly.select(
        "area_id", pl.col("bucket_start").dt.cast_time_unit("us").dt.convert_time_zone("UTC"), "mean"
    )
    sums = (
        forecast.join(buckets, on="bucket_start")
        .group_by("area_id", "shift_name", "shift_start")
        .agg(
            (pl.col("mean") * pl.col("weight")).sum().alias("expected_incidents"),
            pl.col("weight").sum().alias("covered_hours"),
        )
    )
    totals = (
        forecast.select("area_id")
        .unique()
        .join(shifts, how="cross")
        .join(sums, on=["area_id", "shift_name", "shift_start"], how="left")
        .with_columns(pl.col("expected_incidents", "covered_hours").fill_null(0.0))
        .sort("area_id", "shift_start", "shift_name")
    )
    gaps = totals.filter((pl.col("covered_hours") - pl.col("shift_hours")).abs() > 1e-6)
    if gaps.height:
        gap = gaps.row(0, named=True)
        shift = f"shift '{gap['shift_name']}' from {gap['shift_start']:%Y-%m-%d %H:%M} UTC"
        raise ValueError(
            f"the hourly forecast covers {gap['covered_hours']:g} of the {gap['shift_hours']:g} hours of "
            f"{shift} in area '{gap['area_id']}'"
        )
    return totals.drop("covered_hours")


def _erlang_c_units(calls_per_hour: np.ndarray, plan: StaffingPlan) -> tuple[list[int], list[dict]]:
    """Agents per row for the plan's service level, and the row's Erlang C assumptions."""
    handling = plan.service_hours * 3600
    fixed = {
        "handling_seconds": handling,
        "service_level_target": plan.service_level_target,
        "answer_seconds": plan.answer_seconds,
        "note": "erlang_c sizes agents for the service level; the proactive share is not used",
    }
    agents, extras = [], []
    for calls in calls_per_hour.tolist():
        needed = agents_needed(calls, handling, plan.service_level_target, plan.answer_seconds)
        achieved = service_level(calls, handling, max(plan.min_units, needed), plan.answer_seconds)
        agents.append(needed)
        extras.append({**fixed, "calls_per_hour": calls, "achieved_service_level": achieved})
    return agents, extras
