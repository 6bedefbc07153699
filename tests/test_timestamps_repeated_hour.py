"""Naive local times in the hour the clock goes back, read from the file's order.

At the autumn change a wall-clock time of the hour before it occurs twice: 01:30 in Los Angeles on
2024-11-03 is 08:30 UTC (daylight time, the first pass) and 09:30 UTC (standard time, the second).
A feed sorted by time, either way, shows which: its clock goes back. Where it shows nothing, the
value is read as standard time, as before.
"""

from datetime import UTC, datetime

import pytest

from tests.conftest import HEADER, police_row
from tests.test_ingest import _ingest, _query, assert_rows_accounted
from warehouse.mapping import clock_back

FALL_BACK = ["00:50", "01:10", "01:40", "01:55", "01:05", "01:30", "02:10"]
"""Calls through the 2024-11-03 change in Los Angeles, in time order: 01:10 to 01:55 in daylight time
(UTC-7), then the clock goes back to 01:00, so that 01:05 and 01:30 are standard time (UTC-8)."""

INSTANTS = [(7, 50), (8, 10), (8, 40), (8, 55), (9, 5), (9, 30), (10, 10)]
"""The UTC hour and minute of each of FALL_BACK on 2024-11-03."""


def _utc(hour: int, minute: int, day: int = 3, month: int = 11, year: int = 2024) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _local(clock: str, day: str = "11/03/2024") -> str:
    """A wall-clock time (``"01:40"``) as the police feed writes it: ``11/03/2024 01:40:00 AM``."""
    hour, minute = (int(part) for part in clock.split(":"))
    return f"{day} {(hour - 1) % 12 + 1:02d}:{minute:02d}:00 {'AM' if hour < 12 else 'PM'}"


@pytest.fixture
def los_angeles(police_workspace):
    """The police feed in Los Angeles time, with its cleared time (``Clr``): rows are ``call(...)``."""
    config = police_workspace.config
    text = config.read_text().replace("America/New_York", "America/Los_Angeles")
    config.write_text(text + 'cleared_at = "Clr"\n')
    return police_workspace


CALLS = HEADER + ",Clr"
"""The header of the ``los_angeles`` feed's files."""


def call(incident_id: str, received: str, dispatched: str = "", cleared: str = "") -> str:
    """A row of the ``los_angeles`` feed (header ``CALLS``); times as ``_local`` writes them."""
    return f"{police_row(incident_id, received, dispatched)},{cleared}"


def _calls(clocks: list[str], prefix: str = "C", day: str = "11/03/2024") -> list[str]:
    return [call(f"{prefix}{i}", _local(clock, day)) for i, clock in enumerate(clocks, 1)]


def _received(config) -> dict:
    return dict(_query(config, "SELECT source_incident_id, received_at FROM core.incidents"))


@pytest.mark.parametrize("newest_first", [False, True], ids=["ascending", "newest_first"])
def test_calls_through_the_autumn_change_land_at_their_instants_in_either_order(los_angeles, newest_first):
    rows = _calls(FALL_BACK)
    los_angeles("calls.csv", rows[::-1] if newest_first else rows, header=CALLS)
    _ingest(los_angeles.config)
    assert _received(los_angeles.config) == {f"C{i}": _utc(*hm) for i, hm in enumerate(INSTANTS, 1)}
    assert_rows_accounted(los_angeles.config)


def test_the_repeated_hour_is_the_zones_own(los_angeles):
    # Berlin goes back from 03:00 to 02:00 (UTC+2 to UTC+1) on 2024-10-27
    config = los_angeles.config
    config.write_text(config.read_text().replace("America/Los_Angeles", "Europe/Berlin"))
    clocks = ["01:50", "02:10", "02:40", "02:55", "02:05", "02:30", "03:10"]
    los_angeles("calls.csv", _calls(clocks, day="10/27/2024"), header=CALLS)
    _ingest(config)
    assert _received(config) == {
        "C1": _utc(23, 50, day=26, month=10), "C2": _utc(0, 10, day=27, month=10),
        "C3": _utc(0, 40, day=27, month=10), "C4": _utc(0, 55, day=27, month=10),
        "C5": _utc(1, 5, day=27, month=10), "C6": _utc(1, 30, day=27, month=10),
        "C7": _utc(2, 10, day=27, month=10),
    }  # fmt: skip
    assert clock_back("Europe/Berlin").hours == (2,) and clock_back("Asia/Kolkata") == ((), (), (), ())


def test_a_call_received_before_the_clock_went_back_and_cleared_after_keeps_its_times(los_angeles):
    rows = _calls(FALL_BACK)
    # received and dispatched in daylight time (01:40, 01:45), cleared 40 minutes later at 01:20 standard time
    rows.insert(3, call("R1", _local("01:40"), _local("01:45"), _local("01:20")))
    los_angeles("calls.csv", rows, header=CALLS)
    _ingest(los_angeles.config)
    [times] = _query(
        los_angeles.config,
        "SELECT received_at, dispatched_at, cleared_at FROM core.incidents WHERE source_incident_id = 'R1'",
    )
    assert times == (_utc(8, 40), _utc(8, 45), _utc(9, 20))
    # no negative_duration: its dispatched and cleared times are not set aside
    assert _query(los_angeles.config, "SELECT count(*) FROM quality.field_issues") == [(0,)]
    assert_rows_accounted(los_angeles.config)


def test_a_lone_call_in_the_repeated_hour_is_read_as_standard_time(los_angeles):
    # nothing tells which 01:30 it is: standard time, as every repeated time was read before
    los_angeles("calls.csv", [call("L1", _local("01:30"), _local("01:35"))], header=CALLS)
    _ingest(los_angeles.config)
    assert _query(los_angeles.config, "SELECT received_at, dispatched_at FROM core.incidents") == [
        (_utc(9, 30), _utc(9, 35))
    ]


def test_rows_whose_clock_never_goes_back_keep_standard_time(los_angeles):
    # an export that starts after the change: only the second pass of the hour, in time order
    los_angeles("calls.csv", _calls(["01:05", "01:30", "01:45", "02:10", "02:30"]), header=CALLS)
    _ingest(los_angeles.config)
    assert _received(los_angeles.config) == {
        "C1": _utc(9, 5), "C2": _utc(9, 30), "C3": _utc(9, 45), "C4": _utc(10, 10), "C5": _utc(10, 30),
    }  # fmt: skip


def test_a_few_calls_out_of_place_do_not_move_where_the_clock_went_back(los_angeles):
    # sorted by incident number: 01:35 was numbered after 01:40, 01:20 after 01:30
    clocks = ["00:50", "01:10", "01:40", "01:35", "01:55", "01:05", "01:30", "01:20", "02:10"]
    los_angeles("calls.csv", _calls(clocks), header=CALLS)
    _ingest(los_angeles.config)
    received = _received(los_angeles.config)
    assert [received[f"C{i}"] for i in range(1, 10)] == [
        _utc(7, 50), _utc(8, 10), _utc(8, 40), _utc(8, 35), _utc(8, 55),  # daylight time
        _utc(9, 5), _utc(9, 30), _utc(9, 20), _utc(10, 10),  # standard time
    ]  # fmt: skip


def test_each_change_of_a_year_long_export_is_read_on_its_own(los_angeles):
    rows = _calls(FALL_BACK, "A", day="11/05/2023") + _calls(FALL_BACK, "B")
    los_angeles("2023-2024.csv", rows[::-1], header=CALLS)  # newest first
    _ingest(los_angeles.config)
    received = _received(los_angeles.config)
    assert [received[f"A{i}"] for i in range(1, 8)] == [_utc(*hm, day=5, year=2023) for hm in INSTANTS]
    assert [received[f"B{i}"] for i in range(1, 8)] == [_utc(*hm) for hm in INSTANTS]


def test_a_file_in_no_time_order_keeps_standard_time(los_angeles):
    # the rows around the repeated hour rise and fall alike: the file's direction is unclear
    clocks = ["00:50", "02:10", "01:40", "00:40", "01:05", "02:20"]
    los_angeles("calls.csv", _calls(clocks), header=CALLS)
    _ingest(los_angeles.config)
    received = _received(los_angeles.config)
    assert (received["C3"], received["C5"]) == (_utc(9, 40), _utc(9, 5))


def test_a_call_that_the_data_moves_before_the_feeds_start_is_quarantined(los_angeles):
    config = los_angeles.config
    start = "start = 2024-11-03T08:30:00Z\n\n[feeds.columns]"
    config.write_text(config.read_text().replace("[feeds.columns]", start))
    # C2 (01:20) is in daylight time, 08:20 UTC: before the start; read as standard time it was not
    los_angeles("calls.csv", _calls(["00:50", "01:20", "01:55", "01:10", "01:20", "02:10"]), header=CALLS)
    _ingest(config)
    reasons = _query(config, "SELECT row_number, reasons FROM quality.quarantine ORDER BY 1")
    before = "before the feed's start 2024-11-03 08:30:00+00:00"
    assert reasons == [
        (1, [f"before_feed_start: received_at 2024-11-03 00:50 {before}"]),
        (2, [f"before_feed_start: received_at 2024-11-03 01:20 {before}"]),
    ]
    assert _received(config) == {"C3": _utc(8, 55), "C4": _utc(9, 10), "C5": _utc(9, 20), "C6": _utc(10, 10)}
    assert_rows_accounted(config)


def test_a_unit_feed_counts_its_units_hours_across_the_change(los_angeles):
    config = los_angeles.config
    config.write_text(config.read_text() + 'unit = "Unit"\n')

    def unit(incident_id: str, name: str, received: str, dispatched: str, cleared: str) -> str:
        return f"{call(incident_id, _local(received), _local(dispatched), _local(cleared))},{name}"

    los_angeles(
        "units.csv",
        [
            unit("U0", "E9", "00:30", "00:35", "01:05"),  # cleared at 01:05 daylight time: 30 minutes
            unit("F1", "E1", "01:40", "01:45", "01:15"),  # cleared after the clock went back: 30 minutes
            unit("F1", "E2", "01:40", "01:50", "02:20"),  # 90 minutes
            unit("F2", "M1", "01:05", "01:10", "01:50"),  # all in standard time: 40 minutes
            unit("F3", "M2", "02:30", "02:35", "03:00"),
        ],
        header=CALLS + ",Unit",
    )
    _ingest(config)
    hours = dict(_query(config, "SELECT source_incident_id, round(unit_hours, 4) FROM core.incidents"))
    assert hours == {"U0": 0.5, "F1": 2.0, "F2": round(40 / 60, 4), "F3": round(25 / 60, 4)}
    [(dispatched, cleared)] = _query(
        config, "SELECT dispatched_at, cleared_at FROM core.incidents WHERE source_incident_id = 'F1'"
    )
    assert (dispatched, cleared) == (_utc(8, 45), _utc(10, 20))
    assert _query(config, "SELECT count(*) FROM quality.field_issues") == [(0,)]
    assert_rows_accounted(config)
