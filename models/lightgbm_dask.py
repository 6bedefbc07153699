"""The demand model fitted on a Dask cluster with LightGBM's own Dask interface (``lightgbm.dask``).

The same model as models.lightgbm_model's single-machine fit: the same features, the same integer
encoding of the categorical features, the same parameters, the Poisson fit started from each row's
log level when level-scaled. The result is a plain ``lgb.Booster`` in a ``LightGBMDemandModel``, so
forecasting, MLflow and the registry take it as they take the other.

The driver sends no frames. Each worker reads its own Parquet partitions (warehouse.model_partitions:
an even hash sample of the rows) by path, keeps the training window's rows and builds its part of the
design matrix with ``design_matrix``; LightGBM's data-parallel learner then trains one booster over all
the workers, each on the rows it holds. What a worker cannot know from its own rows, the driver works out
with DuckDB over the same files and sends as a small dict: the window's categorical levels (so every
worker codes a series alike) and, for a level-scaled fit, the median level that stands in for a
missing one. Partition i goes to worker i modulo the workers (in address order) and its rows come in
one order, so a refit on the same partitions is the same fit.

Beside models.lightgbm_model, the only module that imports LightGBM, and the only one that imports
``lightgbm.dask`` and ``dask.dataframe``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from threading import Lock
from typing import Protocol
from uuid import uuid4

import numpy as np
import pandas as pd
import polars as pl

from features.model_inputs import TARGET
from models.lightgbm_model import (
    CATEGORICAL,
    LightGBMDemandModel,
    category_levels,
    design_matrix,
    leaf_minimum,
    level_offset,
)
from models.parameters import ModelParameters
from models.sampling import WEIGHT, zero_sampled

log = logging.getLogger(__name__)
LABEL, OFFSET = "_label", "_init_score"  # beside the features (and the sample's WEIGHT) in a worker's part
SKLEARN_NAMES = {
    "min_data_in_leaf": "min_child_samples",
    "feature_fraction": "colsample_bytree",
    "bagging_fraction": "subsample",
    "bagging_freq": "subsample_freq",
    "lambda_l2": "reg_lambda",
    "seed": "random_state",
}
"""Parameters whose name in LightGBM's scikit-learn estimators (what lightgbm.dask builds) is another
alias: set under that name, so the estimator's own default does not compete with ours."""

Reader = Callable[[str, datetime, datetime], pl.DataFrame]
"""(partition path, start, end) -> that partition's rows in [start, end): runs on the workers."""


class Window(Protocol):
    """What the driver knows of a training window (warehouse.model_partitions.TrainingWindow)."""

    rows: int
    series: pl.DataFrame  # the distinct agency_id, area_id
    median: float | None  # of the level (models.lightgbm_model.LEVEL), missing values left out


Summary = Callable[[datetime, datetime], Window]
"""(start, end) -> the window's facts, worked out on the driver (DuckDB over the partitions)."""


WORKER_WAIT_S = 60
"""How long a fit waits for a worker when the cluster has none (a worker its nanny is restarting)."""


def live_workers(client) -> list[str]:
    """The addresses of the cluster's workers, asked of the scheduler (``Client.nthreads``: a client
    called from its own event loop keeps no per-worker list in ``scheduler_info``); with none, waits
    up to ``WORKER_WAIT_S`` for one before failing."""
    workers = sorted(client.nthreads())
    if not workers:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            raise RuntimeError(f"the Dask cluster has no workers (waited {WORKER_WAIT_S} s)") from None
        workers = sorted(client.nthreads())
    return workers


@dataclass(frozen=True)
class DaskFit:
    """Fits the demand model on the training window before an origin, on every worker of ``client``.

    A models.backtest ``Fit``: called with the parameters and the origin, it returns the fitted model."""

    client: object  # distributed.Client
    partitions: tuple[str, ...]
    read: Reader
    summarise: Summary
    one_at_a_time: Lock = field(default_factory=Lock, compare=False, repr=False)
    """A fit takes a thread of every worker until all have joined LightGBM's network: two at once
    could each hold some workers and wait for the others for ever, so fits asked for at once (folds
    mapped on threads) take turns."""

    def __call__(self, params: ModelParameters, origin: datetime) -> LightGBMDemandModel:
        with self.one_at_a_time:
            return self._fit(params, origin)

    def _fit(self, params: ModelParameters, origin: datetime) -> LightGBMDemandModel:
        from lightgbm.dask import DaskLGBMRegressor

        start = origin - timedelta(days=params.train_days)
        model = LightGBMDemandModel(params)
        features = model.fitted_features()
        window = self.summarise(start, origin)
        if window.rows == 0:
            raise ValueError(
                f"no observed model inputs from {start:%Y-%m-%d %H:%M} to {origin:%Y-%m-%d %H:%M}"
            )
        categories = category_levels(window.series)
        missing_level = (window.median or 1.0) if params.level_scaling else None
        workers = live_workers(self.client)
        parts = self.submit_parts(workers, start, origin, features, categories, missing_level, params)
        kept = window.rows  # the rows the workers' zero samples hold: the leaf minimum shrinks by their share
        if params.zero_sample_rate < 1:
            kept = sum(self.client.gather([self.client.submit(len, part, pure=False) for part in parts]))
        sampled = f" (the zero sample of {window.rows:,})" if kept < window.rows else ""
        log.info("train: fitting on %s rows%s before %s UTC on %d Dask workers (%d Parquet partitions)",
                 f"{kept:,}", sampled, f"{origin:%Y-%m-%d %H:%M}", min(len(workers), len(parts)),
                 len(parts))  # fmt: skip
        import dask.dataframe as dd

        meta = pd.DataFrame({c: pd.Series(dtype="float64") for c in (*features, LABEL, OFFSET, WEIGHT)})
        table = dd.from_delayed(parts, meta=meta, verify_meta=False)
        estimator = DaskLGBMRegressor(client=self.client, **estimator_params(params, kept / window.rows))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Parameter (n_jobs|num_threads) will be ignored")
            estimator.fit(
                table[list(features)],
                table[LABEL],
                sample_weight=table[WEIGHT] if params.zero_sample_rate < 1 else None,
                init_score=table[OFFSET] if params.level_scaling else None,
                categorical_feature=[c for c in CATEGORICAL if c in features],
            )
        booster = estimator.booster_
        del parts, table, estimator  # the workers drop their parts
        return replace(model, booster=booster, categories=categories, features=features)

    def submit_parts(
        self,
        workers: list[str],
        start: datetime,
        end: datetime,
        features: tuple[str, ...],
        categories: dict[str, list[str]],
        missing_level: float | None,
        params: ModelParameters,
    ) -> list:
        """One future per partition, partition i on worker i modulo the workers: the partition's design
        matrix for the window (its zero sample under ``params``), made there from the partition's path."""
        run = uuid4().hex[:8]
        return [
            self.client.submit(
                design_part,
                self.read,
                path,
                start,
                end,
                features,
                categories,
                missing_level,
                params.zero_sample_rate,
                params.seed,
                key=f"model-inputs-{run}-{number:04d}",
                workers=[workers[number % len(workers)]],
                allow_other_workers=False,
                pure=False,
            )
            for number, path in enumerate(self.partitions)
        ]


def design_part(
    read: Reader,
    path: str,
    start: datetime,
    end: datetime,
    features: tuple[str, ...],
    categories: dict[str, list[str]],
    missing_level: float | None,
    zero_sample_rate: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """On a worker: one partition's rows of the window as the model's design matrix (all float64, so
    every part has the same columns and types), with the target beside it, the zero sample's weight
    and, for a level-scaled fit (``missing_level`` given: what a missing level counts as), each row's
    log level. The zero sample is the single-machine fit's (models.sampling): a row is kept or not by
    its own keys and the seed, so the workers together keep exactly the rows one machine would."""
    observed = read(path, start, end).filter(pl.col(TARGET).is_not_null())
    rows = zero_sampled(observed, zero_sample_rate, seed)
    table = design_matrix(rows, features, categories).astype(np.float64)
    table[LABEL] = rows[TARGET].cast(pl.Float64).to_numpy()
    table[OFFSET] = 0.0 if missing_level is None else level_offset(rows, missing_level)
    table[WEIGHT] = rows[WEIGHT].cast(pl.Float64).to_numpy()
    return table


def estimator_params(params: ModelParameters, kept_share: float = 1.0) -> dict:
    """The parameters as LightGBM's scikit-learn estimator takes them: the same values as the
    single-machine fit's (with ``kept_share`` of the window's rows in the zero sample, its shrunk
    minimum of rows per leaf), but the thread count, which lightgbm.dask sets to each worker's own."""
    lightgbm = params.lightgbm()
    if kept_share < 1:
        lightgbm["min_data_in_leaf"] = leaf_minimum(params, kept_share)
    lightgbm.pop("num_threads", None)
    named = {SKLEARN_NAMES.get(name, name): value for name, value in lightgbm.items()}
    return {**named, "n_estimators": params.num_boost_round}
