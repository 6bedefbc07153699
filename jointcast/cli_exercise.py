"""`jointcast exercise`: a joint exercise on simulated feeds, scored (flows.exercise)."""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from jointcast.cli_support import USAGE_ERROR, console, errors, fail, id_table
from jointcast.config import ConfigError


def exercise(
    scenario: Annotated[
        Path, typer.Option(help="Exercise file (TOML): the simulated history and the surges")
    ],
    out: Annotated[Path, typer.Option(help="New or empty folder: the exercise's own workspace and report")],
) -> None:
    """Rehearse a surge on simulated feeds: the pipeline runs on them as on live data, then is scored."""
    from jointcast.exercise_file import load_exercise

    try:
        described = load_exercise(scenario)
    except ConfigError as exc:
        raise fail([str(exc)], USAGE_ERROR) from None
    file_bytes = scenario.read_bytes()
    try:
        described.surges_after(described.history_end(datetime.now(UTC).date()))
    except ValueError as exc:
        raise fail([f"exercise error in {scenario}: {exc}"], USAGE_ERROR) from None
    held = _held_exercise(out)
    if held is not None:
        if held["file_sha256"] != hashlib.sha256(file_bytes).hexdigest():
            raise fail(
                [f"{out} holds the exercise '{held['exercise_name']}' of another file: give a new folder"]
            )
        when = f"{held['finished_at']:%Y-%m-%d %H:%M}Z"
        console.print(
            f"nothing to do: {out} holds this exercise, run on {when}", highlight=False, soft_wrap=True
        )
        _print_scores(out, Path(held["report_path"]))
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise fail(
            [f"--out {out}: not a new or empty folder (an exercise writes its own workspace)"], USAGE_ERROR
        )
    from flows.common import StageFailed
    from flows.exercise import exercise_flow

    out.mkdir(parents=True, exist_ok=True)
    status = errors.status("running the exercise…") if errors.is_terminal else nullcontext()
    with status:
        state = exercise_flow(exercise=described, file_bytes=file_bytes, out=out, return_state=True)
    if not state.is_completed():
        try:
            state.result()
        except StageFailed as exc:
            raise fail(exc.problems) from None
        except ValueError as exc:  # a surge the simulator cannot place
            raise fail([f"exercise error in {scenario}: {exc}"], USAGE_ERROR) from None
        except Exception as exc:
            raise fail([f"exercise failed: {type(exc).__name__}: {exc}"]) from None
    _print_scores(out, state.result()["report"])


def _held_exercise(out: Path) -> dict | None:
    """The exercise an existing workspace already holds, if any."""
    warehouse = out / "warehouse.duckdb"
    if not warehouse.is_file():
        return None
    from warehouse.db import open_warehouse
    from warehouse.exercise_store import finished_exercise

    with open_warehouse(warehouse, read_only=True) as con:
        try:
            return finished_exercise(con)
        except Exception:  # a warehouse from before exercises: no exercise held
            return None


def _print_scores(out: Path, report: Path) -> None:
    from warehouse.db import open_warehouse
    from warehouse.exercise_store import read_scores

    with open_warehouse(out / "warehouse.duckdb", read_only=True) as con:
        scores = read_scores(con)
    table = id_table("exercise scores (the how: in the report)", "surge", "agency")
    table.add_column("measure", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("met", no_wrap=True)
    for surge_id, agency_id, measure, value, _target, met, _detail in scores.iter_rows():
        shown = "—" if value is None else f"{value:.3f}"
        table.add_row(surge_id, agency_id, measure, shown, {True: "yes", False: "no", None: "—"}[met])
    console.print(table)
    console.print(f"report: {report}", highlight=False, soft_wrap=True)
