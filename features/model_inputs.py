"""Model inputs: one row per series x target hour x horizon band, every feature leakage-safe."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from features.calendar import CALENDAR_COLUMNS, calendar_features, event_features
from features.history import HISTORY_FEATURES, SERIES, agency_history, cross_history, history_features
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
    return panel if calendar is None else panel.join(calendar, on=["agency_id", "bucket_start"], how="left")


def model_features(
    panel: pl.LazyFrame,
    cross_counts: pl.LazyFrame,
    calendars: list[AgencyCalendar],
    events: pl.DataFrame | None,
    events_timezone: str,
    min_lag: int,
) -> pl.LazyFrame:
    """Features for targets whose horizon is at most ``min_lag`` hours from the origin.

    ``panel`` is the (possibly extended) complete panel: incidents null after the last
    observation. ``cross_counts`` is features.cross.cross_agency_demand's output.
    """
    observed = pl.col("incidents").is_not_null().any().over("agency_id", "bucket_start")
    cross_panel = (
        panel.select(*KEYS, observed.alias("_observed"))
        .join(cross_counts, on=KEYS, how="left")
        .with_columns(
            other_incidents=pl.when("_observed").then(pl.col("other_incidents").fill_null(0)).cast(pl.Int32)
        )
        .drop("_observed")
    )
    frame = (
        history_features(panel.sort(KEYS), min_lag)
        .join(agency_history(panel, min_lag), on=["agency_id", "bucket_start"], how="left")
        .join(cross_history(cross_panel, min_lag), on=KEYS, how="left")
        .with_columns(min_lag=pl.lit(min_lag, pl.Int16))
    )
    frame = with_calendar(frame, calendars)
    if events is not None and events.height:
        frame = event_features(frame, events, timezone=events_timezone)
    else:
        frame = frame.with_columns(event_active=pl.lit(False), event_attendance=pl.lit(0, pl.Int32))
    return frame.with_columns(area_share=pl.col("mean_672") / pl.col("agency_mean_672")).sort(KEYS)


FEATURES = (
    *CATEGORICAL,
    "min_lag",
    *HISTORY_FEATURES,
    "agency_how_mean_4", "agency_mean_168", "agency_mean_672", "area_share",
    "other_mean_24", "other_mean_168", "other_how_mean_4",
    *(c for c in CALENDAR_COLUMNS if c != "local_date"),
    "event_active", "event_attendance",
)  # fmt: skip
__all__ = ["FEATURES", "SERIES", "TARGET", "AgencyCalendar", "extend_panel", "model_features"]
