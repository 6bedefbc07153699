"""The `jointcast` command line: one verb per stage, each run as a Prefect flow."""

from __future__ import annotations

import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from jointcast import cli_exercise, cli_planning, cli_scenario
from jointcast.cli_support import (
    ConfigOption,
    console,
    errors,
    fail,
    fit_consoles,
    id_table,
    remember_config,
    settings_from,
    workspace,
)  # fmt: skip
from jointcast.config import Settings
from jointcast.write_errors import unwritable

app = typer.Typer(
    name="jointcast",
    help="Demand forecasts and staffing for joint public-safety operations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(cli_planning.overrides, name="override")
app.add_typer(cli_planning.show, name="show")
app.add_typer(cli_scenario.scenarios, name="scenario")
app.command()(cli_planning.export)
app.command()(cli_exercise.exercise)

LIBRARY_LOGGERS = "jointcast,warehouse,expectations,features,models,planning"
QUIET_LIBRARIES = ("prefect", "mlflow", "alembic", "great_expectations", "distributed", "httpx", "urllib3")


@app.callback()
def main_options(
    config: ConfigOption = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Every file, batch and library message (DEBUG)")
    ] = False,
) -> None:
    """Demand forecasts and staffing for joint public-safety operations.

    `--config PATH` before the verb applies to every verb (a verb's own --config wins).
    """
    fit_consoles()
    remember_config(config)
    _verbose["on"] = verbose
    _prepare_environment(verbose)


class _LineFormatter(logging.Formatter):
    """`HH:MM:SS message`; the level is named only when it is not plain information."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{self.formatTime(record, '%H:%M:%S')} {record.levelname.lower()}: {record.getMessage()}"
        return text


def _prepare_environment(verbose: bool = False) -> None:
    """Quiet, offline-friendly defaults for the libraries, set before they are imported.

    At the default verbosity a person sees one line per stage (and per feed, per fold)
    with the time; the libraries' own chatter (Prefect's run states, MLflow's registry
    prints, download bars) stays out of the terminal. Prefect still receives the
    project's records for its UI (PREFECT_LOGGING_EXTRA_LOGGERS).
    """
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", LIBRARY_LOGGERS)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The embedded server (no PREFECT_API_URL) migrates its database on a first start: Prefect's 20 s
    # are too few on a busy machine, and a run that cannot reach it fails before doing anything.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "DEBUG" if verbose else "INFO")  # what the Prefect UI gets
    handler = TerminalHandler()
    handler.setFormatter(_LineFormatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    if not verbose:
        handler.addFilter(_not_prefect_chatter)
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if type(h) not in (logging.StreamHandler, TerminalHandler)] + [
        handler
    ]
    root.setLevel(logging.WARNING)
    for name in LIBRARY_LOGGERS.split(","):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in QUIET_LIBRARIES:
        if name != "prefect":  # Prefect's own level is PREFECT_LOGGING_LEVEL, for its UI
            logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


class TerminalHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record arrives, not the one at set-up (a caller
    that captures and closes stderr, such as a test runner, leaves no dangling stream behind).

    A public class name: Prefect keeps a root handler it takes for the user's own, and replaces
    one whose class name starts with an underscore."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _not_prefect_chatter(record: logging.LogRecord) -> bool:
    """Prefect's own records stay in its UI: run states, server start-up, and the tracebacks of a
    failed run, whose problem the command says in its `error:` line (`-v` shows them all)."""
    return not record.name.startswith("prefect") or record.levelno >= logging.CRITICAL


def _run_stage(flow: str, settings: Settings, skippable: str | None = None, **kwargs):
    """Run one flow on the run's settings; a failed run exits 1 after one line per problem.

    With ``skippable`` (a stage name, or "run"), a stage with nothing to do says so in one
    line and returns None without starting Prefect.
    """
    if skippable is not None:
        from flows.pending import nothing_to_do

        reason = nothing_to_do(skippable, settings)
        if reason is not None:
            console.print(f"nothing to do: {reason}", highlight=False, soft_wrap=True)
            return None
    import importlib

    from flows.common import runnable, temporary_server_dies_with_us

    temporary_server_dies_with_us()
    module, name = flow.split(":")
    flow = getattr(importlib.import_module(module), name)
    with _status(f"running {flow.name}…"):
        state = runnable(flow, settings)(settings=settings, return_state=True, **kwargs)
    if state.is_failed() or state.is_crashed() or state.is_cancelled():
        raise fail(_problems(state))
    return state.result()


def _status(text: str):
    """A spinner while a stage runs, on a terminal only (log lines scroll above it)."""
    from contextlib import nullcontext

    return errors.status(text) if errors.is_terminal else nullcontext()


def _problems(state) -> list[str]:
    try:
        state.result()
    except Exception as exc:  # the flow's own exception carries the problem lines
        problems = getattr(exc, "problems", None)
        if problems:
            return list(problems)
        return [unwritable(exc) or f"{type(exc).__name__}: {_first_line(exc)}"]
    return [state.message or "the run failed"]


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write feeds/, truth/ and jointcast.toml")],
    days: Annotated[int, typer.Option(min=7, help="Days of history")] = 365,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files")] = 7,
    agencies: Annotated[
        int, typer.Option(min=1, help="How many agencies (past 4: more of the same kinds, ids numbered on)")
    ] = 4,
    area_scale: Annotated[int, typer.Option(min=1, help="Every agency with this many times its areas")] = 1,
    messy_rate: Annotated[float, typer.Option(min=0.0, max=0.5, help="Share of defective rows")] = 0.0,
    end: Annotated[
        str | None, typer.Option(help="Last day (exclusive, YYYY-MM-DD) [default: today, UTC]")
    ] = None,
    outage: Annotated[
        list[str] | None,
        typer.Option(help="FEED:YYYY-MM-DD:DAYS: the feed delivers nothing those UTC days (repeatable)"),
    ] = None,
    volume: Annotated[
        list[str] | None,
        typer.Option(help="AGENCY:FACTOR: the agency's demand times FACTOR, e.g. city_police:0.1"),
    ] = None,
    trend: Annotated[
        list[str] | None,
        typer.Option(help="AGENCY:RATE: the agency's demand changes RATE a year, e.g. city_police:-0.15"),
    ] = None,
    step: Annotated[
        list[str] | None,
        typer.Option(help="AGENCY:YYYY-MM-DD:FACTOR: the agency's demand times FACTOR from that UTC day on"),
    ] = None,
    advance: Annotated[
        int,
        typer.Option(
            min=0,
            max=14,
            help="Days the clock moved past --end: the feeds also hold them, every earlier row unchanged",
        ),  # fmt: skip
    ] = 0,
    unit_rows: Annotated[
        list[str] | None,
        typer.Option(help="AGENCY: its feed is written one row per unit dispatched (repeatable)"),
    ] = None,
) -> None:
    """Write realistic synthetic feeds, a ready config and the ground truth."""
    summary = _simulate(
        out, days, seed, agencies, messy_rate, end, outage or [], volume or [], trend or [], step or [],
        advance, area_scale, unit_rows or [],
    )  # fmt: skip
    table = id_table(f"simulated {days} days into {out}", "feed", "files", "rows")
    for feed_id, rows in summary.rows_per_feed.items():
        table.add_row(feed_id, str(summary.files_per_feed[feed_id]), f"{rows:,}")
    console.print(table)
    console.print(f"config: {summary.config_path}")


def _simulate(
    out: Path, days: int, seed: int, agencies: int, messy_rate: float, end: str | None, outages=(),
    volume=(), trend=(), step=(), advance=0, area_scale=1, unit_rows=(),
):  # fmt: skip
    from jointcast.simulator import simulate as run_simulation
    from jointcast.simulator.outages import parse_outage
    from jointcast.simulator.rates import parse_agency_factor, parse_step

    end_day = date.fromisoformat(end) if end else None
    try:
        injected = [parse_outage(text) for text in outages]
        volumes = dict(parse_agency_factor("volume", text) for text in volume)
        trends = dict(parse_agency_factor("trend", text) for text in trend)
        steps = [parse_step(text) for text in step]
        with _status("simulating feeds…"):
            return run_simulation(
                out, days=days, seed=seed, agencies=agencies, messy_rate=messy_rate, end=end_day,
                outages=injected, volume=volumes, trend=trends, step=steps, advance=advance,
                area_scale=area_scale, unit_rows=unit_rows,
            )  # fmt: skip
    except ValueError as exc:
        raise fail([str(exc)]) from None


@app.command()
def ingest(config: ConfigOption = None) -> None:
    """Load every configured feed's new files into the warehouse."""
    settings = settings_from(config)
    try:
        _run_stage("flows.ingest:ingest_flow", settings, "ingest")
    finally:
        _print_batches(settings)


@app.command()
def validate(config: ConfigOption = None) -> None:
    """Run each feed's expectation suite on every batch not yet validated."""
    settings = settings_from(config)
    try:
        _run_stage("flows.validate:validate_flow", settings, "validate")  # its log line names the Data Docs
    finally:
        _print_batches(settings)


@app.command()
def features(config: ConfigOption = None) -> None:
    """Link joint events, count the demand panel and build the model inputs."""
    settings = settings_from(config)
    counts = _run_stage("flows.features:features_flow", settings, "features")
    if counts:
        console.print(", ".join(f"features.{name}: {rows:,} rows" for name, rows in counts.items()))


@app.command()
def train(config: ConfigOption = None) -> None:
    """Backtest, train on all data, log to MLflow, register; promote to champion if it wins."""
    settings = settings_from(config)
    _print_training(_run_stage("flows.train:train_flow", settings, "train"), settings)


@app.command()
def backtest(config: ConfigOption = None) -> None:
    """Rolling-origin backtest against the baselines, logged to MLflow, nothing registered."""
    settings = settings_from(config)
    _print_training(_run_stage("flows.train:backtest_flow", settings), settings)


def _print_training(result: dict | None, settings: Settings) -> None:
    """The backtest's figures, then where the run and the model version are in the MLflow UI."""
    if not result or result.get("trained") is False:
        return
    table = id_table("backtest (per area and shift)", "metric", "value")
    for key, value in result.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
    console.print(table)
    name = settings.mlflow.registered_model
    where = f"MLflow run {result['run_id']}"
    if result.get("version"):
        role = "champion" if result.get("promoted") else "challenger"
        where += (
            f"; {name} version {result['version']} ({role}): #/models/{name}/versions/{result['version']}"
        )
    console.print(f"{where}  [see: mlflow ui --backend-store-uri {settings.tracking_uri}]", highlight=False,
                  soft_wrap=True, markup=False)  # fmt: skip


@app.command()
def forecast(config: ConfigOption = None) -> None:
    """Forecast every agency x area with the champion model and publish it with staffing."""
    settings = settings_from(config)
    _print_publication(_run_stage("flows.forecast:forecast_flow", settings, "forecast"), settings)


@app.command()
def publish(config: ConfigOption = None) -> None:
    """Republish the current forecast with today's staffing settings and overrides; write the reports."""
    settings = settings_from(config)
    _print_publication(_run_stage("flows.publish:publish_flow", settings, "publish"), settings)


def _print_publication(result: dict | None, settings: Settings) -> None:
    if not isinstance(result, dict) or "publication_id" not in result:
        return
    number = result["publication_id"]
    said = f"published publication {number}" if result.get("published") else f"publication {number} stands"
    pages = [settings.report_path(a.id) for a in settings.agencies if settings.report_path(a.id).exists()]
    if pages:
        said += f"; reports: {settings.report_root}/ ({', '.join(page.name for page in pages)})"
    console.print(said, highlight=False, soft_wrap=True)


@app.command()
def monitor(config: ConfigOption = None) -> None:
    """Score published forecasts against the actuals, raise drift alerts, log the day to MLflow."""
    settings = settings_from(config)
    result = _run_stage("flows.monitor:monitor_flow", settings)
    if not result:
        return
    table = id_table(
        "live shift accuracy (recent window) vs the champion's backtest",
        "agency", "vintages", "area-hours", "WAPE", "backtest", "bias", "cover 80", "alerts",
    )  # fmt: skip
    for agency_id, figures in result["agencies"].items():
        live, backtest = figures["live"], figures["backtest"]
        table.add_row(
            agency_id, str(live.get("vintages", 0)), f"{live.get('hours', 0):,}", _number(live.get("wape")),
            _number(backtest.get("wape")), _number(live.get("bias"), "+.1%"),
            _number(live.get("coverage_80"), ".0%"), str(figures.get("alerts", 0)),
        )  # fmt: skip
    console.print(table)
    said = f"{result['new_alerts']} new alert(s) in quality.alerts"
    if result.get("retrained"):
        said += f"; retrained: model version {result['retrained'].get('version')}"
    console.print(said, highlight=False, soft_wrap=True)
    if result.get("pages"):
        console.print(f"accuracy pages: {settings.report_root}/", highlight=False, soft_wrap=True)


def _number(value: float | None, form: str = ".3f") -> str:
    return "—" if value is None else format(value, form)


def _clipped(value: str, width: int = 40) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


@app.command()
def quality(config: ConfigOption = None) -> None:
    """Per feed: batches, rows loaded, rows quarantined by reason, outages, the last failure."""
    from warehouse import reports
    from warehouse.db import open_warehouse

    settings = workspace(config)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        summary, reasons = reports.feed_summary(con), reports.quarantine_reasons(con)
        failures, docs, outages = (
            reports.last_failures(con),
            reports.latest_docs(con),
            reports.feed_outages(con),
        )
        aside = reports.quarantine_reasons(con, "field_issues")
        counted = {"quarantine": reasons, "field_issues": aside}
        examples = {
            table: reports.reason_examples(con, settings.feeds, table=table, counted=counted[table])
            for table in reports.ISSUE_TABLES
        }
    table = id_table("data quality", "feed", "batches", "rows loaded", "quarantined", "last failure")
    for feed_id, batches, _pending, _failed, _read, loaded, quarantined in summary:
        when = failures.get(feed_id, (None, None))[0]
        table.add_row(feed_id, str(batches), f"{loaded or 0:,}", f"{quarantined or 0:,}",
                      f"{when:%Y-%m-%d %H:%M}" if when else "—")  # fmt: skip
    console.print(table)
    titles = {
        "quarantine": "quarantined by reason",
        "field_issues": "loaded with fields set aside, by reason",
    }
    for table, counted in (("quarantine", reasons), ("field_issues", aside)):
        if table == "field_issues" and not counted:
            continue
        by_reason = id_table(titles[table], "feed", "reason", "rows", "most common values")
        for feed_id, reason, count in counted:
            seen = examples[table].get((feed_id, reason), [])
            shown = ", ".join(f"{_clipped(value)!r} ({n:,})" for value, n in seen) or "—"
            by_reason.add_row(feed_id, reason, f"{count:,}", shown)
        console.print(by_reason)
    gaps = id_table("outages (UTC; hours unobserved)", "feed", "start", "end", "hours", "found", "records")
    for feed_id, start, end, hours, how_found, seen, expected, _reason in outages:
        records = f"{seen:,} of ~{expected:,.0f}" if expected is not None else f"{seen:,}"
        gaps.add_row(
            feed_id, f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}", f"{hours:,}", how_found, records
        )
    console.print(gaps if outages else "outages: none found or configured")
    for feed_id, (when, message) in sorted(failures.items()):
        console.print(f"last failure of {feed_id} ({when:%Y-%m-%d %H:%M}): {message}", soft_wrap=True)
    if docs:
        console.print(f"Data Docs: {docs}", soft_wrap=True)


@app.command()
def run(config: ConfigOption = None) -> None:
    """Every stage in order, as one Prefect flow."""
    settings = settings_from(config)
    results = _run_stage("flows.pipeline:pipeline_flow", settings, "run")
    if isinstance(results, dict) and isinstance(results.get("train"), dict):
        _print_training(results["train"], settings)
    if isinstance(results, dict) and isinstance(results.get("validate"), dict):
        console.print(f"Data Docs: {results['validate']['docs']}", soft_wrap=True)
    if isinstance(results, dict):
        forecast = results.get("forecast")
        published = forecast if isinstance(forecast, dict) and forecast.get("published") else None
        _print_publication(published or results.get("publish"), settings)


@app.command()
def serve(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option(min=1, help="Flow runs at once")] = 1,
) -> None:
    """Run the scheduled deployments (hourly ingest, daily forecast, weekly train) until stopped."""
    settings = settings_from(config)
    from prefect import serve as serve_deployments

    from flows.common import temporary_server_dies_with_us
    from flows.deployments import deployments

    temporary_server_dies_with_us()

    # With the embedded server (no PREFECT_API_URL) the server stops with this process, so
    # there is nothing to pause on the way out.
    embedded = not os.environ.get("PREFECT_API_URL")
    served = deployments(settings, settings.source_file)
    serve_deployments(*served, limit=limit, pause_on_shutdown=not embedded)


@app.command()
def deploy(
    work_pool: Annotated[
        str, typer.Option("--work-pool", help="The Prefect work pool whose workers run them")
    ],
    config: ConfigOption = None,
) -> None:
    """Register the scheduled deployments on your Prefect server ($PREFECT_API_URL), for a work pool."""
    settings = settings_from(config)
    if not os.environ.get("PREFECT_API_URL"):
        raise fail(["set PREFECT_API_URL to your Prefect server's API (e.g. http://127.0.0.1:4200/api)"], 2)
    from prefect import deploy as deploy_all

    from flows.deployments import deployments

    ids = deploy_all(
        *deployments(settings, settings.source_file), work_pool_name=work_pool, build=False, push=False,
        print_next_steps_message=False,
    )  # fmt: skip
    console.print(f"{len(ids)} deployments on work pool '{work_pool}'; start a worker: "
                  f"prefect worker start --pool {work_pool}", highlight=False)  # fmt: skip


@app.command()
def sql(
    query: Annotated[
        str | None, typer.Argument(help="One query to run [default: an interactive shell]")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """The warehouse in DuckDB's SQL shell, read-only; or one query's result."""
    settings = workspace(config)
    if query is not None:
        import duckdb

        from warehouse.db import open_warehouse

        with open_warehouse(settings.warehouse_path, read_only=True) as con:
            try:
                con.sql(query).show(max_rows=100, max_width=console.width)
            except duckdb.Error as exc:
                raise fail([f"sql: {exc}".splitlines()[0]]) from None
        return
    shell = Path(sys.executable).parent / "duckdb"  # the DuckDB command line installed with the project
    if not shell.exists():
        raise fail([f"no DuckDB shell at {shell}: reinstall with `make run`"])
    os.execv(shell, [str(shell), "-readonly", str(settings.warehouse_path)])


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Demo workspace")] = Path("demo"),
    days: Annotated[int, typer.Option(min=28)] = 365,
    seed: int = 7,
) -> None:
    """Simulate feeds into ./demo, then run the whole pipeline on them."""
    config = out / "jointcast.toml"
    if config.exists():
        console.print(f"reusing the simulated feeds in {out}/ (delete it to simulate anew)")
    else:
        summary = _simulate(out, days, seed, 4, 0.01, None)
        files, rows = sum(summary.files_per_feed.values()), sum(summary.rows_per_feed.values())
        console.print(f"simulated {days} days of 4 agencies into {out}/: {files} files, {rows:,} rows")
    run(config=config)
    program = sys.argv[0] if Path(sys.argv[0]).name == "jointcast" else "jointcast"  # as it was run
    mlflow = Path(program).with_name("mlflow")
    console.print(
        f"\nnext: {program} --config {config} show staffing --agency city_police   |   "
        f"{program} --config {config} sql   |   "
        f"{mlflow} ui --backend-store-uri sqlite:///{out.resolve()}/mlflow.db   |   "
        f"open {out}/report/city_police.html",
        soft_wrap=True,
    )


def _print_batches(settings: Settings) -> None:
    """A per-feed table of what the warehouse holds, read-only."""
    from warehouse.db import open_warehouse
    from warehouse.reports import feed_summary

    try:
        if not settings.warehouse_path.exists():
            return
        with open_warehouse(settings.warehouse_path, read_only=True) as con:
            rows = feed_summary(con)
    except Exception as exc:  # the summary is a courtesy; never mask the real outcome
        logging.getLogger(__name__).debug("no summary: %s", exc)
        return
    table = id_table("feeds", "feed", "batches", "pending", "failed", "rows read", "loaded", "quarantined")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    console.print(table)


def main() -> None:
    """The console script: a warehouse that cannot be opened is one error line, not a traceback."""
    from warehouse.db import WarehouseInUse

    os.umask(0o077)  # everything a command writes is its owner's only: warehouse, raw files, MLflow, marts
    try:
        app()
    except WarehouseInUse as exc:
        fail([str(exc)])
        sys.exit(1)
    except Exception as exc:  # a full disk can stop any command at any write: one line, not a traceback
        problem = unwritable(exc)
        if problem is None and _verbose["on"]:
            raise
        fail([problem or _unexpected(exc)])
        sys.exit(1)


_verbose = {"on": False}


def _unexpected(exc: Exception) -> str:
    """One line for a failure no check foresaw; its traceback goes to a file the line names (and to
    the terminal with --verbose), so a person sees what failed without a page of internals."""
    import tempfile
    import traceback

    first = (str(exc).strip().splitlines() or [""])[0][:300]
    line = f"unexpected {type(exc).__name__}: {first}"
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="jointcast-error-", suffix=".log", delete=False, encoding="utf-8"
        ) as log_file:
            traceback.print_exception(exc, file=log_file)
        return f"{line} (the traceback is in {log_file.name}; --verbose shows it here)"
    except OSError:
        return f"{line} (--verbose shows the traceback)"
