"""The exercise flow: a described surge rehearsed on simulated feeds, the pipeline run as on live data.

simulate the history (planned surges in its events file) -> the whole pipeline (ingest, validate,
features, train, forecast, publish) -> the surge days arrive, one delivery every ``monitor_every_hours``
(simulate with ``advance`` and ``delivered_until``: each delivery's files hold the one before) ->
ingest -> validate -> monitor, after each -> scored against the truth (planning.exercise) ->
exercise.* tables and the report page ``report/exercise.html``.

The simulated clock ends the history ``surge_days`` before today (UTC), so the last delivery reaches
today and validation takes no surge record for one from the future; the alert delay is measured on
that clock (the delivery whose monitor run raised the alert), not on the wall clock.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow

from flows.common import StageFailed, done, logger, run_name
from jointcast.exercise_file import ExerciseFile

REPORT_FILE = "exercise.html"


def _stage(stage, settings, tolerate: bool = False) -> list[str]:
    """Run a stage flow as a subflow. A failure ends the exercise with its problem lines, except that
    with ``tolerate`` a stage that failed in part (a batch rejected) returns its problems, which the
    exercise records: a surge that trips validation is something the exercise is there to find."""
    from flows.common import runnable

    state = runnable(stage, settings)(settings=settings, return_state=True)
    if state.is_completed():
        return []
    try:
        state.result()
    except StageFailed as exc:
        if tolerate:
            for problem in exc.problems:
                logger().warning("exercise: %s: %s", stage.name, problem)
            return list(exc.problems)
        raise StageFailed("exercise", [f"exercise: {stage.name}: {p}" for p in exc.problems]) from None
    except Exception as exc:
        raise StageFailed(
            "exercise", [f"exercise: {stage.name} failed: {type(exc).__name__}: {exc}"]
        ) from None
    raise StageFailed("exercise", [f"exercise: {stage.name} failed: {state.message}"])


def _simulate(exercise: ExerciseFile, out: Path, history_end, surges, until: datetime | None = None):
    from jointcast.simulator import simulate

    part = exercise.simulation
    advance = part.surge_days if until is not None else 0
    return simulate(out, days=part.days, seed=part.seed, agencies=part.agencies, messy_rate=part.messy_rate,
                    end=history_end, surges=surges, advance=advance, delivered_until=until)  # fmt: skip


@flow(name="exercise", flow_run_name=run_name("exercise"), persist_result=False, validate_parameters=False)
def exercise_flow(exercise: ExerciseFile, file_bytes: bytes, out: Path) -> dict:
    """Simulate, run, deliver and monitor, score; returns the scores, deliveries and the report path."""
    from flows.monitor import monitor_flow
    from flows.pipeline import pipeline_flow, refresh_flow
    from jointcast.config import load_settings
    from warehouse.db import open_warehouse
    from warehouse.exercise_store import alert_ids, incident_count

    part, started = exercise.simulation, datetime.now(UTC)
    history_end = exercise.history_end(started.date())
    surges = exercise.surges_after(history_end)
    summary = _simulate(exercise, out, history_end, surges)
    logger().info("exercise: simulated %d days of %d agencies up to %s, %d surge(s) in the %d days after",
                  part.days, part.agencies, history_end, len(surges), part.surge_days)  # fmt: skip
    settings = load_settings(summary.config_path)
    _stage(pipeline_flow, settings)
    deliveries = []
    midnight = datetime.combine(history_end, datetime.min.time(), tzinfo=UTC)
    for step in range(1, part.surge_days * 24 // part.monitor_every_hours + 1):
        until = midnight + timedelta(hours=step * part.monitor_every_hours)
        _simulate(exercise, out, history_end, surges, until)
        settings = load_settings(summary.config_path)
        with open_warehouse(settings.warehouse_path, read_only=True) as con:
            before = alert_ids(con)
        problems = _stage(refresh_flow, settings, tolerate=True)
        _stage(monitor_flow, settings)
        with open_warehouse(settings.warehouse_path, read_only=True) as con:
            new, incidents = sorted(alert_ids(con) - before), incident_count(con)
        deliveries.append({"delivered_until": until, "incidents": incidents, "new_alerts": len(new),
                           "alert_ids": new, "problems": problems})  # fmt: skip
        logger().info("exercise: delivery up to %s UTC: %s incidents in core, %d new alert(s)",
                      f"{until:%Y-%m-%d %H:%M}", f"{incidents:,}", len(new))  # fmt: skip
    return _score(exercise, file_bytes, settings, summary, surges, deliveries, started)


def _score(exercise, file_bytes, settings, summary, surges, deliveries, started) -> dict:
    """Scores, exercise.* tables and the report page."""
    import polars as pl

    from jointcast.simulator.surges import SURGE_TRUTH_FILE
    from planning.exercise import exercise_scores, surge_rows, surge_series, surge_staffing
    from planning.exercise_page import ExercisePage, render_exercise_page
    from warehouse.db import open_warehouse
    from warehouse.exercise_store import (
        first_records,
        hourly_actuals,
        published_plan,
        read_alerts_of,
        write_exercise,
    )  # fmt: skip
    from warehouse.pages import write_report

    history_end = summary.end
    truth = pl.read_parquet(settings.root / "truth" / SURGE_TRUTH_FILE)
    start = datetime.combine(history_end, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    stop = start + timedelta(days=exercise.simulation.surge_days + 2)
    touched = truth.select("agency_id", "area_id").unique()
    rates = (
        pl.scan_parquet(settings.root / "truth" / "rates.parquet")
        .join(touched.lazy(), on=["agency_id", "area_id"])
        .filter(pl.col("bucket_start").is_between(start, stop, closed="left"))
        .collect()
    )
    schema = {"delivered_until": pl.Datetime("us", "UTC"), "incidents": pl.Int64, "new_alerts": pl.Int32,
              "alert_ids": pl.List(pl.String), "problems": pl.List(pl.String)}  # fmt: skip
    delivered = pl.DataFrame(deliveries, schema=schema)
    with open_warehouse(settings.warehouse_path) as con:
        forecast, staffing, model_version = published_plan(con)
        alerts = read_alerts_of(con, delivered)
        first = first_records(con, truth)
        actuals = hourly_actuals(con, touched, start)
        described = [{"surge_id": s.surge_id, "planned": s.planned} for s in surges]
        scores = exercise_scores(described, truth, forecast, staffing, rates, alerts, first)
        surge_table = surge_rows(surges, truth, first)
        report = settings.report_root / REPORT_FILE
        run = {
            "exercise_name": exercise.name, "file_sha256": hashlib.sha256(file_bytes).hexdigest(),
            "history_start": summary.start, "history_end": history_end,
            "surge_days": exercise.simulation.surge_days, "agencies": exercise.simulation.agencies,
            "seed": exercise.simulation.seed, "model_version": model_version,
            "started_at": started, "finished_at": datetime.now(UTC), "report_path": str(report),
        }  # fmt: skip
        write_exercise(con, run, surge_table, delivered, scores)
    series = {s.surge_id: surge_series(s.surge_id, truth, rates, forecast, actuals) for s in surges}
    shifts = {s.surge_id: surge_staffing(s.surge_id, truth, staffing, rates) for s in surges}
    zone = settings.agencies[0].timezone
    page = ExercisePage(exercise.name, exercise.description, run, surge_table, scores, delivered, alerts,
                        series, shifts, zone)  # fmt: skip
    write_report(render_exercise_page(page), report)
    met = scores.filter(pl.col("met").is_not_null())
    done("exercise", f"{len(surges)} surge(s) scored: {met['met'].sum()} of {met.height} targets met; "
                     f"report {report}")  # fmt: skip
    return {"scores": scores, "deliveries": delivered, "surges": surge_table, "report": report, "run": run}
