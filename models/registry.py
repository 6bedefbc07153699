"""The model registry's reads and decisions: which version is champion, and why.

Apart from models.tracking (runs, artifacts, the model itself) so that a check can ask
the registry without importing LightGBM: `jointcast train` on inputs a version was
already trained on answers at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient

CHAMPION, CHALLENGER = "champion", "challenger"
INPUTS_DIGEST = "inputs_digest"  # tag on a run and its model version: what it was trained from


def point_at(tracking_uri: str) -> None:
    """Use the workspace's tracking store (and its registry)."""
    mlflow.set_tracking_uri(tracking_uri)


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str
    wape: float | None
    folds_digest: str | None
    params: dict[str, str]


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


@dataclass(frozen=True)
class TrainedVersion:
    version: str
    role: str  # in words: "the champion", "a challenger that lost to the champion"


def version_trained_on(registered_model: str, inputs_digest: str) -> TrainedVersion | None:
    """The newest registered version whose training inputs had this digest, if any."""
    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name = '{registered_model}'")
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


def record_decision(registered_model: str, version: str, promote: bool, tags: dict[str, str]) -> None:
    """Alias the new version challenger, and champion too when it won; tag why."""
    client = MlflowClient()
    client.set_registered_model_alias(registered_model, CHALLENGER, version)
    if promote:
        client.set_registered_model_alias(registered_model, CHAMPION, version)
    for key, value in tags.items():
        client.set_model_version_tag(registered_model, version, key, value)
