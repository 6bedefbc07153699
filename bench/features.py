"""Features at scale: 3 years x 4 agencies x 100 areas hourly (about 10.5 million panel rows).

    python -m bench.features [--years 3] [--agencies 4] [--areas 100] [--per-series-hour 0.35] [--by-band]

Times, in a fresh process, everything the features stage computes from core incidents:
joint-event linking, the demand panel, cross-agency demand and the model inputs of every
horizon band (each agency's part of each band collected in turn, as the stage writes them; with
``--by-band``, each band of every agency at once, as the stage wrote them before), and reports peak RSS.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

import numpy as np
import polars as pl

from bench.harness import emit, run_isolated, save


def incidents(years: int, agencies: int, areas: int, rate: float, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    hours = years * 365 * 24
    start = np.datetime64("2022-01-01T00:00:00", "us")
    parts = []
    for a in range(agencies):
        n = rng.poisson(rate * hours * areas)
        area = rng.integers(0, areas, n)
        offsets = rng.integers(0, hours * 3_600_000_000, n).astype("timedelta64[us]")
        received = start + offsets
        lat = 40.0 + (area // 10) * 0.02 + rng.uniform(0, 0.02, n)
        lon = -75.3 + (area % 10) * 0.02 + rng.uniform(0, 0.02, n)
        parts.append(
            pl.DataFrame({
                "incident_key": [f"a{a}:{i}" for i in range(n)],
                "agency_id": f"agency_{a}",
                "area_id": [f"A{x:03d}" for x in area],
                "incident_type": rng.choice(["collision", "fire", "medical", "theft", "assault"], n),
                "call_source": "citizen",
                "received_at": received,
                "on_scene_at": received + rng.integers(300, 900, n).astype("timedelta64[s]").astype("timedelta64[us]"),
                "cleared_at": received + rng.integers(1200, 5400, n).astype("timedelta64[s]").astype("timedelta64[us]"),
                "lat": lat,
                "lon": lon,
                "dispatched_at": received + rng.integers(30, 300, n).astype("timedelta64[s]").astype("timedelta64[us]"),
            }).with_columns(
                pl.col("received_at", "dispatched_at", "on_scene_at", "cleared_at").dt.replace_time_zone("UTC")
            )
        )  # fmt: skip
    return pl.concat(parts)


def case_features(years: int, agencies: int, areas: int, rate: float, by_band: bool = False) -> dict:
    import resource

    from features.build import FeatureParameters, build_features
    from features.model_inputs import AgencyCalendar

    frame = incidents(years, agencies, areas, rate)
    params = FeatureParameters(
        counted_sources={f"agency_{a}": ("citizen",) for a in range(agencies)},
        calendars=[AgencyCalendar(f"agency_{a}", "America/New_York", "US", "PA") for a in range(agencies)],
        horizon_hours=336,
        events_timezone="America/New_York",
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    built = build_features(frame.lazy(), None, params)
    panel_seconds = time.perf_counter() - started
    band_rows = dict.fromkeys(built.bands, 0)
    parts = [built.model_inputs(band) for band in built.bands] if by_band else built.model_input_parts()
    for part in parts:
        collected = part.collect()
        band_rows[int(collected["min_lag"][0])] += collected.height
    seconds = time.perf_counter() - started
    return {
        "incidents": frame.height,
        "panel_rows": built.demand.height,
        "joint_events": built.joint_events["joint_event_id"].n_unique(),
        "model_input_rows": sum(band_rows.values()),
        "bands": list(band_rows),
        "parts": "band" if by_band else "agency x band",
        "seconds_links_panel_cross": round(panel_seconds, 2),
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mb": round(before, 1),
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench.features")
    parser.add_argument("case", nargs="?", default="all")
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--agencies", type=int, default=4)
    parser.add_argument("--areas", type=int, default=100)
    parser.add_argument("--per-series-hour", type=float, default=0.35)
    parser.add_argument("--by-band", action="store_true", help="every agency's rows of a band at once")
    args = parser.parse_args(argv)
    sizes = (args.years, args.agencies, args.areas, args.per_series_hour)
    if args.case == "features":
        emit(case_features(*sizes, by_band=args.by_band))
        return {}
    figures = run_isolated(
        "bench.features", "features", "--years", str(args.years), "--agencies", str(args.agencies),
        "--areas", str(args.areas), "--per-series-hour", str(args.per_series_hour),
        *(["--by-band"] if args.by_band else []),
    )  # fmt: skip
    print(f"saved {save('features', figures)}")
    print(figures)
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
