"""The publish stage: read the inputs, assemble the publication, write it in one go.

planning.assemble computes everything a publication holds (tables, log record, report
pages) in memory; warehouse.publish writes the tables in one transaction; the pages
replace the old ones only after the commit. A digest of the inputs already published
is not published again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from prefect import flow

from flows.common import done, exclusive, failed, logger, markdown_artifact, run_name, warehouse
from jointcast.config import Settings
from jointcast.faults import reach
from planning.provenance import Provenance


@flow(name="publish", flow_run_name=run_name("publish"), persist_result=False)
@exclusive("publish")
def publish_flow(settings: Settings) -> dict:
    """Republish the current model forecast with today's staffing settings and overrides."""
    return publish_current(settings, trigger="publish")


def publish_current(settings: Settings, trigger: str):
    """Publish the current model forecast again (new settings, overrides or staleness)."""
    from warehouse.publish import latest_publication, read_model_forecast

    with warehouse(settings) as con:
        latest = latest_publication(con)
        model = read_model_forecast(con) if latest else None
    if latest is None or model is None or model.is_empty():
        return failed(trigger, [f"{trigger}: nothing published yet: run `jointcast forecast` first"])
    provenance = Provenance.of_publication(latest)
    return _publish(settings, model, provenance, trigger, forecast_of=latest["forecast_of"])


def publish_model_forecast(settings: Settings, hourly: pl.DataFrame, provenance: Provenance, trigger: str):
    """Publish a new model forecast (models.forecasting's hourly frame)."""
    model = hourly.rename({name: f"model_{name}" for name in ("mean", "p10", "p50", "p90", "quantiles")})
    return _publish(settings, model, provenance, trigger, forecast_of=None)


def _publish(settings: Settings, model: pl.DataFrame, provenance: Provenance, trigger: str,
             forecast_of: int | None) -> dict:  # fmt: skip
    """Read what the publication needs, assemble it in memory, write it in one go, then the pages."""
    from planning.assemble import PublicationInputs, assemble_publication
    from warehouse.publish import write_publication

    now = datetime.now(UTC)
    provenance = _with_baseline(settings, provenance)
    with warehouse(settings) as con:
        inputs = _read_inputs(con, settings, model, provenance, now, trigger, forecast_of)
    if not isinstance(inputs, PublicationInputs):  # what is published already, or why nothing can be
        return inputs
    publication = assemble_publication(inputs, settings, now)
    reach("publish.before_commit")
    with warehouse(settings) as con:
        agencies, joint = list(settings.agency_ids), list(settings.joint_agencies)
        logged = write_publication(con, publication.tables, agencies, publication.record, joint)
        reach("publish.after_commit")
        marts = _write_marts(con, settings)
    reach("publish.before_pages")
    written = _write_pages(settings, publication.pages)
    done(trigger, f"{publication.summary()}, {len(written)} reports, {marts}")
    markdown_artifact("publication", _described(publication, written), publication.summary())
    number = publication.record["publication_id"]
    return {"publication_id": number, "published": True, "rows": logged["row_counts"]}


def _read_inputs(con, settings: Settings, model, provenance: Provenance, now, trigger: str, forecast_of):
    """The publication's inputs; or, when the current publication holds these inputs, its summary;
    or a failed state when the features stage has not built the tables a publication copies."""
    from planning.assemble import PublicationInputs
    from planning.provenance import inputs_digest, stale_agencies
    from planning.report import ACTUAL_DAYS  # the actuals the report shows
    from warehouse.overrides import read_overrides
    from warehouse.publish import latest_publication, next_publication_id, read_actuals, read_derived_features

    stale = stale_agencies(settings, provenance, now)
    _warn_stale(settings, stale)
    overrides, latest = read_overrides(con), latest_publication(con)
    actuals = read_actuals(con, min(provenance.data_as_of.values()) - timedelta(days=ACTUAL_DAYS))
    if latest is not None and latest["inputs_digest"] == inputs_digest(
        settings, provenance, overrides, stale
    ):
        done(trigger, f"publication {latest['publication_id']} holds these inputs: nothing to publish")
        _ensure_reports(con, settings, latest, provenance, overrides, actuals)
        _write_marts(con, settings)
        return {"publication_id": latest["publication_id"], "published": False}
    derived = read_derived_features(con)
    if derived is None:
        problem = f"{trigger}: the features predate the tables a publication copies: run `jointcast features`"
        return failed(trigger, [problem])
    return PublicationInputs(
        model, provenance, overrides, derived["service_profile"], derived["joint_crosswalk"],
        derived["areas"], actuals, next_publication_id(con), trigger, forecast_of, derived["joint_summary"],
        _read_kpis(con, settings),
    )  # fmt: skip


def _write_marts(con, settings: Settings) -> str:
    """Each agency's encrypted mart brought up to the warehouse; says how many were written."""
    from warehouse.marts import refresh_marts

    outcome = refresh_marts(con, settings)
    written = sum(state == "written" for state in outcome.values())
    keyless = sum(state not in ("written", "current") for state in outcome.values())
    return f"{written} marts written" + (f", {keyless} without a key" if keyless else "")


def _read_kpis(con, settings: Settings) -> dict:
    """Each agency's rows of the kpi.* tables, as last computed (empty before the KPI stage ran)."""
    from warehouse.kpi_store import read_agency_kpis

    return {agency_id: read_agency_kpis(con, agency_id) for agency_id in settings.agency_ids}


def _with_baseline(settings: Settings, provenance: Provenance) -> Provenance:
    """The provenance saying what the forecast is when its model version is a published baseline."""
    from dataclasses import replace

    from models import registry
    from models.baseline_model import DESCRIPTIONS

    registry.point_at(settings.tracking_uri)
    column = registry.baseline_of(provenance.model_name, provenance.model_version)
    return replace(provenance, baseline=DESCRIPTIONS.get(column) if column else None)


def _warn_stale(settings: Settings, stale: dict[str, float]) -> None:
    for agency_id, lag in stale.items():
        feeds = ", ".join(f.id for f in settings.feeds if agency_id in f.agency_ids) or "no feed"
        logger().warning("%s: newest data is %.1f h old (feed %s), past its max_lag_hours: published as "
                         "data_stale", agency_id, lag, feeds)  # fmt: skip


def _write_pages(settings: Settings, pages: dict[str, str]) -> list:
    from warehouse.pages import write_report

    written = []
    for agency_id, html in pages.items():
        written.append(write_report(html, settings.report_path(agency_id)))
        reach("publish.mid_pages")
    return written


def _ensure_reports(con, settings: Settings, latest: dict, provenance, overrides, actuals) -> None:
    """Render the current publication's report pages that are missing or behind (showing another
    publication, e.g. after a run killed between the publication's commit and its pages)."""
    from planning.assemble import report_pages
    from warehouse.pages import page_publication
    from warehouse.publish import read_published, read_published_tables

    current = str(latest["publication_id"])
    missing = [a.id for a in settings.agencies if page_publication(settings.report_path(a.id)) != current]
    if not missing:
        return
    demand, staffing = read_published_tables(con)
    stale = dict.fromkeys(latest["stale_agencies"], None)
    publication = {"publication_id": latest["publication_id"], "published_at": latest["published_at"]}
    pages = report_pages(
        settings, demand, staffing, overrides, actuals, provenance, stale, publication,
        {name: read_published(con, name) for name in ("areas", "joint_summary", "joint_crosswalk")},
        _read_kpis(con, settings),
    )  # fmt: skip
    _write_pages(settings, {agency_id: html for agency_id, html in pages.items() if agency_id in missing})


def _described(publication, pages: list) -> str:
    """The publication in the Prefect UI: what it holds and where the planners' reports are."""
    record = publication.record
    lines = [f"# Publication {record['publication_id']}", "", publication.summary() + ".", "",
             f"Model `{record['model_name']}` version {record['model_version']} "
             f"(MLflow run `{record['mlflow_run_id']}`).", "", "| agency | report |",
             "|---|---|"]  # fmt: skip
    lines += [
        f"| {Path(page).stem} | [{Path(page).name}]({Path(page).resolve().as_uri()}) |" for page in pages
    ]
    return "\n".join(lines)
