"""The whole pipeline as one flow: each stage a subflow, in order."""

from __future__ import annotations

from prefect import flow

from flows.common import run_stages
from flows.features import features_flow
from flows.forecast import forecast_flow
from flows.ingest import ingest_flow
from flows.publish import publish_flow
from flows.train import train_flow
from flows.validate import validate_flow

STAGES = (ingest_flow, validate_flow, features_flow, train_flow, forecast_flow, publish_flow)


@flow(name="pipeline", persist_result=False)
def pipeline_flow(config: str | None = None):
    """Run every stage in order; the first failing stage fails the run."""
    return run_stages(STAGES, config)
