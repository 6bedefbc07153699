"""Feed outages: the windows in which a feed delivered nothing, or far less than its usual level.

An outage is missing data, not quiet: counted as zeros it teaches a model that demand stopped.
A feed's outages come from two places:

- **detected** from the feed's own hourly record counts. The expected count of each hour is
  the feed's usual day (the median of its daily totals over the trailing ``BASELINE_DAYS``:
  a median, so a hole of up to half that long does not lower its own yardstick) shaped by
  the feed's hour-of-week profile, in its agency's local time. A run of empty hours is an
  outage when it is at least ``min_hours`` long and improbable: under a Poisson count,
  P(no record in the run) = exp(-expected) < ``IMPROBABLE``. So a small agency's quiet night
  (expected ~1 record: P ~ 0.4) is not one, a ten-day hole of the same agency is. A whole
  local day with fewer records than ``low_share`` of its expected count, and improbably so
  (a Chernoff bound of the Poisson tail, below ``IMPROBABLE``), is one too: a partial delivery.
- **configured**: the known outages listed in the feed's config.
- **rejected**: the hours of a file validation rejected (too few rows, most rows failing, a
  mapped column missing) that no loaded file of the feed covers: nothing of them is in core,
  so they are missing, not quiet (warehouse.stages.rejected_windows finds them).

Pure polars: frames in, frames out (features.build calls it; warehouse stores the result in
quality.outages). One row per window: ``feed_id``, ``agency_ids``, ``start_at``, ``end_at``
(exclusive), ``hours``, ``how_found``, ``expected_records``, ``records_seen``, ``reason``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

BASELINE_DAYS = 56
"""Trailing days whose median daily total is a feed's usual day (robust to a hole of 4 weeks)."""
MIN_BASELINE_DAYS = 7
IMPROBABLE = 1e-6
"""A run (or day) this improbable under the feed's usual level is an outage, not chance."""
HOUR = "1h"
OUTAGE_SCHEMA = {
    "feed_id": pl.String,
    "agency_ids": pl.List(pl.String),
    "start_at": pl.Datetime("us", "UTC"),
    "end_at": pl.Datetime("us", "UTC"),
    "hours": pl.Int32,
    "how_found": pl.String,
    "expected_records": pl.Float64,
    "records_seen": pl.Int64,
    "reason": pl.String,
}

_OUTAGE_COLUMNS = [pl.col(name).cast(dtype) for name, dtype in OUTAGE_SCHEMA.items()]


@dataclass(frozen=True)
class OutageRule:
    """One feed's outage settings (jointcast.config.OutageSettings), with what detection needs."""

    feed_id: str
    agency_ids: tuple[str, ...]
    timezone: str  # local days and hours of week: the feed's (first) agency's zone
    detect: bool = True
    min_hours: int = 6
    low_share: float = 0.1
    known: tuple[tuple[datetime, datetime, str], ...] = field(default_factory=tuple)
    rejected: tuple[tuple[datetime, datetime, str], ...] = field(default_factory=tuple)
    """The windows of the feed's rejected files no loaded file covers: (start, end, reason)."""


def hourly_records(incidents: pl.LazyFrame, rule: OutageRule) -> pl.LazyFrame:
    """Every hour from the feed's first to its last record: records, expected records, local day.

    ``expected`` is the usual day (trailing median of whole local days' totals) / 24 x the
    feed's hour-of-week profile (that hour's mean count over the mean hourly count).
    """
    stamps = incidents.filter(pl.col("feed_id") == rule.feed_id).select(
        bucket_start=pl.col("received_at").dt.truncate(HOUR)
    )
    counts = stamps.group_by("bucket_start").agg(records=pl.len().cast(pl.Int64))
    span = stamps.select(first=pl.col("bucket_start").min(), last=pl.col("bucket_start").max())
    local = pl.col("bucket_start").dt.convert_time_zone(rule.timezone)
    hours = (
        span.select(bucket_start=pl.datetime_ranges("first", "last", HOUR))
        .explode("bucket_start")
        .drop_nulls()
        .join(counts, on="bucket_start", how="left")
        .with_columns(
            records=pl.col("records").fill_null(0),
            local_date=local.dt.date(),
            hour_of_week=(local.dt.weekday() - 1) * 24 + local.dt.hour(),
        )
        .sort("bucket_start")
    )
    whole_days = pl.col("local_date").is_between(pl.col("local_date").min(), pl.col("local_date").max(),
                                                 closed="none")  # fmt: skip
    days = (
        hours.group_by("local_date")
        .agg(day_records=pl.col("records").sum(), _day_hours=pl.len())
        .sort("local_date")
        .with_columns(_whole=whole_days)
        .with_columns(
            usual_day=pl.when("_whole")
            .then(pl.col("day_records"))
            .rolling_median(BASELINE_DAYS, min_samples=MIN_BASELINE_DAYS)
        )
        # the first weeks have no trailing baseline yet: they use the first one there is
        .with_columns(pl.col("usual_day").forward_fill().backward_fill())
        .select("local_date", "usual_day", "_whole")
    )
    profile = hours.group_by("hour_of_week").agg(_how_mean=pl.col("records").mean())
    return (
        hours.join(days, on="local_date", how="left")
        .join(profile, on="hour_of_week", how="left")
        .with_columns(
            expected=(pl.col("usual_day") / 24 * pl.col("_how_mean") / pl.col("records").mean()).fill_null(
                0.0
            )
        )
        .sort("bucket_start")
    )


def _improbable_day(seen: pl.Expr, expected: pl.Expr) -> pl.Expr:
    """Chernoff bound of log P(X <= seen) for X ~ Poisson(expected), seen < expected, below log
    ``IMPROBABLE``: -expected + seen + seen log(expected / seen) (just -expected for none)."""
    bound = -expected + seen + pl.when(seen > 0).then(seen * (expected / seen).log()).otherwise(0.0)
    return (seen < expected) & (bound < math.log(IMPROBABLE))


def detected_outages(incidents: pl.LazyFrame, rule: OutageRule) -> pl.LazyFrame:
    """The feed's outage windows found in its own counts (see the module's docstring)."""
    hours = hourly_records(incidents, rule)
    empty_run = (pl.col("records") > 0).rle_id()
    runs = hours.with_columns(_run=empty_run).with_columns(
        _run_hours=pl.len().over("_run"), _run_expected=pl.col("expected").sum().over("_run")
    )
    in_empty_run = (
        (pl.col("records") == 0)
        & (pl.col("_run_hours") >= rule.min_hours)
        & (pl.col("_run_expected") > -math.log(IMPROBABLE))
    )
    # a day is judged on its hours outside the empty runs found: a run's first and last days are
    # partial because of the run, not low
    rest = runs.with_columns(_in_run=in_empty_run).with_columns(
        _day_seen=pl.col("records").sum().over("local_date").cast(pl.Float64),
        _day_expected=pl.col("expected").filter(pl.col("_in_run").not_()).sum().over("local_date"),
    )
    low_day = (
        pl.col("_whole")
        & (pl.col("_day_seen") < rule.low_share * pl.col("_day_expected"))
        & _improbable_day(pl.col("_day_seen"), pl.col("_day_expected"))
    )
    flagged = rest.with_columns(_out=pl.col("_in_run") | low_day).with_columns(
        _window=pl.col("_out").rle_id()
    )
    return (
        flagged.filter("_out")
        .group_by("_window")
        .agg(
            start_at=pl.col("bucket_start").min(),
            end_at=pl.col("bucket_start").max() + pl.duration(hours=1),
            hours=pl.len().cast(pl.Int32),
            expected_records=pl.col("expected").sum(),
            records_seen=pl.col("records").sum(),
        )
        .with_columns(
            feed_id=pl.lit(rule.feed_id),
            agency_ids=pl.lit(list(rule.agency_ids), pl.List(pl.String)),
            how_found=pl.lit("detected"),
            reason=pl.format(
                "{} records where {} were expected",
                pl.col("records_seen"),
                pl.col("expected_records").round(0).cast(pl.Int64),
            ),
        )
        .select(_OUTAGE_COLUMNS)
    )


def configured_outages(
    incidents: pl.LazyFrame, rule: OutageRule, how_found: str = "configured"
) -> pl.LazyFrame:
    """The feed's known outages from its config (or, ``how_found`` "rejected", its rejected files'
    windows), with the records it did deliver in them."""
    listed = rule.known if how_found == "configured" else rule.rejected
    windows = pl.LazyFrame(
        {
            "start_at": [start for start, _, _ in listed],
            "end_at": [end for _, end, _ in listed],
            "reason": [reason for _, _, reason in listed],
        },
        schema={
            "start_at": OUTAGE_SCHEMA["start_at"],
            "end_at": OUTAGE_SCHEMA["end_at"],
            "reason": pl.String,
        },
    )
    stamps = incidents.filter(pl.col("feed_id") == rule.feed_id).select("received_at")
    seen = (
        windows.join(stamps, how="cross")
        .filter(pl.col("received_at") >= pl.col("start_at"), pl.col("received_at") < pl.col("end_at"))
        .group_by("start_at", "end_at")
        .agg(records_seen=pl.len().cast(pl.Int64))
    )
    return (
        windows.join(seen, on=["start_at", "end_at"], how="left")
        .with_columns(
            feed_id=pl.lit(rule.feed_id),
            agency_ids=pl.lit(list(rule.agency_ids), pl.List(pl.String)),
            hours=((pl.col("end_at") - pl.col("start_at")).dt.total_seconds() / 3600).ceil().cast(pl.Int32),
            how_found=pl.lit(how_found),
            expected_records=pl.lit(None, pl.Float64),
            records_seen=pl.col("records_seen").fill_null(0),
        )
        .select(_OUTAGE_COLUMNS)
    )


def feed_outages(incidents: pl.LazyFrame, rules: list[OutageRule]) -> pl.LazyFrame:
    """Every feed's outages, configured and (where ``detect``) detected, sorted by feed and start."""
    parts = [pl.LazyFrame(schema=OUTAGE_SCHEMA)]
    for rule in rules:
        if rule.known:
            parts.append(configured_outages(incidents, rule))
        if rule.rejected:
            parts.append(configured_outages(incidents, rule, "rejected"))
        if rule.detect:
            parts.append(detected_outages(incidents, rule))
    return pl.concat(parts).sort("feed_id", "start_at", "how_found")


def outage_hours(outages: pl.LazyFrame) -> pl.LazyFrame:
    """(agency_id, bucket_start) of every hour an outage of one of the agency's feeds touches."""
    first = pl.col("start_at").dt.truncate(HOUR)
    last = (pl.col("end_at") - pl.duration(microseconds=1)).dt.truncate(HOUR)
    return (
        outages.select("agency_ids", bucket_start=pl.datetime_ranges(first, last, HOUR))
        .explode("agency_ids")
        .explode("bucket_start")
        .select(agency_id="agency_ids", bucket_start="bucket_start")
        .unique()
    )
