"""History features that never look past the forecast origin.

Direct multi-horizon forecasting: a forecast made at origin ``o`` for hour ``t = o + h``
may only use data up to ``o``. The features here are built for a *band* of horizons
``h <= min_lag``: every one of them reads the series at ``t - min_lag`` or earlier, so it
is known at any origin from which ``t`` is at most ``min_lag`` hours ahead. The forecast
uses the band with the smallest ``min_lag`` that covers each horizon (1 day, 1 week, 2
weeks by default): the freshest data the horizon allows, and nothing after the origin.

Panels are complete grids sorted by series and hour, so a shift of n rows within a
series is a lag of n hours. Rows past the last observation carry null incidents. ``over``
names the series: its key columns, or (much faster) a sorted number such as
features.panel.series_number. Lags are one shift of the whole column, masked where it
crosses a series boundary; trailing windows run ``over`` the series.
"""

from __future__ import annotations

import math

import polars as pl

from features.panel import HOUR_KEY_SPAN, SERIES

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


LEVEL_FEATURES = ("level_4w", "level_ratio_13", "level_ratio_52")
"""The series' recent level (its 4-week hourly mean, floored so its log is finite) and that level
over its 13- and 52-week means: a drifting level is followed, not averaged away. The 52-week
mean needs half a year of history at least (null before)."""
LEVEL_FLOOR = 0.01
"""Incidents per hour: the least level a series is scaled by (a quiet area's 4 weeks may hold none)."""

Over = str | tuple[str, ...]
OWN = HISTORY_FEATURES[:-1]
CROSS = ("how_mean_4", "mean_24", "mean_168")
"""Other agencies' demand features, ``other_`` + name."""
AGENCY = ("how_mean_4", "mean_168", "mean_672")
"""Agency-wide demand features, ``agency_`` + name."""


def _lag(y: pl.Expr, hours: int, over: Over) -> pl.Expr:
    """``y`` ``hours`` rows back within the series: one shift of the whole column, masked
    where it crosses into the previous series (cheaper than a window per series)."""
    keys = (over,) if isinstance(over, str) else over
    same = pl.all_horizontal(pl.col(k).shift(hours) == pl.col(k) for k in keys)
    return pl.when(same).then(y.shift(hours))


def _series_history(
    value: str, min_lag: int, prefix: str, wanted: tuple[str, ...], over: Over
) -> tuple[dict[str, pl.Expr], list[pl.Expr]]:
    """Lags and trailing means of ``value`` that end at ``t - min_lag`` or earlier.

    Returns the weekly lags, to add first as temporary columns (several features share
    them), and the ``wanted`` features (in ``OWN`` order, named ``prefix`` + name), which
    read those columns.
    """
    y = pl.col(value).cast(pl.Float32)
    first_week = WEEK * math.ceil(min_lag / WEEK)
    weeks = 8 if "how_mean_8" in wanted else 4
    lags = {
        f"_{value}_lag_{first_week + WEEK * j}": _lag(y, first_week + WEEK * j, over) for j in range(weeks)
    }
    weekly = list(lags)

    def trailing(window: int, how: str = "mean") -> pl.Expr:
        rolled = y.rolling_mean(window, min_samples=1) if how == "mean" else y.rolling_std(window)
        return rolled.shift(min_lag).over(over)

    named = {
        "lag_recent": _lag(y, min_lag, over),
        "lag_week_1": pl.col(weekly[0]),
        "lag_week_2": pl.col(weekly[1]),
        "how_mean_4": pl.mean_horizontal(weekly[:4]),
        "how_mean_8": pl.mean_horizontal(weekly[:8]),
        "mean_24": trailing(24),
        "mean_168": trailing(WEEK),
        "mean_672": trailing(4 * WEEK),
        "std_168": trailing(WEEK, "std"),
    }
    return lags, [named[name].alias(prefix + name) for name in OWN if name in wanted]


def level_features(min_lag: int, over: Over) -> list[pl.Expr]:
    """``LEVEL_FEATURES`` of ``incidents`` for one band, each ending at ``t - min_lag``."""
    y = pl.col("incidents").cast(pl.Float32)

    def trailing(weeks: int, least: int) -> pl.Expr:
        return y.rolling_mean(weeks * WEEK, min_samples=least).shift(min_lag).over(over)

    recent = trailing(4, 1)
    return [
        recent.clip(lower_bound=LEVEL_FLOOR).alias("level_4w"),
        (recent / trailing(13, 8 * WEEK)).alias("level_ratio_13"),
        (recent / trailing(52, 26 * WEEK)).alias("level_ratio_52"),
    ]


def _with_history(frame: pl.LazyFrame, parts: list[tuple[dict[str, pl.Expr], list[pl.Expr]]]) -> pl.LazyFrame:
    """``frame`` with the features of ``parts`` (from ``_series_history``); lags added, then dropped."""
    lags = {name: expr for part_lags, _ in parts for name, expr in part_lags.items()}
    features = [expr for _, part_features in parts for expr in part_features]
    return frame.with_columns(**lags).with_columns(features).drop(list(lags))


def history_features(panel: pl.LazyFrame, min_lag: int, over: Over = SERIES) -> pl.LazyFrame:
    """Adds the series' own history (``HISTORY_FEATURES``) and other agencies' demand in its
    area (``other_incidents``, lagged like its own: ``other_`` + ``CROSS``) for one band."""
    workload = pl.col("workload_hours").cast(pl.Float32).rolling_mean(WEEK, min_samples=1).shift(min_lag)
    lags, own = _series_history("incidents", min_lag, "", OWN, over)
    parts = [(lags, [*own, workload.over(over).alias("workload_mean_168"), *level_features(min_lag, over)])]
    parts.append(_series_history("other_incidents", min_lag, "other_", CROSS, over))
    return _with_history(panel, parts)


def agency_history(panel: pl.LazyFrame, min_lag: int) -> pl.LazyFrame:
    """Agency-wide demand (all its areas) history, per agency x hour, prefixed ``agency_``.

    ``panel`` carries ``_hour``, features.panel.hour_key of the agency's number, as
    features.model_inputs.static_inputs' output does; the result is keyed (and sorted) by it.
    """
    observed = pl.col("incidents").is_not_null().any()
    totals = (
        panel.group_by("_hour")
        .agg(incidents=pl.when(observed).then(pl.col("incidents").sum()))
        .sort("_hour")
        .with_columns(_agency=(pl.col("_hour") // HOUR_KEY_SPAN).set_sorted())
    )
    history = _with_history(totals, [_series_history("incidents", min_lag, "agency_", AGENCY, "_agency")])
    return history.select("_hour", *(f"agency_{name}" for name in AGENCY))
