"""Accuracy at the grains planners use, for the model and its baselines on the same rows.

``wape`` (the headline) is per agency x area and shift (the agency's own shifts: the staffing grain);
``wape_hourly`` is per series and hour (mostly noise: most area-hours hold 0 or 1
incident); ``wape_agency_hourly`` is per agency and hour. A baseline is scored only where
it is known for every row: ``oracle_wape`` (the true rates' error) exists only for a
simulated workspace, whose ground truth the backtest was given.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from models.distribution import interval_coverage, quantile_name

SUFFIX = {"shift": "", "hourly": "_hourly", "agency_hourly": "_agency_hourly"}
BASELINES = {"seasonal_naive": "seasonal_naive", "how_mean": "how_mean_4", "oracle": "oracle"}
DEFAULT_BANDS = (24, 168, 336)
"""Upper ends of the lead-time bands scored apart: the model's horizon bands (features.history)."""


def point_scores(actual: np.ndarray, forecast: np.ndarray, naive: np.ndarray) -> dict[str, float]:
    error = forecast - actual
    total = np.sum(actual)
    naive_mae = np.mean(np.abs(naive - actual))
    return {
        "wape": float(np.sum(np.abs(error)) / total) if total else float("nan"),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "bias": float(np.sum(error) / total) if total else float("nan"),
        "mase": float(np.mean(np.abs(error)) / naive_mae) if naive_mae else float("nan"),
    }


def interval_scores(frame: pl.DataFrame, quantiles: tuple[float, ...]) -> dict[str, float]:
    actual = frame["actual"].to_numpy()
    pinball = np.mean([
        np.mean(np.maximum(q * (actual - frame[quantile_name(q)].to_numpy()),
                           (q - 1) * (actual - frame[quantile_name(q)].to_numpy())))
        for q in quantiles
    ])  # fmt: skip
    low, high = frame[quantile_name(quantiles[0])].to_numpy(), frame[quantile_name(quantiles[-1])].to_numpy()
    covered = interval_coverage(actual, low, high).mean()
    return {"pinball": float(pinball), "coverage_80": float(covered)}


def grain_scores(frame: pl.DataFrame, quantiles: tuple[float, ...]) -> dict[str, float]:
    """The model's scores and its baselines' WAPE on one grain's rows."""
    rows = frame.filter(pl.col("seasonal_naive").is_not_null())
    actual = rows["actual"].to_numpy()
    naive = rows["seasonal_naive"].to_numpy()
    scores = {**point_scores(actual, rows["mean"].to_numpy(), naive), **interval_scores(rows, quantiles)}
    for name, column in BASELINES.items():
        values = rows[column]
        if values.null_count() == 0:
            scores[f"{name}_wape"] = point_scores(actual, values.to_numpy(), naive)["wape"]
    return scores


def evaluate(
    grains: dict[str, pl.DataFrame], quantiles: tuple[float, ...], bands: tuple[int, ...] = DEFAULT_BANDS
) -> dict[str, float]:
    """Flat metric names for MLflow: overall, per agency (``_<agency_id>``) and per horizon band.

    ``bands`` are the upper ends of the lead-time bands (hours), e.g. (24, 168, 336) scores
    hours 1-24, 25-168 and 169-336 apart (``wape_h001_024`` ...).
    """
    metrics: dict[str, float] = {}
    for grain, frame in grains.items():
        suffix = SUFFIX[grain]
        for name, value in grain_scores(frame, quantiles).items():
            if grain == "shift" or name in ("wape", "seasonal_naive_wape", "oracle_wape", "how_mean_wape"):
                metrics[f"{name}{suffix}"] = value
        for (agency,), part in frame.group_by("agency_id"):
            for name, value in grain_scores(part, quantiles).items():
                if grain == "shift" or name == "wape":
                    metrics[f"{name}{suffix}_{agency}"] = value
    shift = grains["shift"]
    for low, high in zip((0, *bands[:-1]), bands, strict=True):
        low += 1
        part = shift.filter(pl.col("horizon").is_between(low, high))
        if part.height:
            scores = grain_scores(part, quantiles)
            metrics[f"wape_h{low:03d}_{high:03d}"] = scores["wape"]
            metrics[f"seasonal_naive_wape_h{low:03d}_{high:03d}"] = scores["seasonal_naive_wape"]
    return {k: v for k, v in metrics.items() if np.isfinite(v)}
