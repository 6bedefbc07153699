"""The demand model in LightGBM: one global booster over every series and horizon band.

A Poisson objective fits the mean count of each agency x area x hour; the horizon band
(``min_lag``) is a feature, so one model serves every horizon with the freshest history
that horizon allows. Agency and series are categorical features. The one module that
imports LightGBM: everything else goes through models.demand_model's ``DemandModel``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl

from features.history import LEVEL_FEATURES
from features.model_inputs import FEATURES, SERIES, TARGET
from models.blend import COLUMN
from models.parameters import ModelParameters
from models.sampling import WEIGHT, zero_sampled

CATEGORICAL = ("agency_id", "series_id")
MODEL_FEATURES = (*CATEGORICAL, *(f for f in FEATURES if f not in SERIES))
DERIVED = {"series_id": SERIES}  # a model feature made from model-input columns
LEVEL = LEVEL_FEATURES[0]
"""The series' recent level: with ``ModelParameters.level_scaling``, the offset of the Poisson fit."""


def level_offset(rows: pl.DataFrame | pd.DataFrame, missing: float | None = None) -> np.ndarray:
    """log of each row's level: the fit's starting score (LightGBM's ``init_score``); a missing level
    counts as ``missing``, by default the rows' median level (a fit on partitions passes the median of
    all of them)."""
    level = pl.Series(rows[LEVEL], dtype=pl.Float64).fill_nan(None)
    return np.log(level.fill_null((level.median() if missing is None else missing) or 1.0).to_numpy())


def category_levels(frame: pl.DataFrame) -> dict[str, list[str]]:
    """The levels of each categorical feature in ``frame``, sorted: a model's fixed encoding."""
    keyed = frame.select(agency_id="agency_id", series_id=pl.col("agency_id") + ":" + pl.col("area_id"))
    return {column: sorted(keyed[column].unique().drop_nulls().to_list()) for column in CATEGORICAL}


def coded(frame: pl.DataFrame, features: tuple[str, ...], categories: dict[str, list[str]]) -> pl.DataFrame:
    """``frame``'s ``features``, in that order, all numbers: each categorical as its index in the
    model's levels (-1, which LightGBM reads as missing, for a level the model never saw), each
    boolean as 0 / 1."""
    table = frame.with_columns(series_id=pl.col("agency_id") + ":" + pl.col("area_id")).select(features)
    codes = [
        pl.col(column).replace_strict(levels, list(range(len(levels))), default=-1, return_dtype=pl.Int32)
        for column, levels in categories.items()
        if column in features
    ]
    return table.with_columns(*codes, pl.col(pl.Boolean).cast(pl.Int8))


def design_matrix(
    frame: pl.DataFrame, features: tuple[str, ...], categories: dict[str, list[str]]
) -> pd.DataFrame:
    """The model's input table (``coded``) as pandas: what the logged model serves.

    Integer codes, not pandas categories, so the table survives a JSON round trip (MLflow's
    serving input) unchanged."""
    return coded(frame, features, categories).to_pandas()


@dataclass(frozen=True)
class TrainingMatrix:
    """What LightGBM fits on for one frame of observed rows: the float32 feature matrix (half the
    memory of the float64 table LightGBM would copy a mixed pandas frame into, and binned to the
    same values), label, weights of the zero sample (models.sampling), starting score of a
    level-scaled fit and LightGBM's parameters. Built per frame, so a distributed fit can build
    one per partition (with the ``categories`` of the whole panel)."""

    data: np.ndarray
    label: np.ndarray
    weight: np.ndarray | None
    init_score: np.ndarray | None
    features: tuple[str, ...]
    categories: dict[str, list[str]]
    params: dict

    @property
    def categorical(self) -> list[str]:
        return [c for c in CATEGORICAL if c in self.features]

    def dataset(self) -> lgb.Dataset:
        """The LightGBM Dataset; it drops its reference to the matrix once binned (``free_raw_data``)."""
        return lgb.Dataset(
            self.data,
            label=self.label,
            weight=self.weight,
            init_score=self.init_score,
            feature_name=list(self.features),
            categorical_feature=self.categorical,
            params=self.params,
            free_raw_data=True,
        )


def leaf_minimum(params: ModelParameters, kept_share: float) -> int:
    """The minimum of rows per leaf on a zero sample that kept ``kept_share`` of the rows: shrunk by that
    share, so a leaf rests on as many incidents as it would on every row."""
    return max(1, round(params.min_data_in_leaf * kept_share))


def training_matrix(
    observed: pl.DataFrame,
    features: tuple[str, ...],
    categories: dict[str, list[str]],
    params: ModelParameters,
) -> TrainingMatrix:
    """The ``observed`` rows (target known) as LightGBM fits them with ``params``: its zero sample
    (``params.zero_sample_rate``, seeded by ``params.seed`` and each row's keys) with weights, and
    a minimum of rows per leaf shrunk by the share of rows kept, so a leaf rests on as many
    incidents as it would on every row."""
    rows = zero_sampled(observed, params.zero_sample_rate, params.seed)
    lightgbm = params.lightgbm()
    if rows.height < observed.height:
        lightgbm["min_data_in_leaf"] = leaf_minimum(params, rows.height / max(observed.height, 1))
    sampled = params.zero_sample_rate < 1
    return TrainingMatrix(
        data=coded(rows, features, categories).cast(pl.Float32).to_numpy(),
        label=rows[TARGET].cast(pl.Float32).to_numpy(),
        weight=rows[WEIGHT].cast(pl.Float32).to_numpy() if sampled else None,
        init_score=level_offset(rows) if params.level_scaling else None,
        features=features,
        categories=categories,
        params=lightgbm,
    )


@dataclass(frozen=True)
class LightGBMDemandModel:
    """models.demand_model.DemandModel in LightGBM; ``booster`` is None until fitted.

    The mean is the booster's, times each row's level for a level-scaled model, blended with
    the hour-of-week mean by ``blend`` (agency -> weight on the model, models.blend; set from
    the backtest with ``blended``). Logged as an MLflow python-function model (models.demand_pyfunc)
    that serves exactly ``predict_mean`` on the plain table."""

    params: ModelParameters = ModelParameters()
    booster: lgb.Booster | None = None
    features: tuple[str, ...] = MODEL_FEATURES
    categories: dict[str, list[str]] = field(default_factory=dict)
    blend: dict[str, float] = field(default_factory=dict)
    flavor: ClassVar[str] = "pyfunc"

    @classmethod
    def restore(
        cls, booster: lgb.Booster, categories: dict[str, list[str]], features: list[str] | None = None
    ) -> LightGBMDemandModel:
        """A logged booster as a model; with no logged feature list, the booster's own feature names.

        Its ``params`` are the defaults: they matter only to ``fit``, and a logged model's own are
        its run's parameters."""
        return cls(booster=booster, features=tuple(features or booster.feature_name()), categories=categories)

    @property
    def fitted(self) -> lgb.Booster:
        if self.booster is None:
            raise ValueError("the demand model is not fitted yet")
        return self.booster

    @property
    def native(self) -> Any:
        from models.demand_pyfunc import DemandPythonModel

        return DemandPythonModel(replace(self, booster=self.fitted))

    def blended(self, weights: dict[str, float]) -> LightGBMDemandModel:
        """This model with per-agency blend weights (models.blend; 1 = the model alone); none when
        the model does not read the hour-of-week mean."""
        used = {a: w for a, w in weights.items() if w < 1.0}
        return replace(self, blend=used if COLUMN in self.features else {})

    @property
    def requirements(self) -> list[str]:
        return [f"lightgbm=={lgb.__version__}", "pandas", "numpy"]

    def fitted_features(self) -> tuple[str, ...]:
        """What a fit reads: ``features`` less the parameters' ``excluded_features`` (plus the level
        features when level-scaled)."""
        unknown = sorted(set(self.params.excluded_features) - set(self.features))
        if unknown:
            raise ValueError(f"excluded_features: not features of the model: {', '.join(unknown)}")
        if self.params.level_scaling and LEVEL in self.params.excluded_features:
            raise ValueError(f"excluded_features: {LEVEL} is what a level-scaled model is fitted relative to")
        wanted = (*self.features, *LEVEL_FEATURES) if self.params.level_scaling else self.features
        return tuple(dict.fromkeys(f for f in wanted if f not in self.params.excluded_features))

    def fit(self, rows: pl.DataFrame, validation: pl.DataFrame | None = None) -> LightGBMDemandModel:
        """Fitted on the observed ``rows``, on ``features`` less the parameters' ``excluded_features``.

        With ``validation`` rows and ``params.early_stopping_rounds``, trees stop being added once the
        Poisson loss on the observed ``validation`` rows has not improved for that many rounds; the
        fitted model's ``params.num_boost_round`` is then the best round count."""
        features = self.fitted_features()
        observed = rows.filter(pl.col(TARGET).is_not_null())
        matrix = training_matrix(observed, features, category_levels(observed), self.params)
        training = matrix.dataset()
        held = None if validation is None else validation.filter(pl.col(TARGET).is_not_null())
        if held is None or held.is_empty() or self.params.early_stopping_rounds <= 0:
            booster = lgb.train(matrix.params, training, num_boost_round=self.params.num_boost_round)
            return replace(self, booster=booster, categories=matrix.categories, features=features)
        valid = lgb.Dataset(
            coded(held, features, matrix.categories).cast(pl.Float32).to_numpy(),
            label=held[TARGET].cast(pl.Float32).to_numpy(),
            init_score=level_offset(held) if self.params.level_scaling else None,
            reference=training,
        )
        booster = lgb.train(
            matrix.params,
            training,
            num_boost_round=self.params.num_boost_round,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(self.params.early_stopping_rounds, verbose=False)],
        )
        rounds = booster.best_iteration or self.params.num_boost_round
        params = replace(self.params, num_boost_round=rounds)
        return replace(self, params=params, booster=booster, categories=matrix.categories, features=features)

    @property
    def level_scaled(self) -> bool:
        """Fitted relative to each series' level (the level is then one of its features)."""
        return LEVEL in self.features

    def predict_mean(self, rows: pl.DataFrame) -> np.ndarray:
        return self.predict_table(self.table(rows))

    def predict_table(self, table: pd.DataFrame) -> np.ndarray:
        """The mean of each row of the plain table: the booster's, times the row's level when fitted
        relative to it (its init_score), blended with the row's hour-of-week mean by its agency's weight."""
        mean = self.fitted.predict(table)
        if self.level_scaled:
            mean = mean * np.exp(level_offset(table))
        if self.blend:
            codes = self.categories.get("agency_id", [])
            by_code = np.array([self.blend.get(agency, 1.0) for agency in codes] + [1.0])
            weight = by_code[table["agency_id"].to_numpy().astype(np.int64)]  # code -1 (unknown): the last, 1
            other = table[COLUMN].to_numpy(dtype=np.float64)
            mean = weight * mean + (1.0 - weight) * np.where(np.isnan(other), mean, other)
        return np.clip(mean, 0.0, None)

    def explain(self, rows: pl.DataFrame) -> pl.DataFrame:
        """LightGBM's ``pred_contrib`` (exact TreeSHAP), without its last column, the baseline (for a
        level-scaled model, contributions to the log of the ratio to the level; a blend's share of
        the hour-of-week mean is not apportioned)."""
        raw = self.fitted.predict(self.table(rows), pred_contrib=True)[:, :-1]
        return pl.DataFrame(raw, schema=list(self.features), orient="row")

    def feature_importance(self) -> pl.DataFrame:
        return pl.DataFrame({
            "feature": self.fitted.feature_name(),
            "gain": self.fitted.feature_importance("gain"),
            "splits": self.fitted.feature_importance("split"),
        }).sort("gain", descending=True)  # fmt: skip

    def table(self, rows: pl.DataFrame) -> pd.DataFrame:
        return design_matrix(rows, self.features, self.categories)

    def features_from(self, columns: Iterable[str]) -> tuple[str, ...]:
        have = set(columns)
        return tuple(f for f in MODEL_FEATURES if set(DERIVED.get(f, (f,))) <= have)
