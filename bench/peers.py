"""jointcast beside open-source forecasters: same run, same panel, same folds, same scoring.

    python -m bench.peers [demo|montco] [--data PATH] [--workspace DIR] [--folds N]

The panel is jointcast's own feature store (``features.demand``: incidents per agency x area
x hour, zeros included) and the folds are its backtest's (``models.training.backtest_only``:
back-to-back ``horizon_hours`` windows ending at the data's end). Each peer is fitted on the
hours before a fold's origin and forecasts every hour of the fold; its hourly means replace
jointcast's ``mean`` in the backtest's hourly frame, so the shift blocks (each agency's own
shifts), the summing to shifts and to agency-hours, and the WAPE are the backtest's code for
every row of the table (``score``). The peers:

- mlforecast with LightGBM, one global model over every series: lags of at least the horizon
  (so no forecast feeds another: every lead time is forecast directly), rolling means of the
  horizon lag, hour and day-of-week features, and a ``log1p`` target transform (mlforecast's
  ``GlobalSklearnTransformer``, as its docs show for counts); 80% intervals by its conformal
  ``PredictionIntervals`` (2 windows of the horizon).
- statsforecast MSTL (seasons 24 and 168 hours, AutoETS trend) and AutoETS (season 24) per
  series, on the last ``STATS_WEEKS`` weeks before the origin (a full year of hours per series is
  slow for ETS and adds little to a 2-week forecast); 80% intervals from the models.
- seasonal naive (the same hour in the last week before the origin) and the 4-week hour-of-week
  mean: the backtest's own baseline columns, built from the same panel.
- the true rates, on a simulated workspace only: the error no model can beat.

Peers see the hours in UTC, jointcast its local calendar features: the peers are run as their
docs show, not taught jointcast's features. An hour the feature store marks unobserved (a feed
outage) has no count; the peers get 0 there, as a series without jointcast's outage mask would.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

KEYS = ["agency_id", "area_id", "origin", "bucket_start"]
STATS_WEEKS = 8
PEERS = ("mlforecast", "statsforecast")
OURS, OUR_MEDIAN, ORACLE = (
    "jointcast (LightGBM)",
    "jointcast p50 (median of each total)",
    "true rates (oracle)",
)
LEVELLED = "jointcast, each area's fold total from the truth (diagnostic)"
UNBIASED = 0.05
"""A forecaster whose shift bias is within this share reads as a forecast of the mean, as jointcast's is."""
ROOT = Path(__file__).resolve().parents[1]


def series_panel(demand: pl.DataFrame, origin: datetime, days: int) -> pl.DataFrame:
    """The long ``unique_id, ds, y`` frame of the ``days`` before ``origin`` (naive UTC hours)."""
    start = origin - timedelta(days=days)
    return (
        demand.filter(pl.col("bucket_start") >= start, pl.col("bucket_start") < origin)
        .select(
            pl.concat_str("agency_id", "area_id", separator="|").alias("unique_id"),
            pl.col("bucket_start").dt.replace_time_zone(None).alias("ds"),
            pl.col("incidents").fill_null(0).cast(pl.Float64).alias("y"),
        )
        .sort("unique_id", "ds")
    )


def keyed(forecast: pl.DataFrame, origin: datetime, model: str) -> pl.DataFrame:
    """A peer's forecast (``unique_id, ds, model[, model-lo-80, model-hi-80]``) on the backtest's keys."""
    intervals = [f"{model}-lo-80", f"{model}-hi-80"]
    has_intervals = all(c in forecast.columns for c in intervals)
    parts = pl.col("unique_id").str.split_exact("|", 1)
    return forecast.select(
        parts.struct.field("field_0").alias("agency_id"),
        parts.struct.field("field_1").alias("area_id"),
        pl.lit(origin).alias("origin"),
        pl.col("ds").dt.replace_time_zone("UTC").alias("bucket_start"),
        pl.col(model).clip(0).alias("mean"),
        *(
            (pl.col(intervals[0]).clip(0).alias("lo_80"), pl.col(intervals[1]).clip(0).alias("hi_80"))
            if has_intervals
            else (pl.lit(None, pl.Float64).alias("lo_80"), pl.lit(None, pl.Float64).alias("hi_80"))
        ),
    )


def mlforecast_lightgbm(
    demand: pl.DataFrame,
    origin: datetime,
    horizon: int,
    train_days: int,
    objective: str = "log1p",
    intervals: bool = True,
) -> pl.DataFrame:
    """mlforecast's LightGBM; ``objective`` "log1p" (squared error on log1p counts, its docs' target
    transform: a forecast nearer the median, biased low for counts) or "poisson" (LightGBM's Poisson
    objective on the counts themselves, as jointcast fits: a forecast of the mean). Without
    ``intervals``, no conformal intervals (they refit the model on 2 more windows)."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean, SeasonalRollingMean
    from mlforecast.target_transforms import GlobalSklearnTransformer
    from mlforecast.utils import PredictionIntervals
    from sklearn.preprocessing import FunctionTransformer

    weeks = [w * 168 for w in range(1, 5) if w * 168 >= horizon]
    lags = sorted({horizon, horizon + 24, *weeks})
    model = lgb.LGBMRegressor(n_estimators=150, learning_rate=0.1, num_leaves=63, n_jobs=2, verbose=-1,
                              objective="poisson" if objective == "poisson" else "regression")  # fmt: skip
    transforms = (
        [GlobalSklearnTransformer(FunctionTransformer(np.log1p, np.expm1))] if objective == "log1p" else []
    )
    forecaster = MLForecast(
        models={"mlforecast": model},
        freq="h",
        lags=lags,
        lag_transforms={
            horizon: [
                RollingMean(window_size=24),
                RollingMean(window_size=168),
                SeasonalRollingMean(season_length=168, window_size=4),
            ],
        },  # fmt: skip
        date_features=["hour", "dayofweek"],
        target_transforms=transforms,
        num_threads=2,
    )
    history = max(lags) + 168 * 4 + 24
    panel = series_panel(demand, origin, train_days + history // 24 + 1).to_pandas()
    if not intervals:
        forecaster.fit(panel)
        return keyed(pl.from_pandas(forecaster.predict(h=horizon)), origin, "mlforecast")
    forecaster.fit(panel, prediction_intervals=PredictionIntervals(n_windows=2, h=horizon))
    return keyed(pl.from_pandas(forecaster.predict(h=horizon, level=[80])), origin, "mlforecast")


def statsforecast_models(
    demand: pl.DataFrame, origin: datetime, horizon: int, train_days: int
) -> pl.DataFrame:
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    models = [MSTL(season_length=[24, 168], alias="MSTL"), AutoETS(season_length=24, alias="AutoETS")]
    panel = series_panel(demand, origin, min(train_days, STATS_WEEKS * 7)).to_pandas()
    forecast = pl.from_pandas(
        StatsForecast(models=models, freq="h", n_jobs=2).forecast(df=panel, h=horizon, level=[80])
    )
    if "unique_id" not in forecast.columns:  # older releases keep the id as the index
        forecast = pl.from_pandas(forecast.to_pandas().reset_index())
    return pl.concat([keyed(forecast, origin, m).with_columns(peer=pl.lit(m)) for m in ("MSTL", "AutoETS")])


def peer_forecasts(
    demand: pl.DataFrame, origins: list[datetime], horizon: int, train_days: int
) -> tuple[dict[str, pl.DataFrame], dict[str, float]]:
    """Every peer's hourly forecast of every fold, keyed like the backtest, and each peer's seconds."""
    names = {"MSTL": "statsforecast MSTL", "AutoETS": "statsforecast AutoETS"}
    frames: dict[str, list[pl.DataFrame]] = {}
    seconds: dict[str, float] = {}
    for origin in origins:
        for objective in ("log1p", "poisson"):
            name = f"mlforecast LightGBM ({objective})"
            started = time.perf_counter()
            frames.setdefault(name, []).append(
                mlforecast_lightgbm(demand, origin, horizon, train_days, objective)
            )
            seconds[name] = seconds.get(name, 0) + time.perf_counter() - started
        started = time.perf_counter()
        stats = statsforecast_models(demand, origin, horizon, train_days)
        for (model,), part in stats.group_by("peer"):
            frames.setdefault(names[model], []).append(part.drop("peer"))
        seconds["statsforecast MSTL + AutoETS"] = (
            seconds.get("statsforecast MSTL + AutoETS", 0) + time.perf_counter() - started
        )
    return {name: pl.concat(parts) for name, parts in frames.items()}, seconds


def with_peer(hourly: pl.DataFrame, peer: pl.DataFrame) -> pl.DataFrame:
    """The backtest's hourly rows with the peer's forecast as ``mean``; every row must have one."""
    joined = hourly.drop("mean", "lo_80", "hi_80", strict=False).join(peer, on=KEYS, how="left")
    missing = joined["mean"].null_count()
    if missing:
        raise ValueError(f"peer forecast misses {missing} of the backtest's {hourly.height} hourly rows")
    return joined


def score(
    hourly: pl.DataFrame, areas: list[str] | None = None, grains: dict[str, pl.DataFrame] | None = None
) -> dict[str, float]:
    """WAPE at the backtest's grains (shift per agency x area, hour per agency) and bias, for the
    ``mean`` column of ``hourly`` summed to each grain (or of ``grains``' own frames, e.g. a
    quantile of each grain's total); coverage of the hourly 80% interval where there is one."""
    from models.backtest import GRAINS, aggregate
    from models.metrics import point_scores

    def wape(frame: pl.DataFrame) -> dict[str, float]:
        frame = frame.filter(pl.col("seasonal_naive").is_not_null())
        actual = frame["actual"].to_numpy()
        return point_scores(actual, frame["mean"].to_numpy(), frame["seasonal_naive"].to_numpy())

    grains = grains or {
        "shift": aggregate(hourly.filter(pl.col("block").is_not_null()), GRAINS["shift"]),
        "agency_hourly": aggregate(hourly, GRAINS["agency_hourly"]),
    }
    shift = grains["shift"]
    scores = {"wape": wape(shift)["wape"], "bias": wape(shift)["bias"]}
    for (agency,), part in sorted(shift.group_by("agency_id"), key=lambda item: item[0]):
        scores[f"wape_{agency}"] = wape(part)["wape"]
    if areas is not None:
        scores["wape_busiest"] = wape(shift.filter(pl.col("area_id").is_in(areas)))["wape"]
    scores["wape_agency_hourly"] = wape(grains["agency_hourly"])["wape"]
    if "lo_80" in hourly.columns and hourly["lo_80"].null_count() == 0:
        inside = (hourly["actual"] >= hourly["lo_80"]) & (hourly["actual"] <= hourly["hi_80"])
        scores["coverage_80_hourly"] = float(inside.mean())
    return scores


def compare(
    grains: dict[str, pl.DataFrame], peers: dict[str, pl.DataFrame], areas: list[str] | None
) -> dict[str, dict[str, float]]:
    """Scores of jointcast (its mean, and the median of each grain's total), each peer, the two
    baselines and (where known) the true rates."""
    from models.distribution import quantile_name

    hourly = grains["hourly"]
    ours = hourly.with_columns(lo_80=pl.col(quantile_name(0.1)), hi_80=pl.col(quantile_name(0.9)))
    rows = {OURS: score(ours, areas)}
    median = quantile_name(0.5)
    if all(g in grains and median in grains[g].columns for g in ("shift", "agency_hourly")):
        medians = {g: grains[g].with_columns(mean=pl.col(median)) for g in ("shift", "agency_hourly")}
        rows[OUR_MEDIAN] = score(hourly, areas, medians)
    for name, peer in peers.items():
        rows[name] = score(with_peer(hourly, peer), areas)
    # forecasting no incident at all: its WAPE is exactly 1, the mark a sparse series' WAPE is read against
    rows["zero (no incident ever)"] = score(hourly.with_columns(mean=pl.lit(0.0)), areas)
    for name, column in (("seasonal naive", "seasonal_naive"), ("hour-of-week mean, 4 weeks", "how_mean_4"),
                         (ORACLE, "oracle")):  # fmt: skip
        if hourly[column].null_count() == 0:
            rows[name] = score(hourly.with_columns(mean=pl.col(column)), areas)
    if ORACLE in rows:
        rows[LEVELLED] = score(with_true_level(hourly), areas)
    return rows


def with_true_level(hourly: pl.DataFrame) -> pl.DataFrame:
    """jointcast's hourly means scaled so that each agency x area's total over a fold is the true
    rates' total: what knowing each area's level would leave of its error (the shape within the
    fold is the model's). A diagnostic, known on a simulated workspace only."""
    series = ("agency_id", "area_id", "origin")
    total = pl.col("mean").sum().over(series)
    ratio = pl.when(total > 0).then(pl.col("oracle").sum().over(series) / total).otherwise(1.0)
    return hourly.with_columns(mean=pl.col("mean") * ratio)


def prepare(config: Path) -> tuple:
    """Ingest, validate and build features for ``config`` with the stages' own functions (as
    ``jointcast features`` does), then read what the backtest reads: settings, model inputs, the
    demand panel, the data's end and the simulator's truth (None for a real feed)."""
    from bench.harness import core_incidents
    from features.build import FeatureParameters, build_features
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_events, read_frame, write_features
    from warehouse.model_store import data_end, read_model_inputs, read_truth

    settings, incidents = core_incidents(config)
    built = build_features(
        incidents.lazy(), read_events(settings.events_path), FeatureParameters.from_settings(settings)
    )
    with open_warehouse(settings.warehouse_path) as con:
        bands = (built.model_inputs(band).collect() for band in built.bands)
        write_features(con, built.joint_events, built.tables(), bands, None, built.outages)
        inputs = read_model_inputs(con)
        demand = read_frame(con, "SELECT agency_id, area_id, bucket_start, incidents FROM features.demand")
        end, _ = data_end(con)
    return settings, inputs, demand, end, read_truth(settings.root)


def run(config: Path, folds: int | None, busiest: int | None) -> dict:
    from flows.pending import configured_parameters
    from flows.train import shift_schedules
    from models.backtest import training_rows
    from models.training import backtest_only, sized_candidates

    started = time.perf_counter()
    settings, inputs, demand, end, truth = prepare(config)
    timings = {"prepare_s": round(time.perf_counter() - started, 1)}
    configured = configured_parameters(settings)  # as `jointcast train` sizes them (without a search)
    params = sized_candidates(configured, training_rows(inputs, end, configured.train_days))[0]
    horizon = settings.forecast.horizon_hours
    started = time.perf_counter()
    backtest, metrics, origins = backtest_only(
        inputs,
        end,
        params,
        horizon,
        folds or settings.forecast.backtest_folds,
        settings.forecast.quantiles,
        truth,
        shifts=shift_schedules(settings),
    )
    timings["jointcast LightGBM"] = round(time.perf_counter() - started, 1)
    peers, seconds = peer_forecasts(demand, origins, horizon, params.train_days)
    timings.update({name: round(value, 1) for name, value in seconds.items()})
    areas = None
    if busiest:
        totals = (
            demand.filter(pl.col("area_id") != "unknown").group_by("area_id").agg(pl.col("incidents").sum())
        )
        areas = totals.sort("incidents", descending=True).head(busiest)["area_id"].to_list()
    rows = compare(backtest.grains, peers, areas)
    return {
        "series": demand.select("agency_id", "area_id").n_unique(),
        "fold_origins": [o.isoformat() for o in origins],
        "horizon_hours": horizon,
        "train_days": params.train_days,
        "versions": versions(),
        "jointcast_trees": f"{params.num_leaves} leaves, {params.min_data_in_leaf} rows per leaf ({params.sizing})",
        "unobserved_hours": demand["incidents"].null_count(),
        "jointcast_shift_coverage_80": metrics.get("coverage_80"),
        "jointcast_shift_coverage_80_per_agency": {
            k.removeprefix("coverage_80_"): round(v, 3)
            for k, v in sorted(metrics.items())
            if k.startswith("coverage_80_")
        },  # fmt: skip
        "jointcast_blend": backtest.blend,
        "busiest": busiest,
        "rows": rows,
        "against_truth": totals_against_truth(backtest.grains["hourly"]),
        "seconds": timings,
    }


def totals_against_truth(hourly: pl.DataFrame) -> list[dict]:
    """Per agency and fold, jointcast's forecast total, the hour-of-week mean's and the actual count
    over the true rates' total (a simulated workspace only; empty without the truth). A ratio that
    drifts one way fold after fold is a level the forecaster lags, e.g. a season it cannot see."""
    if hourly["oracle"].null_count():
        return []
    totals = hourly.group_by("agency_id", "origin").agg(
        pl.col("mean", "how_mean_4", "actual", "oracle").sum()
    )
    ratios = [(pl.col(c) / pl.col("oracle")).round(3).alias(c) for c in ("mean", "how_mean_4", "actual")]
    return (
        totals.sort("agency_id", "origin")
        .select("agency_id", pl.col("origin").dt.strftime("%Y-%m-%d"), *ratios)
        .to_dicts()
    )


def versions() -> str:
    from importlib.metadata import version

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    names = ("lightgbm", "mlforecast", "statsforecast", "polars")
    return f"jointcast {commit}, " + ", ".join(f"{n} {version(n)}" for n in names)


def standing(rows: dict[str, dict[str, float]]) -> list[str]:
    """Where jointcast stands at the shift grain, against the best peer and like for like: its mean
    against the best peer forecasting the mean (shift bias within UNBIASED), its median of each
    total against the best peer of all; and the true rates' own ratio, where known."""
    peers = {name: s for name, s in rows.items() if name.startswith(PEERS)}
    if OURS not in rows or not peers:
        return []

    def against(ours: str, among: dict[str, dict[str, float]], what: str) -> str:
        best = min(among, key=lambda name: among[name]["wape"])
        ratio = rows[ours]["wape"] / among[best]["wape"]
        return (f"{ours}: {rows[ours]['wape']:.4f}, {ratio:.3f}x {what} ({best}: {among[best]['wape']:.4f},"
                f" bias {among[best]['bias']:+.3f})")  # fmt: skip

    lines = [against(OURS, peers, "the best peer")]
    unbiased = {name: s for name, s in peers.items() if abs(s["bias"]) <= UNBIASED}
    if unbiased:
        lines.append(
            against(OURS, unbiased, f"the best peer forecasting the mean (bias within {UNBIASED:.0%})")
        )
    if OUR_MEDIAN in rows:
        lines.append(against(OUR_MEDIAN, peers, "the best peer"))
    if LEVELLED in rows:
        lines.append(against(LEVELLED, peers, "the best peer: the model's shape at each area's true level"))
    if ORACLE in rows:
        lines.append(against(ORACLE, peers, "the best peer: the true rates themselves"))
    return lines


def markdown(dataset: str, command: str, results: dict) -> str:
    rows = results["rows"]
    agencies = sorted({k[5:] for row in rows.values() for k in row if k.startswith("wape_")} - {
        "agency_hourly", "busiest"})  # fmt: skip
    busiest = [f"shift WAPE, {results['busiest']} busiest areas"] if results["busiest"] else []
    head = ["forecaster", "shift WAPE", *busiest, *(f"shift WAPE {a}" for a in agencies),
            "hourly WAPE per agency", "shift bias", "coverage_80 (hourly)"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in rows.items():
        cells = [s["wape"], *([s["wape_busiest"]] if busiest else []), *(s[f"wape_{a}"] for a in agencies),
                 s["wape_agency_hourly"], s["bias"]]  # fmt: skip
        coverage = f"{s['coverage_80_hourly']:.3f}" if "coverage_80_hourly" in s else "-"
        lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in cells) + f" | {coverage} |")
    seconds = ", ".join(f"{k} {v} s" for k, v in results["seconds"].items())
    per_agency = ", ".join(
        f"{a} {v:.3f}" for a, v in results["jointcast_shift_coverage_80_per_agency"].items()
    )
    blend = ", ".join(f"{a} {w:g}" for a, w in results["jointcast_blend"].items()) or "none"
    against = results.get("against_truth") or []
    truth_lines = [
        "| agency | fold from | jointcast | hour-of-week mean, 4 weeks | actual |",
        "|---|---|---|---|---|",
    ]
    truth_lines += [f"| {r['agency_id']} | {r['origin']} | {r['mean']:.3f} | {r['how_mean_4']:.3f} | {r['actual']:.3f} |"
                    for r in against]  # fmt: skip
    truth_table = (
        "\n\nEach fold's total over the true rates' total, per agency (1 is the true level; the"
        " simulated agencies' seasons peak on different days of the year, and the workspace holds"
        " one year, so no origin has the same season a year before it):\n\n" + "\n".join(truth_lines)
        if against
        else ""
    )
    return f"""## Peers on {dataset} (`{command}`)

{results["series"]} series (agency x area), {len(results["fold_origins"])} folds of {results["horizon_hours"]} h
from {", ".join(results["fold_origins"])}; jointcast and mlforecast train on {results["train_days"]} days
before each origin, statsforecast on the last {STATS_WEEKS} weeks; {results["unobserved_hours"]} unobserved
(outage) hours. One run, one panel (`features.demand`), one scoring (`bench.peers.score`: each agency's
shifts, WAPE per agency x area x shift; WAPE per agency x hour; bias = sum(error) / sum(actual)).
jointcast's coverage_80 at shift grain (the p10-p90 band of each shift's total, randomised PIT as
`jointcast train` scores it): {results["jointcast_shift_coverage_80"]:.3f}; per agency: {per_agency}.
jointcast's trees: {results.get("jointcast_trees", "-")}. jointcast's blend with the hour-of-week mean, weight on the model per agency (learned on the folds):
{blend}. The table's hourly coverage_80 is the share of hours inside the closed hourly 80% interval,
the same test for every forecaster (closed bounds over-count for small integer counts).

{chr(10).join(lines)}

Shift WAPE against the peers, like for like:

{chr(10).join(f"- {line}" for line in standing(rows))}{truth_table}

Machine: {os.cpu_count()} cores, {platform.python_version()}; {results.get("versions") or versions()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.
Seconds: {seconds}."""


def simulated_config(workspace: Path) -> Path:
    """A fresh ``jointcast simulate`` workspace (the demo's defaults) in ``workspace``."""
    subprocess.run([Path(sys.executable).parent / "jointcast", "simulate", "--out", str(workspace)],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return workspace / "jointcast.toml"


def main(argv: list[str]) -> dict:
    from bench.harness import save, write_results_section
    from bench.montco import DATA, example_config

    parser = argparse.ArgumentParser(prog="bench.peers")
    parser.add_argument("dataset", choices=("demo", "montco"), nargs="?", default="demo")
    parser.add_argument("--data", type=Path, default=DATA, help="montco: the 911.csv.gz file")
    parser.add_argument("--workspace", type=Path, help="default: a temporary folder")
    parser.add_argument("--folds", type=int, help="default: the config's forecast.backtest_folds")
    args = parser.parse_args(argv)
    configs: dict[str, Callable[[Path], Path]] = {
        "demo": simulated_config,
        "montco": lambda workspace: example_config(args.data, workspace),
    }
    if args.dataset == "montco" and not args.data.is_file():
        print(f"no data at {args.data}: pass --data", file=sys.stderr)
        raise SystemExit(2)
    with tempfile.TemporaryDirectory(prefix=f"jointcast-peers-{args.dataset}-") as tmp:
        workspace = args.workspace or Path(tmp)
        workspace.mkdir(parents=True, exist_ok=True)
        busiest = 20 if args.dataset == "montco" else None
        results = run(configs[args.dataset](workspace), args.folds, busiest)
    command = " ".join(["python -m bench.peers", *argv]) if argv else "python -m bench.peers demo"
    save(f"peers-{args.dataset}", results)
    path = write_results_section(f"peers-{args.dataset}", markdown(args.dataset, command, results))
    print(f"saved {path}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
