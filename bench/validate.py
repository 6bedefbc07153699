"""Validation speed and memory: one CSV file of N rows (default 1 million) from raw to core,
beside DuckDB's own ``read_csv`` of the same file.

    python -m bench.validate [--rows 1000000]

Writes one police CAD CSV file of N rows, then, each in a fresh process so its peak RSS is its
own: DuckDB reading the file into a table (the yardstick), jointcast receiving it into the raw
layer (ingest), and jointcast's validate step alone (staging, the Great Expectations suite in
chunks, quarantine and load into core). Writes its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import emit, measure, run_isolated, save, write_results_section
from bench.ingest import write_feed


def case_validate(root: Path) -> dict:
    from expectations.runner import Validator
    from expectations.validate import validate_feed
    from jointcast.config import load_settings
    from warehouse.db import open_warehouse

    settings = load_settings(root / "jointcast.toml")
    feed = settings.feeds[0]
    with open_warehouse(settings.warehouse_path) as con:
        validator = Validator(root)  # context set-up is not part of the batch's time

        def validate() -> dict:
            result = validate_feed(con, settings, feed, validator)
            [batch] = result.batches
            return {
                "rows": batch.rows_loaded + batch.rows_quarantined,
                "loaded": batch.rows_loaded,
                "quarantined": batch.rows_quarantined,
            }

        return measure(validate)


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench.validate")
    parser.add_argument("case", nargs="?", default="all")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--root", type=Path)
    args = parser.parse_args(argv)
    if args.case == "validate":
        emit(case_validate(args.root))
        return {}
    if args.case == "write":
        write_feed(args.root, args.rows, files=1)
        emit({})
        return {}
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="jointcast-bench-") as tmp:
        root = Path(tmp)
        # written in a process of its own: a child inherits its parent's peak RSS at fork
        run_isolated("bench.validate", "write", "--rows", str(args.rows), "--root", str(root))
        csv_mb = round(sum(p.stat().st_size for p in (root / "feeds").glob("*.csv")) / 2**20, 1)
        duck = run_isolated("bench.ingest", "duckdb", "--root", str(root))
        (root / "duckdb_only.duckdb").unlink()
        ingest = run_isolated("bench.ingest", "jointcast", "--root", str(root))
        validate = run_isolated("bench.validate", "validate", "--root", str(root))
    results = {
        "rows": args.rows,
        "load_average": load,
        "csv_mb": csv_mb,
        "duckdb_read_csv": duck,
        "ingest": ingest,
        "validate": {**validate, "rows_per_s": round(validate["rows"] / validate["seconds"])},
        "validate_vs_read_csv": round(duck["seconds"] / validate["seconds"], 3),
        "csv_to_core_vs_read_csv": round(duck["seconds"] / (ingest["seconds"] + validate["seconds"]), 3),
    }
    print(f"saved {save(f'validate-{args.rows}', results)}")
    write_results_section(f"validate-{args.rows}", _markdown(results, argv))
    print(results)
    return results


def _markdown(results: dict, argv: list[str]) -> str:
    duck, ingest, validate = results["duckdb_read_csv"], results["ingest"], results["validate"]
    rows = results["rows"]
    command = " ".join(["python -m bench.validate", *argv])
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {_memory_gb()} GB RAM, {platform.system()}"
    return f"""
## Validation, one {rows:,}-row CSV file (`{command}`)

{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}, load average {results.get("load_average", "-")} at the start.
The file: {results["csv_mb"]} MB of police CAD rows. Each step in its own process.

| step | seconds | rows/s | peak RSS (MB) |
|---|---|---|---|
| DuckDB `read_csv` into a table (the yardstick) | {duck["seconds"]} | {round(rows / duck["seconds"]):,} | {duck["peak_rss_mb"]} |
| jointcast ingest: CSV -> raw | {ingest["seconds"]} | {round(rows / ingest["seconds"]):,} | {ingest["peak_rss_mb"]} |
| jointcast validate: raw -> core (staging, GX suite in chunks, quarantine, load) | {validate["seconds"]} | {validate["rows_per_s"]:,} | {validate["peak_rss_mb"]} |

Validate: {validate["loaded"]:,} rows loaded, {validate["quarantined"]:,} quarantined;
**{results["validate_vs_read_csv"]}x** DuckDB's `read_csv` speed (raw -> core), CSV -> core (ingest
and validate) {results["csv_to_core_vs_read_csv"]}x.
"""


def _memory_gb() -> float:
    return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)


if __name__ == "__main__":
    main(sys.argv[1:])
