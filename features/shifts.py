"""An agency's shifts on the calendar: local wall-clock shifts, DST-correct, as UTC spans.

Shared by staffing (units per shift) and the backtest (accuracy scored per shift), so a
"shift" means the same thing wherever it is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from jointcast.config import Shift

UTC_TIME = pl.Datetime("us", "UTC")
LOCAL_TIME = pl.Datetime("us")
SHIFT_SCHEMA = {
    "shift_name": pl.String, "shift_date": pl.Date, "shift_start": UTC_TIME, "shift_end": UTC_TIME,
    "shift_start_local": LOCAL_TIME, "shift_end_local": LOCAL_TIME, "shift_hours": pl.Float64,
}  # fmt: skip


def shift_instances(shifts: Sequence[Shift], timezone: str, start: datetime, end: datetime) -> pl.DataFrame:
    """Every instance of the shifts that starts at or after ``start`` and ends by ``end``.

    A shift starts at its local date plus its start time and ends at the local wall
    clock ``hours`` later, so an 8-hour 23:00-07:00 shift lasts 7 real hours across a
    spring-forward change and 9 across a fall-back; ``shift_hours`` is the real length.
    ``shift_start_local`` is the shift's nominal wall-clock start and ``shift_end_local``
    the wall clock when it really ends (both without a zone).
    Local times go through zoneinfo with fold=0: an ambiguous time (the repeated hour in
    autumn) is its first occurrence, and a time that does not exist (the skipped hour
    in spring) is read with the offset in force before the change, so 02:30 on the
    spring-forward day in New York is 07:30 UTC, i.e. 03:30 on the wall clock.

    ``start`` and ``end`` must be time-zone aware; ``timezone`` is an IANA name.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be time-zone aware")
    zone = ZoneInfo(timezone)
    rows = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    while day <= end.astimezone(zone).date():
        for shift in shifts:
            if shift.start.tzinfo is not None:
                raise ValueError(f"shift '{shift.name}' must start at a local time without a zone")
            local = datetime.combine(day, shift.start)
            begins = local.replace(tzinfo=zone).astimezone(UTC)
            ends = (local + timedelta(hours=shift.hours)).replace(tzinfo=zone).astimezone(UTC)
            if begins >= start and ends <= end:
                ends_local = ends.astimezone(zone).replace(tzinfo=None)
                hours = (ends - begins).total_seconds() / 3600
                rows.append((shift.name, day, begins, ends, local, ends_local, hours))
        day += timedelta(days=1)
    return pl.DataFrame(rows, schema=SHIFT_SCHEMA, orient="row").sort("shift_start", "shift_name")
