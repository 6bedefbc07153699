"""The real Montgomery County 911 feed (../shared/data/montco-911), end to end, scored as published.

    python -m bench.montco [--data PATH] [--workspace DIR]

One shared feed carries three services (EMS / Fire / Traffic): the config takes the agency
from the title's prefix, the area from the township, and reads the naive local
timestamps in America/New_York. It ingests, validates and builds features with the
project's own code, backtests 2 folds of 14 days ending at the data's end, and scores
them at the reference grains: shift WAPE per service x township over the 20 busiest
townships, and hourly WAPE per service. Reference figures for the same folds:
mlforecast LightGBM with direct lags 0.683 (hourly per service 0.447), statsforecast
MSTL 0.756, hour-of-week mean 0.730.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from bench.harness import save

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "montco-911" / "911.csv.gz"
REFERENCE = {"mlforecast_lightgbm": 0.683, "statsforecast_mstl": 0.756, "hour_of_week_mean": 0.730}

CONFIG = """
[warehouse]
path = "warehouse.duckdb"

[forecast]
horizon_hours = 336
backtest_folds = 2

[[agencies]]
id = "montco_ems"
name = "Montgomery County EMS"
kind = "ems"
timezone = "America/New_York"
subdivision = "PA"
bbox = [-75.75, 39.85, -74.9, 40.55]

[[agencies]]
id = "montco_fire"
name = "Montgomery County Fire"
kind = "fire"
timezone = "America/New_York"
subdivision = "PA"
bbox = [-75.75, 39.85, -74.9, 40.55]

[[agencies]]
id = "montco_traffic"
name = "Montgomery County traffic (police)"
kind = "police"
timezone = "America/New_York"
subdivision = "PA"
bbox = [-75.75, 39.85, -74.9, 40.55]

[[feeds]]
id = "montco_911"
uri = "{data}"
format = "csv"
timestamp_format = "%Y-%m-%d %H:%M:%S"
timezone = "America/New_York"

[feeds.agency_from]
column = "title"
pattern = '^(\\w+):'
map = {{ EMS = "montco_ems", Fire = "montco_fire", Traffic = "montco_traffic" }}

[feeds.columns]
source_incident_id = "desc"   # the feed has no id; the description holds place, station and time
received_at = "timeStamp"
source_type = "title"
area_id = "twp"
lat = "lat"
lon = "lng"
"""


def run(data: Path, workspace: Path) -> dict:
    from expectations.runner import Validator
    from expectations.validate import validate_feed
    from features.build import FeatureParameters, build_features
    from jointcast.config import load_settings
    from models.metrics import point_scores
    from models.parameters import ModelParameters
    from models.training import backtest_only
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_frame, write_features
    from warehouse.ingest import ingest_feed
    from warehouse.model_store import data_end, read_model_inputs

    (workspace / "jointcast.toml").write_text(CONFIG.format(data=data))
    settings = load_settings(workspace / "jointcast.toml")
    timings = {}
    started = time.perf_counter()
    with open_warehouse(settings.warehouse_path) as con:
        ingest_feed(con, settings, settings.feeds[0])
        validate_feed(con, settings, settings.feeds[0], Validator(workspace))
        timings["ingest_validate_s"] = round(time.perf_counter() - started, 1)
        incidents = read_frame(con, "SELECT * FROM core.incidents")
        quarantined = con.execute("SELECT count(*) FROM quality.quarantine").fetchone()[0]
        params = FeatureParameters.from_settings(settings)
        started = time.perf_counter()
        built = build_features(incidents.lazy(), None, params)
        write_features(
            con, built.joint_events, built.tables(),
            (built.model_inputs(band).collect() for band in built.bands),
        )  # fmt: skip
        timings["features_s"] = round(time.perf_counter() - started, 1)
        inputs = read_model_inputs(con)
        end, _ = data_end(con)
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
        "reference_shift_wape": REFERENCE,
        **timings,
    }


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench.montco")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"no data at {args.data}: pass --data", file=sys.stderr)
        raise SystemExit(2)
    if args.workspace:
        args.workspace.mkdir(parents=True, exist_ok=True)
        results = run(args.data, args.workspace)
    else:
        with tempfile.TemporaryDirectory(prefix="jointcast-montco-") as tmp:
            results = run(args.data, Path(tmp))
    print(f"saved {save('montco', results)}")
    print(results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
