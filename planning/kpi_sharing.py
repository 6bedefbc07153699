"""Information-sharing KPIs per feed and period: how fast and how clean each partner's data arrives.

Pure polars. A feed's period is the local month or ISO week (the feed's time zone; see
planning.kpi) in which its batches were *loaded* (meta.batches.loaded_at): sharing is
about delivery, so a batch, its rows read, quarantined and loaded, and its records'
latency all count in the period of that load. A record's latency is the time from its
received_at to the load of the batch the warehouse holds it from; p50 and p90 are linear
quantiles, in minutes. Freshness (now - newest received_at) moves with the clock, so the
table keeps the feed's newest received_at and the per-agency views work out the hours at
query time: the table itself depends on the data alone, and a rerun changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from planning.kpi import PERIOD_KEYS, WEEKS, as_schema, in_periods, local_day

TOP_REASONS = 3
"""Quarantine reasons listed per feed and period, most rows first."""
_MINUTE_US = 60_000_000

SHARING_SCHEMA = {
    "feed_id": pl.String, "agency_ids": pl.List(pl.String), "period": pl.String, "period_start": pl.Date,
    "period_end": pl.Date, "batches": pl.Int64, "failed_batches": pl.Int64, "rows_read": pl.Int64,
    "rows_loaded": pl.Int64, "rows_quarantined": pl.Int64, "quarantined_share": pl.Float64,
    "top_reasons": pl.List(pl.Struct({"reason": pl.String, "rows": pl.Int64})),
    "records": pl.Int64, "latency_p50_minutes": pl.Float64, "latency_p90_minutes": pl.Float64,
    "last_loaded_at": pl.Datetime("us", "UTC"), "newest_received_at": pl.Datetime("us", "UTC"),
}  # fmt: skip
FAILED = ("failed", "rejected")


def sharing_kpis(
    batches: pl.DataFrame,
    records: pl.DataFrame,
    reasons: pl.DataFrame,
    feeds: Mapping[str, tuple[str, tuple[str, ...]]],
    weeks: int = WEEKS,
) -> pl.DataFrame:
    """One row per feed and period of its loads.

    Args:
        batches: meta.batches: feed_id, batch_id, loaded_at, status, rows_read, rows_loaded,
            rows_quarantined.
        records: batch_id, received_at of every record in core.incidents.
        reasons: batch_id, reason (the code before any ':' detail), rows: quarantined rows per
            batch and reason (a row with two reasons counts under each).
        feeds: feed id -> (time zone, agency ids) from the config; a feed no longer configured
            keeps its rows, in UTC, with no agencies.
        weeks: the latest ISO weeks of each feed kept as weekly rows.

    Returns:
        ``SHARING_SCHEMA``; quarantined_share is rows_quarantined / rows_read, newest_received_at
        the newest record the feed has delivered by the period's end (its freshness then).
    """
    if batches.is_empty():
        return pl.DataFrame(schema=SHARING_SCHEMA)
    zones = {feed: zone for feed, (zone, _) in feeds.items()}
    periods = in_periods(local_day(batches, "loaded_at", "feed_id", zones), "feed_id", weeks)
    keys = ("feed_id", *PERIOD_KEYS)
    loads = periods.group_by(keys).agg(
        batches=pl.len(),
        failed_batches=pl.col("status").is_in(FAILED).sum(),
        rows_read=pl.col("rows_read").sum(),
        rows_loaded=pl.col("rows_loaded").sum(),
        rows_quarantined=pl.col("rows_quarantined").sum(),
        last_loaded_at=pl.col("loaded_at").max(),
    )
    of_batch = periods.select("batch_id", *keys)
    minutes = (pl.col("loaded_at") - pl.col("received_at")).dt.total_microseconds() / _MINUTE_US
    latency = (
        records.join(batches.select("batch_id", "loaded_at"), on="batch_id")
        .join(of_batch, on="batch_id")
        .group_by(keys)
        .agg(
            records=pl.len(),
            latency_p50_minutes=minutes.quantile(0.5, interpolation="linear"),
            latency_p90_minutes=minutes.quantile(0.9, interpolation="linear"),
        )
    )
    top = (
        reasons.join(of_batch, on="batch_id")
        .group_by(*keys, "reason")
        .agg(pl.col("rows").sum())
        .sort("rows", "reason", descending=[True, False])
        .group_by(keys)
        .agg(top_reasons=pl.struct("reason", "rows").head(TOP_REASONS))
    )
    agencies = pl.DataFrame(
        [(feed, list(ids)) for feed, (_, ids) in feeds.items()],
        schema={"feed_id": pl.String, "agency_ids": pl.List(pl.String)},
        orient="row",
    )
    sharing = (
        loads.join(latency, on=keys, how="left")
        .join(top, on=keys, how="left")
        .join(agencies, on="feed_id", how="left")
        .with_columns(
            pl.col("records").fill_null(0),
            pl.col("agency_ids").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("top_reasons").fill_null(pl.lit([], dtype=SHARING_SCHEMA["top_reasons"])),
            quarantined_share=pl.when(pl.col("rows_read") > 0).then(
                pl.col("rows_quarantined") / pl.col("rows_read")
            ),
        )
        .sort("last_loaded_at")
        .join_asof(
            _newest_received(records, batches),
            left_on="last_loaded_at",
            right_on="loaded_at",
            by="feed_id",
            strategy="backward",
            check_sortedness=False,  # sorted by last_loaded_at; polars cannot check within groups
        )  # fmt: skip
    )
    return as_schema(sharing, SHARING_SCHEMA, "feed_id", "period", "period_start")


def _newest_received(records: pl.DataFrame, batches: pl.DataFrame) -> pl.DataFrame:
    """Per feed and load time: the newest received_at of every record loaded by then."""
    return (
        records.join(batches.select("batch_id", "feed_id", "loaded_at"), on="batch_id")
        .group_by("feed_id", "loaded_at")
        .agg(newest_received_at=pl.col("received_at").max())
        .sort("loaded_at")
        .with_columns(pl.col("newest_received_at").cum_max().over("feed_id"))
    )
