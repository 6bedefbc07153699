"""The monitor stage: published vintages scored against the actuals, drift alerts, the MLflow day.

features (brought up to date, nothing rebuilt when nothing changed) -> forecast.accuracy (each
vintage whose forecast has begun to come true and is not yet scored whole, rescored) -> live
summaries beside the champion's backtest -> alerts into quality.alerts (a warning line each) -> the
monitoring experiment's run of the day -> with ``retrain_on_alert``, `train` on a new alert -> the
joint-operations KPIs (kpi.*, flows.kpi: they read forecast.accuracy) -> each agency's accuracy page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow

from flows.common import done, exclusive, logger, run_name, warehouse
from jointcast.config import Settings

REPORT_WEEKS = 4


@flow(name="monitor", flow_run_name=run_name("monitor"), persist_result=False)
@exclusive("monitor")
def monitor_flow(settings: Settings) -> dict:
    """Score, compare, alert, log; returns per agency the live and backtest figures and the alerts."""
    from flows.features import features_flow
    from flows.kpi import kpi_flow

    features_flow(settings=settings)
    now = datetime.now(UTC)
    with warehouse(settings) as con:
        scored, windows = _score(con, settings)
        measures = _measures(con, settings, scored, windows)
        alerts = _raise_alerts(con, settings, measures, windows, now)
    champion = measures["champion"]
    accuracy = _write_weekly(settings, measures, champion)
    run_id = _log_day(settings, measures, windows, champion)
    retrained = _retrain(settings, alerts) if alerts.height and settings.monitor.retrain_on_alert else None
    kpis = kpi_flow(settings=settings)  # after scoring: kpi.planning reads forecast.accuracy
    pages = _write_pages(settings, measures, accuracy)
    agencies = measures["agencies"]
    vintages, plural = scored["vintage"].n_unique(), "s" * (alerts.height != 1)
    done("monitor", f"{scored.height:,} area-shifts of {vintages} vintages scored, "
                    f"{alerts.height} new alert{plural}, {len(pages)} accuracy pages")  # fmt: skip
    return {"agencies": agencies, "new_alerts": alerts.height, "run_id": run_id, "retrained": retrained,
            "pages": [str(p) for p in pages], "kpi_rows": kpis}  # fmt: skip


def _schedules(settings: Settings) -> dict:
    from planning.accuracy import Schedule

    return {a.id: Schedule(a.timezone, a.staffing.shifts) for a in settings.agencies}


def _score(con, settings: Settings):
    """Every started vintage scored and written; per agency, the recent window of observed hours."""
    import polars as pl

    from features.history import horizon_bands
    from planning.accuracy import ACCURACY_SCHEMA, scored_shifts
    from planning.drift import Window
    from warehouse.monitoring import (
        observed_ends,
        panel_actuals,
        scorable_history,
        shift_dispersions,
        write_accuracy,
    )

    history = scorable_history(con, settings.monitor.recent_days)
    ends = observed_ends(con)
    recent = timedelta(days=settings.monitor.recent_days)
    windows = {agency_id: Window(end - recent, end) for agency_id, end in ends.items()}
    if history.is_empty():
        return pl.DataFrame(schema=ACCURACY_SCHEMA), windows
    quantiles = settings.forecast.quantiles
    scored = scored_shifts(
        history,
        panel_actuals(con, history["bucket_start"].min()),
        _schedules(settings),
        shift_dispersions(con),
        (quantiles[0], quantiles[-1]),
        horizon_bands(settings.forecast.horizon_hours),
    )
    write_accuracy(con, scored, history.select("vintage", "agency_id").unique())
    return scored, windows


def _champion(settings: Settings):
    from models.registry import current_champion, point_at

    point_at(settings.tracking_uri)
    return current_champion(settings.mlflow.registered_model)


def _measures(con, settings: Settings, scored, windows) -> dict:
    """Per agency: live figures over its recent window, the backtest's, and the input PSIs."""
    from features.history import horizon_bands
    from planning.accuracy import recent, summary
    from planning.drift import Window, input_psis
    from warehouse.monitoring import agency_hourly_demand, feature_values, type_counts

    champion = _champion(settings)
    backtest_metrics = champion.metrics if champion is not None else {}
    train_days = timedelta(days=settings.forecast.train_days)
    since = min((w.start for w in windows.values()), default=datetime.now(UTC)) - train_days
    hourly, types = agency_hourly_demand(con, since), type_counts(con, since)
    band = horizon_bands(settings.forecast.horizon_hours)[0]
    features = feature_values(con, settings.monitor.psi_features, since, band)
    agencies = {}
    for agency_id in settings.agency_ids:
        window = windows.get(agency_id)
        if window is None:
            continue
        live = summary(recent(scored.filter(agency_id=agency_id), window.start, window.end)).to_dicts()
        everything = summary(scored.filter(agency_id=agency_id)).to_dicts()
        backtest = {m: backtest_metrics.get(f"{m}_{agency_id}") for m in ("wape", "bias", "coverage_80")}
        reference = Window(window.start - train_days, window.start)
        agencies[agency_id] = {
            "window": window,
            "live": live[0] if live else {},
            "all": everything[0] if everything else {},
            "backtest": backtest,
            "psi": input_psis(agency_id, hourly, types, features, reference, window),
        }
    return {"agencies": agencies, "champion": champion}


def _raise_alerts(con, settings: Settings, measures: dict, windows: dict, now: datetime):
    """Alerts past the [monitor] limits, recorded once each; a warning line per new one."""
    from planning.drift import Limits, accuracy_alerts, alert_frame, psi_alerts
    from warehouse.monitoring import record_alerts

    options = settings.monitor
    limits = Limits(options.wape_margin, options.coverage_band, options.psi_threshold, options.bias_limit)
    found = []
    for agency_id, figures in measures["agencies"].items():
        found += accuracy_alerts(agency_id, figures["live"], figures["backtest"], limits, figures["window"])
        found += psi_alerts(agency_id, figures["psi"], limits, figures["window"])
    action = "retrain triggered" if options.retrain_on_alert else "logged"
    new = record_alerts(con, alert_frame(found), action, now)
    for agency_id, measure, size, threshold, detail in new.select(
        "agency_id", "measure", "size", "threshold", "detail"
    ).iter_rows():
        logger().warning(
            "monitor: alert for agency %s: %s = %.3f (limit %.3f): %s",
            agency_id, measure, size, threshold, detail,
        )  # fmt: skip
    raised = alert_frame(found)
    for agency_id, figures in measures["agencies"].items():
        figures["alerts"] = raised.filter(agency_id=agency_id).height
    return new


def _write_weekly(settings: Settings, measures: dict, champion):
    """forecast.accuracy_weekly from every scored row, beside the champion's backtest figures;
    returns every scored row (forecast.accuracy), which the pages read too."""
    from planning.accuracy import beside_backtest, weekly_summary
    from warehouse.monitoring import read_accuracy, write_weekly

    backtest = {agency_id: figures["backtest"] for agency_id, figures in measures["agencies"].items()}
    with warehouse(settings) as con:
        accuracy = read_accuracy(con)
        write_weekly(
            con, beside_backtest(weekly_summary(accuracy), backtest, champion.version if champion else None)
        )
    return accuracy


def _log_day(settings: Settings, measures: dict, windows: dict, champion) -> str | None:
    """The monitoring experiment's run of the newest observed day: live and backtest figures."""
    from models.tracking import log_monitoring_day

    if not windows:
        return None
    day = max(w.end for w in windows.values()) - timedelta(hours=1)
    metrics = {}
    for agency_id, figures in measures["agencies"].items():
        for measure, live_name in (("wape", "live_wape_shift"), ("bias", "live_bias"),
                                   ("coverage_80", "live_coverage_80")):  # fmt: skip
            live, backtest = figures["live"].get(measure), figures["backtest"].get(measure)
            if live is not None:
                metrics[f"{live_name}_{agency_id}"] = float(live)
            if backtest is not None:
                metrics[f"backtest_{live_name.removeprefix('live_')}_{agency_id}"] = float(backtest)
        for measure, value in figures["psi"].items():
            if value is not None:
                metrics[f"{measure.replace(':', '_')}_{agency_id}"] = float(value)
        metrics[f"alerts_{agency_id}"] = float(figures.get("alerts", 0))
    tags = {"champion_version": champion.version if champion is not None else "none",
            "registered_model": settings.mlflow.registered_model}  # fmt: skip
    return log_monitoring_day(
        settings.tracking_uri, settings.monitoring_experiment, settings.artifact_root / "monitoring",
        f"{day:%Y-%m-%d}", metrics, tags,
    )  # fmt: skip


def _retrain(settings: Settings, alerts) -> dict | None:
    """`train` on the new alerts: a challenger is fitted, the gate decides whether it is promoted."""
    from flows.train import train_flow

    agencies = ", ".join(sorted(set(alerts["agency_id"].to_list())))
    logger().warning("monitor: %d new alert(s) (%s): retraining", alerts.height, agencies)
    result = train_flow(settings=settings)
    return result if isinstance(result, dict) else None


def _write_pages(settings: Settings, measures: dict, accuracy) -> list:
    """Each agency's accuracy page: the last weeks' shifts against their ranges, WAPE by week, alerts."""
    import polars as pl

    from planning.accuracy_page import AccuracyPage, render_accuracy_page
    from warehouse.monitoring import read_alerts
    from warehouse.pages import write_report

    if not measures["agencies"]:
        return []
    latest = max(f["window"].end for f in measures["agencies"].values())
    since = latest - timedelta(weeks=REPORT_WEEKS)
    accuracy = accuracy.filter(pl.col("shift_start") >= since)
    with warehouse(settings) as con:
        alerts = read_alerts(con, since)
    written = []
    for agency in settings.agencies:
        figures = measures["agencies"].get(agency.id)
        if figures is None:
            continue
        page = AccuracyPage(
            agency_id=agency.id,
            agency_name=agency.name,
            timezone=agency.timezone,
            accuracy=accuracy.filter(agency_id=agency.id),
            alerts=alerts.filter(agency_id=agency.id),
            backtest=figures["backtest"],
            live=figures["live"],
            weeks=REPORT_WEEKS,
        )
        written.append(write_report(render_accuracy_page(page), settings.accuracy_page_path(agency.id)))
    return written
