"""The demand model: one global LightGBM over every series and horizon band.

A Poisson objective fits the mean count of each agency x area x hour; the horizon band
(``min_lag``) is a feature, so one model serves every horizon with the freshest history
that horizon allows. Agency and series are categorical features. Pure: frames in,
booster and arrays out.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl

from features.model_inputs import FEATURES, TARGET
from models.parameters import ModelParameters

CATEGORICAL = ("agency_id", "series_id")
NUMERIC = tuple(f for f in FEATURES if f not in ("agency_id", "area_id"))
MODEL_FEATURES = (*CATEGORICAL, *NUMERIC)


def category_levels(frame: pl.DataFrame) -> dict[str, list[str]]:
    """The levels of each categorical feature in ``frame``, sorted: a model's fixed encoding."""
    keyed = frame.select(agency_id="agency_id", series_id=pl.col("agency_id") + ":" + pl.col("area_id"))
    return {column: sorted(keyed[column].unique().drop_nulls().to_list()) for column in CATEGORICAL}


def design_matrix(frame: pl.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    """The model's input table, all numbers: each categorical as its index in the model's levels.

    Integer codes, not pandas categories, so the table survives a JSON round trip (MLflow's
    serving input) unchanged; a level the model never saw is -1, which LightGBM reads as missing.
    """
    table = frame.with_columns(series_id=pl.col("agency_id") + ":" + pl.col("area_id")).select(MODEL_FEATURES)
    codes = [
        pl.col(column).replace_strict(levels, list(range(len(levels))), default=-1, return_dtype=pl.Int32)
        for column, levels in categories.items()
    ]
    return table.with_columns(*codes, pl.col(pl.Boolean).cast(pl.Int8)).to_pandas()


def train_forecaster(
    frame: pl.DataFrame, params: ModelParameters
) -> tuple[lgb.Booster, dict[str, list[str]]]:
    """Fit the mean model on rows with an observed target; returns it and its category levels."""
    rows = frame.filter(pl.col(TARGET).is_not_null())
    categories = category_levels(rows)
    table = design_matrix(rows, categories)
    dataset = lgb.Dataset(table, label=rows[TARGET].to_numpy(), categorical_feature=list(CATEGORICAL))
    booster = lgb.train(params.lightgbm(), dataset, num_boost_round=params.num_boost_round)
    return booster, categories


def predict_mean(booster: lgb.Booster, frame: pl.DataFrame, categories: dict[str, list[str]]) -> np.ndarray:
    return np.clip(booster.predict(design_matrix(frame, categories)), 0.0, None)


def feature_importance(booster: lgb.Booster) -> pl.DataFrame:
    return pl.DataFrame({
        "feature": booster.feature_name(),
        "gain": booster.feature_importance("gain"),
        "splits": booster.feature_importance("split"),
    }).sort("gain", descending=True)  # fmt: skip
