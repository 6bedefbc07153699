"""Planner overrides on top of the model: the forecast times every factor in force.

An override covers one agency (one area of it, or all) for the hours starting in
[starts_at, ends_at). Overlapping overrides multiply. The model's own numbers stay beside
the adjusted ones, with the factor and the ids of the overrides applied. The map of every
configured quantile (``model_quantiles``) is scaled the same way into ``quantiles``.
"""

from __future__ import annotations

import polars as pl

from features.area_ids import named_areas
from features.panel import KEYS, SERIES
from models.distribution import scaled_quantile_map

VALUES = ("mean", "p10", "p50", "p90")


def apply_overrides(forecast: pl.DataFrame, overrides: pl.DataFrame) -> pl.DataFrame:
    """``forecast`` (keys and model_mean, model_p10, model_p50, model_p90, optionally
    model_quantiles) with the adjusted mean/p10/p50/p90 (and quantiles: every value of the
    map times the factor), override_factor and override_ids (List[Int64], empty when none).

    ``overrides``: override_id, agency_id, area_id (null: every area), starts_at, ends_at, factor. An
    override's area is the forecast's area it names, up to case and spacing
    (features.area_ids.named_areas), so it still applies should the features come to spell it
    otherwise.
    """
    named = named_areas(overrides.lazy(), forecast.select(SERIES).lazy()).collect()
    hits = (
        forecast.select(KEYS)
        .join(named.rename({"area_id": "override_area"}), on="agency_id")
        .filter(
            pl.col("override_area").is_null() | (pl.col("override_area") == pl.col("area_id")),
            pl.col("bucket_start") >= pl.col("starts_at"),
            pl.col("bucket_start") < pl.col("ends_at"),
        )
        .group_by(KEYS)
        .agg(override_factor=pl.col("factor").product(), override_ids=pl.col("override_id").sort())
    )
    adjusted = forecast.join(hits, on=KEYS, how="left", maintain_order="left").with_columns(
        override_factor=pl.col("override_factor").fill_null(1.0),
        override_ids=pl.col("override_ids").fill_null(pl.lit([], pl.List(pl.Int64))),
    )
    adjusted = adjusted.with_columns(
        (pl.col(f"model_{name}") * pl.col("override_factor")).alias(name) for name in VALUES
    )
    if "model_quantiles" in adjusted.columns:
        scaled = scaled_quantile_map(adjusted, "model_quantiles", "override_factor")
        adjusted = adjusted.with_columns(scaled.alias("quantiles"))
    return adjusted
