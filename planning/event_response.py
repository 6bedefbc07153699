"""How many incidents a planned event adds, learned per agency from the warehouse's own history.

A planned event's extra demand grows with its crowd: the response is measured as incidents per
10,000 expected attendance per event hour, per agency, over every past event of the events file
the panel observed. An event hour's excess is the incidents in the areas the event lists less
those areas' usual demand at that local hour of the week (their mean over every observed
non-event hour of the panel); its exposure is the attendance (in 10,000s) of the events active
in the agency that hour, times the share of the hour each lasts (a concert from 19:30 is half of
the 19:00 hour). The response is the agency's total excess over its total exposure, so
each event weighs by its size and a quiet hour's noise averages out over the events.

This is the size a scenario's event adds: the demand model's own event features see too few
events to learn how the effect scales with the crowd (it learns an average multiplier), so the
scenario keeps the model's answer beside this one (scenario.demand ``model_mean``) and says
which it used (``event_basis``). Pure: frames in, a frame out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import polars as pl

from features.calendar import parse_events

PER = 10_000
"""Attendance is counted in this many people."""
RESPONSE_SCHEMA = {
    "agency_id": pl.String,
    "per_10k_hour": pl.Float64,
    "event_hours": pl.Int64,
    "excess": pl.Float64,
}


def event_hours(events: pl.DataFrame, timezones: Mapping[str, str]) -> pl.DataFrame:
    """Every hour of every event in every area it lists: event_id, agency_id, area_id, bucket_start
    and ``exposure`` (its attendance in 10,000s times the share of the hour it lasts). ``events`` is
    the events file as read (features.calendar.parse_events checks it)."""
    parsed = parse_events(events, timezone=dict(timezones))
    bucket_end = pl.col("bucket_start") + timedelta(hours=1)
    overlap = pl.min_horizontal(bucket_end, "end_at") - pl.max_horizontal("bucket_start", "start_at")
    return (
        parsed.with_columns(
            bucket_start=pl.datetime_ranges(
                pl.col("start_at").dt.truncate("1h"), "end_at", "1h", closed="left"
            )
        )
        .explode("bucket_start")
        .select(
            "event_id",
            "agency_id",
            "area_id",
            "bucket_start",
            exposure=pl.col("expected_attendance") / PER * overlap.dt.total_microseconds() / 3.6e9,
        )  # fmt: skip
    )


def _agency_exposure(hours: pl.DataFrame) -> pl.DataFrame:
    """Per agency x hour: the exposure of the events active in it, each event counted once."""
    return (
        hours.unique(["event_id", "agency_id", "bucket_start"])
        .group_by("agency_id", "bucket_start")
        .agg(pl.col("exposure").sum())
    )


def event_response(panel: pl.DataFrame, hours: pl.DataFrame, timezones: Mapping[str, str]) -> pl.DataFrame:
    """Per agency: ``per_10k_hour`` (incidents a 10,000 crowd adds per event hour), the
    ``event_hours`` and the ``excess`` incidents it rests on.

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
    during = (
        rows.filter(pl.col("listed"))
        .join(usual, on=["agency_id", "area_id", "hour_of_week"])
        .group_by("agency_id", "bucket_start")
        .agg(excess=(pl.col("incidents") - pl.col("usual")).sum())
        .join(_agency_exposure(hours), on=["agency_id", "bucket_start"])
    )
    return (
        during.group_by("agency_id")
        .agg(pl.col("excess").sum(), pl.col("exposure").sum(), event_hours=pl.len().cast(pl.Int64))
        .select(
            "agency_id",
            per_10k_hour=(pl.col("excess") / pl.col("exposure")).clip(lower_bound=0.0),
            event_hours="event_hours",
            excess="excess",
        )  # fmt: skip
        .sort("agency_id")
    )


def event_uplift(hours: pl.DataFrame, response: pl.DataFrame) -> pl.DataFrame:
    """Per agency x area x hour of the scenario's events (``event_hours``): ``event_uplift``, the
    agency's response times the events' exposure that hour, shared evenly among the agency's areas
    the events list then."""
    areas = hours.select("agency_id", "area_id", "bucket_start").unique()
    return (
        areas.join(_agency_exposure(hours), on=["agency_id", "bucket_start"])
        .join(response.select("agency_id", "per_10k_hour"), on="agency_id", how="inner")
        .with_columns(
            event_uplift=pl.col("per_10k_hour")
            * pl.col("exposure")
            / pl.len().over("agency_id", "bucket_start")
        )
        .select("agency_id", "area_id", "bucket_start", "event_uplift")
    )
