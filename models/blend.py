"""A blend of the model's mean with the hour-of-week mean, weighted per agency by the backtest.

Where an agency's series are too quiet or too erratic for the model to beat a plain average
by much, part of the 4-week hour-of-week mean (``how_mean_4``, a model-input column known
for every hour ahead) can lower the error. The weight ``w`` on the model (``1 - w`` on the
mean) is chosen per agency on a grid to minimise the shift-grain WAPE of the backtest's
folds, and is 1 (no blend) unless the folds agree that it helps: it must lower that agency's
WAPE over the folds by at least ``MIN_GAIN`` and raise it in none of them, with at least
``MIN_FOLDS`` folds to learn from (one fold's luck is not evidence).

Scored honestly: each fold's blended forecast uses weights learned on the *other* folds
(``cross_fitted``), so a backtest needs ``MIN_FOLDS + 1`` folds for its score to include a
blend; the final model takes the weights learned on every fold. Pure: frames in, frames out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

COLUMN = "how_mean_4"
GRID = tuple(step / 20 for step in range(21))
MIN_GAIN = 0.005
"""Relative shift-WAPE gain (0.5%) an agency's blend must bring on the folds to be used."""
MIN_FOLDS = 2
"""Folds a blend's weight must be learned on."""
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


def _best_weight(shifts: pl.DataFrame) -> float:
    """The grid weight with the least absolute error over one agency's ``shifts`` (all folds),
    if it gains ``MIN_GAIN`` over the model alone in total and loses in no fold; else 1."""
    weights = np.asarray(GRID)[:, None]
    errors, folds = [], shifts.partition_by("origin")
    for fold in folds:
        actual, model, other = (fold[c].to_numpy()[None, :] for c in ("actual", "mean", COLUMN))
        errors.append(np.abs(weights * model + (1 - weights) * other - actual).sum(axis=1))
    per_fold = np.vstack(errors)  # folds x grid
    total = per_fold.sum(axis=0)
    best = int(np.argmin(total))
    agreed = (per_fold[:, best] <= per_fold[:, -1]).all()
    helps = total[best] < total[-1] * (1 - MIN_GAIN)
    return GRID[best] if len(folds) >= MIN_FOLDS and agreed and helps else 1.0


def learn_weights(hourly: pl.DataFrame) -> dict[str, float]:
    """Per agency, the weight on the model that minimises its shift-grain WAPE on ``hourly``
    (the backtest's hourly rows with ``origin``, ``block``, ``actual``, ``mean`` and
    ``how_mean_4``), where the folds agree it helps (else 1)."""
    shifts = _shift_totals(hourly)
    weights = {str(agency): _best_weight(part) for (agency,), part in shifts.group_by("agency_id")}
    return dict(sorted(weights.items()))


def cross_fitted(hourly: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, float]]:
    """``hourly`` with each fold's ``mean`` blended by weights learned on the other folds, and the
    weights learned on every fold (the final model's). With too few folds for any fold's weights
    to be learned on ``MIN_FOLDS`` others, nothing is blended: not the backtest, nor the model
    (a blend the backtest did not score is not used)."""
    origins = hourly["origin"].unique().sort().to_list()
    if len(origins) <= MIN_FOLDS:
        return hourly, {str(a): 1.0 for a in sorted(hourly["agency_id"].unique())}
    parts = [
        hourly.filter(pl.col("origin") == origin).with_columns(
            blended(learn_weights(hourly.filter(pl.col("origin") != origin)))
        )
        for origin in origins
    ]
    return pl.concat(parts), learn_weights(hourly)
