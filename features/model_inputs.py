"""Model inputs: one row per series x target hour x horizon band, every feature leakage-safe."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from features.calendar import CALENDAR_COLUMNS, calendar_features, event_features
from features.history import HISTORY_FEATURES, SERIES, agency_history, cross_history_exprs, history_exprs
from features.panel import KEYS, demand_grid

CATEGORICAL = ("agency_id", "area_id")
TARGET = "incidents"


@dataclass(frozen=True)
class AgencyCalendar:
    agency_id: str
    timezone: str
    country: str
    subdivision: str | None


def extend_panel(panel: pl.LazyFrame, hours: int) -> pl.LazyFrame:
    """The panel plus ``hours`` future rows per series (incidents null) to forecast into."""
    last = pl.col("bucket_start").max() + pl.duration(hours=hours)
    grid = demand_grid(panel.select("agency_id", "area_id", "bucket_start"), until=last)
    return grid.join(panel, on=KEYS, how="left").sort(KEYS)


def with_calendar(panel: pl.LazyFrame, calendars: list[AgencyCalendar]) -> pl.LazyFrame:
    """Calendar columns in each agency's own time zone and holiday calendar."""
    parts = [
        calendar_features(
            panel.filter(pl.col("agency_id") == c.agency_id).select("agency_id", "bucket_start").unique(),
            timezone=c.timezone,
            country=c.country,
            subdivision=c.subdivision,
        )
        for c in calendars
    ]
    calendar = pl.concat(parts) if parts else None
    if calendar is None:
        return panel
    return panel.join(calendar, on=["agency_id", "bucket_start"], how="left", maintain_order="left")


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
    features.cross.cross_agency_demand's output.
    """
    observed = pl.col("incidents").is_not_null().any().over("agency_id", "bucket_start")
    frame = (
        panel.with_columns(_observed=observed)
        .join(cross_counts, on=KEYS, how="left", maintain_order="left")
        .with_columns(
            other_incidents=pl.when("_observed").then(pl.col("other_incidents").fill_null(0)).cast(pl.Int32)
        )
        .drop("_observed")
    )
    frame = with_calendar(frame, calendars)
    if events is not None and events.height:
        return event_features(frame, events, timezone=events_timezone)
    return frame.with_columns(event_active=pl.lit(False), event_attendance=pl.lit(0, pl.Int32))


def band_inputs(static: pl.LazyFrame, min_lag: int) -> pl.LazyFrame:
    """Features for targets whose horizon is at most ``min_lag`` hours from the origin."""
    return (
        static.with_columns(
            *history_exprs(min_lag), *cross_history_exprs(min_lag), min_lag=pl.lit(min_lag, pl.Int16)
        )
        .join(
            agency_history(static, min_lag),
            on=["agency_id", "bucket_start"],
            how="left",
            maintain_order="left",
        )
        .with_columns(area_share=pl.col("mean_672") / pl.col("agency_mean_672"))
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
