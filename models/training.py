"""Training as reviewers see it: a backtest on rolling origins, then the model on all data.

Pure apart from the model fits: frames in; the model, metrics, charts and tables out.
The caller (flows/) reads the warehouse and logs to MLflow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.history import horizon_bands
from features.model_inputs import TARGET
from models.backtest import (
    Backtest,
    Fit,
    Mapper,
    ShiftSchedule,
    baseline_backtest,
    in_order,
    make_folds,
    run_backtest,
    training_rows,
)  # fmt: skip
from models.baseline_model import BASELINE_COLUMNS
from models.demand_model import DemandModel, untrained
from models.metrics import evaluate
from models.parameters import CANDIDATE_NAMES, ModelParameters
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
    params: ModelParameters  # what the model was fitted with (sized or searched)
    search: pl.DataFrame | None = None  # with a search: each candidate's parameters and backtest scores


def folds_digest(origins: list[datetime], data_digest: str) -> str:
    """Identifies a backtest's folds: same origins over the same data means comparable scores."""
    text = "|".join(o.isoformat() for o in origins) + "|" + data_digest
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def first_hour_read(data_end: datetime, horizon_hours: int, folds: int, train_days: int) -> datetime:
    """The earliest target hour training and its backtest read: the oldest fit's end (a fold's
    origin, or early stopping's, a horizon before the newest fold: models.backtest.stopping_rounds)
    less the longer of ``train_days`` and ``MIN_TRAIN`` (which decides whether a fold is kept), so
    rows before it can stay in the warehouse with the same folds, fits and scores."""
    origins = [fold.origin for fold in make_folds(data_end, horizon_hours, folds)] + [data_end]
    origins.append(max(origins[:-1] or [data_end]) - timedelta(hours=horizon_hours))  # early stopping's
    return min(origins) - max(timedelta(days=train_days), MIN_TRAIN)


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
    fit: Fit | None = None,
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
        fit,
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
    fit: Fit | None = None,
) -> TrainingResult:
    """The backtest, then the model fitted on the ``train_days`` before ``data_end``.

    ``params.sizing`` "size" sizes the trees to the training window (``ModelParameters.sized``)
    and "search" also tries the simpler and richer candidates around that size on the same folds,
    keeping the best at the headline grain (the sized one on a tie). ``fit``: where the models are
    fitted (models.backtest.Fit), by default here on the rows of ``inputs``."""
    rows = training_rows(inputs, data_end, params.train_days)
    candidates = sized_candidates(params, rows)
    tried, best = [], 0
    for number, candidate in enumerate(candidates, 1):
        if progress and len(candidates) > 1:
            progress(f"train: search {number}/{len(candidates)}: {candidate.num_leaves} leaves, "
                     f"{candidate.min_data_in_leaf} rows per leaf")  # fmt: skip
        tried.append(backtest_only(inputs, data_end, candidate, horizon_hours, folds, quantiles, truth,
                                   mapper, shifts, fit))  # fmt: skip
        if tried[-1][1]["wape"] < tried[best][1]["wape"] * (1 - TIE):  # a tie keeps the earlier (sized) one
            best = len(tried) - 1
    (backtest, metrics, origins), chosen = tried[best], candidates[best]
    chosen = replace(chosen, num_boost_round=backtest.rounds or chosen.num_boost_round)
    if progress:
        progress("train: final model on all data")
    return TrainingResult(
        model=(untrained(chosen).fit(rows) if fit is None else fit(chosen, data_end)).blended(backtest.blend),
        backtest=backtest,
        metrics=metrics,
        folds_digest=folds_digest(origins, data_digest),
        example=rows.head(5),
        training_data=rows,
        params=chosen,
        search=search_table(candidates, [t[1] for t in tried], best) if len(candidates) > 1 else None,
    )


def sized_candidates(params: ModelParameters, rows: pl.DataFrame) -> list[ModelParameters]:
    """What ``params.sizing`` asks to backtest, for a training window of ``rows``: the parameters as
    given ("fixed"), sized to the window ("size"), or the search's candidates around that ("search")."""
    if params.sizing == "fixed":
        return [params]
    sized = params.sized(rows.height, float(rows[TARGET].sum()))
    return sized.candidates() if params.sizing == "search" else [sized]


def search_table(
    candidates: list[ModelParameters], metrics: list[dict[str, float]], chosen: int
) -> pl.DataFrame:
    """One row per candidate of a search: its tree size and backtest scores, and which was kept."""
    return pl.DataFrame([
        {"candidate": CANDIDATE_NAMES[i], "num_leaves": c.num_leaves,
         "min_data_in_leaf": c.min_data_in_leaf, "wape": m["wape"], "coverage_80": m.get("coverage_80"),
         "bias": m.get("bias"), "chosen": i == chosen}
        for i, (c, m) in enumerate(zip(candidates, metrics, strict=True))
    ])  # fmt: skip


# relative difference in WAPE below which two models tie (summation order moves the last digits); a tie
# keeps the champion
TIE = 1e-9


@dataclass(frozen=True)
class Decision:
    """The gate's verdict on a challenger.

    ``fallback``: when no model (neither the challenger nor the champion) beats the best
    baseline, the model-input column of that baseline (models.baseline_model), published
    as champion in their place. ``lost_on``: agency -> the baseline that beats the
    challenger at the shift grain for that agency (logged; the verdict is on the total)."""

    promote: bool
    reason: str
    fallback: str | None = None
    lost_on: dict[str, str] = field(default_factory=dict)


def baseline_wapes(metrics: dict[str, float], suffix: str = "") -> dict[str, float]:
    """Each baseline's WAPE (name -> value) at the shift grain, overall or (``suffix`` ``_<agency>``)
    for one agency: the baselines of models.baseline_model, scored on the model's own rows."""
    return {
        name: metrics[f"{name}_wape{suffix}"]
        for name in BASELINE_COLUMNS
        if np.isfinite(metrics.get(f"{name}_wape{suffix}", np.nan))
    }


def scored_agencies(metrics: dict[str, float]) -> list[str]:
    """The agencies the backtest scored at the shift grain (each has its own ``coverage_80_<id>``)."""
    return sorted(k.removeprefix("coverage_80_") for k in metrics if k.startswith("coverage_80_"))


def agencies_lost(metrics: dict[str, float]) -> dict[str, str]:
    """Agency -> the best baseline that the model does not beat for that agency at the shift grain."""
    lost = {}
    for agency in scored_agencies(metrics):
        wape, baselines = metrics.get(f"wape_{agency}"), baseline_wapes(metrics, f"_{agency}")
        if wape is None or not baselines:
            continue
        best = min(baselines, key=baselines.__getitem__)
        if wape >= baselines[best]:
            lost[agency] = best
    return lost


def decide(metrics: dict[str, float], champion_wape: float | None) -> Decision:
    """Champion only if better, at the shift grain on the same folds, than every baseline (seasonal
    naive and the hour-of-week mean) and than the current champion; a tie keeps what is there.

    When the challenger loses to a baseline and no champion beats that baseline either, the
    best baseline becomes the champion (``fallback``): planners are never given a forecast
    that a rule of thumb beats on the backtest."""
    wape, baselines = metrics["wape"], baseline_wapes(metrics)
    if not baselines:
        raise ValueError("the backtest scored no baseline at the shift grain: nothing to gate against")
    lost = agencies_lost(metrics)
    per_agency = (
        ""
        if not lost
        else "; per agency it loses to "
        + ", ".join(f"{name} for {agency}" for agency, name in sorted(lost.items()))
    )
    best = min(baselines, key=baselines.__getitem__)
    if wape >= baselines[best]:
        lost_to = f"wape {wape:.4f} does not beat {best} {baselines[best]:.4f}"
        if champion_wape is not None and champion_wape <= baselines[best] * (1 + TIE):
            return Decision(False, f"{lost_to}; the champion's {champion_wape:.4f} does", None, lost)
        return Decision(
            False,
            f"{lost_to}: the {best} baseline is published instead{per_agency}",
            BASELINE_COLUMNS[best],
            lost,
        )
    if champion_wape is not None and wape >= champion_wape * (1 - TIE):
        return Decision(
            False, f"wape {wape:.4f} does not beat the champion's {champion_wape:.4f}", None, lost
        )
    against = "no champion yet" if champion_wape is None else f"champion {champion_wape:.4f}"
    beaten = " and ".join(f"{name} {value:.4f}" for name, value in baselines.items())
    return Decision(True, f"wape {wape:.4f} beats {beaten} and {against}{per_agency}", None, lost)


def decision_table(
    decision: Decision,
    challenger: dict[str, float],
    baselines: dict[str, dict[str, float]],
    champion: tuple[str, dict[str, float]] | None,
) -> pl.DataFrame:
    """What the gate compared, one row per candidate and agency (``all``: the headline total):
    WAPE, coverage_80 and bias at the shift grain, the verdict and its reason.

    ``challenger``: the challenger's backtest metrics (its baselines' WAPE on the same rows);
    ``baselines``: baseline name -> its own backtest metrics (coverage and bias from its own
    dispersion); ``champion``: its label and metrics on the same folds (only ``wape`` when it was
    rescored), if there is one."""
    verdicts = {"challenger": "champion" if decision.promote else "not promoted"}
    for name, column in BASELINE_COLUMNS.items():
        verdicts[name] = "champion (baseline)" if decision.fallback == column else "baseline"
    rows = []

    def add(candidate: str, label: str, metrics: dict[str, float], wapes: dict[str, float], verdict: str):
        for agency in ["all", *scored_agencies(challenger)]:
            suffix = "" if agency == "all" else f"_{agency}"
            wape = wapes.get(f"wape{suffix}")
            scores = (wape, metrics.get(f"coverage_80{suffix}"), metrics.get(f"bias{suffix}"))
            rows.append((candidate, label, agency, *scores, verdict, decision.reason))

    add("challenger", "trained model", challenger, challenger, verdicts["challenger"])
    for name, column in BASELINE_COLUMNS.items():
        own = baselines.get(name, {})
        wapes = {k.removeprefix(f"{name}_"): v for k, v in challenger.items() if k.startswith(f"{name}_wape")}
        add(name, column, own, wapes, verdicts[name])
    if champion is not None:
        label, metrics = champion
        kept = not decision.promote and decision.fallback is None
        add("champion", label, metrics, metrics, "kept" if kept else "replaced")
    return pl.DataFrame(
        rows,
        schema={"candidate": pl.String, "model": pl.String, "agency_id": pl.String, "wape": pl.Float64,
                "coverage_80": pl.Float64, "bias": pl.Float64, "verdict": pl.String, "reason": pl.String},
        orient="row",
    )  # fmt: skip


def baseline_results(
    result: TrainingResult, quantiles: tuple[float, ...], horizon_hours: int
) -> dict[str, tuple[Backtest, dict[str, float]]]:
    """Each baseline's backtest and metrics on the challenger's own rows and folds."""
    out = {}
    for name, column in BASELINE_COLUMNS.items():
        backtest = baseline_backtest(result.backtest, column, quantiles)
        out[name] = (backtest, evaluate(backtest.grains, quantiles, horizon_bands(horizon_hours)))
    return out


def charts(result: TrainingResult, quantiles: tuple[float, ...]) -> dict[str, object]:
    figures = {"feature_importance": feature_importance_chart(result.model.feature_importance())}
    agency_hourly = result.backtest.grains["agency_hourly"]
    for agency in sorted(agency_hourly["agency_id"].unique()):
        figures[f"backtest_{agency}"] = backtest_chart(agency_hourly, agency, quantiles)
    return figures


def tables(result: TrainingResult) -> dict[str, pl.DataFrame]:
    found = run_tables(result.metrics, result.backtest, result.model)
    return found if result.search is None else {**found, "search": result.search}


def run_tables(metrics: dict[str, float], backtest: Backtest, model: DemandModel) -> dict[str, pl.DataFrame]:
    """The tables a run logs: its metrics, the model's feature importance, the dispersion per grain."""
    alphas = pl.DataFrame(
        [(grain, agency, alpha) for grain, per in backtest.alphas.items() for agency, alpha in per.items()],
        schema={"grain": pl.String, "agency_id": pl.String, "alpha": pl.Float64},
        orient="row",
    )
    found = {
        "metrics": pl.DataFrame({"metric": list(metrics), "value": list(metrics.values())}),
        "feature_importance": model.feature_importance(),
        "dispersion": alphas,
    }
    if backtest.blend:
        found["blend"] = pl.DataFrame(
            {"agency_id": list(backtest.blend), "weight_on_model": list(backtest.blend.values())}
        )
    return found
