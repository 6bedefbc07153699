"""How fast a verb with nothing to do answers, and that a rerun changes nothing.

    python -m bench.noop [--workspace demo] [--repeat 3]

On a workspace the pipeline has already run on (default ./demo, what `make run` leaves),
times `jointcast --config <workspace>/jointcast.toml VERB` for every stage verb and `run`,
each in its own process as a user runs it, and checks that each answered "nothing to do"
and that no model version and no publication was added. The target: under 5 s each.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import save

VERBS = ("ingest", "validate", "features", "train", "forecast", "publish", "run")
TARGET_SECONDS = 5.0


def _counts(workspace: Path) -> tuple[int, int]:
    import duckdb
    from mlflow import MlflowClient

    from jointcast.config import load_settings

    settings = load_settings(workspace / "jointcast.toml")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        publications = con.execute("SELECT count(*) FROM meta.publications").fetchone()[0]
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    versions = len(client.search_model_versions(f"name = '{settings.mlflow.registered_model}'"))
    return publications, versions


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", type=Path, default=Path("demo"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    config = args.workspace / "jointcast.toml"
    command = [str(Path(sys.executable).parent / "jointcast"), "--config", str(config)]
    before = _counts(args.workspace)
    results = {}
    for verb in VERBS:
        seconds, said = [], ""
        for _ in range(args.repeat):
            started = time.perf_counter()
            done = subprocess.run([*command, verb], capture_output=True, text=True, check=True)
            seconds.append(time.perf_counter() - started)
            said = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
        results[verb] = {
            "median_seconds": round(statistics.median(seconds), 2),
            "max_seconds": round(max(seconds), 2),
            "nothing_to_do": said.startswith("nothing to do"),
        }
        print(
            f"{verb:9} {results[verb]['median_seconds']:5.2f} s (max {results[verb]['max_seconds']:.2f})  {said[:90]}"
        )
    after = _counts(args.workspace)
    results["unchanged"] = {
        "publications_and_versions_before": before,
        "after": after,
        "same": before == after,
    }
    results["all_under_target"] = all(
        r["max_seconds"] < TARGET_SECONDS for v, r in results.items() if v in VERBS
    )
    print(f"publications, model versions: {before} -> {after}; all under {TARGET_SECONDS} s: "
          f"{results['all_under_target']}")  # fmt: skip
    save("noop", results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
