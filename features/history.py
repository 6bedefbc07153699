"""History features that never look past the forecast origin.

Direct multi-horizon forecasting: a forecast made at origin ``o`` for hour ``t = o + h``
may only use data up to ``o``. The features here are built for a *band* of horizons
``h <= min_lag``: every one of them reads the series at ``t - min_lag`` or earlier, so it
is known at any origin from which ``t`` is at most ``min_lag`` hours ahead. The forecast
uses the band with the smallest ``min_lag`` that covers each horizon (1 day, 1 week, 2
weeks by default): the freshest data the horizon allows, and nothing after the origin.

Panels are complete grids sorted by series and hour, so a shift of n rows within a
series is a lag of n hours. Rows past the last observation carry null incidents. Windows
run ``over`` a series: its names, or (much faster) a sorted number from
features.panel.series_number.
"""

from __future__ import annotations

import math

import polars as pl

from features.panel import SERIES, hour_key, series_number

WEEK = 168
HISTORY_FEATURES = (
    "lag_recent", "lag_week_1", "lag_week_2", "how_mean_4", "how_mean_8",
    "mean_24", "mean_168", "mean_672", "std_168", "workload_mean_168",
)  # fmt: skip


def horizon_bands(horizon_hours: int) -> tuple[int, ...]:
    """The min-lag bands covering horizons 1..horizon_hours: 24, 168, 336, ... hours."""
    bands = [24]
    while bands[-1] < horizon_hours:
        bands.append(WEEK * max(1, math.ceil((bands[-1] + 1) / WEEK)))
    return tuple(bands)


def band_for(horizon: int, bands: tuple[int, ...]) -> int:
    return next(band for band in bands if horizon <= band)


def _series_history(
    value: str, min_lag: int, prefix: str = "", over: str | tuple[str, ...] = SERIES
) -> list[pl.Expr]:
    """Lags and trailing means of ``value`` that end at ``t - min_lag`` or earlier."""
    y = pl.col(value).cast(pl.Float32)
    first_week = WEEK * math.ceil(min_lag / WEEK)
    weekly = [y.shift(first_week + WEEK * j) for j in range(8)]

    def trailing(window: int, how: str = "mean") -> pl.Expr:
        rolled = y.rolling_mean(window, min_samples=1) if how == "mean" else y.rolling_std(window)
        return rolled.shift(min_lag)

    named = {
        "lag_recent": y.shift(min_lag),
        "lag_week_1": weekly[0],
        "lag_week_2": weekly[1],
        "how_mean_4": pl.mean_horizontal(weekly[:4]),
        "how_mean_8": pl.mean_horizontal(weekly),
        "mean_24": trailing(24),
        "mean_168": trailing(WEEK),
        "mean_672": trailing(4 * WEEK),
        "std_168": trailing(WEEK, "std"),
    }
    return [expr.over(over).alias(prefix + name) for name, expr in named.items()]


def history_exprs(min_lag: int, over: str | tuple[str, ...] = SERIES) -> list[pl.Expr]:
    """The series' own history features (``HISTORY_FEATURES``) for one band."""
    workload = pl.col("workload_hours").cast(pl.Float32).rolling_mean(WEEK, min_samples=1).shift(min_lag)
    return [*_series_history("incidents", min_lag, over=over), workload.over(over).alias("workload_mean_168")]


def history_features(panel: pl.LazyFrame, min_lag: int) -> pl.LazyFrame:
    """Adds the series' own history features (``HISTORY_FEATURES``) for one band."""
    return panel.with_columns(history_exprs(min_lag))


def agency_history(panel: pl.LazyFrame, min_lag: int) -> pl.LazyFrame:
    """Agency-wide demand (all its areas) history, per agency x hour, prefixed ``agency_``.

    ``panel`` is sorted by agency; the result is sorted by agency and hour.
    """
    observed = pl.col("incidents").is_not_null().any()
    totals = (
        panel.select("agency_id", "bucket_start", "incidents", _agency=series_number("agency_id"))
        .group_by(_key=hour_key("_agency"))
        .agg(
            pl.col("agency_id", "bucket_start", "_agency").first(),
            incidents=pl.when(observed).then(pl.col("incidents").sum()),
        )
        .sort("_key")
    )
    wanted = ("how_mean_4", "mean_168", "mean_672")
    features = [
        expr for expr in _series_history("incidents", min_lag, "agency_", over="_agency")
        if expr.meta.output_name().removeprefix("agency_") in wanted
    ]  # fmt: skip
    return totals.with_columns(features).select("agency_id", "bucket_start", *(f"agency_{n}" for n in wanted))


def cross_history_exprs(min_lag: int, over: str | tuple[str, ...] = SERIES) -> list[pl.Expr]:
    """Other agencies' demand in the series' area (``other_incidents``), lagged like its own."""
    wanted = ("mean_24", "mean_168", "how_mean_4")
    return [
        expr for expr in _series_history("other_incidents", min_lag, "other_", over=over)
        if expr.meta.output_name().removeprefix("other_") in wanted
    ]  # fmt: skip
