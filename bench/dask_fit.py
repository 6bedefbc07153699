"""The backtest fitted here and on a 2-worker local Dask cluster, on the same rows and folds.

    python -m bench.dask_fit          # the fits side by side on 60 days
    python -m bench.dask_fit spread   # the test's workspace on 7 days: how far apart the fits fall

Simulates 60 days of two agencies, runs the real stages (ingest, validate, features into the
warehouse), writes the model inputs as Parquet partitions for the workers, then backtests (2 folds
of 24 h) with the single-machine fit and with the distributed one (models.lightgbm_dask), each with
the default parameters at three seeds and without bagging (every row, and zeros sampled at 0.25 as
`jointcast train` fits by default: the workers keep the rows one machine keeps). The headline is the backtest's shift
WAPE: without bagging the two fits differ only as each worker bins some features from its own rows,
about as much as a reseeded single-machine fit differs from itself (`spread` measures both);
with bagging, the distributed fit draws its bag from each worker's rows, so seeds move both and the
spread across seeds is the yardstick.
Times are wall clock on whatever else the machine runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from functools import partial
from pathlib import Path

from bench.harness import core_incidents, save, write_results_section

DAYS, AGENCIES, FOLDS, HORIZON = 60, 2, 2, 24
SEEDS = (7, 8, 9)


def _featured(root: Path, days: int = DAYS, end: date | None = None):
    """A simulated workspace with its features in the warehouse: settings, model inputs, data end."""
    from features.build import FeatureParameters, build_features
    from jointcast.simulator import simulate
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_events, write_features
    from warehouse.model_store import data_end, read_model_inputs

    simulate(root, days=days, seed=3, agencies=AGENCIES, end=end)
    settings, incidents = core_incidents(root / "jointcast.toml")
    built = build_features(
        incidents.lazy(), read_events(settings.events_path), FeatureParameters.from_settings(settings)
    )
    with open_warehouse(settings.warehouse_path) as con:
        write_features(con, built.joint_events, built.tables(),
                       (built.model_inputs(band).collect() for band in built.bands), None, built.outages)  # fmt: skip
        inputs, (end, _) = read_model_inputs(con), data_end(con)
    return settings, inputs, end


def run() -> dict:
    from flows.common import dask_client
    from models.lightgbm_dask import DaskFit
    from models.lightgbm_model import LEVEL
    from models.parameters import ModelParameters
    from models.training import backtest_only
    from warehouse.db import open_warehouse
    from warehouse.model_partitions import read_partition, training_window, write_model_partitions

    rows = []
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())  # 1, 5 and 15 minutes, at the start
    with tempfile.TemporaryDirectory(prefix="jointcast-bench-dask-") as tmp:
        settings, inputs, end = _featured(Path(tmp) / "workspace")
        with dask_client(settings) as client:
            with open_warehouse(settings.warehouse_path) as con:
                partitions = write_model_partitions(con, settings.parquet_root, len(client.ncores()))
            window = partial(training_window, partitions.paths, median_of=LEVEL)
            fit = DaskFit(client, partitions.paths, read_partition, window)
            base = ModelParameters(
                train_days=settings.forecast.train_days, early_stopping_rounds=0
            )  # as on Dask
            variants = [(f"seed {s}", replace(base, seed=s)) for s in SEEDS]
            variants.append(("no bagging", replace(base, bagging_fraction=1.0, bagging_freq=0)))
            variants.append(("no bagging, zeros sampled at 0.25",
                             replace(base, bagging_fraction=1.0, bagging_freq=0, zero_sample_rate=0.25)))  # fmt: skip
            for name, params in variants:
                for where, fitter in (("here", None), ("2 Dask workers", fit)):
                    started = time.perf_counter()
                    _, metrics, _ = backtest_only(inputs, end, params, HORIZON, FOLDS, settings.forecast.quantiles,
                                                  None, fit=fitter)  # fmt: skip
                    rows.append({"params": name, "fitted": where, "wape": round(metrics["wape"], 4),
                                 "seconds": round(time.perf_counter() - started, 1)})  # fmt: skip
                    print(rows[-1], flush=True)
    return {
        "rows": rows,
        "model_input_rows": partitions.rows,
        "partitions": len(partitions.paths),
        "load": load,
    }


def markdown(results: dict) -> str:
    lines = [
        "## Training on a Dask cluster (`python -m bench.dask_fit`)", "",
        f"{DAYS} simulated days, {AGENCIES} agencies, {results['model_input_rows']:,} observed model-input rows in "
        f"{results['partitions']} Parquet partitions; backtest of {FOLDS} folds of {HORIZON} h, fitted here "
        "and on a 2-worker local Dask cluster (LightGBM's Dask interface). Load average at the start "
        f"{results.get('load', 'not recorded')} (1/5/15 min, 2 cores).", "",
        "| parameters | fitted | shift WAPE | seconds |", "|---|---|---|---|",
    ]  # fmt: skip
    lines += [
        f"| {r['params']} | {r['fitted']} | {r['wape']:.4f} | {r['seconds']} |" for r in results["rows"]
    ]
    return "\n".join(lines)


SPREAD_DAYS, SPREAD_ENDS = 30, 7
"""The spread: tests/test_lightgbm_dask.py's workspace (30 days of 2 agencies), ending on 7 days 5 apart."""


def _scores(inputs, end, quantiles, params, fit=None) -> dict[str, float]:
    from models.training import backtest_only

    return backtest_only(inputs, end, params, HORIZON, FOLDS, quantiles, None, fit=fit)[1]


def spread() -> dict:
    """How far the Dask fit's backtest WAPE is from the single machine's on the test's small workspace,
    without bagging (as the test fits), beside how far the single machine's own fit moves with seed + 1:
    the yardstick for the test's tolerance."""
    from flows.common import dask_client
    from models.lightgbm_dask import DaskFit
    from models.lightgbm_model import LEVEL
    from models.parameters import ModelParameters
    from warehouse.db import open_warehouse
    from warehouse.model_partitions import read_partition, training_window, write_model_partitions

    rows = []
    base = ModelParameters(bagging_fraction=1.0, bagging_freq=0, early_stopping_rounds=0)
    for number in range(SPREAD_ENDS):
        end = date.today() - timedelta(days=5 * number)
        with tempfile.TemporaryDirectory(prefix="jointcast-bench-dask-spread-") as tmp:
            settings, inputs, data_end = _featured(Path(tmp) / "workspace", SPREAD_DAYS, end)
            with dask_client(settings) as client:
                with open_warehouse(settings.warehouse_path) as con:
                    partitions = write_model_partitions(con, settings.parquet_root, len(client.ncores()))
                window = partial(training_window, partitions.paths, median_of=LEVEL)
                fit = DaskFit(client, partitions.paths, read_partition, window)
                scores = partial(_scores, inputs, data_end, settings.forecast.quantiles)
                agencies = [f"wape_{agency}" for agency in settings.agency_ids]
                for level_scaling in (False, True):
                    params = replace(base, level_scaling=level_scaling)
                    here, there = scores(params), scores(params, fit)
                    reseeded = scores(replace(params, seed=params.seed + 1))
                    rows.append({
                        "end": end.isoformat(), "level_scaling": level_scaling, "here": round(here["wape"], 4),
                        "dask": round(there["wape"] / here["wape"] - 1, 4),
                        "seed_1": round(reseeded["wape"] / here["wape"] - 1, 4),
                        "dask_agency": round(max(abs(there[a] / here[a] - 1) for a in agencies), 4),
                        "seed_1_agency": round(max(abs(reseeded[a] / here[a] - 1) for a in agencies), 4),
                    })  # fmt: skip
                    print(rows[-1], flush=True)
    return {"rows": rows, "load": "/".join(f"{x:.1f}" for x in os.getloadavg())}


def spread_markdown(results: dict) -> str:
    rows = results["rows"]
    most = {key: max(abs(r[key]) for r in rows) for key in ("dask", "seed_1", "dask_agency", "seed_1_agency")}
    lines = [
        "## The Dask fit's spread on the test's workspace (`python -m bench.dask_fit spread`)", "",
        f"tests/test_lightgbm_dask.py's workspace ({SPREAD_DAYS} simulated days, {AGENCIES} agencies) ending on "
        f"{SPREAD_ENDS} days 5 apart; backtest of {FOLDS} folds of {HORIZON} h without bagging, fitted here, on a "
        "2-worker local Dask cluster, and here with seed + 1. Each cell is a change in shift WAPE against the "
        f"single-machine fit. Largest: Dask {most['dask']:.2%} ({most['dask_agency']:.2%} for an agency), seed + 1 "
        f"{most['seed_1']:.2%} ({most['seed_1_agency']:.2%} for an agency). Load average at the end "
        f"{results['load']}.", "",
        "| data end | level scaling | shift WAPE here | Dask | seed + 1 | Dask, largest per agency | seed + 1, largest per agency |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    lines += [
        f"| {r['end']} | {r['level_scaling']} | {r['here']:.4f} | {r['dask']:+.2%} | {r['seed_1']:+.2%} | "
        f"{r['dask_agency']:.2%} | {r['seed_1_agency']:.2%} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> dict:
    if argv == ["spread"]:
        results = spread()
        print(f"saved {save('dask_spread', results)}; "
              f"{write_results_section('dask_spread', spread_markdown(results))}")  # fmt: skip
        return results
    results = run()
    print(f"saved {save('dask_fit', results)}; {write_results_section('dask_fit', markdown(results))}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
