"""Scheduled deployments: what `jointcast serve` runs, on the schedules in the config.

| deployment | flow | default schedule |
|---|---|---|
| ingest-validate | ingest, validate | hourly |
| features-forecast-publish | features, forecast, publish | daily at 05:30 |
| train | train | weekly, Sunday 03:00 |

Each deployment runs one flow run at a time (a Prefect concurrency limit of 1); runs of
different deployments take turns through the warehouse's run lock.
"""

from __future__ import annotations

from pathlib import Path

from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from jointcast.config import Settings

DEPLOYMENTS = {  # name -> (flow's module path, schedule key, description)
    "ingest-validate": ("flows.pipeline.refresh_flow", "ingest", "new feed files in, validated into core"),
    "features-forecast-publish": (
        "flows.pipeline.plan_flow", "publish", "features, the champion's forecast, staffing and reports",
    ),
    "train": ("flows.train.train_flow", "train", "backtest, train and maybe promote a new champion"),
}  # fmt: skip


def deployments(settings: Settings, config: Path) -> list[RunnerDeployment]:
    """The scheduled deployments of one workspace (its config path is their parameter)."""
    from flows.pipeline import plan_flow, refresh_flow
    from flows.train import train_flow

    flows = {"flows.pipeline.refresh_flow": refresh_flow, "flows.pipeline.plan_flow": plan_flow,
             "flows.train.train_flow": train_flow}  # fmt: skip
    schedules = settings.orchestration.schedules
    return [
        flows[entrypoint].to_deployment(
            name=name,
            schedule=Cron(getattr(schedules, key), timezone=schedules.timezone),
            parameters={"config": str(config.resolve())},
            concurrency_limit=1,
            description=description,
            tags=["jointcast", settings.root.name],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for name, (entrypoint, key, description) in DEPLOYMENTS.items()
    ]
