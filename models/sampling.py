"""Zero sampling: train on every hour that had incidents and a weighted sample of those that had none.

Most cell-hours of a fine grid count no incident, and each costs a fit as much as a busy one.
Keeping every row with incidents and each zero row with probability ``rate``, weighted
``1 / rate``, leaves the Poisson objective's expected loss (a sum over rows) and so its
gradients, in expectation, those of the full data (the Horvitz-Thompson estimator; large
predictive-policing systems sample their zero cells the same way).

Which zero rows are kept is decided row by row by a hash of the row's keys and the seed, not
by a random draw over the frame: the same rows on every run, and a row kept in one backtest
fold is kept in every fold (and the final model) whose window holds it. The hash is jointcast's
own (BLAKE2b of the series' names, SplitMix64 over the numbers), not a library's row hash, which
may change between releases: an upgrade of polars or NumPy keeps the same rows, so a model
retrained on the same input after one is the same model.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from features.model_inputs import TARGET

WEIGHT = "sample_weight"
KEYS = ("agency_id", "area_id", "bucket_start", "min_lag")
"""What names a model-input row: the series, the hour, the horizon band."""
_UNIT = float(2**53)


def _mixed(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of each uint64 (arrays wrap on overflow, as the algorithm wants)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _name_hash(agency: str, area: str) -> int:
    digest = hashlib.blake2b(f"{agency}\x1f{area}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def kept_share(rows: pl.DataFrame, seed: int) -> np.ndarray:
    """A number in [0, 1) per row of ``rows`` from its ``KEYS`` and ``seed``: uniform over rows,
    fixed for a row, and the same with any version of the libraries."""
    names = rows.select("agency_id", "area_id").unique()
    hashes = names.with_columns(
        _name=pl.Series([_name_hash(a, b) for a, b in names.iter_rows()], dtype=pl.UInt64)
    )
    name = rows.select("agency_id", "area_id").join(hashes, on=["agency_id", "area_id"], how="left",
                                                    maintain_order="left")["_name"].to_numpy()  # fmt: skip
    hour = rows["bucket_start"].dt.epoch("us").to_numpy().astype(np.int64).view(np.uint64)
    band = rows["min_lag"].cast(pl.Int64).to_numpy().view(np.uint64)
    with np.errstate(over="ignore"):
        x = _mixed(name ^ _mixed(np.array([seed], dtype=np.uint64)))
        x = _mixed(x ^ hour)
        x = _mixed(x ^ band)
    return (x >> np.uint64(11)).astype(np.float64) / _UNIT  # the top 53 bits: exact in a float, below 1


def zero_sampled(rows: pl.DataFrame, rate: float, seed: int) -> pl.DataFrame:
    """``rows`` with every row of a non-zero ``incidents`` and the zero rows whose share is below
    ``rate``, and a ``sample_weight``: 1 for a non-zero row, ``1 / rate`` for a kept zero.

    ``rate`` 1 keeps every row (weight 1); ``rows`` must hold the keys of ``KEYS``."""
    if not 0 < rate <= 1:
        raise ValueError(f"zero_sample_rate must be in (0, 1], not {rate}")
    if rate == 1:
        return rows.with_columns(pl.lit(1.0).alias(WEIGHT))
    zero = pl.col(TARGET) == 0
    kept = pl.Series(kept_share(rows, seed) < rate)
    return rows.filter(~zero | kept).with_columns(pl.when(zero).then(1.0 / rate).otherwise(1.0).alias(WEIGHT))
