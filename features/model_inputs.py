"""Model inputs: one row per series x target hour x horizon band, every feature leakage-safe."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from features.calendar import CALENDAR_COLUMNS, calendar_features, event_features
from features.history import HISTORY_FEATURES, agency_history, cross_history_exprs, history_exprs
from features.panel import KEYS, SERIES, extend_panel, hour_key, series_number

CATEGORICAL = ("agency_id", "area_id")
TARGET = "incidents"


@dataclass(frozen=True)
class AgencyCalendar:
    agency_id: str
    timezone: str
    country: str
    subdivision: str | None


def with_calendar(panel: pl.LazyFrame, calendars: list[AgencyCalendar]) -> pl.LazyFrame:
    """Calendar columns in each agency's own time zone and holiday calendar.

    Computed once per agency and hour; ``panel`` is sorted by agency (rows keep their order).
    """
    if not calendars:
        return panel
    keyed = panel.with_columns(_hour=hour_key(series_number("agency_id")))
    hours = keyed.select("agency_id", "bucket_start", "_hour").unique("_hour")
    parts = [
        calendar_features(
            hours.filter(pl.col("agency_id") == c.agency_id),
            timezone=c.timezone,
            country=c.country,
            subdivision=c.subdivision,
        )
        for c in calendars
    ]
    calendar = pl.concat(parts).drop("agency_id", "bucket_start")
    return keyed.join(calendar, on="_hour", how="left", maintain_order="left").drop("_hour")


def static_inputs(
    panel: pl.LazyFrame,
    cross_counts: pl.LazyFrame,
    calendars: list[AgencyCalendar],
    events: pl.DataFrame | None,
    events_timezone: str,
) -> pl.LazyFrame:
    """What every band shares: the panel with calendar, planned events and other agencies' counts.

    ``panel`` is the (possibly extended) complete panel, sorted by series and hour, with
    incidents null after the last observation; ``cross_counts`` is
    features.cross.cross_agency_demand's output. ``other_incidents`` is null where the
    agency has no observation yet (after its last observed hour), else zero-filled.
    """
    numbered = panel.with_columns(_series=series_number(*SERIES), _agency=series_number("agency_id"))
    series = numbered.filter(pl.col("_series").ne_missing(pl.col("_series").shift())).select(*SERIES, "_series")
    other = (
        cross_counts.join(series, on=SERIES)
        .select(_key=hour_key("_series"), other_incidents="other_incidents")
        .sort("_key")
    )
    last_observed = pl.col("bucket_start").filter(pl.col("incidents").is_not_null()).max().over("_agency")
    frame = (
        numbered.with_columns(_key=hour_key("_series").set_sorted())
        .join(other, on="_key", how="left", maintain_order="left")
        .with_columns(
            other_incidents=pl.when(pl.col("bucket_start") <= last_observed)
            .then(pl.col("other_incidents").fill_null(0))
            .cast(pl.Int32)
        )
        .drop("_series", "_agency", "_key")
    )
    frame = with_calendar(frame, calendars)
    if events is not None and events.height:
        return event_features(frame, events, timezone=events_timezone)
    return frame.with_columns(event_active=pl.lit(False), event_attendance=pl.lit(0, pl.Int32))


def band_inputs(static: pl.LazyFrame, min_lag: int) -> pl.LazyFrame:
    """Features for targets whose horizon is at most ``min_lag`` hours from the origin.

    ``static`` is ``static_inputs``' output (sorted by series and hour). The agency-wide
    features are aligned in a frame of their own and put beside the rest, so the static
    columns are shared, never copied.
    """
    own = (
        static.with_columns(_series=series_number(*SERIES))
        .with_columns(
            *history_exprs(min_lag, over="_series"),
            *cross_history_exprs(min_lag, over="_series"),
            min_lag=pl.lit(min_lag, pl.Int16),
        )
        .drop("_series")
    )
    agency_hour = hour_key(series_number("agency_id"))
    agency = agency_history(static, min_lag).select(pl.exclude("agency_id", "bucket_start"), _hour=agency_hour)
    aligned = (
        static.select(_hour=agency_hour)
        .join(agency, on="_hour", how="left", maintain_order="left")
        .drop("_hour")
    )
    return pl.concat([own, aligned], how="horizontal").with_columns(
        area_share=pl.col("mean_672") / pl.col("agency_mean_672")
    )


def model_features(
    panel: pl.LazyFrame,
    cross_counts: pl.LazyFrame,
    calendars: list[AgencyCalendar],
    events: pl.DataFrame | None,
    events_timezone: str,
    min_lag: int,
) -> pl.LazyFrame:
    """``static_inputs`` then ``band_inputs`` for one band (build both once when doing several)."""
    static = static_inputs(panel.sort(KEYS), cross_counts, calendars, events, events_timezone)
    return band_inputs(static, min_lag)


FEATURES = (
    *CATEGORICAL,
    "min_lag",
    *HISTORY_FEATURES,
    "agency_how_mean_4", "agency_mean_168", "agency_mean_672", "area_share",
    "other_mean_24", "other_mean_168", "other_how_mean_4",
    *(c for c in CALENDAR_COLUMNS if c != "local_date"),
    "event_active", "event_attendance",
)  # fmt: skip
__all__ = [
    "FEATURES", "SERIES", "TARGET", "AgencyCalendar", "band_inputs", "extend_panel", "model_features",
    "static_inputs",
]  # fmt: skip
