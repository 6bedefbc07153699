"""A scenario run assembled in memory: its demand, staffing, difference and mutual-aid tables.

Pure: the live publication's frames, the model inputs of the hours ahead, the champion and the
settings in; the ``scenario.*`` tables out (planning.scenario holds each step's maths). Hours the
scenario does not touch keep the live publication's numbers exactly, so the difference from the
live publication is the scenario's and nothing else (a champion promoted since the publication
does not leak into it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from models.distribution import with_quantiles
from models.forecasting import QUANTILES, forecast_rows
from planning.event_response import event_hours, event_response, event_uplift
from planning.scenario import (
    event_ratio,
    events_file_rows,
    led_shares,
    mutual_aid,
    staffing_difference,
    with_events,
    with_factors,
    with_outages,
)
from planning.scenario_file import ScenarioError, ScenarioSpec
from planning.staffing import staffing_table

DEMAND_COLUMNS = (
    "agency_id", "area_id", "bucket_start", "bucket_start_local", "horizon", "baseline_mean", "model_mean",
    "event_attendance", "event_uplift", "event_basis", "moved_in", "moved_out", "factor", "factor_labels",
    "mean", "p10", "p50", "p90",
    "model_version", "generated_at",
)  # fmt: skip


@dataclass(frozen=True)
class ScenarioInputs:
    spec: ScenarioSpec
    live_demand: pl.DataFrame  # forecast.demand: keys, bucket_start_local, horizon, mean, data_as_of
    live_staffing: pl.DataFrame  # forecast.staffing
    areas: pl.DataFrame  # forecast.areas
    service_profile: pl.DataFrame  # features.service_profile
    model_inputs: pl.DataFrame  # features.model_inputs rows of the hours ahead
    data_as_of: dict[str, datetime]  # per agency, where its forecast starts
    model_version: str
    plans: dict  # agency id -> planning.staffing.StaffingPlan, as the live publication resolves them
    hourly_alphas: dict[str, float]
    panel: pl.DataFrame  # features.demand: agency_id, area_id, bucket_start, incidents, observed
    past_events: pl.DataFrame | None  # the events file (forecast.events_file), as read


def scenario_tables(inputs: ScenarioInputs, model, settings, bands: tuple[int, ...], now: datetime) -> dict:
    """The scenario.* tables by name (demand, staffing, difference, mutual_aid), scenario_id not yet set."""
    spec = inputs.spec
    timezones = {a.id: a.timezone for a in settings.agencies}
    horizon = settings.forecast.horizon_hours
    demand = inputs.live_demand.select(
        "agency_id", "area_id", "bucket_start", "bucket_start_local", "horizon", baseline_mean="mean"
    )
    rows = forecast_rows(inputs.model_inputs, inputs.data_as_of, horizon, bands)
    events = events_file_rows(spec, inputs.areas, {a.id: a.bbox for a in settings.agencies})
    changed = with_events(rows, events, timezones)
    in_events = changed["scenario_attendance"] > 0
    if events.height and not in_events.any():
        raise ScenarioError(f"scenario {spec.name}: its events fall outside every agency's forecast hours")
    ratio = event_ratio(
        rows.filter(in_events),
        model.predict_mean(rows.filter(in_events)) if in_events.any() else np.zeros(0),
        model.predict_mean(changed.filter(in_events)) if in_events.any() else np.zeros(0),
    )
    attendance = changed.select(
        "agency_id", "area_id", "bucket_start", event_attendance="scenario_attendance"
    )
    keys = ["agency_id", "area_id", "bucket_start"]
    uplift = _learned_uplift(inputs, events, demand.select(keys), timezones)
    touched = pl.col("event_attendance") > 0
    from_history = pl.col("event_uplift").is_not_null()
    demand = (
        demand.join(ratio, on=keys, how="left")
        .join(attendance, on=keys, how="left")
        .join(uplift, on=keys, how="left")
        .with_columns(
            model_mean=pl.col("baseline_mean") * pl.col("event_ratio").fill_null(1.0),
            event_attendance=pl.col("event_attendance").fill_null(0).cast(pl.Int32),
        )
        .with_columns(
            mean=pl.when(from_history)
            .then(pl.col("baseline_mean") + pl.col("event_uplift"))
            .otherwise("model_mean"),
            event_basis=pl.when(from_history).then(pl.lit("history")).when(touched).then(pl.lit("model")),
        )
        .drop("event_ratio")
    )
    demand = with_factors(demand, spec, timezones)
    shares = led_shares(inputs.service_profile, settings.role_map)
    demand = with_outages(demand, spec.outages, shares, inputs.areas, timezones)
    demand = with_quantiles(demand.sort(keys), inputs.hourly_alphas, QUANTILES).with_columns(
        pl.col("p10", "p50", "p90").clip(lower_bound=0.0),
        model_version=pl.lit(inputs.model_version),
        generated_at=pl.lit(now).cast(pl.Datetime("us", "UTC")),
    )
    staffing = _staffing(demand, inputs, horizon)
    difference = staffing_difference(inputs.live_staffing, staffing)
    available = {a.id: a.available_units for a in settings.agencies}
    aid = mutual_aid(staffing, difference, spec.outages, available, timezones, settings.role_map)
    return {
        "demand": demand.select(DEMAND_COLUMNS),
        "staffing": staffing,
        "difference": difference,
        "mutual_aid": aid,
    }


def _learned_uplift(
    inputs: ScenarioInputs, events: pl.DataFrame, hours: pl.DataFrame, timezones: dict[str, str]
) -> pl.DataFrame:
    """The incidents the scenario's events add in the forecast ``hours`` (agency_id, area_id,
    bucket_start), by each agency's response learned from the events file and the panel; an agency
    without past events gets no row (the model's answer stands)."""
    empty = pl.DataFrame(schema={**hours.schema, "event_uplift": pl.Float64})
    if events.is_empty() or inputs.past_events is None or inputs.past_events.is_empty():
        return empty
    past = event_hours(inputs.past_events, timezones, inputs.panel.select("agency_id", "area_id").unique())
    response = event_response(inputs.panel, past, timezones)
    planned = event_hours(events, timezones, hours.select("agency_id", "area_id").unique())
    planned = planned.join(hours, on=["agency_id", "area_id", "bucket_start"])
    return event_uplift(planned, response) if planned.height else empty


def _staffing(demand: pl.DataFrame, inputs: ScenarioInputs, horizon: int) -> pl.DataFrame:
    """Every agency's shifts over its forecast window, as the live publication sizes them."""
    parts = []
    for agency_id, plan in inputs.plans.items():
        hourly = demand.filter(pl.col("agency_id") == agency_id)
        if hourly.is_empty() or agency_id not in inputs.data_as_of:
            continue
        start = inputs.data_as_of[agency_id]
        parts.append(
            staffing_table(
                hourly.select("agency_id", "area_id", "bucket_start", "mean"),
                plan,
                start,
                start + timedelta(hours=horizon),
            )
        )
    return pl.concat(parts)
