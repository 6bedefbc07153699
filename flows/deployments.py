"""Scheduled deployments: what `jointcast serve` runs, on the schedules in the config.

Each deployment runs the `scheduled` flow, which reads the config once at the start of
the run and then runs its part (a flow taking those settings):

| deployment | part | default schedule |
|---|---|---|
| ingest-validate | ingest, validate | hourly |
| features-forecast-publish | features, forecast, publish | daily at 05:30 |
| train | train | weekly, Sunday 03:00 |
| monitor | features, monitor | daily at 04:15 (after the night's ingest) |

Each deployment runs one flow run at a time (a Prefect concurrency limit of 1); runs of
different deployments take turns through the warehouse's run lock.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from jointcast.config import Settings

DEPLOYMENTS = {  # name -> (part, schedule key, description)
    "ingest-validate": ("refresh", "ingest", "new feed files in, validated into core"),
    "features-forecast-publish": (
        "plan",
        "publish",
        "features, the champion's forecast, staffing and reports",
    ),
    "train": ("train", "train", "backtest, train and maybe promote a new champion"),
    "monitor": ("monitor", "monitor", "published forecasts scored against actuals, drift alerts"),
}


def _parts() -> dict:
    from flows.monitor import monitor_flow
    from flows.pipeline import plan_flow, refresh_flow
    from flows.train import train_flow

    return {"refresh": refresh_flow, "plan": plan_flow, "train": train_flow, "monitor": monitor_flow}


@flow(name="scheduled", persist_result=False, flow_run_name="{part} (scheduled)")
def scheduled_flow(config: str, part: str):
    """A scheduled run: the config is read once, now, and the part runs on those settings.

    A served deployment therefore picks up an edited config at its next run, and every
    stage of that run sees the same settings.
    """
    from jointcast.config import load_settings

    return _parts()[part](settings=load_settings(config))


def deployments(settings: Settings, config: Path) -> list[RunnerDeployment]:
    """The scheduled deployments of one workspace (its config path is their parameter)."""
    schedules = settings.orchestration.schedules
    return [
        scheduled_flow.to_deployment(
            name=name,
            schedule=Cron(getattr(schedules, key), timezone=schedules.timezone),
            parameters={"config": str(config.resolve()), "part": part},
            concurrency_limit=1,
            description=description,
            tags=["jointcast", settings.root.name],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for name, (part, key, description) in DEPLOYMENTS.items()
    ]
