"""A 10-day feed outage a year before the end: the backtest with outages masked vs zero-filled.

    python -m bench.outages

Simulates ~520 days of two agencies twice from the same seed, once with a 10-day outage of
the city police feed about a year before the end (on the calendar days the backtest then
forecasts) and once without, and runs the real stages
(ingest, validate, features, backtest) with ``train_days = 400``, so every backtest fold trains
across the outage. Three backtests: no outage; the outage detected and masked (its hours
unobserved); the outage with detection off (zero-filled, as if demand stopped). The headline is
the backtest's shift WAPE (agency x area x the agency's own shifts). Done when the outage is
detected with its injected dates and the masked run's WAPE is within 5% of the no-outage one.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from bench.harness import RESULTS, core_incidents, emit, run_isolated, save, write_results_section

DAYS = 520
END = date(2026, 6, 1)
OUTAGE_FEED = "city_police_cad"
OUTAGE_DAYS = 10
FOLDS, HORIZON, QUANTILES = 2, 336, (0.1, 0.5, 0.9)
OUTAGE_START = END - timedelta(days=365 + 28)
"""A year before the middle of the backtest's weeks: the calendar days the model forecasts there
are the ones a zero-filled outage taught it were empty (day of year, week, month features)."""
TRAIN_DAYS = 400


def _workspace(root: Path, outages: list) -> tuple:
    """Simulate, ingest and validate; returns the settings and the core incidents."""
    from jointcast.simulator import simulate

    simulate(root, days=DAYS, seed=7, agencies=2, end=END, outages=outages)
    return core_incidents(root / "jointcast.toml")


def _backtest(settings, incidents: pl.DataFrame, detect: bool) -> tuple[dict, pl.DataFrame]:
    """Features (outage detection on or off), then the backtest at ``TRAIN_DAYS``: its metrics."""
    from features.build import FeatureParameters, build_features
    from models.backtest import ShiftSchedule
    from models.parameters import ModelParameters
    from models.training import backtest_only
    from warehouse.features_store import read_events
    from warehouse.model_store import read_truth

    params = FeatureParameters.from_settings(settings)
    params = replace(params, outages=tuple(replace(rule, detect=detect) for rule in params.outages))
    built = build_features(incidents.lazy(), read_events(settings.events_path), params)
    end = built.demand["bucket_start"].max() + timedelta(hours=1)
    start = end - timedelta(days=TRAIN_DAYS + FOLDS * HORIZON // 24 + 1)
    inputs = pl.concat(
        built.model_inputs(band).filter(pl.col("bucket_start") >= start).collect() for band in built.bands
    )
    shifts = {a.id: ShiftSchedule(a.timezone, tuple(a.staffing.shifts)) for a in settings.agencies}
    _, metrics, _ = backtest_only(
        inputs, end, ModelParameters(train_days=TRAIN_DAYS), HORIZON, FOLDS, QUANTILES,
        read_truth(settings.root), shifts=shifts,
    )  # fmt: skip
    figures = {k: round(metrics[k], 4) for k in ("wape", "coverage_80", "seasonal_naive_wape", "oracle_wape")}
    return figures, built.outages


def case_run() -> dict:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jointcast-bench-outages-") as tmp:
        clean_settings, clean = _workspace(Path(tmp) / "clean", [])
        gap_settings, gapped = _workspace(Path(tmp) / "outage", [(OUTAGE_FEED, OUTAGE_START, OUTAGE_DAYS)])
        truth = json.loads((Path(tmp) / "outage" / "truth" / "outages.json").read_text())
        no_outage, clean_outages = _backtest(clean_settings, clean, detect=True)
        masked, found = _backtest(gap_settings, gapped, detect=True)
        zero_filled, _ = _backtest(gap_settings, gapped, detect=False)
    detected = [
        {"feed_id": r["feed_id"], "start": r["start_at"].isoformat(), "end": r["end_at"].isoformat()}
        for r in found.to_dicts()
    ]
    injected = [{"feed_id": t["feed_id"], "start": t["start"], "end": t["end"]} for t in truth]
    return {
        "days": DAYS,
        "agencies": 2,
        "train_days": TRAIN_DAYS,
        "injected": injected,
        "detected": detected,
        "detected_equals_injected": detected == injected,
        "outages_found_without_one": clean_outages.height,
        "no_outage": no_outage,
        "outage_masked": masked,
        "outage_zero_filled": zero_filled,
        "masked_wape_vs_no_outage": round(masked["wape"] / no_outage["wape"] - 1, 4),
        "zero_filled_wape_vs_no_outage": round(zero_filled["wape"] / no_outage["wape"] - 1, 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def results_section(figures: dict) -> str:
    """The benchmark's part of bench/RESULTS.md."""
    rows = [("no outage", figures["no_outage"]), ("10-day outage, masked", figures["outage_masked"]),
            ("10-day outage, zero-filled (detect = false)", figures["outage_zero_filled"])]  # fmt: skip
    lines = [
        "## Feed outages (`python -m bench.outages`)",
        "",
        f"{figures['days']} simulated days, {figures['agencies']} agencies, a {OUTAGE_DAYS}-day outage of "
        f"`{OUTAGE_FEED}` from {OUTAGE_START} (a year before the backtest's weeks), backtest with "
        f"`train_days = {figures['train_days']}` ({FOLDS} folds of {HORIZON} h).",
        "",
        f"- injected: {figures['injected']}",
        f"- detected: {figures['detected']} (equal: {figures['detected_equals_injected']}); "
        f"outages found in the run without one: {figures['outages_found_without_one']}",
        "",
        "| run | shift WAPE | coverage_80 | seasonal-naive WAPE | true-rate WAPE |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {m['wape']:.4f} | {m['coverage_80']:.3f} | {m['seasonal_naive_wape']:.4f} "
            f"| {m['oracle_wape']:.4f} |"
            for name, m in rows
        ),
        "",
        f"Masked vs no outage: {figures['masked_wape_vs_no_outage']:+.1%} WAPE; zero-filled vs no outage: "
        f"{figures['zero_filled_wape_vs_no_outage']:+.1%}. {figures['seconds']} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> dict:
    if argv and argv[0] == "run":
        emit(case_run())
        return {}
    figures = run_isolated("bench.outages", "run")
    print(json.dumps(figures, indent=2))
    write_results_section("outages", results_section(figures))
    print(f"saved {save('outages', figures)} and {RESULTS}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
