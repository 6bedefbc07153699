"""Validation speed: one batch of N rows (default 1 million) through its expectation suite.

    python -m bench.validate [--rows 1000000]

Receives one police CAD CSV file of N rows, then times the validate step alone (staging,
the Great Expectations suite, quarantine and load into core) in a fresh process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.harness import emit, measure, run_isolated, save
from bench.ingest import write_feed


def case_validate(root: Path) -> dict:
    from expectations.runner import Validator
    from expectations.validate import validate_feed
    from jointcast.config import load_settings
    from warehouse.db import open_warehouse
    from warehouse.ingest import ingest_feed

    settings = load_settings(root / "jointcast.toml")
    feed = settings.feeds[0]
    with open_warehouse(settings.warehouse_path) as con:
        ingest_feed(con, settings, feed)
        validator = Validator(root)  # context set-up is not part of the batch's time

        def validate() -> dict:
            result = validate_feed(con, settings, feed, validator)
            [batch] = result.batches
            return {"rows": batch.rows_loaded + batch.rows_quarantined, "loaded": batch.rows_loaded}

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
    with tempfile.TemporaryDirectory(prefix="jointcast-bench-") as tmp:
        root = Path(tmp)
        write_feed(root, args.rows, files=1)
        figures = run_isolated("bench.validate", "validate", "--root", str(root))
    results = {"rows": args.rows, **figures, "rows_per_s": round(figures["rows"] / figures["seconds"])}
    print(f"saved {save('validate', results)}")
    print(results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
