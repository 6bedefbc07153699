"""Training as reviewers see it: a backtest on rolling origins, then the model on all data.

Pure apart from the model fits: frames in; the model, metrics, charts and tables out.
The caller (flows/) reads the warehouse and logs to MLflow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from features.history import horizon_bands
from models.backtest import (
    Backtest,
    Mapper,
    ShiftSchedule,
    in_order,
    make_folds,
    run_backtest,
    training_rows,
)  # fmt: skip
from models.demand_model import DemandModel, untrained
from models.metrics import evaluate
from models.parameters import ModelParameters
from models.plots import backtest_chart, feature_importance_chart

MIN_TRAIN = timedelta(days=14)  # a fold needs this much history before its origin


class InsufficientHistory(ValueError):
    """Too little data before the backtest's origins to train on."""


@dataclass
class TrainingResult:
    model: DemandModel
    backtest: Backtest
    metrics: dict[str, float]
    folds_digest: str
    example: pl.DataFrame  # a few training rows: the logged model's input example
    training_data: pl.DataFrame


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def folds_digest(origins: list[datetime], data_digest: str) -> str:
    """Identifies a backtest's folds: same origins over the same data means comparable scores."""
    text = "|".join(o.isoformat() for o in origins) + "|" + data_digest
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def backtest_only(
    inputs: pl.DataFrame,
    data_end: datetime,
    params: ModelParameters,
    horizon_hours: int,
    folds: int,
    quantiles: tuple[float, ...],
    truth: pl.DataFrame | None,
    mapper: Mapper = in_order,
    shifts: Mapping[str, ShiftSchedule] | None = None,
) -> tuple[Backtest, dict[str, float], list[datetime]]:
    observed = inputs.filter(pl.col("incidents").is_not_null())["bucket_start"]
    if observed.is_empty():
        raise InsufficientHistory(
            "no observed demand in features.model_inputs: run `jointcast features` first"
        )
    first = observed.min()
    fold_list = [f for f in make_folds(data_end, horizon_hours, folds) if f.origin - first >= MIN_TRAIN]
    if not fold_list:
        have = (data_end - first).days
        need = (MIN_TRAIN + timedelta(hours=horizon_hours)).days
        raise InsufficientHistory(f"{have} days of history is too little to backtest: need at least {need}")
    backtest = run_backtest(
        inputs,
        fold_list,
        params,
        horizon_hours,
        horizon_bands(horizon_hours),
        quantiles,
        truth,
        mapper,
        shifts,
    )
    return (
        backtest,
        evaluate(backtest.grains, quantiles, horizon_bands(horizon_hours)),
        [f.origin for f in fold_list],
    )


def train_and_backtest(
    inputs: pl.DataFrame,
    data_end: datetime,
    data_digest: str,
    params: ModelParameters,
    horizon_hours: int,
    folds: int,
    quantiles: tuple[float, ...],
    truth: pl.DataFrame | None = None,
    progress=None,
    mapper: Mapper = in_order,
    shifts: Mapping[str, ShiftSchedule] | None = None,
) -> TrainingResult:
    backtest, metrics, origins = backtest_only(
        inputs, data_end, params, horizon_hours, folds, quantiles, truth, mapper, shifts
    )
    if progress:
        progress("train: final model on all data")
    rows = training_rows(inputs, data_end, params.train_days)
    return TrainingResult(
        model=untrained(params).fit(rows),
        backtest=backtest,
        metrics=metrics,
        folds_digest=folds_digest(origins, data_digest),
        example=rows.head(5),
        training_data=rows,
    )


# relative difference in WAPE below which two models tie (summation order moves the last digits); a tie
# keeps the champion
TIE = 1e-9


def decide(metrics: dict[str, float], champion_wape: float | None) -> Decision:
    """Champion only if better than the current champion on the same folds and than seasonal naive."""
    wape, naive = metrics["wape"], metrics["seasonal_naive_wape"]
    if wape >= naive:
        return Decision(False, f"wape {wape:.4f} does not beat seasonal naive {naive:.4f}")
    if champion_wape is not None and wape >= champion_wape * (1 - TIE):
        return Decision(False, f"wape {wape:.4f} does not beat the champion's {champion_wape:.4f}")
    against = "no champion yet" if champion_wape is None else f"champion {champion_wape:.4f}"
    return Decision(True, f"wape {wape:.4f} beats seasonal naive {naive:.4f} and {against}")


def charts(result: TrainingResult, quantiles: tuple[float, ...]) -> dict[str, object]:
    figures = {"feature_importance": feature_importance_chart(result.model.feature_importance())}
    agency_hourly = result.backtest.grains["agency_hourly"]
    for agency in sorted(agency_hourly["agency_id"].unique()):
        figures[f"backtest_{agency}"] = backtest_chart(agency_hourly, agency, quantiles)
    return figures


def tables(result: TrainingResult) -> dict[str, pl.DataFrame]:
    metrics = pl.DataFrame({"metric": list(result.metrics), "value": list(result.metrics.values())})
    alphas = pl.DataFrame(
        [
            (grain, agency, alpha)
            for grain, per in result.backtest.alphas.items()
            for agency, alpha in per.items()
        ],
        schema={"grain": pl.String, "agency_id": pl.String, "alpha": pl.Float64},
        orient="row",
    )
    return {
        "metrics": metrics,
        "feature_importance": result.model.feature_importance(),
        "dispersion": alphas,
    }
