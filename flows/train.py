"""The train and backtest stages: rolling-origin backtest, the model, MLflow and the registry.

A model already trained on the same inputs (data, parameters, code: flows.pending's
``train_inputs``) is not trained again: `train` says which version that is and stops.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from prefect import flow

from flows.common import (
    dask_client,
    done,
    exclusive,
    failed,
    logger,
    markdown_artifact,
    run_name,
    task_mapper,
    warehouse,
)
from jointcast.config import Settings
from jointcast.faults import reach


@flow(name="train", flow_run_name=run_name("train"), persist_result=False)
@exclusive("train")
def train_flow(settings: Settings, register_model: bool = True):
    """Backtest, fit on all data, log to MLflow; with ``register_model``, version and maybe promote."""
    from flows.pending import train_inputs, trained_version
    from models import tracking
    from models.training import InsufficientHistory
    from warehouse.model_store import data_end, read_model_inputs, read_truth

    log, forecast = logger(), settings.forecast
    with warehouse(settings) as con:
        inputs_digest = train_inputs(con, settings)
        known = trained_version(settings, inputs_digest) if register_model else None
        if known is not None:
            done(
                "train",
                f"version {known.version} was trained on these inputs ({known.role}): nothing to train",
            )
            return {"version": known.version, "trained": False}
        end, digest = data_end(con)
        inputs = read_model_inputs(con, since=_first_hour_read(settings, end))
    if register_model:
        _settle_interrupted(settings)
    truth = read_truth(settings.root)
    purpose = "train" if register_model else "backtest"
    tracking.use_store(settings.tracking_uri, settings.mlflow.experiment, settings.artifact_root)
    log.info("%s on %d model-input rows of %d series up to %s (%d folds)", purpose, inputs.height,
             inputs.select("agency_id", "area_id").n_unique(), end, forecast.backtest_folds)  # fmt: skip
    tags = _tags(settings, purpose, end, inputs_digest)
    with _fitting(settings) as fit:
        with tracking.training_run(_run_name(purpose, settings, end), tags) as run_id:
            try:
                result = _fit(settings, inputs, end, digest, truth, fit)
            except InsufficientHistory as exc:
                tracking.log_params(_flat(settings))
                tracking.describe_run(run_id, f"failed: {exc}")
                return failed(purpose, [f"{purpose}: {exc}"])
            # as sized or searched: what the model was fitted with
            tracking.log_params(_flat(settings, result.params))
            logged = _log(settings, result, register_model)
        summary = _summary(result.metrics)
        done(purpose, f"backtest {_said(summary)}")
        if not register_model:
            tracking.describe_run(run_id, f"Backtest only: {_said(summary)}.")
            return {"run_id": run_id, **summary}
        registered = _register(settings, result, logged, inputs, end, truth, inputs_digest, fit)
    return {"run_id": run_id, **registered, **summary}


@flow(name="backtest", flow_run_name=run_name("backtest"), persist_result=False)
@exclusive("backtest")
def backtest_flow(settings: Settings):
    """Evaluate on rolling origins and log to MLflow without registering a model."""
    return train_flow(settings=settings, register_model=False)


def _flat(settings: Settings, params=None) -> dict:
    from flows.pending import configured_parameters
    from models.parameters import flat_params

    forecast = settings.forecast
    return flat_params(
        params or configured_parameters(settings), forecast.horizon_hours, forecast.backtest_folds
    )


def _first_hour_read(settings: Settings, end):
    """The oldest model-input hour the backtest and the fit read (models.training.first_hour_read)."""
    from models.training import first_hour_read

    forecast = settings.forecast
    return first_hour_read(end, forecast.horizon_hours, forecast.backtest_folds, forecast.train_days)


def _fit(settings: Settings, inputs, end, digest: str, truth, fit):
    from flows.pending import configured_parameters
    from models.training import train_and_backtest

    forecast = settings.forecast
    return train_and_backtest(
        inputs, end, digest, configured_parameters(settings), forecast.horizon_hours, forecast.backtest_folds,
        forecast.quantiles, truth, progress=logger().info, mapper=task_mapper,
        shifts=shift_schedules(settings), fit=fit,
    )  # fmt: skip


@contextmanager
def _fitting(settings: Settings) -> Iterator:
    """Where the models are fitted: here (None), or with task_runner = "dask" on the Dask cluster
    (models.lightgbm_dask), from the model inputs written as Parquet for its workers to read."""
    if settings.orchestration.task_runner != "dask":
        yield None
        return
    from models.lightgbm_dask import DaskFit
    from models.lightgbm_model import LEVEL
    from warehouse.model_partitions import read_partition, training_window, write_model_partitions

    with dask_client(settings) as client:
        with warehouse(settings) as con:
            partitions = write_model_partitions(con, settings.parquet_root, len(client.ncores()))
        logger().info("train: %s model-input rows in %d Parquet partitions under %s (%s)",
                      f"{partitions.rows:,}", len(partitions.paths), settings.parquet_root,
                      "written" if partitions.written else "reused: the same inputs")  # fmt: skip
        window = partial(training_window, partitions.paths, median_of=LEVEL)
        yield DaskFit(client, partitions.paths, read_partition, window)


def shift_schedules(settings: Settings) -> dict:
    """Each agency's shifts, as staffing counts them: the backtest's "shift" grain."""
    from models.backtest import ShiftSchedule

    return {a.id: ShiftSchedule(a.timezone, tuple(a.staffing.shifts)) for a in settings.agencies}


def _run_name(purpose: str, settings: Settings, end) -> str:
    """`train <agencies> <data as of>`: runs tell apart in the MLflow UI's list."""
    ids = [a.id for a in settings.agencies]
    agencies = "+".join(ids) if len(ids) <= 3 else f"{len(ids)} agencies"
    return f"{purpose} {agencies} {end:%Y-%m-%d %H:%M}"


def _tags(settings: Settings, purpose: str, end, inputs_digest: str) -> dict[str, str]:
    from models.registry import INPUTS_DIGEST

    return {
        "git_commit": _git_commit(),
        "config_sha256": settings.source_sha256 or "",
        "data_as_of": end.isoformat(),
        "purpose": purpose,
        "agencies": ",".join(a.id for a in settings.agencies),
        INPUTS_DIGEST: inputs_digest,
    }


def _log(settings: Settings, result, register: bool):
    from models import tracking
    from models.training import charts, tables

    tracking.set_run_tags({"folds_digest": result.folds_digest})
    return tracking.log_results(
        metrics=result.metrics,
        figures=charts(result, settings.forecast.quantiles),
        tables=tables(result),
        training_data=result.training_data,
        dataset_name="model_inputs",
        dataset_source=f"{settings.warehouse_path}#features.model_inputs",
        model=result.model if register else None,
        example=result.example if register else None,
        registered_model=settings.mlflow.registered_model if register else None,
    )


def _summary(metrics: dict[str, float]) -> dict[str, float]:
    keys = ("wape", "seasonal_naive_wape", "coverage_80", "oracle_wape")
    return {k: metrics[k] for k in keys if k in metrics}


def _said(summary: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in summary.items())


def _register(settings: Settings, result, logged, inputs, end, truth, inputs_digest: str, fit=None) -> dict:
    """Alias the new version challenger, champion too if it passes the gate (models.training.decide);
    when no model beats the best baseline, register that baseline and make it the champion."""
    from models import registry, tracking
    from models.registry import INPUTS_DIGEST
    from models.training import baseline_results, decide, decision_table

    reach("train.after_register")
    name, forecast = settings.mlflow.registered_model, settings.forecast
    champion = registry.current_champion(name)
    champion_wape, champion_scores = None, None
    if champion is not None:
        champion_wape, champion_scores = _champion_scores(champion, result, inputs, end, truth, settings, fit)
    decision = decide(result.metrics, champion_wape)
    baselines = baseline_results(result, forecast.quantiles, forecast.horizon_hours)
    table = decision_table(
        decision, result.metrics, {n: metrics for n, (_, metrics) in baselines.items()},
        None if champion is None else (f"version {champion.version}", champion_scores),
    )  # fmt: skip
    tracking.log_table(logged.run_id, "decision", table)
    role = "champion" if decision.promote else "challenger"
    tags = {"folds_digest": result.folds_digest, INPUTS_DIGEST: inputs_digest}
    registry.record_decision(name, logged.version, decision.promote, {
        registry.DECISION: role, "reason": decision.reason,
        "challenger_wape": f"{result.metrics['wape']:.6f}",
        "champion_wape": "" if champion_wape is None else f"{champion_wape:.6f}", **tags,
    })  # fmt: skip
    against = "" if champion is None else f" (champion was version {champion.version})"
    tracking.describe_run(logged.run_id, f"Registered {name} version {logged.version} as {role}{against}: "
                          f"{decision.reason}. Backtest: {_said(_summary(result.metrics))}.")  # fmt: skip
    logger().info("train: %s version %s is the %s (%s)", name, logged.version, role, decision.reason)
    for agency, baseline in sorted(decision.lost_on.items()):
        logger().warning("train: for agency %s the challenger does not beat %s at the shift grain",
                         agency, baseline)  # fmt: skip
    champion_version = logged.version if decision.promote else None
    if decision.fallback is not None:
        fallback = _register_baseline(settings, result, decision, baselines, table, end, tags)
        champion_version = fallback.version
        said = _model_markdown(settings, fallback, "champion (baseline)", decision.reason)
        markdown_artifact("model", said, f"{name} v{fallback.version}")
    else:
        markdown_artifact(
            "model", _model_markdown(settings, logged, role, decision.reason), f"{name} v{logged.version}"
        )
    return {"version": logged.version, "promoted": decision.promote, "trained": True,
            "champion_version": champion_version, "baseline": decision.fallback}  # fmt: skip


def _settle_interrupted(settings: Settings) -> None:
    """Versions an earlier, killed training registered without a decision: tagged ``interrupted``."""
    from models import registry

    name = settings.mlflow.registered_model
    for version in registry.mark_interrupted(name):
        logger().warning("train: %s version %s was registered by a training that stopped before its "
                         "decision: tagged interrupted (no alias)", name, version)  # fmt: skip


def _champion_scores(champion, result, inputs, end, truth, settings: Settings, fit=None):
    """The champion's WAPE on the challenger's folds, and its metrics when they are the same folds."""
    from models.baseline_model import BASELINE_COLUMNS

    baseline = champion.params.get("baseline")
    if baseline is not None:  # a baseline champion: its score is the baseline's on these very rows
        name = next(n for n, column in BASELINE_COLUMNS.items() if column == baseline)
        wape = result.metrics.get(f"{name}_wape")  # None: not known on every row, so not comparable
        return wape, {"wape": wape}
    if champion.folds_digest == result.folds_digest:
        return champion.wape, {"wape": champion.wape, **champion.metrics}
    wape = _rescore(champion, inputs, end, truth, settings, fit)
    return wape, {"wape": wape}


def _register_baseline(settings: Settings, result, decision, baselines, table, end, tags: dict):
    """The best baseline as a registered model version (its own run: its metrics, dispersion and the
    decision table), aliased champion and tagged ``baseline``."""
    from models import registry, tracking
    from models.baseline_model import BASELINE_COLUMNS, BaselineDemandModel
    from models.training import run_tables

    name, column = settings.mlflow.registered_model, decision.fallback
    model = BaselineDemandModel(column)
    backtest, metrics = baselines[next(n for n, c in BASELINE_COLUMNS.items() if c == column)]
    run_tags = {
        **_tags(settings, "baseline", end, tags[registry.INPUTS_DIGEST]),
        "folds_digest": tags["folds_digest"],
    }
    with tracking.training_run(f"baseline {column} {end:%Y-%m-%d %H:%M}", run_tags, {"baseline": column}):
        logged = tracking.log_results(
            metrics=metrics, figures={}, tables={**run_tables(metrics, backtest, model), "decision": table},
            training_data=result.training_data, dataset_name="model_inputs",
            dataset_source=f"{settings.warehouse_path}#features.model_inputs",
            model=model, example=result.example, registered_model=name,
        )  # fmt: skip
    registry.record_decision(name, logged.version, True, {
        registry.DECISION: "champion", "baseline": column, "reason": decision.reason, **tags,
    }, challenger=False)  # fmt: skip
    tracking.describe_run(logged.run_id, f"Registered {name} version {logged.version} as champion: the "
                          f"baseline {model.description}, because {decision.reason}.")  # fmt: skip
    logger().info("train: %s version %s is the champion: the baseline %s", name, logged.version, column)
    return logged


def _rescore(champion, inputs, end, truth, settings: Settings, fit=None) -> float:
    """The champion's parameters, backtested on today's folds, for a like-for-like comparison."""
    from models.parameters import ModelParameters
    from models.training import backtest_only

    forecast = settings.forecast
    params = ModelParameters.from_logged(champion.params)
    _, metrics, _ = backtest_only(
        inputs, end, params, forecast.horizon_hours, forecast.backtest_folds,
        forecast.quantiles, truth, shifts=shift_schedules(settings), fit=fit,
    )  # fmt: skip
    return metrics["wape"]


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _model_markdown(settings: Settings, logged, role: str, reason: str) -> str:
    """The training's outcome in the Prefect UI, with where to find it in MLflow's."""
    name = settings.mlflow.registered_model
    return "\n".join([
        f"# {name} version {logged.version}: {role}", "", reason + ".", "",
        f"- MLflow run `{logged.run_id}` (experiment `{settings.mlflow.experiment}`)",
        f"- In the MLflow UI (`mlflow ui --backend-store-uri {settings.tracking_uri}`): "
        f"`#/models/{name}/versions/{logged.version}`",
    ])  # fmt: skip
