"""A baseline as a demand model: what is published when no trained model beats it.

The backtest scores two baselines on the model's own rows: seasonal naive (``lag_week_1``,
the same hour last week) and the hour-of-week mean of the last 4 weeks (``how_mean_4``).
Both are model-input columns, so a baseline forecasts from exactly the rows the trained
model reads, with the band each lead time allows. Wrapped as a models.demand_model
``DemandModel`` and logged to MLflow as a python-function model, a baseline champion goes
through the same forecast, dispersion and publication code as a trained one.

Pure: no MLflow import here; the python-function wrapper only holds the column name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import polars as pl

BASELINE_COLUMNS = {"seasonal_naive": "lag_week_1", "how_mean": "how_mean_4"}
"""Baseline name (as in models.metrics: ``<name>_wape``) -> the model-input column it forecasts with."""

DESCRIPTIONS = {
    "lag_week_1": "the count of the same hour one week earlier",
    "how_mean_4": "the hour-of-week mean of the last 4 weeks",
}


@dataclass(frozen=True)
class BaselineDemandModel:
    """models.demand_model.DemandModel whose mean is one model-input column (``column``).

    An hour whose column is unknown (too little history behind it) takes the other baseline
    column, then 0; the backtest scores baselines only where they are known."""

    column: str = "how_mean_4"
    flavor: ClassVar[str] = "pyfunc"

    def __post_init__(self) -> None:
        if self.column not in DESCRIPTIONS:
            raise ValueError(f"baseline column must be one of {', '.join(DESCRIPTIONS)}, got '{self.column}'")

    @property
    def features(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def categories(self) -> dict[str, list[str]]:
        return {}

    @property
    def native(self) -> Any:
        from models.baseline_pyfunc import BaselinePythonModel

        return BaselinePythonModel(self.column)

    @property
    def requirements(self) -> list[str]:
        return ["pandas", "numpy"]

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.column]

    def fit(self, rows: pl.DataFrame, validation: pl.DataFrame | None = None) -> BaselineDemandModel:
        """Nothing to fit: the baseline is its column."""
        return self

    def blended(self, weights: dict[str, float]) -> BaselineDemandModel:
        """A baseline is not blended: it is one column."""
        return self

    def predict_mean(self, rows: pl.DataFrame) -> np.ndarray:
        others = [c for c in DESCRIPTIONS if c != self.column and c in rows.columns]
        value = pl.coalesce(pl.col(self.column), *others, pl.lit(0.0)).cast(pl.Float64).clip(0.0)
        return rows.select(value.alias("mean"))["mean"].to_numpy()

    def explain(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The whole forecast is its column: no feature moves it away from it (every contribution 0)."""
        return pl.DataFrame({self.column: np.zeros(rows.height)})

    def feature_importance(self) -> pl.DataFrame:
        return pl.DataFrame({"feature": [self.column], "gain": [1.0], "splits": [0]})

    def table(self, rows: pl.DataFrame) -> pd.DataFrame:
        others = [c for c in DESCRIPTIONS if c != self.column and c in rows.columns]
        return rows.select(self.column, *others).cast(pl.Float64).to_pandas()

    def features_from(self, columns: Iterable[str]) -> tuple[str, ...]:
        return (self.column,) if self.column in set(columns) else ()
