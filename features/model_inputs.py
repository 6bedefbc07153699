"""Model inputs: one row per series x target hour x horizon band, every feature leakage-safe."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from features.calendar import CALENDAR_COLUMNS, calendar_features, event_features
from features.history import HISTORY_FEATURES, agency_history, history_features
from features.panel import BUCKET, KEYS, SERIES, aligned, extend_panel, hour_key, series_number

TARGET = "incidents"


@dataclass(frozen=True)
class AgencyCalendar:
    agency_id: str
    timezone: str
    country: str
    subdivision: str | None


def _calendar(keyed: pl.LazyFrame, calendars: list[AgencyCalendar]) -> pl.LazyFrame:
    """Calendar columns per agency x hour (keyed by ``_hour``), in the agency's own time zone
    and holiday calendar: computed once per agency and hour, not per row, and in one part
    per distinct calendar (agencies usually share one), each part scanning ``keyed`` once."""
    first: dict[str, AgencyCalendar] = {}
    for c in calendars:
        first.setdefault(c.agency_id, c)
    shared: dict[tuple[str, str, str | None], list[str]] = {}
    for c in first.values():
        shared.setdefault((c.timezone, c.country, c.subdivision), []).append(c.agency_id)
    hours = (
        keyed.group_by("_agency")
        .agg(
            pl.col("agency_id").first(), first=pl.col("bucket_start").min(), last=pl.col("bucket_start").max()
        )
        .select("agency_id", "_agency", bucket_start=pl.datetime_ranges("first", "last", BUCKET))
        .explode("bucket_start")
        .with_columns(_hour=hour_key("_agency"))
    )
    parts = [
        calendar_features(
            hours.filter(pl.col("agency_id").is_in(agencies)),
            timezone=timezone,
            country=country,
            subdivision=subdivision,
        )
        for (timezone, country, subdivision), agencies in shared.items()
    ]
    return pl.concat(parts).select("_hour", *CALENDAR_COLUMNS)


def static_inputs(
    panel: pl.LazyFrame,
    cross_counts: pl.LazyFrame,
    calendars: list[AgencyCalendar],
    events: pl.DataFrame | None,
    events_timezone: str | dict[str, str],
) -> pl.LazyFrame:
    """What every band shares: the panel with calendar, planned events and other agencies' counts.

    ``panel`` is the (possibly extended) complete panel, sorted by series and hour, with
    incidents null after the last observation; ``cross_counts`` is
    features.cross.cross_agency_demand's output. ``other_incidents`` is null after the
    agency's last observed hour, else zero-filled. Two integer keys come last, for
    ``band_inputs``: ``_series`` (the series' number) and ``_hour`` (features.panel.hour_key
    of the agency's number).
    """
    keyed = panel.with_columns(
        _series=series_number(*SERIES), _agency=series_number("agency_id")
    ).with_columns(_key=hour_key("_series").set_sorted(), _hour=hour_key("_agency"))
    series = keyed.filter(pl.col("_series").ne_missing(pl.col("_series").shift())).select(*SERIES, "_series")
    other = (
        cross_counts.join(series, on=SERIES)
        .select(_key=hour_key("_series"), other_incidents="other_incidents")
        .sort("_key")
    )
    last_observed = pl.col("bucket_start").filter(pl.col("incidents").is_not_null()).max().over("_agency")
    observed_other = pl.when(pl.col("bucket_start") <= last_observed).then(
        pl.col("other_incidents").fill_null(0)
    )
    parts = [keyed, aligned(keyed, other, "_key")]
    if calendars:
        parts.append(aligned(keyed, _calendar(keyed, calendars), "_hour"))
    has_events = events is not None and events.height > 0
    if has_events:
        parts.append(event_features(keyed.select(KEYS), events, timezone=events_timezone).drop(KEYS))
    frame = pl.concat(parts, how="horizontal").with_columns(other_incidents=observed_other.cast(pl.Int32))
    if not has_events:
        frame = frame.with_columns(event_active=pl.lit(False), event_attendance=pl.lit(0, pl.Int32))
    return frame.select(pl.exclude("_series", "_agency", "_key", "_hour"), "_series", "_hour")


def band_inputs(static: pl.LazyFrame, min_lag: int) -> pl.LazyFrame:
    """Features for targets whose horizon is at most ``min_lag`` hours from the origin.

    ``static`` is ``static_inputs``' output. Windows run over its sorted ``_series``; the
    agency-wide features are aligned by ``_hour`` in a frame of their own and put beside the
    rest, so the static columns are shared, never copied.
    """
    own = history_features(static, min_lag, over="_series").with_columns(min_lag=pl.lit(min_lag, pl.Int16))
    agency = aligned(static, agency_history(static, min_lag), "_hour")
    return pl.concat([own.drop("_series", "_hour"), agency], how="horizontal").with_columns(
        area_share=pl.col("mean_672") / pl.col("agency_mean_672")
    )


def model_features(
    panel: pl.LazyFrame,
    cross_counts: pl.LazyFrame,
    calendars: list[AgencyCalendar],
    events: pl.DataFrame | None,
    events_timezone: str | dict[str, str],
    min_lag: int,
) -> pl.LazyFrame:
    """``static_inputs`` then ``band_inputs`` for one band (build both once when doing several)."""
    static = static_inputs(panel.sort(KEYS), cross_counts, calendars, events, events_timezone)
    return band_inputs(static, min_lag)


CROSS_AGENCY_FEATURES = ("other_mean_24", "other_mean_168", "other_how_mean_4")
"""Other agencies' demand in the same place: what a model trained without cross-agency features leaves out."""
FEATURES = (
    *SERIES,
    "min_lag",
    *HISTORY_FEATURES,
    "agency_how_mean_4", "agency_mean_168", "agency_mean_672", "area_share",
    *CROSS_AGENCY_FEATURES,
    *(c for c in CALENDAR_COLUMNS if c != "local_date"),
    "event_active", "event_attendance",
)  # fmt: skip
__all__ = [
    "CROSS_AGENCY_FEATURES", "FEATURES", "SERIES", "TARGET", "AgencyCalendar", "band_inputs", "extend_panel",
    "model_features", "static_inputs",
]  # fmt: skip
