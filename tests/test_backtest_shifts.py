"""The backtest's shift grain is the agency's own shifts: the grain staffing plans by."""

from datetime import UTC, datetime, time, timedelta

import polars as pl

from jointcast.config import Shift
from models.backtest import Fold, ShiftSchedule, with_shift_blocks

ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)  # midnight UTC = 19:00 the day before in New York


def _hours(count: int) -> pl.DataFrame:
    starts = [ORIGIN + timedelta(hours=h) for h in range(count)]
    return pl.DataFrame(
        {"agency_id": ["police"] * count, "area_id": ["A"] * count, "origin": [ORIGIN] * count,
         "bucket_start": starts, "horizon": list(range(1, count + 1))},
        schema_overrides={"origin": pl.Datetime("us", "UTC"), "bucket_start": pl.Datetime("us", "UTC")},
    )  # fmt: skip


def test_hours_fall_in_the_agencys_whole_local_shifts_and_partial_shifts_are_left_out():
    shifts = (Shift(name="day", start=time(7), hours=12), Shift(name="night", start=time(19), hours=12))
    fold = Fold(ORIGIN, ORIGIN + timedelta(hours=48))
    placed = with_shift_blocks(_hours(48), [fold], {"police": ShiftSchedule("America/New_York", shifts)})
    blocks = placed.group_by("block").agg(pl.len().alias("hours")).sort("block")
    # 19:00 EST is where the horizon starts: night, day, night, day are whole; the last night is cut off
    expected = [ORIGIN + timedelta(hours=12 * i) for i in range(4)]
    assert blocks.filter(pl.col("block").is_not_null())["block"].to_list() == expected
    assert blocks.filter(pl.col("block").is_not_null())["hours"].to_list() == [12] * 4
    assert placed.filter(pl.col("block").is_null()).height == 0  # 48 h = four whole shifts exactly


def test_the_default_eight_hour_shifts_in_local_time_leave_out_the_evening_shift_already_under_way():
    shifts = (Shift(name="day", start=time(7), hours=8), Shift(name="evening", start=time(15), hours=8),
              Shift(name="night", start=time(23), hours=8))  # fmt: skip
    fold = Fold(ORIGIN, ORIGIN + timedelta(hours=24))
    placed = with_shift_blocks(_hours(24), [fold], {"police": ShiftSchedule("America/New_York", shifts)})
    first_night = ORIGIN + timedelta(hours=4)  # 23:00 EST
    assert placed.filter(pl.col("block").is_null())["horizon"].to_list() == [1, 2, 3, 4, 21, 22, 23, 24]
    assert placed.filter(pl.col("horizon") == 5)["block"].item() == first_night


def test_without_schedules_blocks_are_eight_hours_from_the_origin():
    placed = with_shift_blocks(_hours(24), [Fold(ORIGIN, ORIGIN + timedelta(hours=24))], None)
    assert placed.group_by("block").len()["len"].to_list() == [8, 8, 8]
