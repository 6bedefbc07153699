"""How long a unit is busy per incident: the one service-time rule.

Pure polars: LazyFrame in, LazyFrame out; the caller collects once.

An incident's busy hours are cleared minus dispatched (on scene where the feed has no
dispatch time), kept when over 0 and up to ``MAX_SERVICE_HOURS``: a negative or zero
time is a clock error, a longer one a record left open. An incident of a feed written one row
per unit has its units' hours between them (``unit_hours``, each unit's time kept by the same
rule when it was loaded): three engines busy an hour are three hours of work. An incident
without such a time takes the mean of its agency x incident type, then of its agency, then
``DEFAULT_SERVICE_HOURS``. The demand panel's workload hours (``service_hours``) and
staffing's hours per incident (``service_times``, ``features.service_profile``, read by
``planning.service``) both come from here, so a unit's busy time has one definition.
"""

from __future__ import annotations

import polars as pl

DEFAULT_SERVICE_HOURS = 0.5
"""Busy hours per incident for an agency without a single usable time: 30 minutes."""
MAX_SERVICE_HOURS = 24.0
UNKNOWN_TYPE = "unknown"
SERVICE_SCHEMA = {
    "agency_id": pl.String,
    "incident_type": pl.String,
    "incidents": pl.Int64,
    "measured": pl.Int64,  # incidents with a usable busy time
    "busy_hours": pl.Float64,  # their mean; null where none
    "service_hours": pl.Float64,  # what an incident of the type counts: the rule's fallbacks applied
    "unit_measured": pl.Int64,  # of those measured, incidents timed by their units' hours (one row per unit)
}


def _unit_hours(incidents: pl.LazyFrame) -> pl.Expr:
    """An incident's units' busy hours where its feed is written one row per unit; else null."""
    if "unit_hours" not in incidents.collect_schema().names():
        return pl.lit(None, dtype=pl.Float64)
    return pl.when(pl.col("unit_hours") > 0).then(pl.col("unit_hours"))


def busy_hours(incidents: pl.LazyFrame) -> pl.Expr:
    """The units' hours of an incident that has them (``unit_hours``), else cleared -
    coalesce(dispatched, on scene) in hours; null unless in (0, MAX_SERVICE_HOURS]."""
    start = pl.coalesce("dispatched_at", "on_scene_at")
    hours = (pl.col("cleared_at") - start).dt.total_seconds() / 3600.0
    return pl.coalesce(
        _unit_hours(incidents), pl.when(hours.is_between(0, MAX_SERVICE_HOURS, closed="right")).then(hours)
    )


def _incident_type() -> pl.Expr:
    return pl.col("incident_type").fill_null(UNKNOWN_TYPE)


def service_hours(incidents: pl.LazyFrame) -> pl.LazyFrame:
    """Adds ``service_hours`` to each incident (the rule above) and ``service_estimated``
    (True where the incident's own time was missing or out of range)."""
    by_type = pl.col("_busy").mean().over("agency_id", _incident_type())
    by_agency = pl.col("_busy").mean().over("agency_id")
    return (
        incidents.with_columns(_busy=busy_hours(incidents))
        .with_columns(
            service_estimated=pl.col("_busy").is_null(),
            service_hours=pl.coalesce("_busy", by_type, by_agency, pl.lit(DEFAULT_SERVICE_HOURS)),
        )
        .drop("_busy")
    )


def service_times(incidents: pl.LazyFrame) -> pl.LazyFrame:
    """Per agency x incident type (a missing type is ``unknown``): incidents, measured, the
    mean busy hours of those measured and ``service_hours``, the hours the rule gives an
    incident of the type that has no time of its own (``SERVICE_SCHEMA``).

    Weighted by ``incidents``, ``service_hours`` averages to the agency's mean of
    ``service_hours(incidents)``: a measured incident counts its own time, which averages
    to its type's mean.
    """
    measured_sum = (pl.col("busy_hours").fill_null(0.0) * pl.col("measured")).sum().over("agency_id")
    measured_total = pl.col("measured").sum().over("agency_id")
    by_agency = pl.when(measured_total > 0).then(measured_sum / measured_total)
    return (
        incidents.with_columns(
            _busy=busy_hours(incidents), _units=_unit_hours(incidents), incident_type=_incident_type()
        )
        .group_by("agency_id", "incident_type")
        .agg(
            incidents=pl.len().cast(pl.Int64),
            measured=pl.col("_busy").count().cast(pl.Int64),
            busy_hours=pl.col("_busy").mean(),
            unit_measured=pl.col("_units").count().cast(pl.Int64),
        )
        .with_columns(service_hours=pl.coalesce("busy_hours", by_agency, pl.lit(DEFAULT_SERVICE_HOURS)))
        .select(pl.col(name).cast(dtype) for name, dtype in SERVICE_SCHEMA.items())
        .sort("agency_id", "incident_type")
    )
