"""How long a unit is busy per incident: from the agency's own history, or from config.

Workload counts time, not calls. For each incident type the agency handles, its mean
service time (dispatched to cleared, else on scene to cleared, outliers over a day left
out) or the configured minutes, times the units an incident of that type takes; the
agency's hours per incident is their mean weighted by its recent type mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from jointcast.config import StaffingSettings

DEFAULT_SERVICE_HOURS = 0.5
MAX_SERVICE_HOURS = 24.0


@dataclass(frozen=True)
class ServiceProfile:
    service_hours: float  # mean unit-busy hours per incident
    units_per_incident: float  # mean units sent, so hours_per_incident = the product
    source: str

    @property
    def hours_per_incident(self) -> float:
        return self.service_hours * self.units_per_incident


def _per_type(value: float | dict[str, float], incident_type: str, default: float) -> float:
    if isinstance(value, dict):
        return float(value.get(incident_type, value.get("default", default)))
    return float(value)


def _busy_hours(start: str) -> pl.Expr:
    hours = (pl.col("cleared_at") - pl.col(start)).dt.total_seconds() / 3600.0
    return pl.when(hours.is_between(0, MAX_SERVICE_HOURS, closed="right")).then(hours)


def service_profile(incidents: pl.DataFrame, staffing: StaffingSettings) -> ServiceProfile:
    """The profile of one agency from its recent incidents (incident_type and the four times)."""
    busy = pl.coalesce(_busy_hours("dispatched_at"), _busy_hours("on_scene_at"))
    mix = (
        incidents.with_columns(busy=busy, incident_type=pl.col("incident_type").fill_null("unknown"))
        .group_by("incident_type")
        .agg(count=pl.len(), measured=pl.col("busy").count(), busy=pl.col("busy").mean())
        .sort("incident_type")
    )
    total, measured = int(mix["count"].sum() or 0), int(mix["measured"].sum() or 0)
    if total == 0:
        units = _per_type(staffing.units_per_incident, "default", 1.0)
        return ServiceProfile(DEFAULT_SERVICE_HOURS, units, "no recent incidents: default 30 minutes")
    overall = float((mix["busy"].fill_null(0) * mix["measured"]).sum() / measured) if measured else None
    service_sum = work_sum = 0.0
    for incident_type, count, _measured, mean_busy in mix.iter_rows():
        if isinstance(staffing.service_minutes, dict):
            fallback = overall if overall is not None else DEFAULT_SERVICE_HOURS
            service = _per_type(staffing.service_minutes, incident_type, fallback * 60) / 60
        else:
            service = mean_busy if mean_busy is not None else (overall or DEFAULT_SERVICE_HOURS)
        units = _per_type(staffing.units_per_incident, incident_type, 1.0)
        service_sum += count * service
        work_sum += count * service * units
    service_hours = service_sum / total
    if isinstance(staffing.service_minutes, dict):
        source = f"configured per incident type, weighted by {total:,} recent incidents"
    elif measured:
        source = (
            f"estimated from {measured:,} of {total:,} recent incidents (dispatched or on scene to cleared)"
        )
    else:
        source = "no service times in the feed: default 30 minutes"
    units = work_sum / service_sum if service_sum > 0 else 1.0
    return ServiceProfile(service_hours, units, source)
