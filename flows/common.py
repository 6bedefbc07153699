"""What every flow shares: the run's settings, the warehouse, stage failures, task mapping.

Every flow takes the run's ``Settings`` (loaded once, at the entry point, from the bytes
whose digest it carries); nothing below the entry point reads the config file again.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import duckdb
from prefect import task
from prefect.cache_policies import NONE
from prefect.states import Failed, State

from jointcast.config import Settings
from warehouse.db import open_warehouse
from warehouse.lock import WarehouseBusy, run_lock


class StageFailed(RuntimeError):
    """A stage finished its work but some part of it failed; each line names where."""

    def __init__(self, stage: str, problems: list[str]):
        self.stage = stage
        self.problems = problems
        super().__init__("\n".join(problems))


@contextmanager
def warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_warehouse(settings.warehouse_path) as con:
        yield con


RUN_LOGGER = "jointcast.run"
"""The stages' own logger: shown in the terminal and, during a run, sent to Prefect's UI."""
_started: ContextVar[float | None] = ContextVar("stage_started", default=None)


def logger() -> logging.Logger:
    return logging.getLogger(RUN_LOGGER)


def done(stage: str, summary: str) -> None:
    """The stage's one line: what it did and how long it took."""
    started = _started.get()
    took = "" if started is None else f" in {_duration(time.monotonic() - started)}"
    logger().info("%s%s: %s", stage, took, summary)


def _start_clock():
    return _started.set(time.monotonic())


def _stop_clock(token) -> None:
    _started.reset(token)


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def failed(stage: str, problems: list[str]) -> State:
    """A Failed final state carrying the problems: the run ends Failed with no traceback."""
    return Failed(message="; ".join(problems), data=StageFailed(stage, problems))


def run_stages(stages, settings: Settings) -> State | dict:
    """Run stage flows in order as subflows.

    A stage that fails in part (one feed of four) lets the later stages go on with what
    did work, and the run ends Failed with every problem; a stage that fails outright
    (anything but StageFailed) ends the run there.
    """
    results, problems = {}, []
    for stage in stages:
        state = runnable(stage, settings)(settings=settings, return_state=True)
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


def exclusive(stage: str) -> Callable:
    """Run the flow body holding the warehouse's run lock (see warehouse.lock).

    Apply under ``@flow``. A run that cannot get the lock ends Failed with one line
    saying which run holds it; a pipeline's stage subflows re-enter its lock.
    """

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def locked(*args, **kwargs):
            settings = kwargs.get("settings", args[0] if args else None)
            timeout = settings.orchestration.lock_timeout_seconds
            token = _start_clock()  # a function, not the ContextVar: Dask pickles this closure
            try:
                with run_lock(settings.warehouse_path, stage, timeout):
                    return function(*args, **kwargs)
            except WarehouseBusy as exc:
                return failed(stage, [f"{stage}: {exc}"])
            finally:
                _stop_clock(token)

        return locked

    return decorate


def task_runner(settings: Settings, flow_name: str = "forecast"):
    """The task runner for per-agency and per-fold work: threads here, or a Dask cluster.

    On Dask, forecast's agencies run as tasks on the cluster; train's folds run here one at a time,
    each fitted over the whole cluster by LightGBM's Dask interface (``dask_client``)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    options = settings.orchestration
    if options.task_runner != "dask" or flow_name not in DASK_TASKS:
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if options.dask_address:
        return DaskTaskRunner(address=options.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": options.dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


SCALABLE = {"train", "backtest", "forecast"}
"""Flows whose per-fold / per-agency tasks may run on a Dask cluster."""
DASK_TASKS = {"forecast"}
"""Of those, the flows whose tasks run on the cluster with task_runner = "dask" (train and backtest
use the cluster for their fits instead: flows.train)."""


def runnable(flow, settings: Settings):
    """``flow``, with the task runner the config asks for when it is one of ``SCALABLE``."""
    if flow.name not in SCALABLE:
        return flow
    return flow.with_options(task_runner=task_runner(settings, flow.name))


@contextmanager
def dask_client(settings: Settings) -> Iterator:
    """A client of the Dask cluster at ``dask_address``, or of a local cluster of ``dask_workers``
    worker processes (the machine's cores shared among them), closed afterwards."""
    level = logging.getLogger("distributed").level
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(level)  # importing it sets its own (INFO): keep the command's
    options = settings.orchestration
    if options.dask_address:
        with Client(options.dask_address) as client:
            client.wait_for_workers(1, timeout=120)
            logger().info("dask: the cluster at %s, %d workers", options.dask_address, len(client.nthreads()))
            yield client
        return
    threads = max(1, (os.cpu_count() or 1) // options.dask_workers)
    with (
        LocalCluster(
            n_workers=options.dask_workers, threads_per_worker=threads, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        logger().info("dask: a local cluster of %d workers of %d thread%s", options.dask_workers, threads,
                      "s" * (threads != 1))  # fmt: skip
        yield client


@task(name="part", cache_policy=NONE, persist_result=False)
def run_part(function: Callable, item):
    return function(item)


def task_mapper(function: Callable, items: list) -> list:
    """Run ``function`` on each item as a task of the current flow's task runner; results in order."""
    futures = [
        run_part.with_options(name=_part_name(item, i)).submit(function, item) for i, item in enumerate(items)
    ]
    return [future.result() for future in futures]


def _part_name(item, index: int) -> str:
    """A task run's name a person can place: the backtest fold, or the agency."""
    origin = getattr(item, "origin", None)
    if origin is not None:
        return f"fold from {origin:%Y-%m-%d %H:%M}"
    columns = getattr(item, "columns", ())
    if "agency_id" in columns and len(item):
        return f"agency {item['agency_id'][0]}"
    return f"part {index + 1}"


def run_name(verb: str) -> Callable[[], str]:
    """Flow runs named after the verb, the workspace and the time (not Prefect's random names)."""

    def name() -> str:
        from datetime import UTC, datetime

        from prefect.runtime import flow_run

        settings = flow_run.parameters.get("settings")
        workspace = getattr(settings, "root", None)
        where = f" {workspace.name}" if workspace is not None else ""
        return f"{verb}{where} {datetime.now(UTC):%Y-%m-%d %H:%M}Z"

    return name


def link_artifact(key: str, link: str, text: str, description: str) -> None:
    """A link in the Prefect UI beside the run (Data Docs, a report, the MLflow run)."""
    from prefect.artifacts import create_link_artifact

    create_link_artifact(link=link, link_text=text, key=key, description=description)


def markdown_artifact(key: str, markdown: str, description: str) -> None:
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown=markdown, key=key, description=description)


def temporary_server_dies_with_us() -> None:
    """Start Prefect's temporary API server (used when no PREFECT_API_URL is set) so that it dies
    with this process, even one killed with SIGKILL.

    Prefect 3 starts that server as a child process (``SubprocessASGIServer``) and stops it at
    exit; a killed command never reaches its exit, and the server would keep listening. Here the
    server is started first, from the main thread, by a subclass whose child asks Linux to be
    sent SIGTERM when its parent dies (PR_SET_PDEATHSIG, which follows the thread that started
    the child: the main thread lives as long as the process); Prefect's own calls then find it
    running (one instance per port, kept by the class). Elsewhere it changes nothing.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    parent_death = _parent_death_preexec(os.getpid())
    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value() or parent_death is None:
        return
    if None in SubprocessASGIServer._instances:  # started already (a second flow in this process)
        return

    class _DiesWithParent(SubprocessASGIServer):
        def _run_uvicorn_command(self):
            import subprocess
            from unittest import mock

            log = _server_log()  # its errors (a full disk, say) go there, not over the command's output
            popen = functools.partial(subprocess.Popen, preexec_fn=parent_death, stdout=log, stderr=log)
            with mock.patch.object(subprocess, "Popen", popen):
                return super()._run_uvicorn_command()

    _DiesWithParent().start()


def _server_log():
    """The temporary server's output: appended to ``temporary-server.log`` in Prefect's home, or dropped
    when that cannot be written."""
    import subprocess

    from prefect.settings import PREFECT_HOME

    try:
        home = Path(PREFECT_HOME.value()).expanduser()
        home.mkdir(parents=True, exist_ok=True)
        return (home / "temporary-server.log").open("ab")
    except OSError:
        return subprocess.DEVNULL


def _parent_death_preexec(parent: int) -> Callable[[], None] | None:
    """A child's pre-exec function asking for SIGTERM when ``parent`` dies; None off Linux."""
    import ctypes
    import ctypes.util
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    set_parent_death_signal = 1  # PR_SET_PDEATHSIG, <linux/prctl.h>

    def preexec() -> None:
        prctl(set_parent_death_signal, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec
