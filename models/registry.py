"""The model registry's reads and decisions: which version is champion, and why.

Apart from models.tracking (runs, artifacts, the model itself) so that a check can ask
the registry without importing LightGBM: `jointcast train` on inputs a version was
already trained on answers at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import mlflow
from mlflow import MlflowClient

from jointcast.faults import reach

CHAMPION, CHALLENGER = "champion", "challenger"
INPUTS_DIGEST = "inputs_digest"  # tag on a run and its model version: what it was trained from


def point_at(tracking_uri: str) -> None:
    """Use the workspace's tracking store (and its registry)."""
    mlflow.set_tracking_uri(tracking_uri)


@lru_cache(maxsize=8)
def _client_for(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri)


def client() -> MlflowClient:
    """One client per tracking store (creating one opens and checks the store: not free)."""
    return _client_for(mlflow.get_tracking_uri())


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str
    wape: float | None
    folds_digest: str | None
    params: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)  # its run's backtest metrics


def current_champion(registered_model: str) -> Champion | None:
    registry = client()
    try:
        version = registry.get_model_version_by_alias(registered_model, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None
    run = registry.get_run(version.run_id)
    return Champion(
        version=str(version.version),
        run_id=version.run_id,
        wape=run.data.metrics.get("wape"),
        folds_digest=run.data.tags.get("folds_digest"),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
    )


@dataclass(frozen=True)
class TrainedVersion:
    version: str
    role: str  # in words: "the champion", "a challenger that lost to the champion"


def version_trained_on(registered_model: str, inputs_digest: str) -> TrainedVersion | None:
    """The newest registered version whose training inputs had this digest, if any."""
    registry = client()
    try:
        versions = registry.search_model_versions(f"name = '{registered_model}'")
    except mlflow.exceptions.MlflowException:
        return None
    same = [v for v in versions if v.tags.get(INPUTS_DIGEST) == inputs_digest]
    if not same:
        return None
    newest = max(same, key=lambda v: int(v.version))
    champion = current_champion(registered_model)
    is_champion = champion is not None and champion.version == str(newest.version)
    return TrainedVersion(
        str(newest.version), "the champion" if is_champion else "a challenger, not promoted"
    )


def record_decision(
    registered_model: str, version: str, promote: bool, tags: dict[str, str], challenger: bool = True
) -> None:
    """Alias the new version challenger (unless ``challenger`` is False: a baseline published in a
    challenger's place), and champion too when it won; tag why."""
    registry = client()
    if challenger:
        registry.set_registered_model_alias(registered_model, CHALLENGER, version)
    if promote:
        registry.set_registered_model_alias(registered_model, CHAMPION, version)
    reach("train.after_alias")
    # The tags last: the inputs digest among them is what marks a version trained on its inputs
    # (version_trained_on), so a run killed before it trains again rather than skip the decision.
    for key, value in tags.items():
        registry.set_model_version_tag(registered_model, version, key, value)


DECISION = "decision"  # tag on every version that got its gate decision: champion, challenger or interrupted
INTERRUPTED = "interrupted"


def mark_interrupted(registered_model: str) -> list[str]:
    """Tag the versions a killed training registered but never decided on (no decision tag) as
    ``interrupted``, so reviewers see in the MLflow UI why they carry no alias; their versions.

    Run before a training registers its own version (the run lock keeps trainings apart, so no
    decision is in flight)."""
    registry = client()
    try:
        versions = registry.search_model_versions(f"name = '{registered_model}'")
    except mlflow.exceptions.MlflowException:
        return []
    orphans = sorted((v for v in versions if DECISION not in v.tags), key=lambda v: int(v.version))
    for version in orphans:
        registry.set_model_version_tag(registered_model, version.version, DECISION, INTERRUPTED)
        registry.set_model_version_tag(
            registered_model, version.version, "reason",
            "its training run stopped before the gate's decision; a later run trained again",
        )  # fmt: skip
    return [str(v.version) for v in orphans]


BASELINE = "baseline"  # tag on a version that is a baseline (its model-input column), not a trained model


def baseline_of(registered_model: str, version: str) -> str | None:
    """The baseline column a version forecasts with, or None for a trained model."""
    try:
        return client().get_model_version(registered_model, version).tags.get(BASELINE)
    except mlflow.exceptions.MlflowException:
        return None
