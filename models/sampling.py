"""Zero sampling: train on every hour that had incidents and a weighted sample of those that had none.

Most cell-hours of a fine grid count no incident, and each costs a fit as much as a busy one.
Keeping every row with incidents and each zero row with probability ``rate``, weighted
``1 / rate``, leaves the Poisson objective's expected loss (a sum over rows) and so its
gradients, in expectation, those of the full data (the Horvitz-Thompson estimator; large
predictive-policing systems sample their zero cells the same way).

Which zero rows are kept is decided row by row by a hash of the row's keys and the seed, not
by a random draw over the frame: the same rows on every run, and a row kept in one backtest
fold is kept in every fold (and the final model) whose window holds it.
"""

from __future__ import annotations

import polars as pl

from features.model_inputs import TARGET

WEIGHT = "sample_weight"
KEYS = ("agency_id", "area_id", "bucket_start", "min_lag")
"""What names a model-input row: the series, the hour, the horizon band."""
_UNIT = float(2**64)


def kept_share(seed: int) -> pl.Expr:
    """A number in [0, 1] per row from its keys and ``seed``: uniform over rows, fixed for a row."""
    return pl.struct(pl.col(KEYS)).hash(seed).cast(pl.Float64) / _UNIT


def zero_sampled(rows: pl.DataFrame, rate: float, seed: int) -> pl.DataFrame:
    """``rows`` with every row of a non-zero ``incidents`` and the zero rows whose share is below
    ``rate``, and a ``sample_weight``: 1 for a non-zero row, ``1 / rate`` for a kept zero.

    ``rate`` 1 keeps every row (weight 1); ``rows`` must hold the keys of ``KEYS``."""
    if not 0 < rate <= 1:
        raise ValueError(f"zero_sample_rate must be in (0, 1], not {rate}")
    if rate == 1:
        return rows.with_columns(pl.lit(1.0).alias(WEIGHT))
    zero = pl.col(TARGET) == 0
    return rows.filter(~zero | (kept_share(seed) < rate)).with_columns(
        pl.when(zero).then(1.0 / rate).otherwise(1.0).alias(WEIGHT)
    )
