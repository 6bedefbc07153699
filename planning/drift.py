"""Drift and accuracy alerts: the recent window against the training window and the backtest.

Population stability index (PSI) of a distribution ``recent`` against ``reference``:
sum over bins of (r - e) x ln(r / e), with r and e the shares of each in the bin. Bins are the
reference's deciles (a count's repeated deciles merge), shares are floored at ``EPSILON`` so an
empty bin stays finite. The usual reading (Siddiqi, *Credit Risk Scorecards*, 2006): below 0.1
stable, 0.1-0.25 a moderate shift, above 0.25 a major one. For a categorical mix (incident types)
the bins are the categories.

Alerts compare per agency: live shift WAPE with the champion's backtest WAPE (x (1 + margin)),
live bias with a limit either way, live coverage_80 with a band, and the PSIs with a threshold.
Bias reads a level shift net of the seasons the forecast expects; the PSIs against the training
window also move with the season, so their threshold is set above a season's drift.
Pure: frames in, alert rows out.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

EPSILON = 1e-4
DECILES = tuple(q / 10 for q in range(1, 10))
ALERT_SCHEMA = {
    "alert_id": pl.String, "agency_id": pl.String, "measure": pl.String, "size": pl.Float64,
    "threshold": pl.Float64, "window_start": pl.Datetime("us", "UTC"), "window_end": pl.Datetime("us", "UTC"),
    "detail": pl.String,
}  # fmt: skip


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    expected = np.maximum(expected / max(expected.sum(), 1), EPSILON)
    actual = np.maximum(actual / max(actual.sum(), 1), EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi(reference: pl.Series, recent: pl.Series) -> float | None:
    """PSI of a numeric sample against a reference one, in the reference's decile bins (None when
    either is empty)."""
    reference, recent = reference.drop_nulls().cast(pl.Float64), recent.drop_nulls().cast(pl.Float64)
    if reference.is_empty() or recent.is_empty():
        return None
    edges = np.unique(np.quantile(reference.to_numpy(), DECILES))
    bins = len(edges) + 1
    expected = np.bincount(np.searchsorted(edges, reference.to_numpy(), side="left"), minlength=bins)
    actual = np.bincount(np.searchsorted(edges, recent.to_numpy(), side="left"), minlength=bins)
    return _psi(expected.astype(float), actual.astype(float))


def categorical_psi(reference: Mapping[str, int], recent: Mapping[str, int]) -> float | None:
    """PSI of a category mix (category -> count) against a reference mix."""
    if not sum(reference.values()) or not sum(recent.values()):
        return None
    categories = sorted(set(reference) | set(recent))
    expected = np.array([reference.get(c, 0) for c in categories], dtype=float)
    actual = np.array([recent.get(c, 0) for c in categories], dtype=float)
    return _psi(expected, actual)


@dataclass(frozen=True)
class Limits:
    """The [monitor] thresholds."""

    wape_margin: float
    coverage_band: tuple[float, float]
    psi_threshold: float
    bias_limit: float = math.inf


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def alert_id(agency_id: str, measure: str, window: Window) -> str:
    """The same alert (agency, measure, window) gets the same id however often it is raised."""
    text = f"{agency_id}|{measure}|{window.start.isoformat()}|{window.end.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _alert(agency_id: str, measure: str, size: float, threshold: float, window: Window, detail: str) -> dict:
    return {
        "alert_id": alert_id(agency_id, measure, window),
        "agency_id": agency_id,
        "measure": measure,
        "size": size,
        "threshold": threshold,
        "window_start": window.start,
        "window_end": window.end,
        "detail": detail,
    }


def accuracy_alerts(
    agency_id: str, live: Mapping[str, float | None], backtest: Mapping[str, float | None], limits: Limits,
    window: Window,
) -> list[dict]:  # fmt: skip
    """Live shift WAPE past the backtest's by the margin; live bias past its limit either way (a level
    the forecast missed); live coverage_80 outside the band."""
    alerts = []
    wape, reference = live.get("wape"), backtest.get("wape")
    if _finite(wape) and _finite(reference):
        limit = reference * (1 + limits.wape_margin)
        if wape > limit:
            detail = (
                f"live shift WAPE {wape:.3f} over {live.get('shifts', 0)} area-shifts vs backtest "
                f"{reference:.3f} (limit {limit:.3f}); live bias {live.get('bias') or 0:+.1%}"
            )
            alerts.append(_alert(agency_id, "live_wape_shift", wape, limit, window, detail))
    bias = live.get("bias")
    if _finite(bias) and abs(bias) > limits.bias_limit:
        limit = math.copysign(limits.bias_limit, bias)
        side = "above" if bias > 0 else "below"
        detail = (
            f"live bias {bias:+.1%} over {live.get('shifts', 0)} area-shifts (forecast {side} what "
            f"happened; backtest bias {backtest.get('bias') or 0:+.1%})"
        )
        alerts.append(_alert(agency_id, "live_bias", bias, limit, window, detail))
    coverage = live.get("coverage_80")
    low, high = limits.coverage_band
    if _finite(coverage) and not low <= coverage <= high:
        bound = low if coverage < low else high
        detail = f"{coverage:.0%} of area-shifts inside p10-p90, outside the band {low:.0%}-{high:.0%}"
        alerts.append(_alert(agency_id, "coverage_80", coverage, bound, window, detail))
    return alerts


def psi_alerts(
    agency_id: str, psis: Mapping[str, float | None], limits: Limits, window: Window
) -> list[dict]:
    """One alert per measure (demand_level_psi, type_mix_psi, feature_psi:<name>) past the threshold."""
    return [
        _alert(
            agency_id,
            measure,
            value,
            limits.psi_threshold,
            window,
            f"population stability index {value:.3f} of the recent window against the training window",
        )  # fmt: skip
        for measure, value in sorted(psis.items())
        if _finite(value) and value > limits.psi_threshold
    ]


def alert_frame(alerts: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(alerts, schema=ALERT_SCHEMA)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _between(frame: pl.DataFrame, agency_id: str, start: datetime, end: datetime) -> pl.DataFrame:
    return frame.filter(
        pl.col("agency_id") == agency_id, pl.col("bucket_start") >= start, pl.col("bucket_start") < end
    )


def level_ratios(hourly: pl.DataFrame, reference: Window, window: Window) -> tuple[pl.Series, pl.Series]:
    """Each hour's incidents over the reference window's mean for its hour of the week, in the reference
    and in the recent window: the demand level with the daily and weekly cycle taken out, so a level
    jump shows whatever the hour (the raw hourly counts spread as widely by time of day)."""
    how = (pl.col("bucket_start").dt.weekday() * 24 + pl.col("bucket_start").dt.hour()).alias("how")
    in_reference = pl.col("bucket_start").is_between(reference.start, reference.end, closed="left")
    means = hourly.filter(in_reference).group_by(how).agg(pl.col("incidents").mean().alias("usual"))
    ratios = (
        hourly.with_columns(how)
        .join(means.filter(pl.col("usual") > 0), on="how")
        .with_columns(ratio=pl.col("incidents") / pl.col("usual"))
    )
    in_window = pl.col("bucket_start").is_between(window.start, window.end, closed="left")
    return ratios.filter(in_reference)["ratio"], ratios.filter(in_window)["ratio"]


def input_psis(
    agency_id: str,
    hourly: pl.DataFrame,
    types: pl.DataFrame,
    features: pl.DataFrame,
    reference: Window,
    window: Window,
) -> dict[str, float | None]:
    """The agency's PSIs of the recent ``window`` against the ``reference`` (training) window.

    Args:
        hourly: agency_id, bucket_start, incidents: the agency's observed hourly totals
            (``demand_level_psi``: of ``level_ratios``).
        types: agency_id, incident_type, bucket_start, incidents (``type_mix_psi``).
        features: agency_id, bucket_start and one column per model input (``feature_psi:<name>``).
    """
    psis = {"demand_level_psi": psi(*level_ratios(hourly.filter(agency_id=agency_id), reference, window))}
    mixes = []
    for span in (reference, window):
        counts = (
            _between(types, agency_id, span.start, span.end)
            .group_by("incident_type")
            .agg(pl.col("incidents").sum())
        )
        mixes.append(dict(counts.iter_rows()))
    psis["type_mix_psi"] = categorical_psi(*mixes)
    for name in features.columns:
        if name in ("agency_id", "bucket_start"):
            continue
        psis[f"feature_psi:{name}"] = psi(
            _between(features, agency_id, reference.start, reference.end)[name],
            _between(features, agency_id, window.start, window.end)[name],
        )
    return psis
