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
    from models import tracking
    from models.forecasting import unmatched_features
    from planning.provenance import Provenance, forecast_digest
    from warehouse.model_store import data_end, forecast_agencies
    from warehouse.publish import latest_publication

    tracking.use_store(settings.tracking_uri, settings.mlflow.experiment, settings.artifact_root)
    try:
        model, champion = tracking.load_champion(settings.mlflow.registered_model)
        with warehouse(settings) as con:
            _check_features(con, settings)
            identity = forecast_digest(settings, champion.version, data_end(con)[1])
            latest = latest_publication(con)
            same = latest is not None and latest["forecast_digest"] == identity
            agencies, columns = ([], []) if same else forecast_agencies(con)
    except LookupError as exc:
        return failed("forecast", [f"forecast: {exc}"])
    if same:
        logger().info("forecast: version %s on the same data: the forecast of publication %d stands",
                      champion.version, latest["forecast_of"])  # fmt: skip
        return publish_current(settings, trigger="forecast")
    if unmatched := unmatched_features(model, columns, f"the champion (version {champion.version})"):
        return failed("forecast", [f"forecast: {unmatched}"])
    alphas = tracking.load_dispersion(champion.run_id)
    hourly, ends = _forecast_agencies(settings, model, agencies, alphas, champion.version)
    provenance = Provenance(settings.mlflow.registered_model, champion.version, champion.run_id, identity,
                            ends, alphas)  # fmt: skip
    return publish_model_forecast(settings, hourly, provenance, trigger="forecast")


def _check_features(con, settings: Settings) -> None:
    """The features were built from these settings, data and code (a changed horizon, say, needs
    new features): else one line saying which stage to run."""
    from flows.pending import features_inputs
    from warehouse.stages import recorded_inputs

    if recorded_inputs(con, "features") != features_inputs(con, settings):
        raise LookupError(
            "the features were built from other inputs (the config, the data or the code changed "
            "since): run `jointcast features` first"
        )


def _forecast_agencies(settings: Settings, model, agencies: list[str], alphas, version: str):
    """Each agency's hourly forecast, one agency's inputs read at a time (each a task of the flow's
    runner: threads or a Dask cluster), so memory holds the largest agency's hours ahead, never every
    agency's; rows and data ends."""
    from features.history import horizon_bands
    from models.forecasting import ModelForecast, forecast_demand
    from warehouse.model_store import read_forecast_inputs

    horizon = settings.forecast.horizon_hours
    logger().info("forecast: %d hours ahead with %s version %s", horizon, settings.mlflow.registered_model,
                  version)  # fmt: skip
    parts = []
    with warehouse(settings) as con:
        for agency in agencies:
            inputs, data_as_of = read_forecast_inputs(con, agency)
            per_agency = partial(
                forecast_demand, model, data_as_of=data_as_of, horizon_hours=horizon,
                bands=horizon_bands(horizon), hourly_alphas=alphas.get("hourly", {}),
                quantiles=tuple(settings.forecast.quantiles),
            )  # fmt: skip
            parts += task_mapper(per_agency, [inputs])
    forecast = ModelForecast(
        pl.concat([part.hourly for part in parts]),
        {k: v for part in parts for k, v in part.data_as_of.items()},
    )
    return forecast.hourly, forecast.data_as_of
