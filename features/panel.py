"""The demand panel: incidents counted per agency x area x hour, zeros included.

Pure polars: LazyFrame in, LazyFrame out; the caller collects once.

Panels are sorted by series and hour, so the heavy work never joins or sorts on the string
keys: ``series_number`` numbers the series of a sorted frame and ``hour_key`` packs a number
and the hour into one Int64. Joins and group-bys on that one integer are many times faster
than on (agency_id, area_id, bucket_start), faster still where the key is sorted.
"""

from __future__ import annotations

import polars as pl

from features.service import service_hours

UNKNOWN_AREA = "unknown"
BUCKET = "1h"
KEYS = ("agency_id", "area_id", "bucket_start")
SERIES = ("agency_id", "area_id")
HOUR_KEY_SPAN = 2**40
"""Seconds a ``hour_key`` number spans: +-17,000 years around 1970."""


def series_number(*columns: str) -> pl.Expr:
    """1, 2, 3, ... for the runs of equal ``columns`` in a frame sorted by them (a sorted UInt32)."""
    starts = pl.any_horizontal(pl.col(c).ne_missing(pl.col(c).shift()) for c in columns)
    return starts.cum_sum().cast(pl.UInt32).set_sorted()


def hour_key(number: str | pl.Expr) -> pl.Expr:
    """``number`` (a column or expression) and ``bucket_start`` (in epoch seconds) packed into
    one Int64. Keys order like (number, bucket_start), and ``key // HOUR_KEY_SPAN`` is the number.
    """
    number = pl.col(number) if isinstance(number, str) else number
    return number.cast(pl.Int64) * HOUR_KEY_SPAN + (pl.col("bucket_start").dt.epoch("s") + HOUR_KEY_SPAN // 2)


def is_counted(counted_sources: dict[str, tuple[str, ...]]) -> pl.Expr:
    """True for an incident its agency counts as demand (e.g. police: not officer-initiated work)."""
    conditions = [
        (pl.col("agency_id") == agency) & pl.col("call_source").is_in(list(sources))
        for agency, sources in counted_sources.items()
    ]
    return pl.any_horizontal(conditions) if conditions else pl.lit(False)


def counted_incidents(incidents: pl.LazyFrame, counted_sources: dict[str, tuple[str, ...]]) -> pl.LazyFrame:
    """The incidents each agency counts as demand (e.g. police: not officer-initiated work)."""
    return incidents.filter(is_counted(counted_sources))


def _series_counts(incidents: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The series (agency_id, area_id, _series, first and last hour; sorted by series) and
    their incidents and workload hours by ``_key`` (sorted), for the hours that have any."""
    hourly = incidents.select(
        "agency_id",
        "service_hours",
        area_id=pl.col("area_id").fill_null(UNKNOWN_AREA),
        bucket_start=pl.col("received_at").dt.truncate(BUCKET),
    )
    series = (
        hourly.group_by(SERIES)
        .agg(first=pl.col("bucket_start").min(), last=pl.col("bucket_start").max())
        .sort(SERIES)
        .with_row_index("_series")
    )
    counts = (
        hourly.join(series.select(*SERIES, "_series"), on=SERIES, maintain_order="left")
        .select("service_hours", _key=hour_key("_series"))
        # sorted first: a group-by that keeps order then runs along the sorted key, no hashing
        .sort("_key", maintain_order=True)
        .group_by("_key", maintain_order=True)
        .agg(incidents=pl.len().cast(pl.Int32), workload_hours=pl.col("service_hours").sum())
    )
    return series, counts


def _grid(series: pl.LazyFrame, future_hours: int = 0) -> pl.LazyFrame:
    """Every hour from each agency's first to last hour (plus ``future_hours``) x its series.

    ``series`` is sorted by agency and area and carries ``_series``, ``first`` and ``last``;
    the grid (agency_id, area_id, _series, bucket_start, _key, _observed: at most the
    agency's last hour) comes out sorted by series and hour, so ``_key`` is sorted too.
    """
    hours = series.group_by("agency_id").agg(_first=pl.col("first").min(), _last=pl.col("last").max())
    until = pl.col("_last") + pl.duration(hours=future_hours)
    return (
        series.join(hours, on="agency_id", maintain_order="left")
        .select(*SERIES, "_series", "_last", bucket_start=pl.datetime_ranges("_first", until, BUCKET))
        .explode("bucket_start")
        .select(
            *SERIES,
            "_series",
            "bucket_start",
            _key=hour_key("_series").set_sorted(),
            _observed=pl.col("bucket_start") <= pl.col("_last"),
        )
    )


def aligned(keys: pl.LazyFrame, values: pl.LazyFrame, on: str) -> pl.LazyFrame:
    """``values``' columns for each row of ``keys`` (nulls where none), ``on`` dropped.

    ``on`` is unique in ``values``. Only the key column is joined, and the result is meant
    to be put beside ``keys`` (``pl.concat(..., how="horizontal")``), so a wide frame is
    never copied row by row.
    """
    return keys.select(on).join(values, on=on, how="left", maintain_order="left").drop(on)


def demand_panel(incidents: pl.LazyFrame, future_hours: int = 0) -> pl.LazyFrame:
    """The complete panel: one row per agency x area x hour with zeros where nothing happened.

    Every incident counts in exactly one series (``unknown`` where its area is missing), so
    the panel's total equals the number of incidents given. Rows are sorted by ``KEYS``.
    ``future_hours`` more hours per series follow each agency's last observed hour, with
    null incidents and workload: the hours to forecast into (see ``extend_panel``).
    """
    series, counts = _series_counts(service_hours(incidents))
    grid = _grid(series, future_hours)
    return pl.concat([grid, aligned(grid, counts, "_key")], how="horizontal").select(
        *KEYS,
        pl.when("_observed").then(pl.col("incidents").fill_null(0)).cast(pl.Int32).alias("incidents"),
        pl.when("_observed").then(pl.col("workload_hours").fill_null(0.0)).alias("workload_hours"),
    )


def extend_panel(panel: pl.LazyFrame, hours: int) -> pl.LazyFrame:
    """The panel plus ``hours`` future rows per series (incidents null) to forecast into.

    ``panel`` is a complete panel sorted by ``KEYS``; so is the result.
    """
    numbered = panel.with_columns(_series=series_number(*SERIES))
    edge = pl.col("_series").ne_missing(pl.col("_series").shift()) | pl.col("_series").ne_missing(
        pl.col("_series").shift(-1)
    )
    series = (
        numbered.filter(edge)
        .group_by(*SERIES, "_series", maintain_order=True)
        .agg(first=pl.col("bucket_start").min(), last=pl.col("bucket_start").max())
    )
    rows = numbered.select(
        pl.exclude(*SERIES, "bucket_start", "_series"), _key=hour_key("_series").set_sorted()
    )
    grid = _grid(series, hours)
    return pl.concat([grid.select(KEYS), aligned(grid, rows, "_key")], how="horizontal")
