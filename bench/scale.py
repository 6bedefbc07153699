"""Cost against size: the whole pipeline at 1x, 4x and 16x, each stage as a user runs it.

``python -m bench.scale [--sizes 1,4,16] [--workspace DIR]`` simulates each size, then runs
``jointcast --config ... <verb>`` for ingest, validate, features, train, forecast and publish, each
in a process of its own, recording its wall time and peak memory (the resident memory of the
command's process tree, sampled every 0.1 s). ``forecast`` publishes what it forecast; ``publish``
then republishes after a planner's staffing change, so each stage does its work once. The figures go to bench/RESULTS.md with a log-log chart ``bench/scale.png`` and
each stage's fitted slope of log time (and log memory) on log size.

Size: 1x is the demo (its four agencies with their usual areas over a year); 4x doubles the
agencies (eight: the four kinds twice over, ``jointcast.simulator.agencies.agency_specs``) and the
years, 16x quadruples both: panel cell-hours grow 4x per step, as a partnership of more agencies
with longer history does. One backtest fold; training fits on ``train_days`` (182) before it, as
``jointcast train`` does, so its rows grow with the agencies, not the years.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.harness import OUT, save, write_results_section

STAGES = ("ingest", "validate", "features", "train", "forecast", "publish")
BASE_AGENCIES = 4
BASE_DAYS = 365
END = date(2026, 6, 1)
SEED = 7
CHART = Path(__file__).parent / "scale.png"


def size_plan(multiple: int) -> tuple[int, int]:
    """Agencies and days of the ``multiple`` x size: agencies and days each grow by its square root."""
    root = math.isqrt(multiple)
    if root * root != multiple:
        raise ValueError(f"size {multiple}x: sizes are squares (1, 4, 16, ...)")
    return BASE_AGENCIES * root, BASE_DAYS * root


def _bench_config(config: Path) -> None:
    """One backtest fold: the training cost then follows the data, not the number of folds."""
    text = config.read_text()
    config.write_text(text.replace("backtest_folds = 3", "backtest_folds = 1"))


def _staffing_changed(config: Path) -> None:
    """A planner's change of the first agency's relief factor (1.65 -> 1.66): what gives ``publish``
    work after ``forecast`` has published (it republishes with the new staffing settings)."""
    text = config.read_text()
    config.write_text(text.replace("relief_factor = 1.65", "relief_factor = 1.66", 1))


def _measure(command: list[str], env: dict[str, str]) -> dict:
    """Run ``command``; its wall time and peak memory (the resident memory of its process tree,
    sampled every 0.1 s)."""
    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(_rss(p) for p in tree))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    output = process.stdout.read()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[-2:])} failed ({process.returncode}):\n{output[-3000:]}")
    if "nothing to do" in output:
        raise RuntimeError(f"{' '.join(command[-2:])} had nothing to do: the figure would measure no work")
    return {"seconds": round(seconds, 1), "peak_tree_mb": round(peak / 2**20, 1)}


def _rss(process) -> int:
    import psutil

    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def _counts(config: Path) -> dict:
    """Rows at the size: core incidents, panel cell-hours, series, model-input rows."""
    import duckdb

    warehouse = config.parent / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        query = {
            "incidents": "SELECT count(*) FROM core.incidents",
            "cell_hours": "SELECT count(*) FROM features.demand",
            "series": "SELECT count(*) FROM (SELECT DISTINCT agency_id, area_id FROM features.demand)",
            "model_input_rows": "SELECT count(*) FROM features.model_inputs",
        }
        return {name: con.execute(sql).fetchone()[0] for name, sql in query.items()}


def run_size(multiple: int, folder: Path) -> dict:
    """Simulate the size into ``folder`` and run every stage on it; the figures."""
    from jointcast.simulator import simulate

    agencies, days = size_plan(multiple)
    shutil.rmtree(folder, ignore_errors=True)
    began = time.perf_counter()
    summary = simulate(folder, days=days, seed=SEED, agencies=agencies, end=END)
    simulated = time.perf_counter() - began
    _bench_config(summary.config_path)
    # each command starts Prefect's temporary server: on a busy machine it may need longer than 20 s
    env = {
        **os.environ,
        "PREFECT_HOME": str(folder / ".prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
    }
    jointcast = str(Path(sys.executable).with_name("jointcast"))
    stages = {}
    for stage in STAGES:
        if stage == "publish":
            _staffing_changed(summary.config_path)
        stages[stage] = _measure([jointcast, "--config", str(summary.config_path), stage], env)
        print(
            f"{multiple}x {stage}: {stages[stage]['seconds']} s, {stages[stage]['peak_tree_mb']} MB",
            flush=True,
        )
    return {
        "multiple": multiple,
        "agencies": agencies,
        "days": days,
        "feed_rows": sum(summary.rows_per_feed.values()),
        "simulate_seconds": round(simulated, 1),
        **_counts(summary.config_path),
        "stages": stages,
    }


def slope(sizes: list[float], values: list[float]) -> float | None:
    """The least-squares slope of log(value) on log(size): 1 is linear growth."""
    points = [(math.log(s), math.log(v)) for s, v in zip(sizes, values, strict=True) if v and v > 0]
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def _chart(results: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = [r["cell_hours"] for r in results]
    for stage in STAGES:
        time_axis.plot(sizes, [r["stages"][stage]["seconds"] for r in results], marker="o", label=stage)
        memory_axis.plot(
            sizes, [r["stages"][stage]["peak_tree_mb"] for r in results], marker="o", label=stage
        )
    low, high = sizes[0], sizes[-1]
    for axis, title, unit in ((time_axis, "wall time", "seconds"), (memory_axis, "peak memory", "MB")):
        axis.set(xscale="log", yscale="log", title=title, xlabel="panel cell-hours", ylabel=unit)
        start = min(line.get_ydata()[0] for line in axis.get_lines())
        axis.plot([low, high], [start, start * high / low], "k:", label="linear")
        axis.grid(True, which="both", alpha=0.3)
    time_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(CHART, dpi=110)
    plt.close(figure)


def _markdown(results: list[dict]) -> str:
    sizes = [r["cell_hours"] for r in results]
    labels = [f"{r['multiple']}x" for r in results]
    head = " | ".join(labels)
    lines = [
        "## Cost against size (`python -m bench.scale`)",
        "",
        f"Each size simulated by `jointcast.simulator.simulate` (seed {SEED}, ending {END}): 1x is the demo "
        f"({BASE_AGENCIES} agencies over {BASE_DAYS} days), 4x twice the agencies and years, 16x four times both. "
        "Every stage ran as `jointcast --config ... <verb>` in a process of its own; memory is the peak "
        "resident memory of that command's process tree (sampled every 0.1 s). The bench's config uses "
        "`backtest_folds = 1` (the demo's three folds would triple training at every size alike); "
        "training fits on the `train_days` (182) before the fold and before the data's end, as "
        "`jointcast train` does, so its rows grow with the agencies (2x a step), not the years. "
        "`forecast` forecasts and publishes; `publish` then republishes every agency after a planner's "
        "staffing change (the first agency's relief factor), so each stage measures its own work. "
        "Each size ran once, on 2 cores; the load average (1 minute) at the start of each: "
        + ", ".join(f"{label} {r.get('load_average', '-')}" for label, r in zip(labels, results, strict=True))
        + " (above 2, other work shared the machine and inflated the times).",
        "",
        f"| | {head} |",
        "|---|" + "---:|" * len(results),
        "| agencies x days | " + " | ".join(f"{r['agencies']} x {r['days']}" for r in results) + " |",
        "| series | " + " | ".join(f"{r['series']:,}" for r in results) + " |",
        "| core incidents | " + " | ".join(f"{r['incidents']:,}" for r in results) + " |",
        "| panel cell-hours | " + " | ".join(f"{r['cell_hours']:,}" for r in results) + " |",
        "| model-input rows | " + " | ".join(f"{r['model_input_rows']:,}" for r in results) + " |",
        "",
        f"| stage | {' | '.join(f'{label} s' for label in labels)} | time slope | last step "
        f"| {' | '.join(f'{label} MB' for label in labels)} | memory slope |",
        "|---|" + "---:|" * (2 * len(results) + 3),
    ]
    for stage in STAGES:
        seconds = [r["stages"][stage]["seconds"] for r in results]
        memory = [r["stages"][stage]["peak_tree_mb"] for r in results]
        time_slope, memory_slope = slope(sizes, seconds), slope(sizes, memory)
        lines.append(
            f"| {stage} | {' | '.join(f'{s:,.1f}' for s in seconds)} | {_fmt(time_slope)} "
            f"| {_fmt(slope(sizes[-2:], seconds[-2:]))} "
            f"| {' | '.join(f'{m:,.0f}' for m in memory)} | {_fmt(memory_slope)} |"
        )
    total = [sum(r["stages"][s]["seconds"] for s in STAGES) for r in results]
    lines += [
        f"| all stages | {' | '.join(f'{s:,.1f}' for s in total)} | {_fmt(slope(sizes, total))} "
        f"| {_fmt(slope(sizes[-2:], total[-2:]))} | {' | '.join('' for _ in results)} | |",
        "",
        "Slopes are least-squares fits of log cost on log panel cell-hours over every size (1: linear); "
        '"last step" is the slope between the two largest sizes alone. Each stage\'s fixed start-up '
        "(Python, Prefect's temporary server, MLflow, the warehouse) weighs most at 1x and flattens the "
        "fitted slopes, so the last step says more about how the work itself grows. `forecast` grows "
        "with series (its 336 hours ahead do not grow with history) and includes publishing every "
        "agency's tables, reports and mart.",
        "",
        "![cost against size](scale.png)",
    ]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _run(sizes: str, workspace: Path | None) -> list[dict]:
    multiples = [int(text) for text in sizes.split(",")]
    for multiple in multiples:
        size_plan(multiple)
    results = []
    with tempfile.TemporaryDirectory(prefix="jointcast-scale-") as tmp:
        for multiple in multiples:
            load = f"{os.getloadavg()[0]:.1f}"
            results.append(
                {**run_size(multiple, (workspace or Path(tmp)) / f"{multiple}x"), "load_average": load}
            )
            save("scale", {"results": results})
    return results


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.scale")
    parser.add_argument("--sizes", default="1,4,16", help="comma-separated size multiples (squares)")
    parser.add_argument("--workspace", type=Path, help="keep each size's workspace under this folder")
    parser.add_argument(
        "--report",
        action="store_true",
        help="only write RESULTS.md and the chart from the last saved figures",
    )
    args = parser.parse_args(argv)
    if args.report:
        results = json.loads((OUT / "scale.json").read_text())["results"]
    else:
        results = _run(args.sizes, args.workspace)
    if len(results) > 1:
        _chart(results)
    write_results_section("scale", _markdown(results))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
