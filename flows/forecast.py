"""The forecast stage: the champion model over the hours ahead, published with its staffing."""

from __future__ import annotations

from functools import partial

import polars as pl
from prefect import flow

from flows.common import exclusive, failed, logger, run_name, task_mapper, warehouse
from flows.publish import publish_current, publish_model_forecast
from jointcast.config import Settings


@flow(name="forecast", flow_run_name=run_name("forecast"), persist_result=False)
@exclusive("forecast")
def forecast_flow(settings: Settings) -> dict:
    """Forecast every agency x area from its latest data with the champion, then publish.

    The same champion on the same data gives the same forecast, so it is not recomputed:
    the stage then only republishes if staffing settings, overrides or staleness changed.
    """
    from features.history import horizon_bands
    from models import tracking
    from models.forecasting import ModelForecast, forecast_demand, unmatched_features
    from planning.provenance import Provenance, forecast_digest
    from warehouse.model_store import data_end, read_forecast_inputs
    from warehouse.publish import latest_publication

    log = logger()
    tracking.use_store(settings.tracking_uri, settings.mlflow.experiment, settings.artifact_root)
    name, horizon = settings.mlflow.registered_model, settings.forecast.horizon_hours
    try:
        model, champion = tracking.load_champion(name)
    except LookupError as exc:
        return failed("forecast", [f"forecast: {exc}"])
    with warehouse(settings) as con:
        try:
            _, data_digest = data_end(con)
        except LookupError as exc:
            return failed("forecast", [f"forecast: {exc}"])
        latest = latest_publication(con)
        identity = forecast_digest(settings, champion.version, data_digest)
        unchanged = latest is not None and latest["forecast_digest"] == identity
        if not unchanged:
            inputs, data_as_of = read_forecast_inputs(con)
    if unchanged:
        log.info("forecast: %s version %s on the same data: the forecast of publication %d stands",
                 name, champion.version, latest["forecast_of"])  # fmt: skip
        return publish_current(settings, trigger="forecast")
    unmatched = unmatched_features(model, inputs.columns, f"the champion (version {champion.version})")
    if unmatched is not None:
        return failed("forecast", [f"forecast: {unmatched}"])
    alphas = tracking.load_dispersion(champion.run_id)
    log.info("forecast: %d hours ahead with %s version %s", horizon, name, champion.version)
    per_agency = partial(
        forecast_demand,
        model,
        data_as_of=data_as_of,
        horizon_hours=horizon,
        bands=horizon_bands(horizon),
        hourly_alphas=alphas.get("hourly", {}),
    )
    agencies = sorted(inputs["agency_id"].unique())
    parts = task_mapper(per_agency, [inputs.filter(pl.col("agency_id") == agency) for agency in agencies])
    model = ModelForecast(
        pl.concat([part.hourly for part in parts]),
        {k: v for part in parts for k, v in part.data_as_of.items()},
    )
    provenance = Provenance(
        model_name=name,
        model_version=champion.version,
        mlflow_run_id=champion.run_id,
        forecast_digest=identity,
        data_as_of=model.data_as_of,
        dispersion=alphas,
    )
    return publish_model_forecast(settings, model.hourly, provenance, trigger="forecast")
