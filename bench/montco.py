"""The real Montgomery County 911 feed (../shared/data/montco-911), end to end, scored as published.

    python -m bench.montco [--data PATH] [--workspace DIR]

One shared feed carries three services (EMS / Fire / Traffic). The config is the real-data
example's (examples/montco/jointcast.toml, its feed pointed at ``--data``): the agency
from the title's prefix, one incident-type vocabulary across the services, the area from
the township, the naive local timestamps read in America/New_York. It ingests, validates and builds features with the
project's own code, backtests 2 folds of 14 days ending at the data's end, and scores
them at the reference grains: shift WAPE per service x township over the 20 busiest
townships, and hourly WAPE per service. Open-source forecasters on the same panel and folds
run live beside jointcast in ``python -m bench.peers montco``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from bench.harness import real_feed_main

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "montco-911" / "911.csv.gz"

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "montco" / "jointcast.toml"


def example_config(data: Path, workspace: Path) -> Path:
    """The example config (examples/montco/jointcast.toml) in ``workspace``, reading the feed at ``data``.

    Everything else is the example's: agencies, the shared type vocabulary, the roles; the
    warehouse and MLflow files land in ``workspace``."""
    text = re.sub(
        r'^uri = ".*"$', f"uri = {json.dumps(str(data.resolve()))}", EXAMPLE.read_text(), flags=re.M
    )
    path = workspace / "jointcast.toml"
    path.write_text(text)
    return path


@dataclass
class Prepared:
    """The example's warehouse after ingest, validate and features, and what the benchmarks read."""

    settings: object  # jointcast.config.Settings
    incidents: pl.DataFrame  # core.incidents
    quarantined: int
    built: object  # features.build.FeatureSet
    inputs: pl.DataFrame  # features.model_inputs
    end: object  # the data's end (UTC)
    timings: dict[str, float]


def prepare(data: Path, workspace: Path) -> Prepared:
    """Ingest, validate and build features for the example config in ``workspace``, timed."""
    from expectations.runner import Validator
    from expectations.validate import validate_feed
    from features.build import FeatureParameters, build_features
    from jointcast.config import load_settings
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_frame, write_features
    from warehouse.ingest import ingest_feed
    from warehouse.model_store import data_end, read_model_inputs

    settings = load_settings(example_config(data, workspace))
    timings = {}
    started = time.perf_counter()
    with open_warehouse(settings.warehouse_path) as con:
        ingest_feed(con, settings, settings.feeds[0])
        validate_feed(con, settings, settings.feeds[0], Validator(workspace))
        timings["ingest_validate_s"] = round(time.perf_counter() - started, 1)
        incidents = read_frame(con, "SELECT * FROM core.incidents")
        quarantined = con.execute("SELECT count(*) FROM quality.quarantine").fetchone()[0]
        started = time.perf_counter()
        built = build_features(incidents.lazy(), None, FeatureParameters.from_settings(settings))
        write_features(
            con, built.joint_events, built.tables(),
            (built.model_inputs(band).collect() for band in built.bands),
        )  # fmt: skip
        timings["features_s"] = round(time.perf_counter() - started, 1)
        inputs = read_model_inputs(con)
        end, _ = data_end(con)
    return Prepared(settings, incidents, quarantined, built, inputs, end, timings)


def run(data: Path, workspace: Path) -> dict:
    from models.metrics import point_scores
    from models.parameters import ModelParameters
    from models.training import backtest_only

    prepared = prepare(data, workspace)
    built, inputs, end, timings = prepared.built, prepared.inputs, prepared.end, prepared.timings
    incidents, quarantined = prepared.incidents, prepared.quarantined
    started = time.perf_counter()
    backtest, metrics, origins = backtest_only(inputs, end, ModelParameters(), 336, 2, (0.1, 0.5, 0.9), None)
    timings["backtest_s"] = round(time.perf_counter() - started, 1)
    busiest = (
        built.demand.group_by("area_id").agg(pl.col("incidents").sum()).sort("incidents", descending=True)
        .filter(pl.col("area_id") != "unknown").head(20)["area_id"]
    )  # fmt: skip
    shift = backtest.grains["shift"].filter(pl.col("area_id").is_in(busiest.implode()))
    naive = shift["seasonal_naive"].to_numpy()
    ours = point_scores(shift["actual"].to_numpy(), shift["mean"].to_numpy(), naive)["wape"]
    how = point_scores(shift["actual"].to_numpy(), shift["how_mean_4"].to_numpy(), naive)["wape"]
    sn = point_scores(shift["actual"].to_numpy(), naive, naive)["wape"]
    agency_hourly = backtest.grains["agency_hourly"]
    hourly_service = point_scores(
        agency_hourly["actual"].to_numpy(),
        agency_hourly["mean"].to_numpy(),
        agency_hourly["seasonal_naive"].to_numpy(),
    )["wape"]
    return {
        "rows_in_core": incidents.height,
        "rows_quarantined": quarantined,
        "fold_origins": [o.isoformat() for o in origins],
        "shift_wape_top20": round(ours, 4),
        "shift_wape_top20_seasonal_naive": round(sn, 4),
        "shift_wape_top20_how_mean_4": round(how, 4),
        "hourly_per_service_wape": round(hourly_service, 4),
        "coverage_80_all_areas": round(metrics["coverage_80"], 4),
        **timings,
    }


def main(argv: list[str]) -> dict:
    results = real_feed_main("montco", run, DATA, argv)
    print(results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
