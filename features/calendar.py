"""Local-time calendar and planned-event features for hourly UTC buckets.

Calendar fields are read on the agency's local wall clock (``convert_time_zone``, so
DST-correct): a spring-forward day has 23 buckets and no local hour 2, a fall-back day 25
with local hour 1 twice (its ``hour_of_week`` repeats one value). They are computed once
per distinct bucket and joined back, so cost barely grows with the number of series.

Added columns: ``local_date`` (Date), ``hour`` 0-23, ``day_of_week`` 0=Mon..6=Sun,
``month`` 1-12, ``week_of_year`` (ISO 1-53) as Int8; ``hour_of_week`` 0-167 (0 = Monday
00:xx local) and ``day_of_year`` 1-366 as Int16; Booleans ``is_weekend`` (Sat/Sun),
``is_holiday`` (a public holiday of the ``holidays`` package for the country and
subdivision, observed days included), ``is_day_before_holiday`` / ``is_day_after_holiday``
(the next / previous local date is one; independent of ``is_holiday``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache, partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import polars as pl

from features.area_ids import named_areas
from features.panel import aligned

CALENDAR_COLUMNS = (
    "local_date", "hour", "day_of_week", "hour_of_week", "week_of_year", "month",
    "day_of_year", "is_weekend", "is_holiday", "is_day_before_holiday", "is_day_after_holiday",
)  # fmt: skip
EVENT_COLUMNS = ("event_active", "event_attendance")
EVENT_SCHEMA = {
    "event_id": pl.String, "name": pl.String, "start_local": pl.Datetime("us"),
    "end_local": pl.Datetime("us"), "lat": pl.Float64, "lon": pl.Float64,
    "radius_m": pl.Int32, "expected_attendance": pl.Int32, "areas": pl.String,
}  # fmt: skip
"""The columns of an events file (as the simulator writes events.csv) and their types."""
PARSED_EVENT_COLUMNS = (
    "event_id", "name", "start_at", "end_at", "lat", "lon", "radius_m",
    "expected_attendance", "agency_id", "area_id",
)  # fmt: skip
_REQUIRED = ("event_id", "start_local", "end_local", "expected_attendance", "areas")
_HOUR = timedelta(hours=1)


def calendar_features(
    buckets: pl.LazyFrame, *, timezone: str, country: str, subdivision: str | None
) -> pl.LazyFrame:
    """``buckets`` (a time-zone-aware ``bucket_start``, other columns kept, rows in order)
    with ``CALENDAR_COLUMNS`` added for the agency's IANA ``timezone``, its ``country``
    (ISO 3166-1 alpha-2, e.g. "US") and ``subdivision`` (e.g. "PA", or None)."""
    _check_zone(timezone)
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        raise ValueError(f"no holiday calendar for {country!r}/{subdivision!r}: {exc}") from None
    schema = buckets.collect_schema()
    kind = schema.get("bucket_start")
    if not isinstance(kind, pl.Datetime) or kind.time_zone is None:
        raise ValueError(f"bucket_start must be a time-zone-aware Datetime, got {kind}")
    if clash := [c for c in CALENDAR_COLUMNS if c in schema]:
        raise ValueError(f"buckets already has calendar column(s) {clash}")

    local = pl.col("bucket_start").dt.convert_time_zone(timezone)
    day = pl.col("local_date")
    flag = partial(_is_holiday, country=country, subdivision=subdivision)

    def holiday(date: pl.Expr) -> pl.Expr:
        return date.map_batches(flag, pl.Boolean, is_elementwise=True)

    hours = (
        buckets.select("bucket_start")
        .unique()
        .with_columns(
            local_date=local.dt.date(),
            hour=local.dt.hour().cast(pl.Int8),
            day_of_week=(local.dt.weekday() - 1).cast(pl.Int8),
            week_of_year=local.dt.week().cast(pl.Int8),
            month=local.dt.month().cast(pl.Int8),
            day_of_year=local.dt.ordinal_day().cast(pl.Int16),
        )
        .with_columns(
            hour_of_week=pl.col("day_of_week").cast(pl.Int16) * 24 + pl.col("hour"),
            is_weekend=pl.col("day_of_week") >= 5,
            is_holiday=holiday(day),
            is_day_before_holiday=holiday(day + timedelta(days=1)),
            is_day_after_holiday=holiday(day - timedelta(days=1)),
        )
        .select("bucket_start", *CALENDAR_COLUMNS)
    )
    return buckets.join(hours, on="bucket_start", how="left", maintain_order="left")


def parse_events(
    frame: pl.DataFrame, *, timezone: str | Mapping[str, str], areas: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Validate an events table and make it one row per event and agency area, times in UTC.

    ``frame`` has the columns of ``EVENT_SCHEMA``, typed or all strings (as read from CSV).
    ``start_local``/``end_local`` are naive wall-clock times (ISO text or Datetime) in
    ``timezone``: one IANA zone, or agency id -> zone (each event area is read in its own
    agency's zone). A time repeated at the autumn change is read as standard time, one skipped at
    the spring change with the offset before it (02:30 New York -> 07:30 UTC), as feeds are.
    ``areas`` is '|'-separated "agency_id:area_id". Given the known ``areas`` (agency_id, area_id),
    an area written as one of them up to case and spacing is that one (``b 01`` is ``B 01``:
    features.area_ids.named_areas). Returns event_id, name, start_at, end_at (Datetime us UTC), lat,
    lon, radius_m, expected_attendance, agency_id, area_id.

    Raises:
        ValueError: a missing column, an unreadable or missing required value, end not
            after start, a negative attendance or radius, or a duplicate event_id.
    """
    for zone in [timezone] if isinstance(timezone, str) else timezone.values():
        _check_zone(zone)
    if missing := [c for c in EVENT_SCHEMA if c not in frame.columns]:
        raise ValueError(f"events: missing column(s) {missing}")
    events = frame.select(
        _cast(frame, column, dtype) for column, dtype in EVENT_SCHEMA.items()
    ).with_row_index("row")
    _fail_where(events, pl.any_horizontal(pl.col(_REQUIRED).is_null()), "a required value is empty")
    _fail_where(events, pl.col("end_local") <= pl.col("start_local"), "end is not after start")
    _fail_where(events, pl.min_horizontal("expected_attendance", "radius_m") < 0, "negative number")
    _fail_where(events, pl.col("event_id").is_duplicated(), "duplicate event_id")
    listed = pl.col("areas").str.split("|").list.eval(pl.element().str.strip_chars())
    pairs = events.with_columns(area=listed).explode("area")
    pairs = pairs.with_columns(
        pl.col("area").str.splitn(":", 2).struct.rename_fields(["agency_id", "area_id"])
    ).unnest("area")
    bad = pl.col("area_id").is_null() | (pl.col("agency_id") == "") | (pl.col("area_id") == "")
    _fail_where(pairs, bad, "areas must be '|'-separated agency_id:area_id")
    if areas is not None:
        pairs = named_areas(pairs.lazy(), areas.lazy()).collect()
    return (
        _in_utc(pairs, timezone)
        .select(PARSED_EVENT_COLUMNS)
        .unique(["event_id", "agency_id", "area_id"], keep="first", maintain_order=True)
        .sort("start_at", "event_id", "agency_id", "area_id")
    )


def event_features(
    keys: pl.LazyFrame, events: pl.DataFrame, *, timezone: str | Mapping[str, str]
) -> pl.LazyFrame:
    """``keys`` (agency_id, area_id, bucket_start) with ``event_active`` (Boolean: a planned
    event listing this agency's area overlaps [bucket_start, bucket_start + 1h)) and
    ``event_attendance`` (Int32: sum of the overlapping events' expected attendance, else 0).
    An event's span is [start, end) in UTC; ``events`` is raw, as ``parse_events`` takes it, and
    its areas name those of ``keys`` up to case and spacing."""
    schema = keys.collect_schema()
    if clash := [c for c in EVENT_COLUMNS if c in schema]:
        raise ValueError(f"keys already has event column(s) {clash}")
    if missing := [c for c in ("agency_id", "area_id", "bucket_start") if c not in schema]:
        raise ValueError(f"keys: missing column(s) {missing}")
    bucket = schema["bucket_start"]
    series = keys.select("agency_id", "area_id").unique().collect()
    hours = (
        parse_events(events, timezone=timezone, areas=series)
        .lazy()
        .select(
            pl.col("agency_id", "area_id", "expected_attendance"),
            bucket_start=pl.datetime_ranges(
                pl.col("start_at").dt.truncate("1h"), pl.col("end_at"), "1h", closed="left"
            ),
        )
        .explode("bucket_start")
        .group_by("agency_id", "area_id", pl.col("bucket_start").cast(bucket))
        .agg(event_attendance=pl.col("expected_attendance").sum().cast(pl.Int32))
    )
    # only the rows at an event's hours go through the three-key join; the rest stay put
    indexed = keys.with_row_index("_event_row")
    attendance = (
        indexed.select("_event_row", "agency_id", "area_id", "bucket_start")
        .join(hours.select("bucket_start").unique(), on="bucket_start", how="semi")
        .join(hours, on=["agency_id", "area_id", "bucket_start"], maintain_order="left")
        .select("_event_row", "event_attendance")
    )
    return pl.concat([keys, aligned(indexed, attendance, "_event_row")], how="horizontal").with_columns(
        event_active=pl.col("event_attendance").is_not_null(),
        event_attendance=pl.col("event_attendance").fill_null(0),
    )


@lru_cache(maxsize=64)
def _holiday_dates(country: str, subdivision: str | None, years: tuple[int, ...]) -> pl.Series:
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=years)
    return pl.Series("holidays", sorted(calendar), dtype=pl.Date)


def _is_holiday(dates: pl.Series, country: str, subdivision: str | None) -> pl.Series:
    years = tuple(sorted(dates.dt.year().drop_nulls().unique()))
    return dates.is_in(_holiday_dates(country, subdivision, years).implode())


def _check_zone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}") from None


def _cast(frame: pl.DataFrame, column: str, dtype: pl.DataType) -> pl.Series:
    """``column`` as ``dtype``; text is stripped first, and text that does not parse is an error."""
    series = frame[column]
    if getattr(series.dtype, "time_zone", None) is not None:
        raise ValueError(f"events: {column} must be naive local time, not {series.dtype}")
    if series.dtype == pl.String:
        series = series.str.strip_chars().replace("", None)
    if series.dtype == pl.String and isinstance(dtype, pl.Datetime):
        text = series.str.replace("T", " ", literal=True)
        formats = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")  # ISO 8601, 'T' or space
        parsed = pl.select(pl.coalesce(text.str.to_datetime(f, strict=False) for f in formats))
        parsed = parsed.to_series().dt.cast_time_unit("us")
    else:
        parsed = series.cast(dtype, strict=False)
    unreadable = series.is_not_null() & parsed.is_null()
    if unreadable.any():
        row = int(unreadable.arg_true()[0])
        raise ValueError(f"events row {row}: {column} {series[row]!r} is not a {dtype}")
    return parsed.alias(column)


def _fail_where(events: pl.DataFrame, bad: pl.Expr, problem: str) -> None:
    rows = events.filter(bad)
    if not rows.is_empty():
        first = rows.row(0, named=True)
        raise ValueError(f"events row {first['row']} ({first['event_id']!r}): {problem}")


def _in_utc(pairs: pl.DataFrame, timezone: str | Mapping[str, str]) -> pl.DataFrame:
    """``start_at``/``end_at`` from the local times, each row in its agency's zone (or the one zone)."""
    if isinstance(timezone, str):
        zones = dict.fromkeys(pairs["agency_id"].unique().to_list(), timezone)
    else:
        zones = dict(timezone)
        _fail_where(pairs, ~pl.col("agency_id").is_in(list(zones)), "unknown agency in areas")
    parts = [
        pairs.filter(pl.col("agency_id") == agency).with_columns(
            start_at=_to_utc("start_local", zones[agency]), end_at=_to_utc("end_local", zones[agency])
        )
        for agency in sorted(pairs["agency_id"].unique().to_list())
    ]
    if not parts:
        return pairs.with_columns(
            start_at=pl.lit(None, pl.Datetime("us", "UTC")), end_at=pl.lit(None, pl.Datetime("us", "UTC"))
        )
    return pl.concat(parts)


def _to_utc(column: str, timezone: str) -> pl.Expr:
    """Naive local wall-clock times to UTC: repeated -> standard time, skipped -> old offset."""
    naive = pl.col(column)
    zoned = naive.dt.replace_time_zone(timezone, ambiguous="latest", non_existent="null")
    skipped = (naive - _HOUR).dt.replace_time_zone(timezone, ambiguous="latest") + _HOUR
    return zoned.fill_null(skipped).dt.convert_time_zone("UTC")
