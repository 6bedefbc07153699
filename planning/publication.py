"""What a publication holds, assembled from the model's forecast, overrides and staffing plans.

Pure: frames in, the frames of forecast.demand, forecast.staffing and forecast.areas out.
The caller (flows/publish.py) reads the warehouse and MLflow and writes the result in one go.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from features.areas import described_areas
from features.panel import SERIES
from models.distribution import QUANTILE_MAP
from models.forecasting import agency_totals
from planning.overrides import apply_overrides
from planning.provenance import Provenance
from planning.staffing import LOCAL_TIME, StaffingPlan, staffing_table

MODEL_COLUMNS = ("model_mean", "model_p10", "model_p50", "model_p90")


def local_time(column: str, timezones: dict[str, str]) -> pl.Expr:
    """``column`` (instants) on the wall clock of each row's agency, as a datetime without a zone.

    ``timezones`` maps agency_id to an IANA zone; an agency it does not name gets null.
    Across DST changes the wall clock skips an hour in spring and shows one twice in autumn
    (two UTC hours read 01:00 in New York on the first Sunday of November).
    """
    if not timezones:
        return pl.lit(None, LOCAL_TIME)
    instant = pl.col(column).dt.cast_time_unit("us")
    wall_clocks = (
        pl.when(pl.col("agency_id") == agency).then(
            instant.dt.convert_time_zone(zone).dt.replace_time_zone(None)
        )
        for agency, zone in sorted(timezones.items())
    )
    return pl.coalesce(wall_clocks).cast(LOCAL_TIME)


def published_demand(
    model: pl.DataFrame,
    overrides: pl.DataFrame,
    provenance: Provenance,
    stale: dict[str, float],
    generated_at: datetime,
    publication_id: int,
    timezones: dict[str, str],
) -> pl.DataFrame:
    """forecast.demand rows: the model's numbers (``model``: keys, horizon, model_mean,
    model_p10/p50/p90, model_quantiles, drivers) with the overrides applied, and where they come
    from; ``bucket_start_local`` is the hour on the agency's wall clock (``timezones``: agency ->
    zone). A model forecast without model_quantiles (published before the column) gets null maps."""
    if "model_quantiles" not in model.columns:
        model = model.with_columns(model_quantiles=pl.lit(None, QUANTILE_MAP))
    adjusted = apply_overrides(model, overrides)
    ends = pl.DataFrame(
        list(provenance.data_as_of.items()),
        schema={"agency_id": pl.String, "data_as_of": pl.Datetime("us", "UTC")},
        orient="row",
    )
    return adjusted.join(ends, on="agency_id", how="left").select(
        "agency_id", "area_id", "bucket_start",
        local_time("bucket_start", timezones).alias("bucket_start_local"),
        "horizon", "mean", "p10", "p50", "p90", "quantiles", *MODEL_COLUMNS, "model_quantiles",
        "override_factor", "override_ids", "drivers",
        data_stale=pl.col("agency_id").is_in(list(stale)),
        model_name=pl.lit(provenance.model_name),
        model_version=pl.lit(provenance.model_version),
        mlflow_run_id=pl.lit(provenance.mlflow_run_id),
        generated_at=pl.lit(generated_at, pl.Datetime("us", "UTC")),
        data_as_of="data_as_of",
        publication_id=pl.lit(publication_id, pl.Int64),
    ).sort("agency_id", "area_id", "bucket_start")  # fmt: skip


def published_staffing(
    demand: pl.DataFrame, plans: dict[str, StaffingPlan], horizon_hours: int
) -> pl.DataFrame:
    """forecast.staffing rows: every agency's shifts inside its forecast window."""
    parts = []
    for agency_id, plan in plans.items():
        hourly = demand.filter(pl.col("agency_id") == agency_id)
        if hourly.is_empty():
            continue
        start = hourly["data_as_of"][0]
        table = staffing_table(
            hourly.select("agency_id", "area_id", "bucket_start", "mean"),
            plan,
            start,
            start + timedelta(hours=horizon_hours),
        )
        parts.append(
            table.with_columns(
                data_stale=pl.lit(hourly["data_stale"][0]),
                model_version=pl.lit(hourly["model_version"][0]),
                generated_at=pl.lit(hourly["generated_at"][0]),
                publication_id=pl.lit(hourly["publication_id"][0]),
            )
        )
    if not parts:
        return pl.DataFrame()
    table = pl.concat(parts)
    first = [
        c
        for c in table.columns
        if c not in ("assumptions", "model_version", "generated_at", "publication_id")
    ]
    return table.select(*first, "assumptions", "model_version", "generated_at", "publication_id")


def published_areas(areas: pl.DataFrame, demand: pl.DataFrame, publication_id: int) -> pl.DataFrame:
    """forecast.areas rows: every area of the published demand, as ``areas`` (features.areas) has it."""
    return (
        described_areas(areas.lazy(), demand.select(SERIES).lazy())
        .with_columns(publication_id=pl.lit(publication_id, pl.Int64))
        .collect()
    )


def area_summary(demand: pl.DataFrame, days: int = 7) -> pl.DataFrame:
    """Per agency x area over the next ``days``: expected incidents, the busiest hour and its drivers."""
    first = demand["bucket_start"].min()
    window = demand.filter(pl.col("bucket_start") < first + timedelta(days=days))
    return (
        window.sort("mean", descending=True)
        .group_by("agency_id", "area_id", maintain_order=True)
        .agg(
            expected_incidents=pl.col("mean").sum(),
            peak_hour_mean=pl.col("mean").first(),
            drivers=pl.col("drivers").first(),
        )
        .sort("agency_id", "expected_incidents", descending=[False, True])
    )


JOINT_OUTLOOK_SCHEMA = {
    "incident_type": pl.String,
    "lead_agency": pl.String,
    "supporting_agencies": pl.List(pl.String),
    "expected_events": pl.Float64,
    "expected_records": pl.Float64,
}


def joint_outlook(demand: pl.DataFrame, crosswalk: pl.DataFrame, days: int = 7) -> pl.DataFrame:
    """Per incident type with a [[roles]] lead, over the next ``days``: expected real events (a joint
    event counted once) and expected records (one per agency), summed over every agency's areas as
    forecast.joint_demand sums them (``crosswalk``: forecast.joint_crosswalk)."""
    if demand.is_empty() or crosswalk.is_empty():
        return pl.DataFrame(schema=JOINT_OUTLOOK_SCHEMA)
    first = demand["bucket_start"].min()
    expected = (
        demand.filter(pl.col("bucket_start") < first + timedelta(days=days))
        .group_by(SERIES)
        .agg(pl.col("mean").sum())
    )
    return (
        expected.join(crosswalk, on=SERIES)
        .group_by("incident_type", "lead_agency")
        .agg(
            pl.col("supporting_agencies").first(),
            expected_events=(pl.col("mean") * pl.col("event_share")).sum(),
            expected_records=(pl.col("mean") * pl.col("record_share")).sum(),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in JOINT_OUTLOOK_SCHEMA.items())
        .sort("expected_events", "incident_type", descending=[True, False])
    )


def agency_hourly(demand: pl.DataFrame, provenance: Provenance) -> pl.DataFrame:
    """Per agency x hour: the published total and the quantiles of that total."""
    return agency_totals(demand, provenance.dispersion.get("agency_hourly", {}))
