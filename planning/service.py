"""Hours per incident and units per incident for staffing, from config or the agency's history.

Workload counts time, not calls. Busy time has one definition, ``features.service`` (the
one rule the demand panel's workload uses too), which the features stage sums per agency x
incident type into ``features.service_profile``. For each type, the configured
``service_minutes`` or the rule's hours, times the units an incident of that type takes;
the agency's hours per incident is their mean weighted by its recent type mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from features.service import DEFAULT_SERVICE_HOURS
from jointcast.config import StaffingSettings


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


def service_profile(times: pl.DataFrame, staffing: StaffingSettings) -> ServiceProfile:
    """The profile of one agency from its rows of features.service_profile
    (``features.service.service_times``: incident_type, incidents, measured, busy_hours, service_hours)."""
    mix = times.select("incident_type", "incidents", "measured", "busy_hours", "service_hours").sort(
        "incident_type"
    )
    total, measured = int(mix["incidents"].sum() or 0), int(mix["measured"].sum() or 0)
    if total == 0:
        units = _per_type(staffing.units_per_incident, "default", 1.0)
        return ServiceProfile(DEFAULT_SERVICE_HOURS, units, "no recent incidents: default 30 minutes")
    overall = float((mix["busy_hours"].fill_null(0) * mix["measured"]).sum() / measured) if measured else None
    service_sum = work_sum = 0.0
    for incident_type, count, _measured, _busy, rule_hours in mix.iter_rows():
        if isinstance(staffing.service_minutes, dict):
            fallback = overall if overall is not None else DEFAULT_SERVICE_HOURS
            service = _per_type(staffing.service_minutes, incident_type, fallback * 60) / 60
        else:
            service = rule_hours
        units = _per_type(staffing.units_per_incident, incident_type, 1.0)
        service_sum += count * service
        work_sum += count * service * units
    service_hours = service_sum / total
    if isinstance(staffing.service_minutes, dict):
        source = f"configured per incident type, weighted by {total:,} recent incidents"
    elif measured:
        by_units = int(times["unit_measured"].sum() or 0) if "unit_measured" in times.columns else 0
        how = "cleared less dispatched, else on scene"
        if by_units:
            how = f"{by_units:,} of them by their units' busy hours, the others {how}"
        source = (
            f"estimated from {measured:,} of {total:,} recent incidents ({how}; others take their type's,"
            " else the agency's mean)"
        )
    else:
        source = "no service times in the feed: default 30 minutes"
    units = work_sum / service_sum if service_sum > 0 else 1.0
    return ServiceProfile(service_hours, units, source)
