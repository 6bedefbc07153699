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


def design_matrix(
    frame: pl.DataFrame, features: tuple[str, ...], categories: dict[str, list[str]]
) -> pd.DataFrame:
    """The model's input table, all numbers, columns in ``features`` order: each categorical as its
    index in the model's levels.

    Integer codes, not pandas categories, so the table survives a JSON round trip (MLflow's
    serving input) unchanged; a level the model never saw is -1, which LightGBM reads as missing.
    """
    table = frame.with_columns(series_id=pl.col("agency_id") + ":" + pl.col("area_id")).select(features)
    codes = [
        pl.col(column).replace_strict(levels, list(range(len(levels))), default=-1, return_dtype=pl.Int32)
        for column, levels in categories.items()
    ]
    return table.with_columns(*codes, pl.col(pl.Boolean).cast(pl.Int8)).to_pandas()


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

    def fit(self, rows: pl.DataFrame) -> LightGBMDemandModel:
        """Fitted on the observed ``rows``, on ``features`` less the parameters' ``excluded_features``."""
        features = self.fitted_features()
        observed = rows.filter(pl.col(TARGET).is_not_null())
        categories = category_levels(observed)
        table = design_matrix(observed, features, categories)
        categorical = [c for c in CATEGORICAL if c in features]
        offset = level_offset(observed) if self.params.level_scaling else None
        dataset = lgb.Dataset(
            table, label=observed[TARGET].to_numpy(), categorical_feature=categorical, init_score=offset
        )
        booster = lgb.train(self.params.lightgbm(), dataset, num_boost_round=self.params.num_boost_round)
        return replace(self, booster=booster, categories=categories, features=features)

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
