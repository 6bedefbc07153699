"""Where published numbers come from, and the digests that say when a publication is new.

Light on purpose (no plotting, no model): the command line reads these to tell, before
starting anything, whether a publication would change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from jointcast.config import Settings

PUBLICATION_LAYOUT = 3
"""The published tables' layout: raised when a publication gains tables or columns, so the
next publish fills them in even though the model, data and settings are unchanged
(2: areas, shift totals, local times and the staffing basis; 3: the configured quantiles)."""


@dataclass(frozen=True)
class Provenance:
    """Where the published numbers come from."""

    model_name: str
    model_version: str
    mlflow_run_id: str
    forecast_digest: str  # model version x data: the same digest, the same model forecast
    data_as_of: dict[str, datetime]  # per agency
    dispersion: dict[str, dict[str, float]]  # grain -> agency -> alpha
    baseline: str | None = None
    """What the forecast is when the model version is a baseline (models.baseline_model's
    description, e.g. "the hour-of-week mean of the last 4 weeks"); None for a trained model."""

    @classmethod
    def of_publication(cls, record: dict) -> Provenance:
        """The provenance a meta.publications row records."""
        return cls(
            model_name=record["model_name"],
            model_version=record["model_version"],
            mlflow_run_id=record["mlflow_run_id"],
            forecast_digest=record["forecast_digest"],
            data_as_of={k: datetime.fromisoformat(v) for k, v in json.loads(record["data_as_of"]).items()},
            dispersion=json.loads(record["dispersion"]),
        )


def digest(*parts: object) -> str:
    """A short stable SHA-256 of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def forecast_digest(settings: Settings, model_version: str, data_digest: str) -> str:
    """The model forecast's identity: the same model version on the same data, over the same
    horizon and with the same configured quantiles, the same forecast."""
    return digest(
        settings.mlflow.registered_model,
        model_version,
        data_digest,
        settings.forecast.horizon_hours,
        [float(q) for q in settings.forecast.quantiles],
    )


def stale_lags(
    data_as_of: dict[str, datetime], max_lag_hours: dict[str, float], now: datetime
) -> dict[str, float]:
    """Agencies whose newest data is older than their configured lag: agency -> hours behind."""
    lags = {agency: (now - end).total_seconds() / 3600 for agency, end in data_as_of.items()}
    return {agency: round(lag, 1) for agency, lag in lags.items() if lag > max_lag_hours.get(agency, 24.0)}


def stale_agencies(settings: Settings, provenance: Provenance, now: datetime) -> dict[str, float]:
    """Agencies whose newest data is older than their max_lag_hours: agency -> hours behind."""
    return stale_lags(provenance.data_as_of, {a.id: a.max_lag_hours for a in settings.agencies}, now)


def inputs_digest(
    settings: Settings, provenance: Provenance, overrides: pl.DataFrame, stale: dict[str, float]
) -> str:
    """What makes one publication differ from another: equal digests, equal publications."""
    return digest(
        PUBLICATION_LAYOUT,
        provenance.forecast_digest,
        [(a.timezone, a.staffing.model_dump(mode="json")) for a in settings.agencies],
        sorted(settings.role_map.items()),
        sorted(a.id for a in settings.agencies if not a.share_joint),
        overrides.select("override_id", "agency_id", "area_id", "starts_at", "ends_at", "factor").rows(),
        sorted(stale),
    )
