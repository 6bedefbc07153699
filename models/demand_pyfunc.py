"""The trained demand model in MLflow's python-function form: ``mlflow models serve`` reads the
plain table (models.lightgbm_model.design_matrix: integer-coded categoricals) and answers with
exactly the means ``forecast`` publishes, level scaling and blend included."""

from __future__ import annotations

import mlflow.pyfunc


class DemandPythonModel(mlflow.pyfunc.PythonModel):
    """Serves a fitted models.lightgbm_model.LightGBMDemandModel (``model``)."""

    def __init__(self, model) -> None:
        self.model = model

    def predict(self, context, model_input, params=None):
        return self.model.predict_table(model_input[list(self.model.features)])

    def demand_model(self):
        """The models.demand_model.DemandModel this serves."""
        return self.model
