"""The demand model's seam: what training, the backtest, the forecast, its drivers and MLflow ask of a model.

A model reads model-input rows (features.model_inputs) as they are and encodes them
itself: callers pass frames and get frames and arrays back, and never touch the library
behind it. The trained implementation is models.lightgbm_model; models.baseline_model is a
baseline in the same shape (what is published when no trained model beats it). This module
imports them only when a model is made, so a check can import the interface without LightGBM.

A fitted model knows the ordered ``features`` it was fitted on and the ``categories``
(levels) behind its categorical codes. Both are logged with it (models.tracking), so a
forecast can tell when the warehouse's model inputs are no longer what the champion was
trained on, instead of failing inside the library.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
import polars as pl

from models.parameters import ModelParameters


class DemandModel(Protocol):
    flavor: ClassVar[str]  # the MLflow flavor (``mlflow.<flavor>``) that logs and loads ``native``

    @property
    def features(self) -> tuple[str, ...]:
        """The names of the model's features, in the order it reads them."""
        ...

    @property
    def categories(self) -> dict[str, list[str]]:
        """Per categorical feature, its levels: level i is code i."""
        ...

    @property
    def native(self) -> Any:
        """What models.tracking logs in the model's MLflow ``flavor``: the library's fitted object, or
        for "pyfunc" an ``mlflow.pyfunc.PythonModel`` with a ``demand_model()`` method."""
        ...

    @property
    def requirements(self) -> list[str]:
        """The pip requirements of the logged model."""
        ...

    def fit(self, rows: pl.DataFrame, validation: pl.DataFrame | None = None) -> DemandModel:
        """A copy fitted on the ``rows`` with an observed target; this model is left as it was. With
        ``validation`` rows, a model that can stops early on them and keeps its chosen size in
        ``params``."""
        ...

    def predict_mean(self, rows: pl.DataFrame) -> np.ndarray:
        """The expected count of each row (never negative)."""
        ...

    def blended(self, weights: dict[str, float]) -> DemandModel:
        """This model blended with the hour-of-week mean by per-agency weights (models.blend)."""
        ...

    def explain(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Per row, each feature's additive contribution to the log of its mean (columns: ``features``)."""
        ...

    def feature_importance(self) -> pl.DataFrame:
        """One row per feature: ``feature``, ``gain``, ``splits``, the largest gain first."""
        ...

    def table(self, rows: pl.DataFrame) -> pd.DataFrame:
        """The plain table ``native`` reads: what the logged model serves, and its input example."""
        ...

    def features_from(self, columns: Iterable[str]) -> tuple[str, ...]:
        """The features a model of this kind, fitted now, takes from inputs with these ``columns``."""
        ...


def untrained(params: ModelParameters) -> DemandModel:
    """The demand model with these parameters, not yet fitted."""
    from models.lightgbm_model import LightGBMDemandModel

    return LightGBMDemandModel(params)


def restore(
    flavor: str, native: Any, categories: dict[str, list[str]], features: list[str] | None
) -> DemandModel:
    """A logged model back as a ``DemandModel``.

    ``features`` is None for a model logged before its feature list was: the library
    object's own feature names stand in for it.
    """
    from models.lightgbm_model import LightGBMDemandModel

    if flavor == "pyfunc":  # a python-function model knows the demand model it serves
        return native.unwrap_python_model().demand_model()
    if flavor != "lightgbm":
        raise LookupError(
            f"the logged model is of MLflow flavor '{flavor}', not a demand model this code reads"
        )
    return LightGBMDemandModel.restore(native, categories, features)  # a booster, as logged before blends
