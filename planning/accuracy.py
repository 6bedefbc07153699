"""Published forecasts scored against what happened, at the grain the backtest scores: area x shift.

``scored_shifts`` takes the hourly rows of published vintages (forecast.history) and the demand
panel's actuals (features.demand) and returns one row per vintage, agency, area and whole shift
whose every hour has both: the shift's actual and forecast total, its p10-p90 range and whether
the actual fell inside it. A shift is the agency's own (features.shifts, as staffing and the
backtest count it). An hour the feed was out (``observed`` false) is left out of the actual and the
forecast alike, so an outage reads neither as an over-forecast nor as missing demand. The shift's
range comes from the vintage's own shift-grain dispersion (negative binomial around the summed
mean, models.distribution), as the backtest's coverage_80 is measured.

``summary`` turns scored rows into WAPE, bias and coverage_80 per agency (and per week), the same
formulas as models.metrics: WAPE = sum |error| / sum actual, bias = sum error / sum actual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from features.shifts import shift_instances
from models.distribution import count_quantiles

UTC_TIME = pl.Datetime("us", "UTC")
ACCURACY_SCHEMA = {
    "vintage": pl.Int64, "agency_id": pl.String, "area_id": pl.String, "shift_name": pl.String,
    "local_day": pl.Date, "shift_start": UTC_TIME, "shift_end": UTC_TIME, "horizon": pl.Int32,
    "horizon_band": pl.String, "hours_scored": pl.Int32, "actual": pl.Float64, "forecast": pl.Float64,
    "p10": pl.Float64, "p90": pl.Float64, "error": pl.Float64, "abs_error": pl.Float64,
    "inside_80": pl.Boolean, "model_version": pl.String,
}  # fmt: skip
SUMMARY_MEASURES = ("wape", "bias", "coverage_80")


@dataclass(frozen=True)
class Schedule:
    """One agency's shifts in its own time zone (jointcast.config.Shift items)."""

    timezone: str
    shifts: tuple


def band_label(low: int, high: int) -> str:
    """The backtest's name for a lead-time band: hours 25-168 -> ``h025_168``."""
    return f"h{low:03d}_{high:03d}"


def _band(bands: Sequence[int]) -> pl.Expr:
    """The label of the band holding each row's ``horizon`` (bands: their upper ends)."""
    lows = (0, *bands[:-1])
    expr = pl.lit(band_label(lows[-1] + 1, bands[-1]))
    for low, high in reversed(list(zip(lows[:-1], bands[:-1], strict=True))):
        expr = pl.when(pl.col("horizon") <= high).then(pl.lit(band_label(low + 1, high))).otherwise(expr)
    return expr


def _observed_end(actuals: pl.DataFrame) -> dict[str, datetime]:
    """Per agency, the end (exclusive) of its observed hours."""
    ends = (
        actuals.filter(pl.col("observed"))
        .group_by("agency_id")
        .agg((pl.col("bucket_start").max() + timedelta(hours=1)).alias("end"))
    )
    return dict(ends.iter_rows())


def _instances(history: pl.DataFrame, schedules: Mapping[str, Schedule], ends: dict[str, datetime]):
    """Every whole shift of each vintage's forecast span that the actuals already cover."""
    spans = history.group_by("vintage", "agency_id").agg(
        pl.col("bucket_start").min().alias("start"),
        (pl.col("bucket_start").max() + timedelta(hours=1)).alias("end"),
    )
    parts = []
    for vintage, agency_id, start, end in spans.sort("vintage", "agency_id").iter_rows():
        schedule, observed_end = schedules.get(agency_id), ends.get(agency_id)
        if schedule is None or observed_end is None or observed_end <= start:
            continue
        found = shift_instances(schedule.shifts, schedule.timezone, start, min(end, observed_end))
        parts.append(found.with_columns(vintage=pl.lit(vintage, pl.Int64), agency_id=pl.lit(agency_id)))
    return pl.concat(parts) if parts else None


def scored_shifts(
    history: pl.DataFrame,
    actuals: pl.DataFrame,
    schedules: Mapping[str, Schedule],
    alphas: Mapping[int, Mapping[str, float]],
    quantiles: tuple[float, float],
    bands: Sequence[int],
) -> pl.DataFrame:
    """Each vintage's whole shifts with actuals, scored (columns: ACCURACY_SCHEMA).

    Args:
        history: hourly published rows: vintage, agency_id, area_id, bucket_start, horizon, mean,
            model_version.
        actuals: agency_id, area_id, bucket_start, incidents, observed (features.demand).
        schedules: agency id -> its shifts.
        alphas: vintage -> agency id -> the shift grain's dispersion it was published with.
        quantiles: the low and high quantile of the range (0.1, 0.9).
        bands: upper ends of the lead-time bands (features.history.horizon_bands).
    """
    instances = _instances(history, schedules, _observed_end(actuals))
    if instances is None or history.is_empty():
        return pl.DataFrame(schema=ACCURACY_SCHEMA)
    instances = instances.select(
        "vintage", "agency_id", "shift_name", pl.col("shift_date").alias("local_day"),
        "shift_start", "shift_end", "shift_hours",
    ).sort("shift_start")  # fmt: skip
    hourly = history.sort("bucket_start").join_asof(
        instances,
        left_on="bucket_start",
        right_on="shift_start",
        by=["vintage", "agency_id"],
        strategy="backward",
        check_sortedness=False,  # both sorted just above
    )
    hourly = hourly.filter(pl.col("bucket_start") < pl.col("shift_end")).join(
        actuals.select("agency_id", "area_id", "bucket_start", "incidents", "observed"),
        on=["agency_id", "area_id", "bucket_start"],
        how="left",
    )
    observed = pl.col("observed").fill_null(False)
    keys = ["vintage", "agency_id", "area_id", "shift_name", "shift_start"]
    shifts = (
        hourly.group_by(keys)
        .agg(
            pl.col("local_day", "shift_end", "shift_hours", "model_version").first(),
            pl.len().alias("hours"),
            pl.col("observed").is_not_null().all().alias("known"),
            pl.col("horizon").min().cast(pl.Int32),
            observed.sum().cast(pl.Int32).alias("hours_scored"),
            pl.col("incidents").filter(observed).sum().cast(pl.Float64).alias("actual"),
            pl.col("mean").filter(observed).sum().cast(pl.Float64).alias("forecast"),
        )
        .filter(
            pl.col("known"),
            pl.col("hours") == pl.col("shift_hours").round().cast(pl.UInt32),
            pl.col("hours_scored") > 0,
        )
        .sort(keys)
    )
    if shifts.is_empty():
        return pl.DataFrame(schema=ACCURACY_SCHEMA)
    alpha = [alphas.get(v, {}).get(a, 0.0) for v, a in shifts.select("vintage", "agency_id").iter_rows()]
    ranges = count_quantiles(shifts["forecast"].to_numpy(), pl.Series(alpha).to_numpy(), quantiles)
    return (
        shifts.with_columns(
            horizon_band=_band(bands),
            p10=pl.Series(ranges[:, 0]),
            p90=pl.Series(ranges[:, -1]),
            error=pl.col("forecast") - pl.col("actual"),
            abs_error=(pl.col("forecast") - pl.col("actual")).abs(),
        )
        .with_columns(
            inside_80=pl.col("actual").is_between(pl.col("p10"), pl.col("p90")),
        )
        .select([pl.col(c).cast(t) for c, t in ACCURACY_SCHEMA.items()])
    )


def summary(accuracy: pl.DataFrame, by: Sequence[str | pl.Expr] = ("agency_id",)) -> pl.DataFrame:
    """WAPE, bias and coverage_80 of scored shifts per group, with the vintages, shifts and hours
    they cover; a group without any actual incidents has no WAPE or bias (null)."""
    actual = pl.col("actual").sum()
    return (
        accuracy.group_by(*by)
        .agg(
            pl.col("vintage").n_unique().alias("vintages"),
            pl.len().alias("shifts"),
            pl.col("hours_scored").sum().alias("hours"),
            actual.alias("actual"),
            pl.col("forecast").sum().alias("forecast"),
            pl.when(actual > 0).then(pl.col("abs_error").sum() / actual).alias("wape"),
            pl.when(actual > 0).then(pl.col("error").sum() / actual).alias("bias"),
            pl.col("inside_80").mean().alias("coverage_80"),
        )
        .sort(*by)
    )


def weekly_summary(accuracy: pl.DataFrame) -> pl.DataFrame:
    """``summary`` per agency and week (``week``: the Monday of the shift's local day)."""
    weekly = accuracy.with_columns(week=pl.col("local_day").dt.truncate("1w"))
    return summary(weekly, ("agency_id", "week"))


def beside_backtest(
    weekly: pl.DataFrame, backtest: Mapping[str, Mapping[str, float | None]], champion_version: str | None
) -> pl.DataFrame:
    """``weekly_summary`` rows with each agency's backtest wape, bias and coverage_80 (agency id ->
    measure -> value) and the champion's version beside them; ``shifts`` named ``area_shifts``."""
    columns = {
        f"backtest_{m}": pl.col("agency_id").replace_strict(
            {a: figures.get(m) for a, figures in backtest.items()}, default=None, return_dtype=pl.Float64
        )
        for m in SUMMARY_MEASURES
    }
    return weekly.rename({"shifts": "area_shifts"}).with_columns(
        **columns, champion_version=pl.lit(champion_version, pl.String)
    )


def recent(accuracy: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """The scored shifts that started in [start, end)."""
    return accuracy.filter(pl.col("shift_start") >= start, pl.col("shift_start") < end)
