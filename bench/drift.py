"""Low volume and drift: the model with and without level scaling, against its baselines and the truth.

    python -m bench.drift

Two simulated workspaces, each run through the real stages (ingest, validate, features) and the
backtest (3 folds of 336 h, as `jointcast train` does):

- ``demo``: the demo (365 days, 4 agencies, seed 7);
- ``drift``: 2 agencies over 400 days, ``city_police`` at a twentieth of its usual volume
  (about 16 counted calls a day) and falling 15% a year, ``county_fire`` as usual.

Each backtest runs twice on the same folds: the configured parameters sized as ``jointcast train``
sizes them (before) and the same with ``level_scaling`` (after: level-ratio features, and a Poisson fit
relative to each series' recent level). Per agency: shift WAPE, bias, coverage_80, and the WAPE
of seasonal naive, the 4-week hour-of-week mean and the true rates (the oracle). Targets (issue
#14): the low-volume trending agency's bias within +-5% and its WAPE at most the hour-of-week
mean's; the demo's WAPE at most 1.03x the oracle's.
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

END = date(2026, 6, 1)
FOLDS, HORIZON, QUANTILES = 3, 336, (0.1, 0.5, 0.9)
DRIFTING, VOLUME, TREND = "city_police", 0.05, -0.15
CASES = {
    "demo": {"days": 365, "agencies": 4},
    "drift": {"days": 400, "agencies": 2, "volume": {DRIFTING: VOLUME}, "trend": {DRIFTING: TREND}},
}
MEASURES = ("wape", "bias", "coverage_80", "seasonal_naive_wape", "how_mean_wape", "oracle_wape")


def _inputs(root: Path, case: dict):
    """Simulate, ingest, validate and build features; the settings, model inputs, data end and truth."""
    from features.build import FeatureParameters, build_features
    from jointcast.simulator import simulate
    from warehouse.features_store import read_events
    from warehouse.model_store import read_truth

    simulate(root, seed=7, end=END, **case)
    settings, incidents = core_incidents(root / "jointcast.toml")
    built = build_features(
        incidents.lazy(), read_events(settings.events_path), FeatureParameters.from_settings(settings)
    )
    end = built.demand["bucket_start"].max() + timedelta(hours=1)
    start = end - timedelta(days=182 + FOLDS * HORIZON // 24 + 1)
    inputs = pl.concat(
        built.model_inputs(band).filter(pl.col("bucket_start") >= start).collect() for band in built.bands
    )
    return settings, inputs, end, read_truth(root)


def _scores(settings, inputs: pl.DataFrame, end, truth, level_scaling: bool) -> dict:
    """The backtest's figures, overall and per agency, with or without level scaling."""
    from flows.pending import configured_parameters
    from flows.train import shift_schedules
    from models.backtest import training_rows
    from models.training import backtest_only, sized_candidates

    shifts = shift_schedules(settings)
    configured = replace(configured_parameters(settings), level_scaling=level_scaling)
    params = sized_candidates(configured, training_rows(inputs, end, configured.train_days))[0]
    _, metrics, _ = backtest_only(inputs, end, params, HORIZON, FOLDS, QUANTILES, truth, shifts=shifts)
    scores = {"all": {m: round(metrics[m], 4) for m in MEASURES if m in metrics}}
    for agency in sorted(a.id for a in settings.agencies):
        scores[agency] = {
            m: round(metrics[f"{m}_{agency}"], 4) for m in MEASURES if f"{m}_{agency}" in metrics
        }
    return scores


def case_run(name: str) -> dict:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"jointcast-bench-drift-{name}-") as tmp:
        settings, inputs, end, truth = _inputs(Path(tmp), CASES[name])
        figures = {
            "before": _scores(settings, inputs, end, truth, level_scaling=False),
            "after": _scores(settings, inputs, end, truth, level_scaling=True),
        }
    return {**figures, "seconds": round(time.perf_counter() - started, 1)}


def verdict(figures: dict) -> dict:
    """The landing rule's figures (those of the cases present): demo shift WAPE change, and the
    drifting agency's targets."""
    found = {}
    if "demo" in figures:
        before, after = figures["demo"]["before"]["all"], figures["demo"]["after"]["all"]
        found["demo_wape_change"] = round(after["wape"] / before["wape"] - 1, 4)
        found["demo_before_vs_oracle"] = round(before["wape"] / before["oracle_wape"], 4)
        found["demo_after_vs_oracle"] = round(after["wape"] / after["oracle_wape"], 4)
    if "drift" in figures:
        before, after = figures["drift"]["before"][DRIFTING], figures["drift"]["after"][DRIFTING]
        found["drifting_wape_change"] = round(after["wape"] / before["wape"] - 1, 4)
        found["drifting_bias_within_5pct"] = abs(after["bias"]) <= 0.05
        found["drifting_beats_how_mean"] = after["wape"] <= after["how_mean_wape"]
    return found


def _table(case: dict) -> list[str]:
    header = (
        "| agency | model | shift WAPE | bias | coverage_80 | seasonal naive | hour-of-week mean | oracle |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for agency in case["before"]:
        for run in ("before", "after"):
            m = case[run][agency]
            lines.append(
                f"| {agency} | {run} | {m['wape']:.4f} | {m['bias']:+.3f} | {m['coverage_80']:.3f} "
                f"| {m.get('seasonal_naive_wape', float('nan')):.4f} | {m.get('how_mean_wape', float('nan')):.4f} "
                f"| {m.get('oracle_wape', float('nan')):.4f} |"
            )
    return lines


def results_section(figures: dict) -> str:
    """The benchmark's part of bench/RESULTS.md (the cases present)."""
    v = figures["verdict"]
    lines = [
        "## Low volume and drift (`python -m bench.drift`)",
        "",
        f"Backtest of {FOLDS} folds x {HORIZON} h, shift grain (agency x area x the agency's shifts); "
        "before = the configured parameters as `jointcast train` sizes them, after = the same with "
        "`level_scaling` (level-ratio features and a Poisson fit relative to each series' 4-week level), "
        "same folds, same run.",
        "",
    ]
    if "demo" in figures:
        lines += [
            f"### demo: 365 days, 4 agencies, seed 7 ({figures['demo']['seconds']} s)",
            "",
            *_table(figures["demo"]),
            "",
            f"- demo shift WAPE after vs before: {v['demo_wape_change']:+.2%}; vs the oracle: before "
            f"{v['demo_before_vs_oracle']:.3f}x, after {v['demo_after_vs_oracle']:.3f}x (target <= 1.03x)",
            "",
        ]
    if "drift" in figures:
        lines += [
            f"### drift: 400 days, 2 agencies, `{DRIFTING}` at volume {VOLUME:g} with trend "
            f"{TREND:+.0%} a year ({figures['drift']['seconds']} s)",
            "",
            *_table(figures["drift"]),
            "",
            f"- `{DRIFTING}` shift WAPE after vs before: {v['drifting_wape_change']:+.2%}; bias within "
            f"+-5%: {v['drifting_bias_within_5pct']}; WAPE <= hour-of-week mean's: "
            f"{v['drifting_beats_how_mean']}",
            "",
        ]
    return "\n".join(lines)  # fmt: skip


def main(argv: list[str]) -> dict:
    if argv and argv[0] == "run":
        figures = case_run(argv[1])
        save(f"drift_{argv[1]}", figures)
        emit(figures)
        return {}
    names = argv or list(CASES)  # e.g. `python -m bench.drift drift`: one case only
    figures = {name: run_isolated("bench.drift", "run", name) for name in names}
    figures["verdict"] = verdict(figures)
    print(json.dumps(figures, indent=2))
    write_results_section("drift", results_section(figures))
    print(f"saved {save('drift', figures)} and {RESULTS}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
