"""MLflow in one place: runs, the model with its signature, datasets, the registry and aliases.

The registered model gets a new version per training with the alias ``challenger``; it
takes ``champion`` only when it beats the current champion on the same backtest folds
and beats seasonal naive. The decision and both scores are tags on the version.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import mlflow
import pandas as pd
import polars as pl
from mlflow import MlflowClient
from mlflow.models import infer_signature

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
CATEGORIES = "model_categories.json"  # the levels behind the model's integer-coded categoricals
for pattern in (
    r"Hint: Inferred schema contains integer column",
    r"The specified dataset source can be interpreted in multiple ways",
    r".*``noload`` loader strategy is deprecated",
    r"Operation with range is deprecated",
    r"For backward compatibility, 'str' dtypes are included",
):
    warnings.filterwarnings("ignore", message=pattern)
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    model_uri: str | None
    version: str | None


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str
    wape: float | None
    folds_digest: str | None
    params: dict[str, str]


def use_store(tracking_uri: str, experiment: str, artifact_root: Path) -> str:
    """Point MLflow at the workspace's store and experiment; returns the experiment id."""
    mlflow.set_tracking_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        artifact_root.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(experiment, artifact_location=artifact_root.as_uri())
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def log_run(
    *,
    run_name: str,
    params: dict,
    metrics: dict[str, float],
    tags: dict[str, str],
    figures: dict[str, object],
    tables: dict[str, pl.DataFrame],
    training_data: pl.DataFrame,
    dataset_name: str,
    dataset_source: str,
    booster: lgb.Booster | None = None,
    example: pd.DataFrame | None = None,
    categories: dict[str, list[str]] | None = None,
    registered_model: str | None = None,
) -> LoggedRun:
    """One MLflow run: params, metrics, plots, tables, data lineage and (optionally) the model."""
    from models.plots import close

    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        for name, figure in figures.items():
            mlflow.log_figure(figure, f"plots/{name}.png")
            close(figure)
        with tempfile.TemporaryDirectory() as folder:
            for name, table in tables.items():
                path = Path(folder) / f"{name}.csv"
                table.write_csv(path)
                mlflow.log_artifact(str(path), artifact_path="tables")
        dataset = mlflow.data.from_polars(
            training_data, source=dataset_source, targets="incidents", name=dataset_name
        )
        mlflow.log_input(dataset, context="training")
        model_uri = version = None
        if categories is not None:
            mlflow.log_dict(categories, CATEGORIES)
        if booster is not None and example is not None:
            info = mlflow.lightgbm.log_model(
                booster,
                name="model",
                signature=infer_signature(example, booster.predict(example)),
                input_example=example,
                registered_model_name=registered_model,
                pip_requirements=[f"lightgbm=={lgb.__version__}", "pandas", "numpy"],
            )
            model_uri = info.model_uri
            version = None if info.registered_model_version is None else str(info.registered_model_version)
        return LoggedRun(run.info.run_id, model_uri, version)


def current_champion(registered_model: str) -> Champion | None:
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(registered_model, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None
    run = client.get_run(version.run_id)
    return Champion(
        version=str(version.version),
        run_id=version.run_id,
        wape=run.data.metrics.get("wape"),
        folds_digest=run.data.tags.get("folds_digest"),
        params=dict(run.data.params),
    )


def record_decision(registered_model: str, version: str, promote: bool, tags: dict[str, str]) -> None:
    """Alias the new version challenger, and champion too when it won; tag why."""
    client = MlflowClient()
    client.set_registered_model_alias(registered_model, CHALLENGER, version)
    if promote:
        client.set_registered_model_alias(registered_model, CHAMPION, version)
    for key, value in tags.items():
        client.set_model_version_tag(registered_model, version, key, value)


def load_champion(registered_model: str) -> tuple[lgb.Booster, Champion]:
    champion = current_champion(registered_model)
    if champion is None:
        raise LookupError(
            f"registered model '{registered_model}' has no '{CHAMPION}' version: run `jointcast train`"
        )
    return mlflow.lightgbm.load_model(f"models:/{registered_model}@{CHAMPION}"), champion


def load_dispersion(run_id: str) -> dict[str, dict[str, float]]:
    """The count distribution's alpha per grain and agency that a training run measured."""
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="tables/dispersion.csv")
    table = pl.read_csv(path)
    alphas: dict[str, dict[str, float]] = {}
    for grain, agency, alpha in table.select("grain", "agency_id", "alpha").iter_rows():
        alphas.setdefault(grain, {})[agency] = float(alpha)
    return alphas


def load_categories(run_id: str) -> dict[str, list[str]]:
    """The categorical levels a training run's model was fitted with."""
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{CATEGORIES}")
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(f"run {run_id} has no {CATEGORIES}: retrain with `jointcast train`") from exc
