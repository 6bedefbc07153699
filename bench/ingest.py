"""Ingest throughput: N million CSV incidents in the police CAD shape, beside DuckDB's read_csv;
and one file of N/files rows with an unterminated quote mid-file (read again line by line).

    python -m bench.ingest [--rows 5000000] [--files 10]

Each measured case runs in its own process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from bench.harness import emit, measure, run_isolated, save

CONFIG = """
[warehouse]
path = "warehouse.duckdb"
pii_key_file = "pii.key"

[[agencies]]
id = "city_police"
name = "City Police"
kind = "police"
timezone = "America/New_York"

[[feeds]]
id = "city_police_cad"
agency = "city_police"
uri = "feeds/*.csv"
format = "csv"
timestamp_format = "%m/%d/%Y %I:%M:%S %p"
timezone = "America/New_York"
type_codes = { TC = "traffic_collision", THEFT = "theft", BURG = "burglary", ASLT = "assault", DIST = "disturbance", ALARM = "alarm", SUSP = "suspicious" }
call_source_codes = { "911" = "citizen", PHONE = "citizen", SELF = "officer", ALARM = "alarm" }
pii = { drop = ["CallerPhone"], hash = ["CallerName"] }

[feeds.columns]
source_incident_id = "IncidentNumber"
received_at = "CallReceived"
source_type = "CallType"
priority = "Priority"
call_source = "Source"
dispatched_at = "Dispatched"
on_scene_at = "OnScene"
cleared_at = "Cleared"
area_id = "Beat"
lat = "Latitude"
lon = "Longitude"
"""

FORMAT = "%m/%d/%Y %I:%M:%S %p"


def write_feed(root: Path, rows: int, files: int, seed: int = 1) -> None:
    """Write ``rows`` realistic police CAD rows split over ``files`` monthly-like CSV files."""
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    (root / "jointcast.toml").write_text(CONFIG)
    key = root / "pii.key"
    key.write_text(secrets.token_hex(32) + "\n")
    key.chmod(0o600)
    rng = np.random.default_rng(seed)
    per_file = rows // files
    start = np.datetime64("2022-01-01T00:00:00", "ms")
    for index in range(files):
        n = per_file + (rows - per_file * files if index == files - 1 else 0)
        received = start + np.sort(rng.integers(0, 3 * 365 * 86400, n)).astype("timedelta64[s]").astype(
            "timedelta64[ms]"
        )
        dispatch = received + rng.integers(30, 600, n).astype("timedelta64[s]").astype("timedelta64[ms]")
        arrive = dispatch + rng.integers(120, 1200, n).astype("timedelta64[s]").astype("timedelta64[ms]")
        clear = arrive + rng.integers(600, 5400, n).astype("timedelta64[s]").astype("timedelta64[ms]")
        frame = pl.DataFrame({
            "IncidentNumber": [f"CP-{index:02d}-{i:08d}" for i in range(n)],
            "CallType": rng.choice(["TC", "THEFT", "BURG", "ASLT", "DIST", "ALARM", "SUSP"], n),
            "Priority": rng.integers(1, 6, n),
            "Source": rng.choice(["911", "PHONE", "SELF", "ALARM"], n),
            "CallReceived": received, "Dispatched": dispatch, "OnScene": arrive, "Cleared": clear,
            "Beat": [f"B{b:02d}" for b in rng.integers(1, 41, n)],
            "Latitude": np.round(rng.uniform(39.98, 40.28, n), 6),
            "Longitude": np.round(rng.uniform(-75.45, -75.05, n), 6),
            "CallerName": rng.choice(["Jane Roe", "John Doe", "Alex Poe"], n),
            "CallerPhone": rng.choice(["555-0100", "555-0101"], n),
        }).with_columns(
            pl.col(c).dt.strftime(FORMAT) for c in ("CallReceived", "Dispatched", "OnScene", "Cleared")
        )  # fmt: skip
        frame.write_csv(root / "feeds" / f"cad_{index:02d}.csv")


def case_duckdb(root: Path) -> dict:
    import duckdb

    def read() -> dict:
        con = duckdb.connect(str(root / "duckdb_only.duckdb"))
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{root}/feeds/*.csv')")
        return {"rows": con.execute("SELECT count(*) FROM t").fetchone()[0]}

    return measure(read)


def case_jointcast(root: Path, counted: str = "loaded") -> dict:
    """jointcast's ingest of the first feed; reports rows read and rows ``counted`` (loaded or quarantined)."""
    from jointcast.config import load_settings
    from warehouse.db import open_warehouse
    from warehouse.ingest import ingest_feed

    def ingest() -> dict:
        settings = load_settings(root / "jointcast.toml")
        with open_warehouse(settings.warehouse_path) as con:
            outcome = ingest_feed(con, settings, settings.feeds[0])
        return {"rows": outcome.total("rows_read"), counted: outcome.total(f"rows_{counted}")}

    return measure(ingest)


def break_one_quote(root: Path) -> None:
    """Open a quote in the middle row of the first file and never close it: DuckDB's reader would
    swallow every line after it up to the file's end; jointcast quarantines that one line."""
    path = sorted((root / "feeds").glob("*.csv"))[0]
    lines = path.read_text(encoding="utf-8").split("\n")
    middle = len(lines) // 2
    lines[middle] = lines[middle].replace(",", ',"', 1)
    path.write_text("\n".join(lines), encoding="utf-8")


def case_jointcast_broken(root: Path) -> dict:
    return case_jointcast(root, "quarantined")


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench.ingest")
    parser.add_argument("case", nargs="?", default="all")
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--root", type=Path)
    args = parser.parse_args(argv)
    if args.case == "duckdb":
        emit(case_duckdb(args.root))
        return {}
    if args.case == "jointcast":
        emit(case_jointcast(args.root))
        return {}
    if args.case == "jointcast_broken":
        emit(case_jointcast_broken(args.root))
        return {}
    with tempfile.TemporaryDirectory(prefix="jointcast-bench-") as tmp:
        root = Path(tmp)
        write_feed(root, args.rows, args.files)
        size = sum(p.stat().st_size for p in (root / "feeds").glob("*.csv"))
        duck = run_isolated("bench.ingest", "duckdb", "--root", str(root))
        ours = run_isolated("bench.ingest", "jointcast", "--root", str(root))
        broken_root = root / "broken"
        write_feed(broken_root, args.rows // args.files, 1)
        break_one_quote(broken_root)
        broken = run_isolated("bench.ingest", "jointcast_broken", "--root", str(broken_root))
    results = {
        "rows": args.rows,
        "csv_mb": round(size / 2**20, 1),
        "duckdb_read_csv": {**duck, "rows_per_s": round(duck["rows"] / duck["seconds"])},
        "jointcast_ingest": {**ours, "rows_per_s": round(ours["rows"] / ours["seconds"])},
    }
    results["jointcast_ingest_one_broken_quote"] = {
        **broken,
        "file_rows": args.rows // args.files,
        "rows_per_s": round(broken["rows"] / broken["seconds"]),
    }
    results["speed_ratio"] = round(
        results["jointcast_ingest"]["rows_per_s"] / results["duckdb_read_csv"]["rows_per_s"], 3
    )
    print(f"saved {save('ingest', results)}")
    print(results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
