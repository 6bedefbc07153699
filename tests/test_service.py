"""The one service-time rule (features/service.py) on tiny hand-written frames, and staffing's use of it."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from features.service import DEFAULT_SERVICE_HOURS, service_hours, service_times
from jointcast.config import StaffingSettings
from planning.service import service_profile

T0 = datetime(2026, 3, 2, tzinfo=UTC)
TIME = pl.Datetime("us", "UTC")


def _incidents(rows: list[tuple]) -> pl.LazyFrame:
    """rows: (agency, type, dispatched minutes, on scene minutes, cleared minutes), minutes after T0."""
    at = [[None if m is None else T0 + timedelta(minutes=m) for m in row[2:]] for row in rows]
    return pl.LazyFrame(
        {
            "incident_key": [f"k{i}" for i in range(len(rows))],
            "agency_id": [row[0] for row in rows],
            "incident_type": [row[1] for row in rows],
            "dispatched_at": [a[0] for a in at],
            "on_scene_at": [a[1] for a in at],
            "cleared_at": [a[2] for a in at],
        },
        schema_overrides={"dispatched_at": TIME, "on_scene_at": TIME, "cleared_at": TIME},
    )


def _hours(rows: list[tuple]) -> list[float]:
    return service_hours(_incidents(rows)).collect()["service_hours"].to_list()


def test_busy_time_runs_from_dispatch_else_from_on_scene():
    hours = _hours([("pd", "theft", 0, 30, 90), ("pd", "theft", None, 30, 90)])
    assert hours == [1.5, 1.0]


def test_times_over_a_day_or_not_over_zero_are_estimated():
    frame = service_hours(
        _incidents(
            [
                ("pd", "theft", 0, None, 24 * 60),  # exactly 24 h: kept
                ("pd", "theft", 0, None, 24 * 60 + 1),  # a record left open: estimated
                ("pd", "theft", 60, None, 60),  # zero: estimated
                ("pd", "theft", 60, None, 0),  # cleared before dispatched: estimated
            ]
        )  # fmt: skip
    ).collect()
    assert frame["service_hours"].to_list() == [24.0] * 4
    assert frame["service_estimated"].to_list() == [False, True, True, True]


def test_a_missing_time_takes_the_type_mean_then_the_agency_mean_then_30_minutes():
    hours = _hours([
        ("pd", "theft", 0, None, 60),
        ("pd", "theft", 0, None, 180),
        ("pd", "theft", 0, None, None),  # the type's mean: 2 h
        ("pd", "assault", None, None, None),  # no assault timed: the agency's mean of 1, 3 h
        ("fd", "fire", 0, None, None),  # nothing timed at fd: 30 minutes
    ])  # fmt: skip
    assert hours == [1.0, 3.0, 2.0, 2.0, DEFAULT_SERVICE_HOURS]


def test_service_times_per_type_are_the_means_the_rule_uses():
    times = service_times(
        _incidents(
            [
                ("pd", "theft", 0, None, 60),
                ("pd", "theft", 0, None, None),
                ("pd", None, None, None, None),
                ("fd", "fire", None, None, None),
            ]
        )  # fmt: skip
    ).collect()
    assert times.rows() == [  # ..., unit_measured: none of these incidents come from a feed of unit rows
        ("fd", "fire", 1, 0, None, DEFAULT_SERVICE_HOURS, 0),
        ("pd", "theft", 2, 1, 1.0, 1.0, 0),
        ("pd", "unknown", 1, 0, None, 1.0, 0),
    ]


@pytest.mark.parametrize("agency", ["pd", "fd"])
def test_staffing_takes_the_mean_the_rule_gives_each_incident(agency):
    incidents = _incidents([
        ("pd", "theft", 0, 10, 50), ("pd", "theft", None, 0, 100), ("pd", "theft", 0, None, None),
        ("pd", "assault", 0, None, 200), ("pd", "assault", 0, None, 30 * 60), ("pd", "alarm", None, None, 5),
        ("fd", "fire", 0, None, None),
    ])  # fmt: skip
    rule = service_hours(incidents).filter(pl.col("agency_id") == agency).collect()["service_hours"].mean()
    times = service_times(incidents).filter(pl.col("agency_id") == agency).collect()
    profile = service_profile(times, StaffingSettings())
    assert profile.service_hours == pytest.approx(rule)
    assert profile.units_per_incident == 1.0


def test_configured_minutes_and_units_still_override_the_rule():
    times = service_times(
        _incidents([("pd", "theft", 0, None, 60), ("pd", "assault", 0, None, 180)])
    ).collect()
    configured = service_profile(times, StaffingSettings(service_minutes={"theft": 30}))
    assert configured.service_hours == pytest.approx((0.5 + 2.0) / 2)  # assault: the agency's mean, 2 h
    assert configured.source.startswith("configured per incident type")
    doubled = service_profile(times, StaffingSettings(units_per_incident={"assault": 2}))
    assert doubled.hours_per_incident == pytest.approx((1.0 + 3.0 * 2) / 2)
