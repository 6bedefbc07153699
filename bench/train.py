"""Training time: the backtest (3 folds) plus the final model, at the demo's size and at scale.

    python -m bench.train [demo|scale|all]

``demo`` simulates the demo (365 days, 4 agencies) and times ingest-free training on its
model inputs; ``scale`` uses the 3 years x 4 agencies x 100 areas hourly panel of
bench.features. Each case runs in its own process; peak RSS is that process's.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from bench.harness import core_incidents, emit, run_isolated, save


def _time_training(inputs: pl.DataFrame, end, truth) -> dict:
    import resource

    from models.parameters import ModelParameters
    from models.training import train_and_backtest

    started = time.perf_counter()
    result = train_and_backtest(inputs, end, "bench", ModelParameters(), 336, 3, (0.1, 0.5, 0.9), truth)
    seconds = time.perf_counter() - started
    return {
        "model_input_rows": inputs.height,
        "series": inputs.select("agency_id", "area_id").n_unique(),
        "training_rows_final": result.training_data.height,
        "seconds_backtest_3_folds_and_final": round(seconds, 1),
        "wape": round(result.metrics["wape"], 4),
        "seasonal_naive_wape": round(result.metrics["seasonal_naive_wape"], 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _inputs(built, end) -> pl.DataFrame:
    """Only the rows training and the backtest read: half a year before the first fold onwards."""
    start = end - timedelta(days=182 + 3 * 14)
    return pl.concat(
        built.model_inputs(band).filter(pl.col("bucket_start") >= start).collect() for band in built.bands
    )


def case_demo() -> dict:
    from features.build import FeatureParameters, build_features
    from jointcast.simulator import simulate
    from warehouse.features_store import read_events
    from warehouse.model_store import read_truth

    with tempfile.TemporaryDirectory(prefix="jointcast-bench-") as tmp:
        root = Path(tmp)
        simulate(root, days=365, seed=7)
        settings, incidents = core_incidents(root / "jointcast.toml")
        params = FeatureParameters.from_settings(settings)
        built = build_features(incidents.lazy(), read_events(settings.events_path), params)
        end = built.demand["bucket_start"].max() + timedelta(hours=1)
        return _time_training(_inputs(built, end), end, read_truth(root))


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
    return _time_training(_inputs(built, end), end, None)


def main(argv: list[str]) -> dict:
    case = argv[0] if argv else "all"
    if case == "demo-run":
        emit(case_demo())
        return {}
    if case == "scale-run":
        emit(case_scale())
        return {}
    results = {}
    for name in ("demo", "scale") if case == "all" else (case,):
        results[name] = run_isolated("bench.train", f"{name}-run")
        print(name, results[name])
    print(f"saved {save('train', results)}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
