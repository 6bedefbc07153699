"""How many incidents a planned event adds, learned per agency from the warehouse's own history.

A planned event's extra demand grows with its crowd, while it runs and in the hour after it ends
(the crowd leaving). Both are measured per agency, as incidents per 10,000 expected attendance
per hour, over every past event of the events file the panel observed:

- an hour's **excess** is the incidents in the areas the event lists less those areas' usual
  demand at that local hour of the week (their mean over every observed hour no event reaches);
- its **exposure** is the attendance (in 10,000s) of the events in the agency that hour, times the
  share of the hour each event runs (``during``: a concert from 19:30 is half of the 19:00 hour)
  and, apart, the share of the hour that is in the hour after it ends (``after``);
- ``during_per_10k`` and ``after_per_10k`` are the least-squares fit of the agency's hourly
  excess on those two exposures (no intercept, neither below zero), so each event weighs by its
  size and a quiet hour's noise averages out over the events.

This is the size a scenario's event adds: the demand model's own event features see too few
events to learn how the effect scales with the crowd (it learns an average multiplier), so the
scenario keeps the model's answer beside this one (scenario.demand ``model_mean``) and says
which it used (``event_basis``). Pure: frames in, a frame out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import numpy as np
import polars as pl

from features.calendar import parse_events

PER = 10_000
"""Attendance is counted in this many people."""
AFTER = timedelta(hours=1)
"""How long after an event ends its crowd is still leaving: the window of ``after_per_10k``."""
RESPONSE_SCHEMA = {
    "agency_id": pl.String,
    "during_per_10k": pl.Float64,
    "after_per_10k": pl.Float64,
    "event_hours": pl.Int64,
    "excess": pl.Float64,
}


def _overlap(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """The share of the hour from ``bucket_start`` that lies in [start, end)."""
    inside = pl.min_horizontal(pl.col("bucket_start") + timedelta(hours=1), end) - pl.max_horizontal(
        "bucket_start", start
    )
    return (inside.dt.total_microseconds() / 3.6e9).clip(lower_bound=0.0)


def event_hours(
    events: pl.DataFrame, timezones: Mapping[str, str], areas: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Every hour an event reaches (while it runs and in the hour after) in every area it lists:
    event_id, agency_id, area_id, bucket_start, ``during`` and ``after`` (its attendance in
    10,000s times the share of the hour in each). ``events`` is the events file as read
    (features.calendar.parse_events checks it); an area it lists up to case and spacing as one of
    ``areas`` (agency_id, area_id) is that one."""
    parsed = parse_events(events, timezone=dict(timezones), areas=areas)
    crowd = pl.col("expected_attendance") / PER
    return (
        parsed.with_columns(
            bucket_start=pl.datetime_ranges(
                pl.col("start_at").dt.truncate("1h"), pl.col("end_at") + AFTER, "1h", closed="left"
            )
        )
        .explode("bucket_start")
        .select(
            "event_id",
            "agency_id",
            "area_id",
            "bucket_start",
            during=crowd * _overlap(pl.col("start_at"), pl.col("end_at")),
            after=crowd * _overlap(pl.col("end_at"), pl.col("end_at") + AFTER),
        )  # fmt: skip
    )


def _agency_exposure(hours: pl.DataFrame) -> pl.DataFrame:
    """Per agency x hour: the exposures of the events in it, each event counted once."""
    return (
        hours.unique(["event_id", "agency_id", "bucket_start"])
        .group_by("agency_id", "bucket_start")
        .agg(pl.col("during", "after").sum())
    )


def event_response(panel: pl.DataFrame, hours: pl.DataFrame, timezones: Mapping[str, str]) -> pl.DataFrame:
    """Per agency: ``during_per_10k`` and ``after_per_10k`` (incidents a 10,000 crowd adds per
    hour while the event runs, and in the hour after), the ``event_hours`` and the ``excess``
    incidents they rest on.

    Args:
        panel: features.demand: agency_id, area_id, bucket_start, incidents, observed.
        hours: ``event_hours`` of the events file.
        timezones: agency id -> IANA zone, for the local hour of the week.
    """
    keys = ["agency_id", "area_id", "bucket_start"]
    observed = panel.filter(pl.col("observed") & pl.col("incidents").is_not_null()).select(*keys, "incidents")
    parts = []
    for agency_id, zone in timezones.items():
        local = pl.col("bucket_start").dt.convert_time_zone(zone)
        parts.append(
            observed.filter(pl.col("agency_id") == agency_id).with_columns(
                hour_of_week=(local.dt.weekday() - 1) * 24 + local.dt.hour()
            )
        )
    if not parts or hours.is_empty():
        return pl.DataFrame(schema=RESPONSE_SCHEMA)
    listed = hours.select(keys).unique().with_columns(listed=pl.lit(True))
    rows = pl.concat(parts).join(listed, on=keys, how="left")
    usual = (
        rows.filter(pl.col("listed").is_null())
        .group_by("agency_id", "area_id", "hour_of_week")
        .agg(usual=pl.col("incidents").mean())
    )
    reached = (
        rows.filter(pl.col("listed"))
        .join(usual, on=["agency_id", "area_id", "hour_of_week"])
        .group_by("agency_id", "bucket_start")
        .agg(excess=(pl.col("incidents") - pl.col("usual")).sum())
        .join(_agency_exposure(hours), on=["agency_id", "bucket_start"])
    )
    fits = [
        {"agency_id": agency_id, **_fit(part), "event_hours": part.height, "excess": part["excess"].sum()}
        for (agency_id,), part in reached.group_by("agency_id")
    ]
    return pl.DataFrame(fits, schema=RESPONSE_SCHEMA).sort("agency_id")


def _fit(hours: pl.DataFrame) -> dict[str, float]:
    """Non-negative least squares of the hourly excess on the during and after exposures."""
    design = hours.select("during", "after").to_numpy()
    excess = hours["excess"].to_numpy()
    best = {"during_per_10k": 0.0, "after_per_10k": 0.0}, float(np.sum(excess**2))
    for columns in ((0, 1), (0,), (1,)):  # both terms, else one (two unknowns: the active set is small)
        x = design[:, columns]
        if not np.any(x):
            continue
        coefficients = np.linalg.lstsq(x, excess, rcond=None)[0]
        if np.any(coefficients < 0):
            continue
        error = float(np.sum((excess - x @ coefficients) ** 2))
        if error < best[1]:
            fitted = dict.fromkeys(("during_per_10k", "after_per_10k"), 0.0)
            for column, value in zip(columns, coefficients, strict=True):
                fitted[("during_per_10k", "after_per_10k")[column]] = float(value)
            best = fitted, error
    return best[0]


def event_uplift(hours: pl.DataFrame, response: pl.DataFrame) -> pl.DataFrame:
    """Per agency x area x hour the scenario's events reach (``event_hours``): ``event_uplift``,
    the agency's responses times the events' exposures that hour, shared evenly among the
    agency's areas the events list then."""
    areas = hours.select("agency_id", "area_id", "bucket_start").unique()
    added = pl.col("during_per_10k") * pl.col("during") + pl.col("after_per_10k") * pl.col("after")
    return (
        areas.join(_agency_exposure(hours), on=["agency_id", "bucket_start"])
        .join(response.select("agency_id", "during_per_10k", "after_per_10k"), on="agency_id", how="inner")
        .with_columns(event_uplift=added / pl.len().over("agency_id", "bucket_start"))
        .select("agency_id", "area_id", "bucket_start", "event_uplift")
    )
