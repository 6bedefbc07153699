"""The train and backtest stages: rolling-origin backtest, the model, MLflow and the registry."""

from __future__ import annotations

import subprocess
from pathlib import Path

from prefect import flow

from flows.common import exclusive, failed, logger, task_mapper, warehouse
from jointcast.config import Settings


@flow(name="train", persist_result=False)
@exclusive("train")
def train_flow(settings: Settings, register_model: bool = True):
    """Backtest, fit on all data, log to MLflow; with ``register_model``, version and maybe promote."""
    register = register_model
    from models import tracking
    from models.forecaster import ModelParameters
    from models.training import InsufficientHistory, charts, decide, flat_params, tables, train_and_backtest
    from warehouse.model_store import data_end, read_model_inputs, read_truth

    log = logger()
    forecast = settings.forecast
    params = ModelParameters(train_days=settings.forecast.train_days)
    with warehouse(settings) as con:
        inputs = read_model_inputs(con)
        end, digest = data_end(con)
    truth = read_truth(settings.root)
    log.info(
        "training on %d model-input rows of %d series up to %s (%d folds)",
        inputs.height, inputs.select("agency_id", "area_id").n_unique(), end, forecast.backtest_folds,
    )  # fmt: skip
    try:
        result = train_and_backtest(
            inputs, end, digest, params, forecast.horizon_hours, forecast.backtest_folds, forecast.quantiles,
            truth, progress=log.info, mapper=task_mapper,
        )  # fmt: skip
    except InsufficientHistory as exc:
        return failed("train", [f"train: {exc}"])
    tracking.use_store(settings.tracking_uri, settings.mlflow.experiment, settings.artifact_root)
    name = settings.mlflow.registered_model
    champion = tracking.current_champion(name) if register else None
    tags = {
        "git_commit": _git_commit(),
        "config_sha256": settings.source_sha256,
        "data_as_of": end.isoformat(),
        "folds_digest": result.folds_digest,
        "purpose": "train" if register else "backtest",
    }
    logged = tracking.log_run(
        run_name=f"{'train' if register else 'backtest'} {end:%Y-%m-%d %H:%M}",
        params=flat_params(params, forecast.horizon_hours, forecast.backtest_folds),
        metrics=result.metrics,
        tags=tags,
        figures=charts(result, forecast.quantiles),
        tables=tables(result),
        training_data=result.training_data,
        dataset_name="model_inputs",
        dataset_source=f"{settings.warehouse_path}#features.model_inputs",
        booster=result.booster if register else None,
        example=result.example if register else None,
        categories=result.categories if register else None,
        registered_model=name if register else None,
    )
    summary = {
        k: result.metrics[k] for k in ("wape", "seasonal_naive_wape", "coverage_80") if k in result.metrics
    }
    if "oracle_wape" in result.metrics:
        summary["oracle_wape"] = result.metrics["oracle_wape"]
    log.info("backtest: %s", ", ".join(f"{k} {v:.4f}" for k, v in summary.items()))
    if not register:
        return {"run_id": logged.run_id, **summary}
    champion_wape = None
    if champion is not None:
        champion_wape = (
            champion.wape
            if champion.folds_digest == result.folds_digest
            else _rescore(champion, inputs, end, truth, settings)
        )
    decision = decide(result.metrics, champion_wape)
    tracking.record_decision(
        name,
        logged.version,
        decision.promote,
        {
            "decision": "champion" if decision.promote else "challenger",
            "reason": decision.reason,
            "challenger_wape": f"{result.metrics['wape']:.6f}",
            "champion_wape": "" if champion_wape is None else f"{champion_wape:.6f}",
            "folds_digest": result.folds_digest,
        },
    )
    log.info(
        "model %s version %s: %s (%s)",
        name,
        logged.version,
        "champion" if decision.promote else "challenger",
        decision.reason,
    )
    return {"run_id": logged.run_id, "version": logged.version, "promoted": decision.promote, **summary}


@flow(name="backtest", persist_result=False)
@exclusive("backtest")
def backtest_flow(settings: Settings):
    """Evaluate on rolling origins and log to MLflow without registering a model."""
    return train_flow(settings=settings, register_model=False)


def _rescore(champion, inputs, end, truth, settings) -> float:
    """The champion's parameters, backtested on today's folds, for a like-for-like comparison."""
    from models.forecaster import ModelParameters
    from models.training import backtest_only

    known = ModelParameters.__dataclass_fields__
    typed = {k: type(getattr(ModelParameters(), k))(v) for k, v in champion.params.items() if k in known}
    forecast = settings.forecast
    _, metrics, _ = backtest_only(
        inputs,
        end,
        ModelParameters(**typed),
        forecast.horizon_hours,
        forecast.backtest_folds,
        forecast.quantiles,
        truth,
    )
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
