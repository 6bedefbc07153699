"""Local calendar and planned-event features on small hand-made frames."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import holidays
import polars as pl
import pytest

from features.calendar import (
    CALENDAR_COLUMNS,
    calendar_features,
    event_features,
    parse_events,
)

NEW_YORK = "America/New_York"
EVENTS_HEADER = "event_id,name,start_local,end_local,lat,lon,radius_m,expected_attendance,areas"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hourly(first: datetime, last: datetime) -> pl.Series:
    return pl.datetime_range(first, last, "1h", time_unit="us", time_zone="UTC", eager=True)


def calendar(first: datetime, last: datetime, subdivision: str | None = "PA") -> pl.DataFrame:
    buckets = pl.DataFrame({"bucket_start": hourly(first, last)}).lazy()
    return calendar_features(buckets, timezone=NEW_YORK, country="US", subdivision=subdivision).collect()


def on_day(frame: pl.DataFrame, day: date) -> pl.DataFrame:
    return frame.filter(pl.col("local_date") == day)


def events_csv(*lines: str) -> pl.DataFrame:
    """An events file as a caller reads it: every column a string."""
    text = "\n".join((EVENTS_HEADER, *lines)) + "\n"
    return pl.read_csv(io.StringIO(text), infer_schema=False)


def keys(areas: list[tuple[str, str]], first: datetime, last: datetime) -> pl.LazyFrame:
    series = pl.DataFrame(areas, schema=["agency_id", "area_id"], orient="row")
    return series.join(pl.DataFrame({"bucket_start": hourly(first, last)}), how="cross").lazy()


# -- calendar_features --------------------------------------------------------------------
def test_spring_forward_day_has_23_buckets_and_no_local_hour_2():
    day = on_day(calendar(utc(2024, 3, 9), utc(2024, 3, 12)), date(2024, 3, 10))
    assert day.height == 23
    assert day["hour"].to_list() == [0, 1, *range(3, 24)]


def test_fall_back_day_has_hour_1_twice_with_the_same_hour_of_week():
    day = on_day(calendar(utc(2024, 11, 2), utc(2024, 11, 5)), date(2024, 11, 3))
    assert day.height == 25
    assert day["hour"].to_list() == [0, 1, 1, *range(2, 24)]
    repeated = day.filter(pl.col("hour") == 1)
    assert repeated["bucket_start"].to_list() == [utc(2024, 11, 3, 5), utc(2024, 11, 3, 6)]
    assert repeated["hour_of_week"].to_list() == [6 * 24 + 1] * 2  # Sunday 01:xx


def test_independence_day_and_its_neighbours_are_flagged_by_local_date():
    frame = calendar(utc(2024, 7, 2, 4), utc(2024, 7, 7, 3))  # 2 Jul 00:00 .. 6 Jul 23:00 EDT
    flags = frame.group_by("local_date").agg(
        pl.col("is_holiday", "is_day_before_holiday", "is_day_after_holiday").all(),
        pl.col("is_holiday", "is_day_before_holiday", "is_day_after_holiday").any().name.suffix("_any"),
        hours=pl.len(),
    )
    by_day = {row["local_date"]: row for row in flags.iter_rows(named=True)}
    assert all(row["hours"] == 24 for row in by_day.values())
    assert by_day[date(2024, 7, 4)]["is_holiday"]
    assert by_day[date(2024, 7, 3)]["is_day_before_holiday"]
    assert by_day[date(2024, 7, 5)]["is_day_after_holiday"]
    for quiet in (date(2024, 7, 2), date(2024, 7, 6)):
        row = by_day[quiet]
        assert not (row["is_holiday_any"] or row["is_day_before_holiday_any"])
        assert not row["is_day_after_holiday_any"]
    # 02:00 UTC on 5 July is still 22:00 on the 4th in New York
    late = frame.filter(pl.col("bucket_start") == utc(2024, 7, 5, 2)).row(0, named=True)
    assert late["local_date"] == date(2024, 7, 4) and late["is_holiday"]


def test_pennsylvania_day_after_thanksgiving_is_a_holiday_only_with_the_subdivision():
    day_after = date(2024, 11, 29)
    assert day_after in holidays.country_holidays("US", subdiv="PA", years=2024)
    assert day_after not in holidays.country_holidays("US", years=2024)
    first, last = utc(2024, 11, 29, 5), utc(2024, 11, 30, 4)  # the local day
    with_pa = calendar(first, last, subdivision="PA")
    federal = calendar(first, last, subdivision=None)
    assert with_pa["is_holiday"].all() and not federal["is_holiday"].any()
    assert with_pa["is_day_after_holiday"].all() and federal["is_day_after_holiday"].all()


def test_hour_of_week_starts_at_monday_midnight_local():
    frame = calendar(utc(2024, 3, 10, 12), utc(2024, 3, 18, 12))
    monday = frame.filter(pl.col("bucket_start") == utc(2024, 3, 11, 4)).row(0, named=True)
    assert (monday["day_of_week"], monday["hour"], monday["hour_of_week"]) == (0, 0, 0)
    sunday = frame.filter(pl.col("bucket_start") == utc(2024, 3, 11, 3)).row(0, named=True)
    assert (sunday["day_of_week"], sunday["hour_of_week"], sunday["is_weekend"]) == (6, 167, True)
    assert frame["hour_of_week"].min() == 0 and frame["hour_of_week"].max() == 167


def test_calendar_fields_and_dtypes_on_a_new_year_bucket():
    frame = calendar(utc(2024, 12, 31, 4), utc(2025, 1, 1, 6))
    row = frame.filter(pl.col("bucket_start") == utc(2025, 1, 1, 5)).row(0, named=True)
    assert row["local_date"] == date(2025, 1, 1)
    assert (row["hour"], row["month"], row["day_of_year"], row["week_of_year"]) == (0, 1, 1, 1)
    assert row["is_holiday"] and not row["is_weekend"]
    assert frame.filter(pl.col("local_date") == date(2024, 12, 31))["is_day_before_holiday"].all()
    assert {name: frame.schema[name] for name in CALENDAR_COLUMNS} == {
        "local_date": pl.Date,
        "hour": pl.Int8,
        "day_of_week": pl.Int8,
        "hour_of_week": pl.Int16,
        "week_of_year": pl.Int8,
        "month": pl.Int8,
        "day_of_year": pl.Int16,
        "is_weekend": pl.Boolean,
        "is_holiday": pl.Boolean,
        "is_day_before_holiday": pl.Boolean,
        "is_day_after_holiday": pl.Boolean,
    }


def test_extra_columns_and_row_order_are_kept_with_repeated_buckets():
    hours = hourly(utc(2024, 1, 1), utc(2024, 1, 1, 5))
    buckets = pl.DataFrame({"area_id": ["b", "a"] * 6, "bucket_start": pl.concat([hours.reverse(), hours])})
    out = calendar_features(buckets.lazy(), timezone=NEW_YORK, country="US", subdivision=None).collect()
    assert out.select("area_id", "bucket_start").equals(buckets)
    assert out.columns == ["area_id", "bucket_start", *CALENDAR_COLUMNS]
    assert out["hour"].to_list()[:6] == [0, 23, 22, 21, 20, 19]


@pytest.mark.parametrize(
    ("kwargs", "frame", "message"),
    [
        ({"timezone": "Mars/Olympus"}, None, "unknown time zone"),
        ({"country": "XX"}, None, "no holiday calendar"),
        ({}, pl.DataFrame({"bucket_start": [datetime(2024, 1, 1)]}), "time-zone-aware"),
        ({}, pl.DataFrame({"bucket_start": hourly(utc(2024, 1, 1), utc(2024, 1, 1)), "hour": 1}), "already"),
    ],
)
def test_bad_calendar_arguments_are_clear_errors(kwargs, frame, message):
    buckets = pl.DataFrame({"bucket_start": hourly(utc(2024, 1, 1), utc(2024, 1, 1))})
    arguments = {"timezone": NEW_YORK, "country": "US", "subdivision": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        calendar_features((buckets if frame is None else frame).lazy(), **arguments)


# -- parse_events -------------------------------------------------------------------------
def test_parse_events_types_explodes_areas_and_reads_clock_changes_like_feeds():
    raw = events_csv(
        "E1,Concert, 2024-03-10T02:30:00 ,2024-03-10T05:00:00,40.1,-75.2,500,12000,pd:A1| fd:F2|pd:A1",
        "E2,Parade,2024-11-03T01:30:00,2024-11-03T03:00:00,,,,800,pd:A2",
    )
    events = parse_events(raw, timezone=NEW_YORK)
    assert events.schema["start_at"] == pl.Datetime("us", "UTC")
    assert events.schema["expected_attendance"] == pl.Int32
    assert events.select("event_id", "agency_id", "area_id").rows() == [
        ("E1", "fd", "F2"),
        ("E1", "pd", "A1"),
        ("E2", "pd", "A2"),
    ]
    starts = dict(events.select("event_id", "start_at").unique().iter_rows())
    assert starts["E1"] == utc(2024, 3, 10, 7, 30)  # skipped 02:30 read with EST, as feeds are
    assert starts["E2"] == utc(2024, 11, 3, 6, 30)  # repeated 01:30 read as standard time
    assert events.filter(event_id="E2")["lat"].is_null().all()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("E1,x,2024-05-01T10:00:00,2024-05-01T12:00:00,40,-75,500,many,pd:A1", "expected_attendance"),
        ("E1,x,2024-05-01T10:00:00,2024-05-01T09:00:00,40,-75,500,10,pd:A1", "not after start"),
        ("E1,x,not a time,2024-05-01T12:00:00,40,-75,500,10,pd:A1", "start_local"),
        ("E1,x,2024-05-01T10:00:00,2024-05-01T12:00:00,40,-75,500,10,", "required value"),
        ("E1,x,2024-05-01T10:00:00,2024-05-01T12:00:00,40,-75,500,10,pd-A1", "agency_id:area_id"),
        ("E1,x,2024-05-01T10:00:00,2024-05-01T12:00:00,40,-75,-5,10,pd:A1", "negative"),
    ],
)
def test_parse_events_rejects_bad_rows_naming_the_problem(line, message):
    with pytest.raises(ValueError, match=message):
        parse_events(events_csv(line), timezone=NEW_YORK)


def test_parse_events_rejects_missing_columns_and_duplicate_ids():
    line = "E1,x,2024-05-01T10:00:00,2024-05-01T12:00:00,40,-75,500,10,pd:A1"
    with pytest.raises(ValueError, match="missing column"):
        parse_events(events_csv(line).drop("areas"), timezone=NEW_YORK)
    with pytest.raises(ValueError, match="duplicate event_id"):
        parse_events(events_csv(line, line), timezone=NEW_YORK)


# -- event_features -----------------------------------------------------------------------
def active_hours(frame: pl.DataFrame, agency_id: str, area_id: str) -> list[datetime]:
    mine = frame.filter(agency_id=agency_id, area_id=area_id, event_active=True)
    return mine["bucket_start"].to_list()


def test_event_overlap_spans_the_real_hours_across_the_autumn_change():
    # 00:30 EDT -> 02:30 EST is three real hours: 04:30 -> 07:30 UTC
    raw = events_csv("E1,Fireworks,2024-11-03T00:30:00,2024-11-03T02:30:00,40,-75,500,900,pd:A1")
    out = event_features(
        keys([("pd", "A1")], utc(2024, 11, 3), utc(2024, 11, 3, 12)), raw, timezone=NEW_YORK
    ).collect()
    assert active_hours(out, "pd", "A1") == [utc(2024, 11, 3, h) for h in (4, 5, 6, 7)]
    assert out.filter("event_active")["event_attendance"].to_list() == [900] * 4
    assert out.filter(~pl.col("event_active"))["event_attendance"].to_list() == [0] * 9


def test_event_overlap_spans_the_real_hours_across_the_spring_change():
    # 01:00 EST -> 04:00 EDT is two real hours: 06:00 -> 08:00 UTC, end exclusive
    raw = events_csv("E1,Vigil,2024-03-10T01:00:00,2024-03-10T04:00:00,40,-75,500,50,pd:A1")
    out = event_features(
        keys([("pd", "A1")], utc(2024, 3, 10), utc(2024, 3, 10, 12)), raw, timezone=NEW_YORK
    ).collect()
    assert active_hours(out, "pd", "A1") == [utc(2024, 3, 10, 6), utc(2024, 3, 10, 7)]


def test_events_touch_only_their_listed_agency_areas_and_attendance_adds_up():
    raw = events_csv(
        "E1,Game,2024-05-01T18:00:00,2024-05-01T20:00:00,40,-75,500,30000,pd:A1|fd:F2",
        "E2,Concert,2024-05-01T19:30:00,2024-05-01T21:00:00,40,-75,500,5000,pd:A1",
    )
    areas = [("pd", "A1"), ("pd", "A2"), ("pd", "F2"), ("fd", "F2"), ("fd", "A1")]
    out = event_features(
        keys(areas, utc(2024, 5, 1, 20), utc(2024, 5, 2, 3)), raw, timezone=NEW_YORK
    ).collect()
    assert active_hours(out, "pd", "A1") == [utc(2024, 5, 1, h) for h in (22, 23)] + [utc(2024, 5, 2, 0)]
    assert active_hours(out, "fd", "F2") == [utc(2024, 5, 1, 22), utc(2024, 5, 1, 23)]
    for agency_id, area_id in [("pd", "A2"), ("pd", "F2"), ("fd", "A1")]:
        assert active_hours(out, agency_id, area_id) == []
    pd_a1 = out.filter(agency_id="pd", area_id="A1", event_active=True)
    assert pd_a1["event_attendance"].to_list() == [30000, 35000, 5000]
    assert out.schema["event_active"] == pl.Boolean
    assert out.schema["event_attendance"] == pl.Int32
    assert out.height == len(areas) * 8


def test_no_events_leaves_every_hour_inactive():
    out = event_features(
        keys([("pd", "A1")], utc(2024, 5, 1), utc(2024, 5, 1, 5)), events_csv(), timezone=NEW_YORK
    ).collect()
    assert out.height == 6
    assert not out["event_active"].any() and (out["event_attendance"] == 0).all()
