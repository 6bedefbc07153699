"""Hourly UTC buckets with their local-time calendar, and the temporal rate factors on them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import holidays
import numpy as np
import polars as pl

from jointcast.simulator.feeds import NEW_YORK

MICROSECONDS_PER_HOUR = 3_600_000_000
MICROSECONDS_PER_MINUTE = 60_000_000

# (month, day, first local hour, last local hour) -> factor per agency kind
_HOLIDAY_WINDOWS: tuple[tuple[int, int, int, int, dict[str, float]], ...] = (
    (1, 1, 0, 3, {"police": 2.2, "fire": 1.5, "ems": 1.8, "transit_police": 1.8}),
    (12, 31, 20, 23, {"police": 1.3, "fire": 1.1, "ems": 1.15, "transit_police": 1.5}),
    (7, 4, 18, 23, {"police": 1.7, "fire": 2.0, "ems": 1.4, "transit_police": 1.8}),
    (12, 25, 0, 23, {"police": 0.75, "fire": 0.9, "ems": 0.9, "transit_police": 0.6}),
)
_THANKSGIVING = {"police": 0.85, "fire": 1.05, "ems": 0.95, "transit_police": 0.6}


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def hour_table(start: date, stop: date, timezone: str = NEW_YORK) -> pl.DataFrame:
    """One row per UTC hour in [start, stop), with the local calendar fields the rates need."""
    first, last = utc_midnight(start), utc_midnight(stop) - timedelta(hours=1)
    buckets = pl.datetime_range(first, last, "1h", time_unit="us", time_zone="UTC", eager=True)
    frame = pl.DataFrame({"bucket_start": buckets}).with_columns(
        local=pl.col("bucket_start").dt.convert_time_zone(timezone)
    )
    frame = frame.with_columns(
        local_hour=pl.col("local").dt.hour().cast(pl.Int32),
        weekday=(pl.col("local").dt.weekday() - 1).cast(pl.Int32),
        local_date=pl.col("local").dt.date(),
        day_of_year=pl.col("local").dt.ordinal_day().cast(pl.Int32),
        month=pl.col("local").dt.month().cast(pl.Int32),
        day=pl.col("local").dt.day().cast(pl.Int32),
    )
    years = range(start.year - 1, stop.year + 1)
    calendar = holidays.country_holidays("US", subdiv="PA", years=years)
    thanksgiving = [d for d, name in calendar.items() if name == "Thanksgiving Day"]
    return frame.with_columns(
        is_holiday=pl.col("local_date").is_in(list(calendar.keys())),
        is_thanksgiving=pl.col("local_date").is_in(thanksgiving),
    ).drop("local")


def hours_since(hours: pl.DataFrame, start: datetime) -> np.ndarray:
    """Microseconds since ``start`` of each bucket start."""
    epoch = hours["bucket_start"].dt.epoch("us").to_numpy()
    return epoch - int(start.timestamp() * 1_000_000)


def _normalised(values: tuple[float, ...]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array / array.mean()


def temporal_factor(
    hours: pl.DataFrame,
    weekday_hours: tuple[float, ...],
    weekend_hours: tuple[float, ...],
    day_of_week: tuple[float, ...] = (1.0,) * 7,
    season_amplitude: float = 0.0,
    season_peak_day: int = 1,
) -> np.ndarray:
    """Relative rate per hour (mean about one): hour-of-day profile (weekend/holiday profile on
    rest days), day of week and annual seasonality, all in local time."""
    local_hour = hours["local_hour"].to_numpy()
    weekday = hours["weekday"].to_numpy()
    rest_day = (weekday >= 5) | hours["is_holiday"].to_numpy()
    profile = np.where(
        rest_day, _normalised(weekend_hours)[local_hour], _normalised(weekday_hours)[local_hour]
    )
    day_of_year = hours["day_of_year"].to_numpy()
    season = 1 + season_amplitude * np.cos(2 * np.pi * (day_of_year - season_peak_day) / 365.25)
    return profile * _normalised(day_of_week)[weekday] * season


def holiday_factor(hours: pl.DataFrame, kind: str) -> np.ndarray:
    """Holiday effects for one agency kind: New Year's night and July 4 evening up, Christmas
    and Thanksgiving down."""
    month = hours["month"].to_numpy()
    day = hours["day"].to_numpy()
    local_hour = hours["local_hour"].to_numpy()
    factor = np.ones(len(hours))
    for on_month, on_day, first, last, by_kind in _HOLIDAY_WINDOWS:
        window = (month == on_month) & (day == on_day) & (local_hour >= first) & (local_hour <= last)
        factor[window] *= by_kind.get(kind, 1.0)
    factor[hours["is_thanksgiving"].to_numpy()] *= _THANKSGIVING.get(kind, 1.0)
    return factor


def wall_clock_ordered(records: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Times as read off a naive local clock never go backwards within a record: at the DST
    fall-back a later time that would read earlier than a previous one takes that previous time
    (UTC order is kept; only that leg's duration shrinks). Written as naive local text, such a
    record would otherwise look like a negative duration."""

    def wall(column: str) -> pl.Expr:
        return pl.col(column).dt.convert_time_zone(timezone).dt.replace_time_zone(None)

    ordered = records.with_columns(_previous=pl.col("received_at"))
    for column in ("dispatched_at", "on_scene_at", "cleared_at"):
        ordered = ordered.with_columns(
            pl.when(wall(column) < wall("_previous")).then("_previous").otherwise(column).alias(column)
        ).with_columns(_previous=pl.coalesce(column, "_previous"))
    return ordered.drop("_previous")


def near_clock_change(times: pl.Expr, timezone: str, hours: int = 3) -> pl.Expr:
    """True where the UTC offset of ``timezone`` changes within ``hours`` of the time."""

    def offset(moment: pl.Expr) -> pl.Expr:
        local = moment.dt.convert_time_zone(timezone)
        return local.dt.base_utc_offset() + local.dt.dst_offset()

    window = pl.duration(hours=hours)
    return (offset(times - window) != offset(times)) | (offset(times + window) != offset(times))
