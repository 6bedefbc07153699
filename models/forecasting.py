"""The forecast itself: the champion model over the hours after each agency's latest data.

Each agency's forecast starts at the end of its own observed data (a late feed starts
later), and each hour ahead uses the horizon band its lead time allows, exactly as the
backtest scored it. Quantiles come from the count distribution with the dispersion the
backtest measured. Pure: frames and the model in, frames out.

The model reads its inputs by name, so what it needs is what it was trained on:
``unmatched_features`` says, in one line, when the warehouse's model inputs no longer
provide exactly those features (a feature added, dropped or renamed since).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from features.panel import SERIES
from models.backtest import band_expr
from models.demand_model import DemandModel
from models.distribution import quantile_map, with_quantiles
from models.drivers import drivers

QUANTILES = (0.1, 0.5, 0.9)  # the published p10, p50 and p90: always these, whatever is configured


@dataclass(frozen=True)
class ModelForecast:
    hourly: pl.DataFrame  # agency_id, area_id, bucket_start, horizon, mean, p10, p50, p90, quantiles, drivers
    data_as_of: dict[str, datetime]  # per agency: the end (exclusive) of its observed data


def forecast_rows(
    inputs: pl.DataFrame, data_as_of: dict[str, datetime], horizon_hours: int, bands: tuple[int, ...]
) -> pl.DataFrame:
    """Every series' next ``horizon_hours`` hours after its agency's data end, one band each."""
    ends = pl.DataFrame(
        list(data_as_of.items()),
        schema={"agency_id": pl.String, "_end": inputs.schema["bucket_start"]},
        orient="row",
    )
    horizon = ((pl.col("bucket_start") - pl.col("_end")).dt.total_hours() + 1).cast(pl.Int32)
    return (
        inputs.join(ends, on="agency_id")
        .filter(pl.col("bucket_start") >= pl.col("_end"))
        .with_columns(horizon=horizon)
        .filter(pl.col("horizon") <= horizon_hours, pl.col("min_lag") == band_expr(bands))
        .drop("_end")
        .sort(*SERIES, "bucket_start")
    )


def unmatched_features(model: DemandModel, columns: Iterable[str], name: str) -> str | None:
    """Why ``model`` (called ``name``) cannot forecast from model inputs with these ``columns``,
    in one line, or None when they provide exactly the features it was trained on."""
    trained, provided = model.features, model.features_from(columns)
    lacking = [f for f in trained if f not in provided]
    new = [f for f in provided if f not in trained]
    if not lacking and not new:
        return None
    said = []
    if lacking:
        said.append(f"was trained on features the warehouse's model inputs lack ({', '.join(lacking)})")
    if new:
        said.append(f"was not trained on features the model inputs now have ({', '.join(new)})")
    return f"{name} {' and '.join(said)}: run `jointcast train`"


def forecast_demand(
    model: DemandModel,
    inputs: pl.DataFrame,
    data_as_of: dict[str, datetime],
    horizon_hours: int,
    bands: tuple[int, ...],
    hourly_alphas: dict[str, float],
    quantiles: tuple[float, ...] = QUANTILES,
) -> ModelForecast:
    """Mean, p10/p50/p90, every configured quantile and the top three drivers of every
    series x hour ahead.

    ``inputs`` holds the model-input rows after the data's end (those with no target yet);
    ``data_as_of`` gives each agency's data end, where its forecast starts; ``quantiles``
    (the config's forecast.quantiles) are the levels of the ``quantiles`` map column.
    """
    rows = forecast_rows(inputs, data_as_of, horizon_hours, bands)
    if rows.is_empty():
        raise ValueError("no hours to forecast: features.model_inputs holds no future rows")
    mean = model.predict_mean(rows)
    hourly = rows.select(*SERIES, "bucket_start", "horizon").with_columns(mean=pl.Series(mean))
    hourly = configured_quantiles(
        with_quantiles(hourly, hourly_alphas, QUANTILES).with_columns(_published_quantiles()),
        hourly_alphas,
        quantiles,
    ).with_columns(drivers=pl.Series(drivers(model.explain(rows)), dtype=pl.String))
    agencies = set(inputs["agency_id"].unique())
    return ModelForecast(hourly, {agency: end for agency, end in data_as_of.items() if agency in agencies})


def configured_quantiles(
    hourly: pl.DataFrame, alphas: dict[str, float], quantiles: tuple[float, ...]
) -> pl.DataFrame:
    """``hourly`` (agency_id, mean) with ``quantiles``: a map of each configured level to its
    count quantile, clipped at zero like p10/p50/p90 and from the same distribution, so the
    levels 0.1, 0.5 and 0.9 (when configured) hold the p10, p50 and p90 of the row."""
    return quantile_map(hourly, alphas, tuple(quantiles))


def agency_totals(hourly: pl.DataFrame, alphas: dict[str, float], mean: str = "mean") -> pl.DataFrame:
    """Per agency x hour: the total of its areas, with the quantiles of that total."""
    totals = hourly.group_by("agency_id", "bucket_start").agg(pl.col(mean).sum().alias("mean"))
    return with_quantiles(totals.sort("agency_id", "bucket_start"), alphas, QUANTILES).with_columns(
        _published_quantiles()
    )


def _published_quantiles() -> pl.Expr:
    """Continuous count quantiles dip below zero for quiet hours; no one plans for -0.4 calls."""
    return pl.col("p10", "p50", "p90").clip(lower_bound=0.0)
