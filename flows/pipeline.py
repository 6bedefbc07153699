"""The whole pipeline as one flow: each stage a subflow, in order."""

from __future__ import annotations

from prefect import flow

from flows.ingest import ingest_flow


@flow(name="pipeline", persist_result=False)
def pipeline_flow(config: str | None = None) -> dict:
    """Run every stage in order; the first failing stage fails the run."""
    return {"ingest": ingest_flow(config=config)}
