"""The publish stage: forecast tables, staffing, views, the publication log and the reports.

Everything a publication holds is computed first (tables and report pages in memory),
then the tables are written in one transaction, then the pages replace the old ones. The
same inputs (model forecast, staffing settings, roles, overrides, staleness) give the
same digest, and a digest already published is not published again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
from prefect import flow

from flows.common import exclusive, failed, logger, warehouse
from jointcast.config import Settings

RECENT_DAYS = 90  # history behind service times, type mix and the joint crosswalk
ACTUAL_DAYS = 28  # actuals shown before the forecast in the report


@flow(name="publish", persist_result=False)
@exclusive("publish")
def publish_flow(settings: Settings) -> dict:
    """Republish the current model forecast with today's staffing settings and overrides."""
    return publish_current(settings, trigger="publish")


def publish_current(settings: Settings, trigger: str):
    from models.publication import Provenance
    from warehouse.publish import latest_publication, read_model_forecast

    with warehouse(settings) as con:
        latest = latest_publication(con)
        model = read_model_forecast(con) if latest else None
    if latest is None or model is None or model.is_empty():
        return failed(trigger, [f"{trigger}: nothing published yet: run `jointcast forecast` first"])
    provenance = Provenance(
        model_name=latest["model_name"],
        model_version=latest["model_version"],
        mlflow_run_id=latest["mlflow_run_id"],
        forecast_digest=latest["forecast_digest"],
        data_as_of={k: datetime.fromisoformat(v) for k, v in json.loads(latest["data_as_of"]).items()},
        dispersion=json.loads(latest["dispersion"]),
    )
    return _publish(settings, model, provenance, trigger, forecast_of=latest["forecast_of"])


def publish_model_forecast(settings: Settings, hourly: pl.DataFrame, provenance, trigger: str):
    """Publish a new model forecast (models.forecasting's hourly frame)."""
    model = hourly.rename({name: f"model_{name}" for name in ("mean", "p10", "p50", "p90")})
    return _publish(settings, model, provenance, trigger, forecast_of=None)


def _publish(settings: Settings, model: pl.DataFrame, provenance, trigger: str, forecast_of: int | None):
    from features.crosswalk import joint_crosswalk
    from features.panel import counted_incidents
    from models.publication import digest, published_demand, published_staffing, stale_lags
    from warehouse.overrides import read_overrides
    from warehouse.publish import (
        latest_publication,
        next_publication_id,
        read_actuals,
        read_recent_incidents,
        write_publication,
    )

    log = logger()
    now = datetime.now(UTC)
    agencies = {a.id: a for a in settings.agencies}
    stale = stale_lags(provenance.data_as_of, {a.id: a.max_lag_hours for a in settings.agencies}, now)
    for agency_id, lag in stale.items():
        feeds = ", ".join(f.id for f in settings.feeds if agency_id in f.agency_ids) or "no feed"
        log.warning(
            "%s: newest data is %.1f h old (feed %s), past max_lag_hours %s: published flagged data_stale",
            agency_id, lag, feeds, agencies[agency_id].max_lag_hours if agency_id in agencies else "?",
        )  # fmt: skip
    with warehouse(settings) as con:
        overrides = read_overrides(con)
        recent = read_recent_incidents(con, RECENT_DAYS)
        actuals = read_actuals(con, min(provenance.data_as_of.values()) - timedelta(days=ACTUAL_DAYS))
        latest = latest_publication(con)
        publication_id = next_publication_id(con)
    roles = {r.incident_type: (r.lead, tuple(r.supporting)) for r in settings.roles}
    counted = counted_incidents(recent.lazy(), {a.id: a.counted_call_sources for a in settings.agencies})
    counted = counted.collect()
    inputs_digest = digest(
        provenance.forecast_digest,
        [a.staffing.model_dump(mode="json") for a in settings.agencies],
        sorted(roles.items()),
        overrides.select("override_id", "agency_id", "area_id", "starts_at", "ends_at", "factor").rows(),
        sorted(stale),
    )
    if latest is not None and latest["inputs_digest"] == inputs_digest:
        log.info("publication %d already holds these inputs: nothing to publish", latest["publication_id"])
        _ensure_reports(settings, latest, provenance, overrides, actuals)
        return {"publication_id": latest["publication_id"], "published": False}
    demand = published_demand(model, overrides, provenance, stale, now, publication_id)
    plans = _staffing_plans(settings, counted, provenance)
    staffing = published_staffing(demand, plans, settings.forecast.horizon_hours)
    crosswalk = joint_crosswalk(counted, roles)
    pages = _report_pages(
        settings, demand, staffing, overrides, actuals, provenance, stale, publication_id, now
    )
    record = {
        "publication_id": publication_id,
        "published_at": now,
        "trigger": trigger,
        "model_name": provenance.model_name,
        "model_version": provenance.model_version,
        "mlflow_run_id": provenance.mlflow_run_id,
        "forecast_of": forecast_of or publication_id,
        "data_as_of": {k: v.isoformat() for k, v in sorted(provenance.data_as_of.items())},
        "stale_agencies": sorted(stale),
        "overrides_applied": sorted({i for ids in demand["override_ids"].to_list() for i in ids}),
        "dispersion": provenance.dispersion,
        "config_sha256": settings.source_sha256,
        "forecast_digest": provenance.forecast_digest,
        "inputs_digest": inputs_digest,
    }
    with warehouse(settings) as con:
        logged = write_publication(
            con,
            {"demand": demand, "staffing": staffing, "joint_crosswalk": crosswalk},
            list(agencies),
            record,
        )
    written = _write_pages(pages)
    log.info(
        "publication %d: %d forecast rows, %d staffing rows, %d overrides, %d stale; %d reports in %s",
        publication_id, logged["row_counts"]["demand"], logged["row_counts"]["staffing"],
        len(record["overrides_applied"]), len(stale), len(written), settings.root / "report",
    )  # fmt: skip
    return {"publication_id": publication_id, "published": True, "rows": logged["row_counts"]}


def _staffing_plans(settings: Settings, counted: pl.DataFrame, provenance) -> dict:
    from models.service import service_profile
    from models.staffing import StaffingPlan

    alphas = provenance.dispersion.get("shift", {})
    plans = {}
    for agency in settings.agencies:
        staffing = agency.staffing
        profile = service_profile(counted.filter(pl.col("agency_id") == agency.id), staffing)
        plans[agency.id] = StaffingPlan(
            agency_id=agency.id,
            timezone=agency.timezone,
            shifts=staffing.shifts,
            service_hours=profile.service_hours,
            units_per_incident=profile.units_per_incident,
            service_source=profile.source,
            min_units=staffing.min_units,
            proactive_share=staffing.proactive_share,
            relief_factor=staffing.relief_factor,
            method=staffing.method,
            service_level_target=staffing.service_level_target,
            answer_seconds=staffing.answer_seconds,
            alpha=float(alphas.get(agency.id, 0.0)),
        )
    return plans


def _report_pages(settings, demand, staffing, overrides, actuals, provenance, stale, publication_id, now):
    """Each agency's report page, rendered before anything is written."""
    from models.publication import agency_hourly, area_summary
    from warehouse.report import AgencyReport, render_report

    totals = agency_hourly(demand, provenance)
    areas = area_summary(demand)
    folder = settings.root / "report"
    pages = {}
    for agency in settings.agencies:
        if agency.id not in provenance.data_as_of:
            continue
        mine = pl.col("agency_id") == agency.id
        report = AgencyReport(
            agency_id=agency.id,
            agency_name=agency.name,
            timezone=agency.timezone,
            publication={
                "publication_id": publication_id,
                "published_at": now,
                "model_name": provenance.model_name,
                "model_version": provenance.model_version,
                "mlflow_run_id": provenance.mlflow_run_id,
                "data_as_of": provenance.data_as_of[agency.id],
                "data_stale": agency.id in stale,
                "stale_hours": stale.get(agency.id),
            },
            agency_hourly=totals.filter(mine).drop("agency_id"),
            actuals=actuals.filter(mine).drop("agency_id"),
            staffing=staffing.filter(mine),
            areas=areas.filter(mine).drop("agency_id"),
            overrides=overrides.filter(mine),
        )
        pages[folder / f"{agency.id}.html"] = render_report(report)
    return pages


def _write_pages(pages: dict) -> list:
    from warehouse.report import write_report

    return [write_report(html, path) for path, html in pages.items()]


def _ensure_reports(settings: Settings, latest: dict, provenance, overrides, actuals) -> None:
    """Render the current publication's missing report pages from the published tables."""
    from warehouse.publish import read_published_tables

    missing = [a.id for a in settings.agencies if not (settings.root / "report" / f"{a.id}.html").exists()]
    if not missing:
        return
    with warehouse(settings) as con:
        demand, staffing = read_published_tables(con)
    stale = dict.fromkeys(latest["stale_agencies"], None)
    pages = _report_pages(
        settings, demand, staffing, overrides, actuals, provenance, stale, latest["publication_id"],
        latest["published_at"],
    )  # fmt: skip
    _write_pages({path: html for path, html in pages.items() if path.stem in missing})
