"""The demand panel: incidents counted per agency x area x hour, zeros included.

Pure polars: LazyFrame in, LazyFrame out; the caller collects once.
"""

from __future__ import annotations

import polars as pl

UNKNOWN_AREA = "unknown"
BUCKET = "1h"
DEFAULT_SERVICE_HOURS = 0.5
KEYS = ("agency_id", "area_id", "bucket_start")


def counted_incidents(incidents: pl.LazyFrame, counted_sources: dict[str, tuple[str, ...]]) -> pl.LazyFrame:
    """The incidents each agency counts as demand (e.g. police: not officer-initiated work)."""
    allowed = pl.LazyFrame(
        [(agency, source) for agency, sources in counted_sources.items() for source in sources],
        schema={"agency_id": pl.String, "call_source": pl.String},
        orient="row",
    )
    return incidents.join(allowed, on=["agency_id", "call_source"], how="semi")


def service_hours(incidents: pl.LazyFrame) -> pl.LazyFrame:
    """Adds ``service_hours``: on scene to cleared where the feed has both, else an estimate.

    The estimate is the agency's own median for the incident type, then for the agency,
    then ``DEFAULT_SERVICE_HOURS``; ``service_estimated`` says which rows were estimated.
    """
    observed = (pl.col("cleared_at") - pl.col("on_scene_at")).dt.total_seconds() / 3600.0
    observed = pl.when(observed > 0).then(observed)
    by_type = pl.col("_observed").median().over("agency_id", "incident_type")
    by_agency = pl.col("_observed").median().over("agency_id")
    return (
        incidents.with_columns(_observed=observed)
        .with_columns(
            service_estimated=pl.col("_observed").is_null(),
            service_hours=pl.coalesce("_observed", by_type, by_agency, pl.lit(DEFAULT_SERVICE_HOURS)),
        )
        .drop("_observed")
    )


def demand_counts(incidents: pl.LazyFrame) -> pl.LazyFrame:
    """Incidents and workload hours per agency x area x hour, for the hours that have any."""
    return (
        incidents.with_columns(
            area_id=pl.col("area_id").fill_null(UNKNOWN_AREA),
            bucket_start=pl.col("received_at").dt.truncate(BUCKET),
        )
        .group_by(KEYS)
        .agg(incidents=pl.len().cast(pl.Int32), workload_hours=pl.col("service_hours").sum())
    )


def demand_grid(counts: pl.LazyFrame, until: pl.Expr | None = None) -> pl.LazyFrame:
    """Every hour from each agency's first to last observed hour (or ``until``) x its areas."""
    end = pl.col("bucket_start").max() if until is None else until
    hours = (
        counts.group_by("agency_id")
        .agg(first=pl.col("bucket_start").min(), last=end)
        .with_columns(bucket_start=pl.datetime_ranges("first", "last", BUCKET))
        .explode("bucket_start")
        .select("agency_id", "bucket_start")
    )
    areas = counts.select("agency_id", "area_id").unique()
    return areas.join(hours, on="agency_id")


def demand_panel(incidents: pl.LazyFrame) -> pl.LazyFrame:
    """The complete panel: one row per agency x area x hour with zeros where nothing happened.

    Every incident counts in exactly one series (``unknown`` where its area is missing), so
    the panel's total equals the number of incidents given.
    """
    counts = demand_counts(service_hours(incidents))
    return (
        demand_grid(counts)
        .join(counts, on=KEYS, how="left")
        .with_columns(
            pl.col("incidents").fill_null(0).cast(pl.Int32),
            pl.col("workload_hours").fill_null(0.0),
        )
        .sort(KEYS)
    )
