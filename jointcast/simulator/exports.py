"""From records to export rows: source codes, monthly files and re-sent open incidents."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from jointcast.simulator.feeds import FeedSpec

RESENT_SHARE = 0.02
RESENT_WINDOW = timedelta(hours=36)


def coded_rows(feed: FeedSpec, records: pl.DataFrame) -> pl.DataFrame:
    """Records with the feed's own type and call-source codes and the month file they go to."""
    call_source = (
        pl.col("channel").replace_strict(feed.channel_codes, return_dtype=pl.String)
        if feed.channel_codes
        else pl.lit(None, dtype=pl.String)
    )
    return records.with_columns(
        source_type=pl.col("incident_type").replace_strict(feed.code_of_type, return_dtype=pl.String),
        call_source=call_source,
        file_month=pl.col("received_at").dt.strftime("%Y-%m"),
    )


def with_resent(rows: pl.DataFrame, end: datetime, rng: np.random.Generator) -> pl.DataFrame:
    """About 2% of incidents received in a month's last 36 hours go out twice: open (cleared
    empty) in that month's file and complete in the next month's file. Only months followed by
    another month inside the window take part. Adds ``resent`` and sorts rows in file order."""
    month_start = pl.col("received_at").dt.truncate("1mo")
    next_month = month_start.dt.offset_by("1mo")
    draw = pl.Series(rng.random(len(rows)))
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
