"""A blend of the model's mean with the hour-of-week mean, weighted per agency by the backtest.

Where an agency's series are too quiet or too erratic for the model to beat a plain average
by much, part of the 4-week hour-of-week mean (``how_mean_4``, a model-input column known
for every hour ahead) can lower the error. The weight ``w`` on the model (``1 - w`` on the
mean) is chosen per agency on a grid to minimise the shift-grain WAPE of the backtest's
folds, and is 1 (no blend) unless it lowers that agency's WAPE by at least ``MIN_GAIN``:
a blend is used only where the backtest says it helps.

Scored honestly: each fold's blended forecast uses weights learned on the *other* folds
(``cross_fitted``); the final model takes the weights learned on every fold. With one fold
there is nothing to cross-fit on, so nothing is blended. Pure: frames in, frames out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

COLUMN = "how_mean_4"
GRID = tuple(step / 20 for step in range(21))
MIN_GAIN = 0.005
"""Relative shift-WAPE gain (0.5%) an agency's blend must bring on the folds to be used."""
SHIFT_KEYS = ("agency_id", "area_id", "origin", "block")


def blended(weights: Mapping[str, float], mean: str = "mean") -> pl.Expr:
    """``w x mean + (1 - w) x how_mean_4`` with each row's agency weight (1 for an agency not in
    ``weights``); an hour without a known hour-of-week mean keeps the model's mean."""
    weight = pl.col("agency_id").replace_strict(dict(weights), default=1.0, return_dtype=pl.Float64)
    other = pl.coalesce(pl.col(COLUMN).cast(pl.Float64), pl.col(mean))
    return (weight * pl.col(mean) + (1.0 - weight) * other).alias(mean)


def _shift_totals(hourly: pl.DataFrame) -> pl.DataFrame:
    """Per agency x area x fold x shift: actual, model mean and hour-of-week mean (the model's
    mean where the latter is unknown), summed over the whole shifts of the folds."""
    return (
        hourly.filter(pl.col("block").is_not_null())
        .with_columns(pl.coalesce(pl.col(COLUMN).cast(pl.Float64), pl.col("mean")).alias(COLUMN))
        .group_by(SHIFT_KEYS)
        .agg(pl.col("actual").sum(), pl.col("mean").sum(), pl.col(COLUMN).sum())
    )


def _best_weight(actual: np.ndarray, model: np.ndarray, other: np.ndarray) -> float:
    total = actual.sum()
    if total <= 0:
        return 1.0
    errors = [np.abs(w * model + (1 - w) * other - actual).sum() / total for w in GRID]
    best = int(np.argmin(errors))
    return GRID[best] if errors[best] < errors[-1] * (1 - MIN_GAIN) else 1.0


def learn_weights(hourly: pl.DataFrame) -> dict[str, float]:
    """Per agency, the weight on the model that minimises its shift-grain WAPE on ``hourly``
    (the backtest's hourly rows with ``block``, ``actual``, ``mean`` and ``how_mean_4``)."""
    shifts = _shift_totals(hourly)
    weights = {}
    for (agency,), part in shifts.group_by("agency_id"):
        weights[str(agency)] = _best_weight(
            part["actual"].to_numpy(), part["mean"].to_numpy(), part[COLUMN].to_numpy()
        )
    return dict(sorted(weights.items()))


def cross_fitted(hourly: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, float]]:
    """``hourly`` with each fold's ``mean`` blended by weights learned on the other folds, and the
    weights learned on every fold (the final model's). One fold: unblended, weights all 1."""
    origins = hourly["origin"].unique().sort().to_list()
    if len(origins) < 2:
        return hourly, {str(a): 1.0 for a in sorted(hourly["agency_id"].unique())}
    parts = [
        hourly.filter(pl.col("origin") == origin).with_columns(
            blended(learn_weights(hourly.filter(pl.col("origin") != origin)))
        )
        for origin in origins
    ]
    return pl.concat(parts), learn_weights(hourly)
