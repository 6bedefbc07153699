"""A baseline demand model in MLflow's python-function form: ``mlflow models serve`` reads the
same plain rows (the baseline column, then the other as a fallback) as models.baseline_model."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np


class BaselinePythonModel(mlflow.pyfunc.PythonModel):
    """Serves one baseline column: each row's mean is its ``column`` (else the next column, else 0)."""

    def __init__(self, column: str) -> None:
        self.column = column

    def predict(self, context, model_input, params=None):
        table = model_input.astype(float)
        values = table[self.column]
        for other in table.columns:
            values = values.fillna(table[other])
        return np.clip(values.fillna(0.0).to_numpy(), 0.0, None)

    def demand_model(self):
        """The models.demand_model.DemandModel this serves."""
        from models.baseline_model import BaselineDemandModel

        return BaselineDemandModel(self.column)
