"""From records to export rows: source codes, monthly files and re-sent open incidents."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from jointcast.simulator.feeds import FeedSpec

RESENT_SHARE = 0.02
RESENT_WINDOW = timedelta(hours=36)


def coded_rows(feed: FeedSpec, records: pl.DataFrame) -> pl.DataFrame:
    """Records with the feed's own type and call-source codes and the month file they go to; a feed
    written one row per unit (``unit`` in its columns) gets each incident's units (``unit_rows``)."""
    call_source = (
        pl.col("channel").replace_strict(feed.channel_codes, return_dtype=pl.String)
        if feed.channel_codes
        else pl.lit(None, dtype=pl.String)
    )
    coded = records.with_columns(
        source_type=pl.col("incident_type").replace_strict(feed.code_of_type, return_dtype=pl.String),
        call_source=call_source,
        file_month=pl.col("received_at").dt.strftime("%Y-%m"),
    )
    return unit_rows(coded) if "unit" in feed.columns else coded


UNITS_MEAN = {"structure_fire": 3.5, "hazmat": 2.5, "rescue": 2.0, "traffic_collision": 1.0}
"""Mean units sent past the first, per incident type; any other type 0.4."""
MAX_UNITS = 8
UNIT_POOL = 40


def _uniform(*keys: pl.Expr | str, seed: int) -> pl.Expr:
    """A number in [0, 1) drawn from the hash of ``keys``: the same incident (and unit) draws the same
    whatever file or copy it is written in, so a re-sent incident has the same units."""
    return (pl.struct(*keys).hash(seed) % 1_000_003).cast(pl.Float64) / 1_000_003


def unit_rows(records: pl.DataFrame) -> pl.DataFrame:
    """Each incident as the rows of the units sent to it, in the order dispatched, ``unit`` naming each
    (``E7``; distinct within the incident). The first unit has the incident's times; the n-th after it
    is dispatched up to 2n minutes and arrives up to 3n minutes after it, and clears between 30% and
    all of the way from its arrival to the first unit's clear. An incident's unit count is 1 plus a
    geometric draw with its type's mean (``UNITS_MEAN``)."""
    extra = pl.col("incident_type").replace_strict(UNITS_MEAN, default=0.4, return_dtype=pl.Float64)
    draw = _uniform("source_incident_id", seed=1)
    count = (1 + (-(1 - draw).log() * extra).floor()).clip(1, MAX_UNITS).cast(pl.Int64)
    first = (_uniform("source_incident_id", seed=2) * UNIT_POOL).floor().cast(pl.Int64)
    exploded = records.with_columns(_unit=pl.int_ranges(0, count), _first=first).explode("_unit")
    step = pl.col("_unit").cast(pl.Int64)
    dispatch_gap = (_uniform("source_incident_id", "_unit", seed=3) * 120 * 1e6).cast(pl.Int64) * step
    arrive_gap = (_uniform("source_incident_id", "_unit", seed=4) * 180 * 1e6).cast(pl.Int64) * step
    dispatched = pl.col("dispatched_at") + pl.duration(microseconds=dispatch_gap)
    arrived = pl.col("on_scene_at") + pl.duration(microseconds=arrive_gap)
    start = pl.coalesce(arrived, dispatched)
    busy_share = 0.3 + 0.7 * _uniform("source_incident_id", "_unit", seed=5)
    busy = ((pl.col("cleared_at") - start).dt.total_microseconds() * busy_share).cast(pl.Int64)
    later_clear = pl.max_horizontal(start + pl.duration(microseconds=busy), start + pl.duration(minutes=1))
    return exploded.with_columns(
        unit="E" + ((pl.col("_first") + step) % UNIT_POOL + 1).cast(pl.String),
        dispatched_at=dispatched,
        on_scene_at=arrived,
        cleared_at=pl.when(step == 0).then(pl.col("cleared_at")).otherwise(later_clear),
    ).drop("_unit", "_first")


def with_resent(rows: pl.DataFrame, end: datetime, rng: np.random.Generator) -> pl.DataFrame:
    """About 2% of incidents received in a month's last 36 hours go out twice: open (cleared
    empty) in that month's file and complete in the next month's file. Only months followed by
    another month inside the window take part. Adds ``resent`` and sorts rows in file order."""
    month_start = pl.col("received_at").dt.truncate("1mo")
    next_month = month_start.dt.offset_by("1mo")
    # an incident written one row per unit goes out whole: its first row's draw decides
    draws = pl.DataFrame({"id": rows["source_incident_id"], "draw": rng.random(len(rows))})
    draw = draws.select(pl.col("draw").first().over("id")).to_series()
    chosen = (
        (next_month - pl.col("received_at") <= RESENT_WINDOW)
        & (next_month < pl.lit(end).dt.cast_time_unit("us"))
        & (draw < RESENT_SHARE)
    )
    rows = rows.with_columns(resent=chosen)
    resent = rows.filter("resent")
    copies = pl.concat(
        [
            rows.filter(~pl.col("resent")),
            resent.with_columns(cleared_at=pl.lit(None, dtype=rows["cleared_at"].dtype)),
            resent.with_columns(file_month=next_month.dt.strftime("%Y-%m")),
        ]
    )
    return copies.sort("file_month", "received_at", "source_incident_id", maintain_order=True)
