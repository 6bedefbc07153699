"""Quantiles from a count distribution around the forecast means, at any grain.

Hourly counts are negative binomial around the model's mean: variance = mean + alpha x
mean^2. A sum over hours (a shift, a day) keeps the same form with its own alpha, so
the p90 a staffing decision uses is the p90 of the shift's total, never a sum of hourly
p90s. Each grain's alpha is estimated by moments from backtest errors at that grain,
per agency; with alpha = 0 the distribution is Poisson.

Counts are whole numbers, so a band between two integer quantiles covers more than its
nominal share (Poisson(2.5) has P(1 <= X <= 5) = 0.88 for its p10 and p90). Quantiles
here are those of the count spread evenly over its unit interval (X + U - 1/2, U
uniform): continuous, so a p10-p90 band means 80%, and coverage is scored the same way
(the part of [y - 1/2, y + 1/2] inside the band) -- the randomised PIT of Czado,
Gneiting and Held (2009) for count forecasts.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats


def dispersion(actual: np.ndarray, mean: np.ndarray) -> float:
    """Method-of-moments alpha for variance = mean + alpha x mean^2 (0 when not overdispersed)."""
    mean = np.asarray(mean, dtype=float)
    excess = np.sum((np.asarray(actual, dtype=float) - mean) ** 2 - mean)
    scale = np.sum(mean**2)
    return float(max(0.0, excess / scale)) if scale > 0 else 0.0


def dispersions(frame: pl.DataFrame, actual: str = "actual", mean: str = "mean") -> dict[str, float]:
    """Alpha per agency from a frame of actuals and means at one grain."""
    return {
        agency: dispersion(part[actual].to_numpy(), part[mean].to_numpy())
        for (agency,), part in frame.group_by("agency_id")
    }


def count_quantiles(mean: np.ndarray, alpha: np.ndarray | float, quantiles: tuple[float, ...]) -> np.ndarray:
    """Continuous quantiles (columns) of NB(mean, alpha) counts; Poisson where alpha is 0."""
    mean = np.maximum(np.asarray(mean, dtype=float), 1e-9)
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float), mean.shape)
    out = np.empty((mean.size, len(quantiles)))
    poisson = alpha <= 1e-9
    size = 1.0 / np.where(poisson, 1.0, alpha)
    nbinom = stats.nbinom(size, size / (size + mean))
    poisson_law = stats.poisson(mean)
    for j, q in enumerate(quantiles):
        k = np.where(poisson, poisson_law.ppf(q), nbinom.ppf(q))
        below = np.where(poisson, poisson_law.cdf(k - 1), nbinom.cdf(k - 1))
        at = np.where(poisson, poisson_law.pmf(k), nbinom.pmf(k))
        out[:, j] = k - 0.5 + (q - below) / np.maximum(at, 1e-12)
    return out


def interval_coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The share of each count's unit interval [y - 1/2, y + 1/2] inside [low, high]."""
    return np.clip(np.minimum(actual + 0.5, high) - np.maximum(actual - 0.5, low), 0.0, 1.0)


def with_quantiles(
    frame: pl.DataFrame, alphas: dict[str, float], quantiles: tuple[float, ...], mean: str = "mean"
) -> pl.DataFrame:
    """Adds p10/p50/p90-style columns (named ``p<100q>``) from per-agency alphas."""
    alpha = frame["agency_id"].replace_strict(alphas, default=0.0, return_dtype=pl.Float64).to_numpy()
    values = count_quantiles(frame[mean].to_numpy(), alpha, quantiles)
    return frame.with_columns(pl.Series(quantile_name(q), values[:, j]) for j, q in enumerate(quantiles))


QUANTILE_MAP = pl.Map(pl.Float64, pl.Float64)
"""A row's quantiles, keyed by level: DuckDB's MAP(DOUBLE, DOUBLE), so SQL reads ``quantiles[0.95]``."""


ENTRY = pl.Struct({"key": pl.Float64, "value": pl.Float64})


def quantile_map(
    frame: pl.DataFrame,
    alphas: dict[str, float],
    quantiles: tuple[float, ...],
    mean: str = "mean",
    name: str = "quantiles",
) -> pl.DataFrame:
    """Adds ``name``: every level of ``quantiles`` -> its count quantile (clipped at zero), from
    per-agency alphas: the distribution ``with_quantiles`` reads p10/p50/p90 from, so a level
    configured as 0.1, 0.5 or 0.9 holds exactly that column's value."""
    alpha = frame["agency_id"].replace_strict(alphas, default=0.0, return_dtype=pl.Float64).to_numpy()
    values = np.clip(count_quantiles(frame[mean].to_numpy(), alpha, quantiles), 0.0, None)
    entries = (
        pl.struct(key=pl.lit(float(q)), value=pl.Series(values[:, j])) for j, q in enumerate(quantiles)
    )
    column = pl.concat_list(entries) if quantiles else pl.lit([], pl.List(ENTRY))
    return frame.with_columns(column.cast(pl.List(ENTRY)).cast(QUANTILE_MAP).alias(name))


def scaled_quantile_map(frame: pl.DataFrame, source: str, factor: str) -> pl.Series:
    """``source`` (a quantile map per row) with every value times the row's ``factor``;
    null where ``source`` is null (a row published before the map existed)."""
    rows = frame.select(pl.col(source).cast(pl.List(ENTRY)).alias("_entries"), pl.col(factor).alias("_f"))
    rows = rows.with_row_index("_row")
    scaled = (
        rows.explode("_entries")
        .filter(pl.col("_entries").is_not_null())
        .group_by("_row", maintain_order=True)
        .agg(
            pl.struct(
                key=pl.col("_entries").struct.field("key"),
                value=pl.col("_entries").struct.field("value") * pl.col("_f"),
            ).alias("_scaled")
        )
    )
    joined = rows.join(scaled, on="_row", how="left", maintain_order="left")
    empty = pl.col("_entries").is_not_null() & pl.col("_scaled").is_null()  # an empty map stays empty
    out = pl.when(empty).then(pl.lit([], pl.List(ENTRY))).otherwise(pl.col("_scaled"))
    return joined.select(out.cast(pl.List(ENTRY)).cast(QUANTILE_MAP).alias(source))[source]


def quantile_name(q: float) -> str:
    return f"p{round(q * 100):02d}"
