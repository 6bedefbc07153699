"""The whole pipeline as one flow: each stage a subflow, in order."""

from __future__ import annotations

from prefect import flow

from flows.common import exclusive, run_name, run_stages
from flows.features import features_flow
from flows.forecast import forecast_flow
from flows.ingest import ingest_flow
from flows.publish import publish_flow
from flows.train import train_flow
from flows.validate import validate_flow
from jointcast.config import Settings

STAGES = (ingest_flow, validate_flow, features_flow, train_flow, forecast_flow, publish_flow)


@flow(name="pipeline", flow_run_name=run_name("pipeline"), persist_result=False)
@exclusive("pipeline")
def pipeline_flow(settings: Settings):
    """Run every stage in order; the first failing stage fails the run."""
    return run_stages(STAGES, settings)


@flow(name="ingest-validate", flow_run_name=run_name("ingest-validate"), persist_result=False)
@exclusive("ingest-validate")
def refresh_flow(settings: Settings):
    """The hourly part: new feed files in, validated into core."""
    return run_stages((ingest_flow, validate_flow), settings)


@flow(
    name="features-forecast-publish",
    flow_run_name=run_name("features-forecast-publish"),
    persist_result=False,
)
@exclusive("features-forecast-publish")
def plan_flow(settings: Settings):
    """The daily part: features from what core holds, the champion's forecast, staffing, reports."""
    return run_stages((features_flow, forecast_flow, publish_flow), settings)
