"""MLflow in one place: runs, the model with its signature, datasets, the registry and aliases.

The model is a models.demand_model.DemandModel, logged as an MLflow python-function model that
serves exactly its means (so `mlflow models serve` takes plain JSON rows) beside the two things
needed to use it on model-input rows: its ordered feature list and its categorical levels.

The registered model gets a new version per training with the alias ``challenger``; it
takes ``champion`` only when it beats the current champion on the same backtest folds
and every baseline (models.training.decide); when no model beats the best baseline, that
baseline (models.baseline_model, a python-function model) is logged and registered in its
place. The decision and the scores are tags on the version.
"""

from __future__ import annotations

import importlib
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from pathlib import Path

import mlflow
import polars as pl
from mlflow import MlflowClient
from mlflow.models import infer_signature

from models.demand_model import DemandModel, restore
from models.registry import CHAMPION, Champion, current_champion

log = logging.getLogger(__name__)

CATEGORIES = "model_categories.json"  # the levels behind the model's integer-coded categoricals
FEATURE_LIST = "model_features.json"  # {"features": [...]}: the model's features, in the order it reads them
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
    client = MlflowClient()
    for key, value in {**EXPERIMENT_KIND, "mlflow.note.content": EXPERIMENT_NOTE}.items():
        if (found.tags if found is not None else {}).get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)
    return experiment_id


EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # the UI's model-training view
EXPERIMENT_NOTE = (
    "Demand forecasts per agency x area x hour: one run per `jointcast train` (backtest + final model) "
    "or `jointcast backtest`. Compare runs on `wape` (per area and shift) against `seasonal_naive_wape`; "
    "the registered model's `champion` alias moves only when a challenger beats it on the same folds."
)


@contextmanager
def training_run(run_name: str, tags: dict[str, str], params: dict | None = None) -> Iterator[str]:
    """An MLflow run open for the whole of a training (its duration is the training's); yields its id."""
    with mlflow.start_run(run_name=run_name, tags=tags) as run:
        if params:
            mlflow.log_params(params)
        yield run.info.run_id


def log_params(params: dict) -> None:
    """Parameters of the active run (once each: MLflow keeps a parameter's first value)."""
    mlflow.log_params(params)


def log_results(
    *,
    metrics: dict[str, float],
    figures: dict[str, object],
    tables: dict[str, pl.DataFrame],
    training_data: pl.DataFrame,
    dataset_name: str,
    dataset_source: str,
    model: DemandModel | None = None,
    example: pl.DataFrame | None = None,
    registered_model: str | None = None,
) -> LoggedRun:
    """Into the active run: metrics, plots, tables, data lineage and (optionally) the model, its
    features and categorical levels; ``example`` is a few model-input rows (the input example)."""
    from models.plots import close

    run = mlflow.active_run()
    mlflow.log_metrics(metrics)
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}.png")
        close(figure)
    with tempfile.TemporaryDirectory() as folder:
        for name, table in tables.items():
            path = Path(folder) / f"{name}.csv"
            table.write_csv(path)
            mlflow.log_artifact(str(path), artifact_path="tables")
    # Dates as datetimes: MLflow's schema has no date type (and warns when it maps one).
    described = training_data.with_columns(pl.col(pl.Date).cast(pl.Datetime("us")))
    dataset = mlflow.data.from_polars(
        described, source=dataset_source, targets="incidents", name=dataset_name
    )
    mlflow.log_input(dataset, context="training")
    model_uri = version = None
    if model is not None and example is not None:
        mlflow.log_dict(model.categories, CATEGORIES)
        mlflow.log_dict({"features": list(model.features)}, FEATURE_LIST)
        with _quiet_registry():
            info = _log_model(model, example, registered_model)
        model_uri = info.model_uri
        version = None if info.registered_model_version is None else str(info.registered_model_version)
    return LoggedRun(run.info.run_id, model_uri, version)


@contextmanager
def _quiet_registry() -> Iterator[None]:
    """MLflow prints "Created version ..." to stderr itself; the caller says what was registered, and why."""
    with redirect_stderr(io.StringIO()) as printed:
        yield
    for line in printed.getvalue().splitlines():
        log.debug("mlflow: %s", line)


def _log_model(model: DemandModel, example: pl.DataFrame, registered_model: str | None):
    table = model.table(example)
    # a library flavor takes its fitted object first; a python-function model is named as such
    native = ((), {"python_model": model.native}) if model.flavor == "pyfunc" else ((model.native,), {})
    return _flavor(model.flavor).log_model(
        *native[0],
        **native[1],
        name="model",
        signature=infer_signature(table, model.predict_mean(example)),
        input_example=table,
        registered_model_name=registered_model,
        pip_requirements=model.requirements,
    )


def _flavor(name: str):
    """MLflow's module for a flavor: ``mlflow.lightgbm`` for "lightgbm"."""
    return importlib.import_module(f"mlflow.{name}")


def log_table(run_id: str, name: str, table: pl.DataFrame) -> None:
    """A table as ``tables/<name>.csv`` of a (finished) run."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.csv"
        table.write_csv(path)
        MlflowClient().log_artifact(run_id, str(path), artifact_path="tables")


def set_run_tags(tags: dict[str, str]) -> None:
    mlflow.set_tags(tags)


def describe_run(run_id: str, text: str) -> None:
    """The run's description in the MLflow UI (what it measured and what was decided)."""
    MlflowClient().set_tag(run_id, "mlflow.note.content", text)


def load_champion(registered_model: str) -> tuple[DemandModel, Champion]:
    """The champion version as a DemandModel, with the features and levels it was fitted on."""
    champion = current_champion(registered_model)
    if champion is None:
        raise LookupError(
            f"registered model '{registered_model}' has no '{CHAMPION}' version: run `jointcast train`"
        )
    uri = f"models:/{registered_model}/{champion.version}"
    flavors = mlflow.models.get_model_info(uri).flavors
    flavor = next((f for f in flavors if f != "python_function"), "pyfunc")
    native = _flavor(flavor).load_model(uri)
    try:
        categories = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/{CATEGORIES}")
    except mlflow.exceptions.MlflowException as exc:
        raise LookupError(
            f"champion version {champion.version}: run {champion.run_id} has no {CATEGORIES}: "
            "retrain with `jointcast train`"
        ) from exc
    return restore(flavor, native, categories, _logged_features(champion.run_id)), champion


def _logged_features(run_id: str) -> list[str] | None:
    """A run's logged feature list; None for a model logged before the list was."""
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{FEATURE_LIST}")["features"]
    except mlflow.exceptions.MlflowException:
        return None


def load_dispersion(run_id: str) -> dict[str, dict[str, float]]:
    """The count distribution's alpha per grain and agency that a training run measured."""
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="tables/dispersion.csv")
    table = pl.read_csv(path)
    alphas: dict[str, dict[str, float]] = {}
    for grain, agency, alpha in table.select("grain", "agency_id", "alpha").iter_rows():
        alphas.setdefault(grain, {})[agency] = float(alpha)
    return alphas


MONITOR_DAY = "monitor_day"  # tag on a monitoring run: the day of data it scored (one run per day)
MONITORING_NOTE = (
    "Live accuracy of the published forecasts, one run per monitored day (`jointcast monitor`): per agency "
    "`live_wape_shift_<agency>`, `live_bias_<agency>`, `live_coverage_80_<agency>` beside the champion's "
    "backtest figures `backtest_*`; chart a metric over runs to follow accuracy over time."
)


def log_monitoring_day(
    tracking_uri: str, experiment: str, artifact_root: Path, day: str, metrics: dict[str, float],
    tags: dict[str, str],
) -> str:  # fmt: skip
    """The monitoring experiment's run for ``day`` (created once), with ``metrics`` and ``tags``;
    a metric already logged with the same value is not logged again, so a rerun adds nothing."""
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        artifact_root.mkdir(parents=True, exist_ok=True)
        experiment_id = client.create_experiment(experiment, artifact_location=artifact_root.as_uri())
        client.set_experiment_tag(experiment_id, "mlflow.note.content", MONITORING_NOTE)
    else:
        experiment_id = found.experiment_id
    runs = client.search_runs([experiment_id], filter_string=f"tags.{MONITOR_DAY} = '{day}'", max_results=1)
    if runs:
        run_id, logged, logged_tags = runs[0].info.run_id, runs[0].data.metrics, runs[0].data.tags
    else:
        run = client.create_run(experiment_id, run_name=f"monitor {day}", tags={MONITOR_DAY: day})
        run_id, logged, logged_tags = run.info.run_id, {}, {}
        client.set_terminated(run_id)
    for key, value in sorted(metrics.items()):
        if logged.get(key) != value:
            client.log_metric(run_id, key, value)
    for key, value in sorted(tags.items()):
        if logged_tags.get(key) != value:
            client.set_tag(run_id, key, value)
    return run_id
