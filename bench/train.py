"""Training time: the backtest (3 folds) plus the final model, at the demo's size and at scale,
beside mlforecast fitting the same rows; and the zero sample's accuracy against the unsampled fit.

    python -m bench.train [demo|scale|sparse|all ...] [--before FILE]

``demo`` simulates the demo (365 days, 4 agencies) and times ingest-free training on its
model inputs; ``scale`` uses the 3 years x 4 agencies x 100 areas hourly panel of
bench.features. Both also fit mlforecast's LightGBM (bench.peers: Poisson objective, lags at or
beyond the horizon, rolling means, hour and weekday; no conformal intervals) on each fold's
same days of the same panel, and score both on the backtest's hourly rows (bench.peers.score).
``sparse`` backtests the demo with ``zero_sample_rate`` 1 (every row), 0.5, 0.25 and 0.1.
Each case runs in its own process; peak RSS is that process's, read before mlforecast runs.
``--before FILE``: the bench/out/train.json of a run of older code, shown beside this one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from bench.harness import core_incidents, emit, run_isolated, save, write_results_section

HORIZON, FOLDS = 336, 3
RATES = (1.0, 0.5, 0.25, 0.1)


def _time_training(inputs: pl.DataFrame, end, truth, demand: pl.DataFrame | None = None, params=None) -> dict:
    import resource

    from models.parameters import ModelParameters
    from models.training import train_and_backtest

    params = params or ModelParameters()
    started = time.perf_counter()
    result = train_and_backtest(inputs, end, "bench", params, HORIZON, FOLDS, (0.1, 0.5, 0.9), truth)
    seconds = time.perf_counter() - started
    zeros = inputs.filter(pl.col("incidents").is_not_null())["incidents"].eq(0).mean()
    figures = {
        "model_input_rows": inputs.height,
        "series": inputs.select("agency_id", "area_id").n_unique(),
        "training_rows_final": result.training_data.height,
        "zero_share": round(float(zeros), 3),
        "zero_sample_rate": params.zero_sample_rate,
        "trees": result.params.num_boost_round,
        "seconds_backtest_3_folds_and_final": round(seconds, 1),
        "wape": round(result.metrics["wape"], 4),
        "seasonal_naive_wape": round(result.metrics["seasonal_naive_wape"], 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if demand is not None:
        figures.update(_mlforecast(demand, result, params.train_days))
    return figures


def _mlforecast(demand: pl.DataFrame, result, train_days: int) -> dict:
    """mlforecast fitted before each of the backtest's origins on the same days, timed, and both
    forecasters scored on the backtest's hourly rows (8-hour blocks from each origin)."""
    from bench.peers import mlforecast_lightgbm, score, with_peer

    hourly = result.backtest.grains["hourly"]
    started = time.perf_counter()
    peer = pl.concat(
        mlforecast_lightgbm(demand, origin, HORIZON, train_days, "poisson", intervals=False)
        for origin in hourly["origin"].unique().sort()
    )
    seconds = time.perf_counter() - started
    return {
        "block_wape": round(score(hourly)["wape"], 4),
        "mlforecast_seconds_3_folds": round(seconds, 1),
        "mlforecast_block_wape": round(score(with_peer(hourly, peer))["wape"], 4),
    }


def _inputs(built, end) -> pl.DataFrame:
    """Only the rows training and the backtest read: half a year before the first fold onwards."""
    start = end - timedelta(days=182 + 3 * 14)
    return pl.concat(
        built.model_inputs(band).filter(pl.col("bucket_start") >= start).collect() for band in built.bands
    )


def _demo(root: Path):
    """The demo simulated in ``root``: its model inputs, demand panel, data end and truth."""
    from features.build import FeatureParameters, build_features
    from jointcast.simulator import simulate
    from warehouse.features_store import read_events
    from warehouse.model_store import read_truth

    simulate(root, days=365, seed=7)
    settings, incidents = core_incidents(root / "jointcast.toml")
    params = FeatureParameters.from_settings(settings)
    built = build_features(incidents.lazy(), read_events(settings.events_path), params)
    end = built.demand["bucket_start"].max() + timedelta(hours=1)
    return _inputs(built, end), built.demand, end, read_truth(root)


def _configured():
    """The parameters `jointcast train` fits with on a config's defaults (trees sized to the data,
    zero-count rows sampled)."""
    from jointcast.config import ForecastSettings
    from models.parameters import ModelParameters

    forecast = ForecastSettings()
    return ModelParameters(train_days=forecast.train_days, sizing=forecast.tuning,
                           level_scaling=forecast.level_scaling, zero_sample_rate=forecast.zero_sample_rate)  # fmt: skip


def _both(inputs: pl.DataFrame, end, truth, demand: pl.DataFrame) -> dict:
    """Timed with every row fitted (beside mlforecast), then as `jointcast train` configures it."""
    return {**_time_training(inputs, end, truth, demand),
            "configured": _time_training(inputs, end, truth, params=_configured())}  # fmt: skip


def case_demo() -> dict:
    with tempfile.TemporaryDirectory(prefix="jointcast-bench-") as tmp:
        inputs, demand, end, truth = _demo(Path(tmp))
        return _both(inputs, end, truth, demand)


def case_sparse() -> dict:
    """The demo's backtest at each zero-sample rate, trees sized to the data as `jointcast train` does."""
    from models.parameters import ModelParameters

    with tempfile.TemporaryDirectory(prefix="jointcast-bench-") as tmp:
        inputs, _, end, truth = _demo(Path(tmp))
        rates = {}
        for rate in RATES:
            params = ModelParameters(sizing="size", zero_sample_rate=rate)
            rates[str(rate)] = _time_training(inputs, end, truth, params=params)
        return rates


def case_scale() -> dict:
    from bench.features import incidents
    from features.build import FeatureParameters, build_features
    from features.model_inputs import AgencyCalendar

    frame = incidents(3, 4, 100, 0.35)
    params = FeatureParameters(
        counted_sources={f"agency_{a}": ("citizen",) for a in range(4)},
        calendars=[AgencyCalendar(f"agency_{a}", "America/New_York", "US", "PA") for a in range(4)],
        horizon_hours=336,
        events_timezone="America/New_York",
    )
    built = build_features(frame.lazy(), None, params)
    end = built.demand["bucket_start"].max() + timedelta(hours=1)
    return _both(_inputs(built, end), end, None, built.demand)


CASES = {"demo": case_demo, "scale": case_scale, "sparse": case_sparse}


def markdown(results: dict, before: dict) -> str:
    head = ("| case | code | seconds (3 folds + final) | peak RSS MB | trees | shift WAPE | seasonal naive "
            "WAPE | 8-h block WAPE | mlforecast seconds (3 folds) | mlforecast 8-h block WAPE |")  # fmt: skip
    lines = [head, "|" + "---|" * 10]
    for name in ("demo", "scale"):
        after = results.get(name) or {}
        rows = (("before", before.get(name)), ("after", after),
                ("after, as configured", after.get("configured")))  # fmt: skip
        for code, figures in rows:
            if not figures:
                continue
            cells = [figures.get(k, "-") for k in ("seconds_backtest_3_folds_and_final", "peak_rss_mb", "trees",
                     "wape", "seasonal_naive_wape", "block_wape", "mlforecast_seconds_3_folds",
                     "mlforecast_block_wape")]  # fmt: skip
            lines.append(f"| {name} | {code} | " + " | ".join(str(c) for c in cells) + " |")
    return f"""## Training time (`python -m bench.train`)

The backtest (3 folds of 336 h, 182 training days each) plus the final model; `scale` is the 3-year,
4 agencies x 100 areas hourly panel of bench.features, `demo` the simulated demo (365 days). Before: the
code of `--before`; after: float32 training matrix, early stopping (the round count chosen by an
extra fit on the horizon before the newest fold, hours no fold scores, then used by every fold and the
final model). mlforecast (LightGBM, Poisson, as bench.peers configures it, without conformal intervals)
is fitted on the same days before each origin of the same panel in the
same run; both are scored on the backtest's hourly rows summed to 8-hour blocks from each origin.
Peak RSS is read before mlforecast runs. The before rows: {before.get("note", "a run of older code")}; the
after rows: this run, load average {results.get("load_average", "-")} at its start (2 cores).

{chr(10).join(lines)}

The scale panel's incidents fall uniformly over hours and areas (bench.features draws them so): nothing
beyond each series' mean is there to learn, so early stopping keeps {_trees(results, "scale")} where 120
were fitted; most of the time saved there comes from that. A panel with daily and weekly cycles (the demo)
keeps {_trees(results, "demo")}: early stopping saves few trees there, and the extra fit that chooses
their number costs one more fit, so with every row fitted the demo can take longer than before; its
saving is the zero sample's. "after, as configured" fits with the parameters `jointcast train` uses on a default config:
trees sized to the data and zero-count rows sampled at `forecast.zero_sample_rate` (0.25, weighted 1 /
rate; `sparse` below); the other rows fit every row with `ModelParameters()`, as mlforecast does."""


def _trees(results: dict, name: str) -> str:
    trees = (results.get(name) or {}).get("trees")
    return "-" if trees is None else f"{trees} tree{'s' if trees != 1 else ''}"


def sparse_markdown(rates: dict) -> str:
    full = rates["1.0"]
    lines = ["| zero_sample_rate | rows fitted, final model (expected) | seconds | trees | shift WAPE | vs rate 1 |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for rate, f in rates.items():
        change = f["wape"] / full["wape"] - 1
        fitted = f["training_rows_final"] * (1 - f["zero_share"] * (1 - float(rate)))
        lines.append(f"| {rate} | {fitted:,.0f} | {f['seconds_backtest_3_folds_and_final']} | "
                     f"{f['trees']} | {f['wape']} | {change:+.2%} |")  # fmt: skip
    return f"""## Zero sampling on the demo (`python -m bench.train sparse`)

The demo's backtest (3 folds, trees sized to the data) with the zero-count training rows sampled at
each rate and weighted 1 / rate (models.sampling); {full["zero_share"]:.0%} of its model-input rows count
no incident. Seconds measured beside other work, whose load varied during the run (heaviest at rate 1),
so they overstate the saving; the rows fitted are the steady measure of it.

{chr(10).join(lines)}"""


def main(argv: list[str]) -> dict:
    if argv and argv[0].endswith("-run"):
        emit(CASES[argv[0].removesuffix("-run")]())
        return {}
    parser = argparse.ArgumentParser(prog="bench.train")
    parser.add_argument("case", choices=("demo", "scale", "sparse", "all"), nargs="*", default=["all"])
    parser.add_argument("--before", type=Path, help="bench/out/train.json of a run of older code")
    args = parser.parse_args(argv)
    results = {}
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    for name in ("demo", "scale", "sparse") if "all" in args.case else dict.fromkeys(args.case):
        results[name] = run_isolated("bench.train", f"{name}-run")
        print(name, results[name])
    if "sparse" in results:
        save("train-sparse", results["sparse"])
        write_results_section("train-sparse", sparse_markdown(results["sparse"]))
    timed = {k: v for k, v in results.items() if k != "sparse"}
    if timed:
        print(f"saved {save('train', timed)}")
        before = json.loads(args.before.read_text()) if args.before else {}
        write_results_section("train", markdown({**timed, "load_average": load}, before))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
