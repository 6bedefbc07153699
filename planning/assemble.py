"""A whole publication, assembled in memory from what the warehouse and MLflow hold.

Pure: ``assemble_publication(inputs, settings, now)`` takes frames and settings and
returns the tables, the publication record and the report pages; it reads and writes
nothing. ``flows/publish.py`` reads the inputs, calls it, and writes the result in one
transaction. The same inputs (model forecast, staffing settings, roles, overrides in
force, stale agencies) give the same ``inputs_digest``, so a rerun can see that there is
nothing new to publish before assembling anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import polars as pl

from features.joint_summary import JOINT_SUMMARY_SCHEMA
from jointcast.config import Settings
from planning.provenance import Provenance, inputs_digest, stale_agencies
from planning.publication import (
    JOINT_OUTLOOK_SCHEMA,
    agency_hourly,
    area_summary,
    joint_outlook,
    published_areas,
    published_demand,
    published_staffing,
)
from planning.report import AREA_COLUMNS, AgencyReport, render_report
from planning.service import service_profile
from planning.shift_totals import shift_totals
from planning.staffing import StaffingPlan


@dataclass(frozen=True)
class PublicationInputs:
    """Everything a publication is made of, as read from the warehouse and MLflow."""

    model: pl.DataFrame  # the model's hourly forecast: keys, horizon, model_mean/p10/p50/p90, drivers
    provenance: Provenance
    overrides: pl.DataFrame  # in force
    service_profile: pl.DataFrame  # features.service_profile: service times per agency x incident type
    joint_crosswalk: pl.DataFrame  # features.joint_crosswalk, published as it is
    areas: pl.DataFrame  # features.areas: every area's centroid, from the recent window
    actuals: pl.DataFrame  # agency x hour before the forecast, for the report
    publication_id: int  # the id this publication gets
    trigger: str  # the stage publishing: forecast | publish
    forecast_of: int | None  # the publication whose model forecast this reuses, or None: a new one
    joint_summary: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=JOINT_SUMMARY_SCHEMA))
    """features.joint_summary, published as it is."""
    kpis: Mapping[str, Mapping[str, pl.DataFrame]] = field(default_factory=dict)
    """Agency id -> its rows of the kpi.* tables by name, for the report's KPI page (none: not yet)."""


@dataclass(frozen=True)
class Publication:
    tables: dict[str, pl.DataFrame]  # published table name (warehouse.published.PUBLISHED) -> rows
    record: dict  # the meta.publications row
    pages: dict[str, str]  # agency id -> report page HTML

    def summary(self) -> str:
        record, demand, staffing = self.record, self.tables["demand"], self.tables["staffing"]
        return (
            f"publication {record['publication_id']}: {demand.height:,} forecast rows, {staffing.height:,} "
            f"staffing rows, {len(record['overrides_applied'])} overrides, "
            f"{len(record['stale_agencies'])} stale agencies"
        )


def staffing_plans(settings: Settings, service_times: pl.DataFrame, provenance: Provenance) -> dict:
    """Each agency's staffing parameters, resolved from its config and its own recent history
    (``service_times``: features.service_profile)."""
    alphas = provenance.dispersion.get("shift", {})
    plans = {}
    for agency in settings.agencies:
        staffing = agency.staffing
        profile = service_profile(service_times.filter(pl.col("agency_id") == agency.id), staffing)
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


def report_pages(
    settings: Settings,
    demand: pl.DataFrame,
    staffing: pl.DataFrame,
    overrides: pl.DataFrame,
    actuals: pl.DataFrame,
    provenance: Provenance,
    stale: dict[str, float | None],
    publication: dict,
    published: Mapping[str, pl.DataFrame] = MappingProxyType({}),
    kpis: Mapping[str, Mapping[str, pl.DataFrame]] = MappingProxyType({}),
) -> dict[str, str]:
    """Each agency's report page (agency id -> HTML); ``publication`` has its id and published_at.

    ``published`` holds the publication's other tables by name: ``areas`` (forecast.areas) draws
    the map, ``joint_summary`` lists the joint events and ``joint_crosswalk`` gives the joint
    demand ahead; a table it lacks leaves its part of the page empty. ``kpis`` maps an agency
    to its rows of the kpi.* tables (the KPI page; an agency without says none were computed).
    """
    shapes = published.get("areas", pl.DataFrame(schema=AREA_COLUMNS))
    joint = published.get("joint_summary", pl.DataFrame(schema=JOINT_SUMMARY_SCHEMA))
    crosswalk = published.get("joint_crosswalk", pl.DataFrame())
    sharing = demand.filter(pl.col("agency_id").is_in(settings.joint_agencies))  # share_joint: opted in
    outlook = joint_outlook(sharing, crosswalk) if "lead_agency" in crosswalk.columns else None
    totals = agency_hourly(demand, provenance)
    areas = area_summary(demand)
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
                **publication,
                "model_name": provenance.model_name,
                "model_version": provenance.model_version,
                "model_baseline": provenance.baseline,
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
            area_shapes=shapes.filter(mine),
            joint_events=joint.filter(mine),
            joint_outlook=_involving(outlook if agency.share_joint else None, agency.id),
            bbox=agency.bbox,
            kpis=kpis.get(agency.id, {}),
        )
        pages[agency.id] = render_report(report)
    return pages


def _involving(outlook: pl.DataFrame | None, agency_id: str) -> pl.DataFrame:
    """The incident types of ``outlook`` the agency leads or supports."""
    if outlook is None:
        return pl.DataFrame(schema=JOINT_OUTLOOK_SCHEMA)
    return outlook.filter(
        (pl.col("lead_agency") == agency_id) | pl.col("supporting_agencies").list.contains(agency_id)
    )


def assemble_publication(inputs: PublicationInputs, settings: Settings, now: datetime) -> Publication:
    """The publication's tables, its log record and its report pages, all in memory."""
    provenance = inputs.provenance
    stale = stale_agencies(settings, provenance, now)
    timezones = {a.id: a.timezone for a in settings.agencies}
    demand = published_demand(
        inputs.model, inputs.overrides, provenance, stale, now, inputs.publication_id, timezones
    )
    staffing = published_staffing(
        demand, staffing_plans(settings, inputs.service_profile, provenance), settings.forecast.horizon_hours
    )
    tables = {
        "demand": demand,
        "staffing": staffing,
        "shift_totals": shift_totals(staffing) if staffing.height else pl.DataFrame(),
        "areas": published_areas(inputs.areas, demand, inputs.publication_id),
        "joint_crosswalk": inputs.joint_crosswalk,
        "joint_summary": inputs.joint_summary,
    }
    pages = report_pages(
        settings, demand, staffing, inputs.overrides, inputs.actuals, provenance, stale,
        {"publication_id": inputs.publication_id, "published_at": now}, tables, inputs.kpis,
    )  # fmt: skip
    record = {
        "publication_id": inputs.publication_id,
        "published_at": now,
        "trigger": inputs.trigger,
        "model_name": provenance.model_name,
        "model_version": provenance.model_version,
        "mlflow_run_id": provenance.mlflow_run_id,
        "forecast_of": inputs.forecast_of or inputs.publication_id,
        "data_as_of": {k: v.isoformat() for k, v in sorted(provenance.data_as_of.items())},
        "stale_agencies": sorted(stale),
        "overrides_applied": sorted({i for ids in demand["override_ids"].to_list() for i in ids}),
        "dispersion": provenance.dispersion,
        "config_sha256": settings.source_sha256,
        "forecast_digest": provenance.forecast_digest,
        "inputs_digest": inputs_digest(settings, provenance, inputs.overrides, stale),
    }
    return Publication(tables, record, pages)
