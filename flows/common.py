"""What every flow shares: settings from a config path, the warehouse, stage failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from prefect import get_run_logger
from prefect.states import Failed, State

from jointcast.config import Settings, load_settings
from warehouse.db import open_warehouse


class StageFailed(RuntimeError):
    """A stage finished its work but some part of it failed; each line names where."""

    def __init__(self, stage: str, problems: list[str]):
        self.stage = stage
        self.problems = problems
        super().__init__("\n".join(problems))


def settings_for(config: str | None) -> Settings:
    return load_settings(config)


@contextmanager
def warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_warehouse(settings.warehouse_path) as con:
        yield con


def logger():
    return get_run_logger()


def failed(stage: str, problems: list[str]) -> State:
    """A Failed final state carrying the problems: the run ends Failed with no traceback."""
    return Failed(message="; ".join(problems), data=StageFailed(stage, problems))


def run_stages(stages, config: str | None) -> State | dict:
    """Run stage flows in order as subflows.

    A stage that fails in part (one feed of four) lets the later stages go on with what
    did work, and the run ends Failed with every problem; a stage that fails outright
    (anything but StageFailed) ends the run there.
    """
    results, problems = {}, []
    for stage in stages:
        state = stage(config=config, return_state=True)
        if state.is_completed():
            results[stage.name] = state.result()
            continue
        try:
            state.result()
        except StageFailed as exc:
            problems += exc.problems
            continue
        except Exception:
            return state
        return state
    if problems:
        return failed("pipeline", problems)
    return results
