"""What each stage would do, decided from the warehouse and MLflow without starting Prefect.

Every stage is idempotent: on inputs it has already built from, it changes nothing. The
digests here say what a stage builds from, so the stage itself skips its work (features,
train) and the command line can answer "nothing to do" at once, before a Prefect run
(and its temporary server) is started. ``nothing_to_do(stage, settings)`` returns the
sentence that says why there is nothing to do, or None when the stage has work.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from jointcast.config import Settings
from planning.provenance import digest
from warehouse.db import open_warehouse

CODE_ROOT = Path(__file__).resolve().parent.parent


def code_digest(*packages: str) -> str:
    """SHA-256 of the Python sources of ``packages``: a model is as new as the code that made it."""
    sources = hashlib.sha256()
    for package in packages:
        for path in sorted((CODE_ROOT / package).rglob("*.py")):
            sources.update(path.relative_to(CODE_ROOT).as_posix().encode())
            sources.update(path.read_bytes())
    return sources.hexdigest()[:32]


def _file_digest(path: Path | None) -> str | None:
    from warehouse.sources import file_sha256

    return file_sha256(path) if path is not None and path.is_file() else None


def feature_parameters(con: duckdb.DuckDBPyConnection, settings: Settings):
    """The features stage's parameters: the config's, and the windows of the rejected files."""
    from features.build import FeatureParameters
    from warehouse.stages import rejected_windows

    return FeatureParameters.from_settings(settings, rejected=rejected_windows(con))


def features_inputs(con: duckdb.DuckDBPyConnection, settings: Settings, params=None) -> str:
    """What the features stage builds from: core's batches, the events file, the settings (area
    polygon files' bytes included), the code."""
    from dataclasses import asdict

    from warehouse.stages import loaded_batches

    return digest(
        loaded_batches(con),
        _file_digest(settings.events_path),
        asdict(params or feature_parameters(con, settings)),
        {a.id: _file_digest(settings.area_file(a)) for a in settings.agencies},
        code_digest("features"),
    )


def configured_parameters(settings: Settings):
    """The model parameters the config asks for, before ``train`` sizes them to the data."""
    from models.parameters import ModelParameters

    forecast = settings.forecast
    return ModelParameters(
        train_days=forecast.train_days,
        sizing=forecast.tuning,
        level_scaling=forecast.level_scaling,
        zero_sample_rate=forecast.zero_sample_rate,
    )


def train_inputs(con: duckdb.DuckDBPyConnection, settings: Settings) -> str:
    """What a model is trained from: the features built, the panel's contents, parameters, code."""
    from models.parameters import flat_params
    from warehouse.model_store import data_end, truth_path
    from warehouse.stages import recorded_inputs

    forecast = settings.forecast
    params = configured_parameters(settings)
    _, data_digest = data_end(con)
    return digest(
        recorded_inputs(con, "features"),
        data_digest,
        flat_params(params, forecast.horizon_hours, forecast.backtest_folds),
        forecast.quantiles,
        {
            a.id: [a.timezone, [s.model_dump(mode="json") for s in a.staffing.shifts]]
            for a in settings.agencies
        },
        _file_digest(truth_path(settings.root)),
        code_digest("features", "models"),
    )


def trained_version(settings: Settings, inputs_digest: str):
    """The registered version already trained on these inputs (a champion or a beaten challenger)."""
    from models import registry

    registry.point_at(settings.tracking_uri)
    return registry.version_trained_on(settings.mlflow.registered_model, inputs_digest)


def nothing_to_do(stage: str, settings: Settings) -> str | None:
    """Why ``stage`` has nothing to do on ``settings``' workspace, or None when it has work."""
    if not settings.warehouse_path.exists():
        return None
    checks = {
        "ingest": _ingest, "validate": _validate, "features": _features, "train": _train,
        "forecast": _forecast, "publish": _publish,
    }  # fmt: skip
    stages = list(checks) if stage == "run" else [stage]
    try:
        with open_warehouse(settings.warehouse_path, read_only=True) as con:
            said = []
            for name in stages:
                reason = checks[name](con, settings)
                if reason is None:
                    return None
                said.append(reason)
    except (duckdb.Error, LookupError, OSError):  # anything unusual: let the stage itself say
        return None
    return "; ".join(said)


def _ingest(con, settings: Settings) -> str | None:
    from warehouse.ingest import read_digest
    from warehouse.sources import FeedSourceError, file_sha256, list_files
    from warehouse.stages import settled_files

    files = 0
    for feed in settings.feeds:
        if feed.is_remote:
            return None  # a remote listing is the ingest stage's work, with its retries
        try:
            paths = list_files(settings.feed_uri(feed))
        except FeedSourceError:
            return None  # the stage says what is wrong
        settled = settled_files(con, feed.id, read_digest(feed))  # a rejected file read otherwise: work
        if any(file_sha256(Path(path)) not in settled for path in paths):
            return None
        files += len(paths)
    return f"ingest: no new files ({files} already received)"


def _validate(con, settings: Settings) -> str | None:
    """Work: a batch received, a run without Data Docs, or a batch rejected under settings that have
    changed since (expectations.validate.check_digest); a batch rejected after being read with other
    settings than the feed's now is ingest's to read again, and said so."""
    from expectations.settings import check_digest
    from warehouse.ingest import read_digest
    from warehouse.stages import received_batches, rejected_to_read_again, undocumented_runs
    from warehouse.staging import pending_batches

    if received_batches(con) or undocumented_runs(con):
        return None
    waiting = []
    for feed in settings.feeds:
        if pending_batches(con, feed.id, read_digest(feed), check_digest(settings, feed)):
            return None
        unread = rejected_to_read_again(con, feed.id, read_digest(feed))
        if unread:
            waiting.append(f"{unread} rejected of feed {feed.id}")
    if waiting:
        return (
            f"validate: every batch validated ({', '.join(waiting)} read with other settings than its "
            "config's now: `jointcast ingest` receives them again)"
        )
    return "validate: every batch validated"


def _features(con, settings: Settings) -> str | None:
    from warehouse.stages import recorded_inputs

    if recorded_inputs(con, "features") != features_inputs(con, settings):
        return None
    return "features: built from these inputs already"


def _train(con, settings: Settings) -> str | None:
    version = trained_version(settings, train_inputs(con, settings))
    if version is None:
        return None
    return f"train: version {version.version} was trained on these inputs ({version.role})"


def _forecast(con, settings: Settings) -> str | None:
    from models import registry
    from planning.provenance import forecast_digest
    from warehouse.model_store import data_end
    from warehouse.publish import latest_publication

    registry.point_at(settings.tracking_uri)
    champion = registry.current_champion(settings.mlflow.registered_model)
    latest = latest_publication(con)
    if champion is None or latest is None:
        return None
    _, data_digest = data_end(con)
    if latest["forecast_digest"] != forecast_digest(settings, champion.version, data_digest):
        return None
    return f"forecast: version {champion.version} on this data is forecast already"


def _publish(con, settings: Settings) -> str | None:
    from planning.provenance import Provenance, inputs_digest, stale_agencies
    from warehouse.overrides import read_overrides
    from warehouse.publish import latest_publication

    latest = latest_publication(con)
    if latest is None:
        return None
    provenance = Provenance.of_publication(latest)
    stale = stale_agencies(settings, provenance, datetime.now(UTC))
    if latest["inputs_digest"] != inputs_digest(settings, provenance, read_overrides(con), stale):
        return None
    from warehouse.pages import page_publication

    shown = str(latest["publication_id"])
    if any(page_publication(settings.report_path(a.id)) != shown for a in settings.agencies):
        return None  # a page missing or behind (a run killed before writing it): publish redraws it
    if not _marts_open(settings, latest["publication_id"]):
        return None
    return f"publish: publication {latest['publication_id']} holds these inputs"


def _marts_open(settings: Settings, publication_id: int) -> bool:
    """Every agency with a key has a mart of this publication that opens with it (a new or changed
    key needs a new mart)."""
    from warehouse.agency_keys import KeyProblem, agency_key
    from warehouse.marts import opens_with

    for agency_id in settings.agency_ids:
        try:
            key = agency_key(settings, agency_id)
        except KeyProblem:
            return False
        if key is not None and not opens_with(settings.mart_path(agency_id), key, agency_id, publication_id):
            return False
    return True
