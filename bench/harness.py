"""Run one benchmark case in a fresh process and report wall time and peak memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).parent / "out"


def measure(case: Callable[[], dict]) -> dict:
    """Call ``case`` here; returns its figures plus seconds and this process's peak RSS."""
    started = time.perf_counter()
    figures = case()
    figures["seconds"] = round(time.perf_counter() - started, 3)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return figures


def run_isolated(module: str, case: str, *args: str) -> dict:
    """Run ``python -m module case args`` and parse the JSON line it prints last."""
    done = subprocess.run(
        [sys.executable, "-m", module, case, *args], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def emit(figures: dict) -> None:
    print(json.dumps(figures))


def save(name: str, results: dict) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


RESULTS = Path(__file__).parent / "RESULTS.md"


def core_incidents(config: Path):
    """Ingest and validate every feed of the workspace ``config``; its settings and core incidents."""
    from expectations.runner import Validator
    from expectations.validate import validate_feed
    from jointcast.config import load_settings
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_incidents
    from warehouse.ingest import ingest_feed

    settings = load_settings(config)
    with open_warehouse(settings.warehouse_path) as con:
        validator = Validator(settings.root)
        for feed in settings.feeds:
            ingest_feed(con, settings, feed)
            validate_feed(con, settings, feed, validator)
        incidents = read_incidents(con)
    return settings, incidents


def real_feed_main(name: str, run: Callable[[Path, Path], dict], data: Path, argv: list[str]) -> dict:
    """A benchmark on a real feed file: ``--data`` (default ``data``), ``--workspace`` (default a
    temporary folder); runs ``run(data, workspace)`` and saves its figures as ``name``."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog=f"bench.{name}")
    parser.add_argument("--data", type=Path, default=data)
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"no data at {args.data}: pass --data", file=sys.stderr)
        raise SystemExit(2)
    if args.workspace:
        args.workspace.mkdir(parents=True, exist_ok=True)
        results = run(args.data, args.workspace)
    else:
        with tempfile.TemporaryDirectory(prefix=f"jointcast-{name}-") as tmp:
            results = run(args.data, Path(tmp))
    print(f"saved {save(name, results)}")
    return results


def write_results_section(name: str, markdown: str) -> Path:
    """Put ``markdown`` in bench/RESULTS.md as the benchmark ``name``'s section, replacing its last one.

    Each section sits between ``<!-- name -->`` and ``<!-- /name -->``, so benchmarks update
    their own figures and leave the others'."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = RESULTS.read_text() if RESULTS.is_file() else "# Benchmark results\n"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
    return RESULTS
