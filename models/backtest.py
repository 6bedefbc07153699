"""Rolling-origin backtest: train before each origin, forecast the horizon after it.

Folds are back to back and end at the data's end: fold k's origin is ``end - k x
horizon``. Each fold trains on the ``train_days`` before its origin and forecasts every
hour of the next ``horizon`` with the band that hour's lead time allows. Baselines come
from the same rows: seasonal naive (the same hour in the last week before the origin)
and the mean of that hour over the last 4 weeks; the oracle is the true rate, known only
where the simulator's truth is at hand (``<workspace>/truth/rates.parquet``). Without
truth the oracle column stays null at every grain, so no oracle score is made up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

import polars as pl

from features.model_inputs import TARGET
from features.shifts import shift_instances
from models.blend import cross_fitted
from models.demand_model import DemandModel, untrained
from models.distribution import dispersions, quantile_name, with_quantiles
from models.parameters import ModelParameters

log = logging.getLogger(__name__)
SHIFT_HOURS = 8
GRAINS = {  # grain -> the keys a forecast is summed over
    "hourly": ("agency_id", "area_id", "origin", "bucket_start"),
    "shift": ("agency_id", "area_id", "origin", "block"),
    "agency_hourly": ("agency_id", "origin", "bucket_start"),
}
SUMMED = ("actual", "mean", "seasonal_naive", "how_mean_4", "oracle")


@dataclass(frozen=True)
class Fold:
    origin: datetime
    end: datetime


def make_folds(data_end: datetime, horizon_hours: int, count: int) -> list[Fold]:
    """Back-to-back test windows ending at ``data_end`` (exclusive), oldest first."""
    step = timedelta(hours=horizon_hours)
    return [Fold(data_end - k * step, data_end - (k - 1) * step) for k in range(count, 0, -1)]


def lead_hours(origin: datetime) -> pl.Expr:
    """Hours ahead of the origin: its own hour is lead 1."""
    return ((pl.col("bucket_start") - pl.lit(origin)).dt.total_hours() + 1).cast(pl.Int32)


def fold_rows(
    inputs: pl.DataFrame, origin: datetime, horizon_hours: int, bands: tuple[int, ...]
) -> pl.DataFrame:
    """The rows a fold from ``origin`` scores: for each series and lead time 1..horizon, the row of
    the band that lead time uses (models.forecasting.forecast_rows starts each agency at its data end)."""
    window = inputs.filter(pl.col("bucket_start") >= origin).with_columns(horizon=lead_hours(origin))
    return window.filter(pl.col("horizon") <= horizon_hours, pl.col("min_lag") == band_expr(bands))


def band_expr(bands: tuple[int, ...]) -> pl.Expr:
    """The band (features.history.band_for) of each row's ``horizon``."""
    expr = pl.lit(bands[-1], pl.Int16)
    for band in reversed(bands[:-1]):
        expr = pl.when(pl.col("horizon") <= band).then(pl.lit(band, pl.Int16)).otherwise(expr)
    return expr


def training_rows(inputs: pl.DataFrame, origin: datetime, train_days: int) -> pl.DataFrame:
    start = origin - timedelta(days=train_days)
    return inputs.filter(
        pl.col("bucket_start") >= start, pl.col("bucket_start") < origin, pl.col(TARGET).is_not_null()
    )


@dataclass
class Backtest:
    predictions: pl.DataFrame  # hourly, every fold, with quantiles
    grains: dict[str, pl.DataFrame]  # each grain, with quantiles from that grain's dispersion
    alphas: dict[str, dict[str, float]]  # grain -> agency -> alpha, from all folds (for forecasting)
    blend: dict[str, float] = field(default_factory=dict)
    """Per agency, the weight on the model in its blend with the hour-of-week mean, learned on every
    fold (models.blend); empty when the parameters ask for no blend."""
    rounds: int | None = None
    """The trees of the folds' models: chosen by early stopping on the newest fold, or as given."""


Mapper = Callable[[Callable[[Fold], pl.DataFrame], list[Fold]], list[pl.DataFrame]]
Fit = Callable[[ModelParameters, datetime], DemandModel]
"""Fits the model with these parameters on the ``train_days`` before an origin, somewhere else than
on the rows in hand (models.lightgbm_dask.DaskFit: on a Dask cluster, from the warehouse's Parquet)."""


def in_order(function: Callable[[Fold], pl.DataFrame], folds: list[Fold]) -> list[pl.DataFrame]:
    """The default ``Mapper``: one fold after the other, here."""
    return [function(fold) for fold in folds]


def fold_forecast(
    inputs: pl.DataFrame,
    fold: Fold,
    params: ModelParameters,
    horizon_hours: int,
    bands: tuple[int, ...],
    fit: Fit | None = None,
) -> pl.DataFrame:
    """Train on the days before the fold's origin (here, or by ``fit``) and forecast its horizon,
    beside the baselines."""
    if fit is None:
        training = training_rows(inputs, fold.origin, params.train_days)
        log.info(
            "train: backtest fold from %s UTC: fitting on %s rows",
            f"{fold.origin:%Y-%m-%d %H:%M}",
            f"{len(training):,}",
        )
        model = untrained(params).fit(training)
    else:
        model = fit(params, fold.origin)
    rows = fold_rows(inputs, fold.origin, horizon_hours, bands).filter(pl.col(TARGET).is_not_null())
    return rows.select(
        "agency_id",
        "area_id",
        "bucket_start",
        "horizon",
        "min_lag",
        pl.lit(fold.origin).alias("origin"),
        pl.col(TARGET).cast(pl.Float64).alias("actual"),
        pl.Series("mean", model.predict_mean(rows)),
        pl.col("lag_week_1").cast(pl.Float64).alias("seasonal_naive"),
        pl.col("how_mean_4").cast(pl.Float64),
    )  # fmt: skip


def stopping_rounds(
    inputs: pl.DataFrame, fold: Fold, params: ModelParameters, horizon_hours: int, bands: tuple[int, ...]
) -> int:
    """The trees early stopping keeps for ``fold`` (``params.early_stopping_rounds``), chosen on hours
    the backtest never scores: fitted on the ``train_days`` before one horizon ahead of the fold's
    origin and stopped on the forecast from there over that horizon, the last one before the origin."""
    start = fold.origin - timedelta(hours=horizon_hours)
    training = training_rows(inputs, start, params.train_days)
    held = fold_rows(inputs, start, horizon_hours, bands)
    if training[TARGET].is_null().all() or held[TARGET].is_null().all():
        return params.num_boost_round  # too little history before the fold to choose on
    log.info("train: choosing the number of trees on the %d h before %s UTC", horizon_hours,
             f"{fold.origin:%Y-%m-%d %H:%M}")  # fmt: skip
    return untrained(params).fit(training, held).params.num_boost_round


def run_backtest(
    inputs: pl.DataFrame,
    folds: list[Fold],
    params: ModelParameters,
    horizon_hours: int,
    bands: tuple[int, ...],
    quantiles: tuple[float, ...],
    truth: pl.DataFrame | None = None,
    mapper: Mapper = in_order,
    shifts: Mapping[str, ShiftSchedule] | None = None,
    fit: Fit | None = None,
) -> Backtest:
    """Every fold's forecast (``mapper`` runs them: in order here by default, or elsewhere,
    e.g. as tasks on a cluster), scored at every grain.

    With ``params.early_stopping_rounds`` (and no ``fit``: LightGBM's Dask interface has no early
    stopping), the number of trees is chosen first by ``stopping_rounds`` on the horizon before the
    newest fold, then every fold is fitted with it (``Backtest.rounds``, which the final model takes
    too): every fold's score stays out of sample.

    The "shift" grain is each agency's own shifts (``shifts``: agency id -> its time zone and
    shift schedule, the ones staffing uses), whole shifts inside the fold only; without a
    schedule, 8-hour blocks counted from the fold's origin. ``fit``: where each fold's model is fitted
    (models.backtest.Fit); by default here, on the fold's rows of ``inputs``."""

    if params.early_stopping_rounds > 0 and folds and fit is None:
        stopped = partial(stopping_rounds, inputs, params=params, horizon_hours=horizon_hours, bands=bands)
        [rounds] = mapper(stopped, folds[-1:])
        params = replace(params, num_boost_round=rounds)
        log.info("train: early stopping kept %d trees", rounds)
    one = partial(fold_forecast, inputs, params=params, horizon_hours=horizon_hours, bands=bands, fit=fit)
    parts = mapper(one, folds)
    hourly = with_shift_blocks(pl.concat(parts), folds, shifts)
    weights = {}
    if params.blend:
        hourly, weights = cross_fitted(hourly)
    if truth is not None:
        hourly = hourly.join(
            truth.rename({"rate": "oracle"}), on=["agency_id", "area_id", "bucket_start"], how="left"
        )
    else:
        hourly = hourly.with_columns(oracle=pl.lit(None, pl.Float64))
    grains, alphas = {}, {}
    for grain, keys in GRAINS.items():
        rows = hourly.filter(pl.col("block").is_not_null()) if grain == "shift" else hourly
        summed = aggregate(rows, keys)
        grains[grain] = cross_fitted_quantiles(summed, quantiles)
        alphas[grain] = dispersions(summed)
    return Backtest(grains["hourly"], grains, alphas, weights, params.num_boost_round)


@dataclass(frozen=True)
class ShiftSchedule:
    """One agency's shifts, as staffing counts them: local wall-clock shifts in ``timezone``."""

    timezone: str
    shifts: tuple  # of jointcast.config.Shift: name, start (local time), hours


def with_shift_blocks(
    hourly: pl.DataFrame, folds: list[Fold], shifts: Mapping[str, ShiftSchedule] | None
) -> pl.DataFrame:
    """``block``: the start (UTC) of the agency's shift an hour falls in, null for an hour in no
    whole shift of its fold; or, without schedules, the 8-hour block from the fold's origin."""
    if not shifts:
        return hourly.with_columns(block=pl.datetime(2000, 1, 1, time_zone="UTC") + pl.duration(
            hours=(pl.col("horizon") - 1) // SHIFT_HOURS * SHIFT_HOURS))  # fmt: skip
    instances = [
        shift_instances(schedule.shifts, schedule.timezone, fold.origin, fold.end)
        .select("shift_start", "shift_end")
        .with_columns(agency_id=pl.lit(agency), origin=pl.lit(fold.origin).cast(hourly.schema["origin"]))
        for agency, schedule in sorted(shifts.items())
        for fold in folds
    ]
    spans = pl.concat(instances).sort("shift_start")
    placed = hourly.sort("bucket_start").join_asof(
        spans,
        left_on="bucket_start",
        right_on="shift_start",
        by=["agency_id", "origin"],
        strategy="backward",
        check_sortedness=False,  # both sides sorted just above
    )
    inside = pl.col("bucket_start") < pl.col("shift_end")
    return placed.with_columns(block=pl.when(inside).then(pl.col("shift_start"))).drop(
        "shift_start", "shift_end"
    )


def aggregate(hourly: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
    if keys == GRAINS["hourly"]:
        return hourly
    return hourly.group_by(keys).agg(
        *(total(c) for c in SUMMED), pl.col("horizon").min(), pl.col("min_lag").min()
    )


def total(column: str) -> pl.Expr:
    """The sum over a group, null when any part is null: a shift's total is known only when
    every hour of it is (polars' own sum would count an unknown hour, e.g. a true rate where
    there is no truth, as 0)."""
    return pl.when(pl.col(column).null_count() == 0).then(pl.col(column).sum()).alias(column)


def cross_fitted_quantiles(frame: pl.DataFrame, quantiles: tuple[float, ...]) -> pl.DataFrame:
    """Quantiles for each fold from the dispersion seen in the *other* folds (honest coverage)."""
    origins = frame["origin"].unique().sort().to_list()
    parts = []
    for origin in origins:
        others = frame.filter(pl.col("origin") != origin) if len(origins) > 1 else frame
        parts.append(with_quantiles(frame.filter(pl.col("origin") == origin), dispersions(others), quantiles))
    return pl.concat(parts)


BASELINE_FORECASTS = {"lag_week_1": "seasonal_naive", "how_mean_4": "how_mean_4"}
"""A baseline's model-input column -> its column in a backtest's frames."""


def baseline_backtest(backtest: Backtest, column: str, quantiles: tuple[float, ...]) -> Backtest:
    """The backtest of a baseline (a model-input column, see BASELINE_FORECASTS) on the model's own
    rows: its values as the forecast, with quantiles and dispersion from its own errors, cross-fitted
    over the folds as the model's are. Rows where the baseline is unknown are left out."""
    forecast = BASELINE_FORECASTS[column]
    grains, alphas = {}, {}
    for grain, frame in backtest.grains.items():
        rows = frame.drop([quantile_name(q) for q in quantiles], strict=False)
        rows = rows.filter(pl.col(forecast).is_not_null()).with_columns(mean=pl.col(forecast))
        grains[grain] = (
            cross_fitted_quantiles(rows, quantiles) if rows.height else with_quantiles(rows, {}, quantiles)
        )
        alphas[grain] = dispersions(rows)
    return Backtest(grains["hourly"], grains, alphas)
