"""Staffing maths on small hand-made frames: shift instances across DST, Erlang C, units per shift."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import polars as pl
import pytest
from scipy.stats import poisson

from jointcast.config import Shift
from models.distribution import count_quantiles
from planning.staffing import (
    OUTPUT_COLUMNS,
    StaffingPlan,
    agents_needed,
    erlang_c,
    service_level,
    shift_instances,
    staffing_table,
)

SHIFTS = (
    Shift(name="day", start=time(7), hours=8),
    Shift(name="evening", start=time(15), hours=8),
    Shift(name="night", start=time(23), hours=8),
)
NEW_YORK = "America/New_York"


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _plan(**changes) -> StaffingPlan:
    values = {
        "agency_id": "pd",
        "timezone": "UTC",
        "shifts": SHIFTS,
        "service_hours": 0.5,
        "units_per_incident": 2.0,
        "service_source": "configured",
        "min_units": 1,
        "proactive_share": 0.0,
        "relief_factor": 1.6,
        "method": "workload",
        "alpha": 0.0,
    }
    return StaffingPlan(**{**values, **changes})


def _hourly(start: datetime, hours: int, means: dict[str, float]) -> pl.DataFrame:
    buckets = [start + timedelta(hours=h) for h in range(hours)]
    return pl.DataFrame(
        {
            "agency_id": "pd",
            "area_id": [area for area in means for _ in buckets],
            "bucket_start": buckets * len(means),
            "mean": [mean for mean in means.values() for _ in buckets],
        },
        schema_overrides={"bucket_start": pl.Datetime("us", "UTC")},
    )


def _row(frame: pl.DataFrame, **where) -> dict:
    return frame.filter(**where).row(0, named=True)


def test_night_shifts_last_7_and_9_hours_across_the_dst_changes():
    spring = shift_instances(SHIFTS, NEW_YORK, _utc(2026, 3, 7), _utc(2026, 3, 10))
    night = _row(spring, shift_name="night", shift_date=date(2026, 3, 7))
    assert night["shift_start"] == _utc(2026, 3, 8, 4)  # 23:00 EST
    assert night["shift_end"] == _utc(2026, 3, 8, 11)  # 07:00 EDT
    assert night["shift_hours"] == 7.0

    autumn = shift_instances(SHIFTS, NEW_YORK, _utc(2026, 10, 31), _utc(2026, 11, 3))
    night = _row(autumn, shift_name="night", shift_date=date(2026, 10, 31))
    assert (night["shift_start"], night["shift_end"]) == (_utc(2026, 11, 1, 3), _utc(2026, 11, 1, 12))
    assert night["shift_hours"] == 9.0
    assert set(autumn.filter(pl.col("shift_name") != "night")["shift_hours"]) == {8.0}


def test_local_shift_ends_are_the_wall_clock_across_the_dst_changes():
    spring = shift_instances(SHIFTS, NEW_YORK, _utc(2026, 3, 7), _utc(2026, 3, 10))
    night = _row(spring, shift_name="night", shift_date=date(2026, 3, 7))
    assert (night["shift_start_local"], night["shift_end_local"]) == (
        datetime(2026, 3, 7, 23),
        datetime(2026, 3, 8, 7),
    )
    autumn = shift_instances(SHIFTS, NEW_YORK, _utc(2026, 10, 31), _utc(2026, 11, 3))
    night = _row(autumn, shift_name="night", shift_date=date(2026, 10, 31))
    assert night["shift_end_local"] == datetime(2026, 11, 1, 7)
    assert autumn.schema["shift_end_local"] == pl.Datetime("us")
    # a shift ending at a skipped local time ends at the wall clock's real time: 02:30 EST is 03:30 EDT
    early = (Shift(name="early", start=time(1, 30), hours=1),)
    ends = shift_instances(early, NEW_YORK, _utc(2026, 3, 8, 5), _utc(2026, 3, 8, 9))
    assert _row(ends, shift_name="early")["shift_end_local"] == datetime(2026, 3, 8, 3, 30)


def test_a_day_shift_keeps_its_local_start_while_its_utc_start_moves_an_hour():
    days = shift_instances(SHIFTS, NEW_YORK, _utc(2026, 3, 7), _utc(2026, 3, 10)).filter(shift_name="day")
    assert days["shift_date"].to_list() == [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)]
    assert days["shift_start"].to_list() == [_utc(2026, 3, 7, 12), _utc(2026, 3, 8, 11), _utc(2026, 3, 9, 11)]
    assert days["shift_start_local"].dt.time().to_list() == [time(7)] * 3
    assert days.schema["shift_start_local"] == pl.Datetime("us")
    assert days.schema["shift_start"] == pl.Datetime("us", "UTC")


def test_skipped_and_repeated_local_times_follow_zoneinfo_fold_0():
    early = (Shift(name="early", start=time(2, 30), hours=1), Shift(name="late", start=time(1, 30), hours=1))
    spring = shift_instances(early, NEW_YORK, _utc(2026, 3, 8, 5), _utc(2026, 3, 8, 9))
    # 02:30 does not exist on 8 March: read with the EST offset, it is 07:30 UTC (03:30 EDT)
    assert _row(spring, shift_name="early")["shift_start"] == _utc(2026, 3, 8, 7, 30)
    autumn = shift_instances(early, NEW_YORK, _utc(2026, 11, 1, 5), _utc(2026, 11, 1, 9))
    # 01:30 happens twice on 1 November: the first (EDT) one, and the hour after it lasts 2 real hours
    late = _row(autumn, shift_name="late")
    assert (late["shift_start"], late["shift_hours"]) == (_utc(2026, 11, 1, 5, 30), 2.0)


def test_shifts_cut_by_the_window_edges_are_left_out():
    # 08:00 EDT to 08:00 EDT next day: the day shifts on either side straddle an edge
    frame = shift_instances(SHIFTS, NEW_YORK, _utc(2026, 6, 1, 12), _utc(2026, 6, 2, 12))
    assert frame["shift_name"].to_list() == ["evening", "night"]
    assert frame["shift_end"].max() <= _utc(2026, 6, 2, 12)
    assert frame["shift_start"].min() >= _utc(2026, 6, 1, 12)


def test_erlang_c_matches_textbook_values():
    assert erlang_c(2.0, 3) == pytest.approx(4 / 9)
    assert erlang_c(10.0, 11) == pytest.approx(0.6821, abs=1e-4)
    assert erlang_c(10.0, 10) == 1.0
    assert erlang_c(0.0, 1) == 0.0
    assert 0 < erlang_c(900.0, 950) < 1  # no factorial overflow


def test_the_call_centre_example_needs_14_agents():
    """The worked example of Call Centre Helper's "Erlang C Formula - Made Simple With an Easy
    Worked Example": 100 calls per 30 minutes, 180 s handling, 80% answered within 20 s."""
    assert service_level(200, 180, 14, 20) == pytest.approx(0.888, abs=0.002)
    assert service_level(200, 180, 13, 20) < 0.80
    assert agents_needed(200, 180, 0.8, 20) == 14
    assert agents_needed(0, 180, 0.8, 20) == 0


def test_workload_units_from_the_p90_of_the_shift_total():
    start = _utc(2026, 6, 1, 7)
    hourly = _hourly(start, 24, {"busy": 1.0, "quiet": 0.01})
    table = staffing_table(hourly, _plan(min_units=2), start, start + timedelta(days=1))
    assert table.columns == list(OUTPUT_COLUMNS)
    assert table.height == 6
    busy = _row(table, area_id="busy", shift_name="day")
    # Poisson(8) total: P(X <= 11) < 0.9 <= P(X <= 12), spread over the unit interval of 12
    p90 = 11.5 + (0.9 - poisson.cdf(11, 8)) / poisson.pmf(12, 8)
    assert busy["expected_incidents"] == pytest.approx(8.0)
    assert busy["incidents_p90"] == pytest.approx(p90)
    assert busy["workload_hours_p90"] == pytest.approx(p90 * 0.5 * 2)  # 11.75 unit hours
    assert busy["recommended_units"] == 2  # ceil(11.75 / 8)
    assert busy["fte"] == pytest.approx(3.2)
    assert _row(table, area_id="quiet", shift_name="day")["recommended_units"] == 2  # min_units wins over 1
    # 11.75 unit hours fill 1.47 units of 8 hours: fewer than the floor of 2, which sets the number
    assert set(table["staffing_basis"]) == {"min_units"}

    proactive = staffing_table(hourly, _plan(proactive_share=0.5), start, start + timedelta(days=1))
    assert _row(proactive, area_id="busy", shift_name="day")["recommended_units"] == 3  # ceil(11.75 / 4)
    assert _row(proactive, area_id="busy", shift_name="day")["staffing_basis"] == "demand"  # 2.94 >= 1
    assert _row(proactive, area_id="quiet", shift_name="day")["staffing_basis"] == "min_units"  # 0.02 < 1
    work = busy["workload_hours_p90"]  # a utilisation at which it is exactly 2 units' worth: demand sets 2
    exact = staffing_table(
        hourly, _plan(min_units=2, proactive_share=1 - work / 16), start, start + timedelta(days=1)
    )
    assert _row(exact, area_id="busy", shift_name="day")["staffing_basis"] == "demand"


def test_the_shift_p90_is_below_the_sum_of_hourly_p90s():
    start = _utc(2026, 6, 1, 7)
    hourly = _hourly(start, 8, {"north": 0.5})
    table = staffing_table(hourly, _plan(alpha=0.2), start, start + timedelta(hours=8))
    hourly_p90s = count_quantiles(hourly["mean"].to_numpy(), 0.2, (0.9,))[:, 0].sum()
    assert table["incidents_p90"][0] < hourly_p90s
    assert table["incidents_p50"][0] < table["incidents_p90"][0]


def test_a_short_night_shift_sums_only_its_real_hours():
    start = _utc(2026, 3, 8, 4)
    hourly = _hourly(start, 7, {"north": 1.5})
    plan = _plan(timezone=NEW_YORK, shifts=(SHIFTS[2],))
    table = staffing_table(hourly, plan, start, start + timedelta(hours=7))
    assert (table["shift_hours"][0], table["expected_incidents"][0]) == (7.0, pytest.approx(10.5))


def test_an_hour_a_shift_only_partly_covers_counts_by_its_overlap():
    # Kolkata is UTC+05:30, so its 07:00-15:00 day shift runs 01:30-09:30 UTC
    start = _utc(2026, 6, 1, 1)
    hourly = _hourly(start, 9, {"north": 1.0}).with_columns(mean=pl.Series([2.0] + [1.0] * 7 + [4.0]))
    plan = _plan(timezone="Asia/Kolkata", shifts=(SHIFTS[0],))
    table = staffing_table(hourly, plan, start, start + timedelta(hours=9))
    assert table["shift_start"][0] == _utc(2026, 6, 1, 1, 30)
    assert table["expected_incidents"][0] == pytest.approx(0.5 * 2.0 + 7 * 1.0 + 0.5 * 4.0)


def test_erlang_c_method_sizes_a_dispatch_centre_for_its_service_level():
    # 1,600 calls in 8 hours at the median: 200 calls an hour of 180 s, as in the textbook example
    start = _utc(2026, 6, 1, 7)
    hourly = _hourly(start, 8, {"centre": 200.0})
    plan = _plan(
        method="erlang_c", service_hours=0.05, units_per_incident=1.0, quantile=0.5,
        service_level_target=0.8, answer_seconds=20.0, proactive_share=0.4,
    )  # fmt: skip
    row = staffing_table(hourly, plan, start, start + timedelta(hours=8)).row(0, named=True)
    assert row["recommended_units"] == 14
    assert row["staffing_basis"] == "service_level"
    floored = staffing_table(hourly, replace(plan, min_units=20), start, start + timedelta(hours=8))
    assert (floored["recommended_units"][0], floored["staffing_basis"][0]) == (20, "min_units")
    assumptions = json.loads(row["assumptions"])
    assert assumptions["method"] == "erlang_c"
    assert assumptions["calls_per_hour"] == pytest.approx(200, abs=0.1)
    assert assumptions["handling_seconds"] == pytest.approx(180)
    assert 0.8 <= assumptions["achieved_service_level"] < 0.9


def test_assumptions_round_trip_with_every_parameter():
    start = _utc(2026, 6, 1, 7)
    hourly = _hourly(start, 8, {"north": 1.0})
    plan = _plan(service_source="estimated from 120 incidents", proactive_share=0.4, alpha=0.1)
    table = staffing_table(hourly, plan, start, start + timedelta(hours=8))
    assumptions = json.loads(table["assumptions"][0])
    assert assumptions == {
        "method": "workload",
        "shift_name": "day",
        "shift_hours": 8.0,
        "service_hours_per_incident": 0.5,
        "service_source": "estimated from 120 incidents",
        "units_per_incident": 2.0,
        "hours_per_incident": 1.0,
        "quantile": 0.9,
        "dispersion_alpha": 0.1,
        "min_units": 1,
        "relief_factor": 1.6,
        "proactive_share": 0.4,
        "target_utilisation": pytest.approx(0.6),
    }
    assert table["assumptions"][0] == json.dumps(json.loads(table["assumptions"][0]), sort_keys=True)


def test_the_input_is_left_alone_and_gaps_in_the_forecast_are_errors():
    start = _utc(2026, 6, 1, 7)
    hourly = _hourly(start, 8, {"north": 1.0})
    before = hourly.clone()
    staffing_table(hourly, _plan(), start, start + timedelta(hours=8))
    assert hourly.equals(before)
    with pytest.raises(ValueError, match="covers 7 of the 8 hours"):
        staffing_table(hourly.slice(1), _plan(), start, start + timedelta(hours=8))
    with pytest.raises(ValueError, match="agency 'fd'"):
        staffing_table(
            hourly.with_columns(agency_id=pl.lit("fd")), _plan(), start, start + timedelta(hours=8)
        )


def test_a_plan_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="unknown staffing method"):
        _plan(method="guesswork")
    assert np.isclose(_plan(proactive_share=0.4).target_utilisation, 0.6)
