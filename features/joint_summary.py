"""Each agency's joint events of its last weeks: how many, of which type, with whom, who led.

Pure polars. A joint event (``features.joint``: records of several agencies linked by
joint_event_id, all of one incident type) is *led* by the lead agency of its type
([[roles]]) when that agency has a record in it, else by the agency of its first record
(earliest received_at, then smallest incident_key). An agency's window is the ``days``
before its own newest record, so a late feed's window ends where its data does; an event
counts for an agency when one of the agency's records of it falls in that window. The
features stage writes this as ``features.joint_summary``; a publication copies it to
``forecast.joint_summary`` for the report, so publishing never reads core.incidents.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

JOINT_DAYS = 28
"""The weeks of joint events the report shows."""
JOINT_SUMMARY_SCHEMA = {
    "agency_id": pl.String,
    "incident_type": pl.String,
    "lead_agency": pl.String,
    "joint_events": pl.Int64,
    "joint_records": pl.Int64,
    "partner_agencies": pl.List(pl.String),
    "type_incidents": pl.Int64,
    "agency_incidents": pl.Int64,
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
}


def joint_summary(
    incidents: pl.DataFrame, roles: dict[str, tuple[str, tuple[str, ...]]], days: int = JOINT_DAYS
) -> pl.DataFrame:
    """One row per agency x incident type x lead agency of the agency's joint events in its window.

    Args:
        incidents: incident_key, agency_id, incident_type, received_at (UTC), joint_event_id
            (null for a record in no joint event); events may reach back before the window.
        roles: incident type -> (lead agency, supporting agencies).
        days: the window, in days before each agency's newest record.

    Returns:
        ``JOINT_SUMMARY_SCHEMA``: joint_events (distinct events), joint_records (the agency's
        records in them), partner_agencies (the other agencies in them), type_incidents and
        agency_incidents (all the agency's records of the type, and of every type, in the
        window) and the window's bounds. An agency without joint events has no rows.
    """
    if incidents.is_empty():
        return pl.DataFrame(schema=JOINT_SUMMARY_SCHEMA)
    events = joint_event_leads(incidents, roles)
    window_end = pl.col("received_at").max().over("agency_id")
    windowed = incidents.with_columns(
        window_start=window_end - timedelta(days=days), window_end=window_end
    ).filter(pl.col("received_at") > pl.col("window_start"))
    totals = windowed.with_columns(
        type_incidents=pl.len().over("agency_id", "incident_type"),
        agency_incidents=pl.len().over("agency_id"),
    )
    return (
        totals.join(events, on="joint_event_id")
        .group_by("agency_id", "incident_type", "lead_agency")
        .agg(
            joint_events=pl.col("joint_event_id").n_unique(),
            joint_records=pl.len(),
            partner_agencies=pl.col("agencies").explode().unique().sort(),
            type_incidents=pl.col("type_incidents").first(),
            agency_incidents=pl.col("agency_incidents").first(),
            window_start=pl.col("window_start").first(),
            window_end=pl.col("window_end").first(),
        )
        .with_columns(pl.col("partner_agencies").list.set_difference(pl.concat_list("agency_id")).list.sort())
        .select(pl.col(name).cast(dtype) for name, dtype in JOINT_SUMMARY_SCHEMA.items())
        .sort("agency_id", "incident_type", "lead_agency")
    )


def joint_event_leads(incidents: pl.DataFrame, roles: dict[str, tuple[str, tuple[str, ...]]]) -> pl.DataFrame:
    """One row per joint event: joint_event_id, agencies (sorted) and lead_agency.

    The lead is the [[roles]] lead of the event's type when that agency has a record in it,
    else the agency of the event's first record (earliest received_at, then incident_key).
    ``incidents`` needs incident_key, agency_id, incident_type, received_at, joint_event_id.
    """
    leads = pl.DataFrame(
        [(incident_type, lead) for incident_type, (lead, _) in roles.items()],
        schema={"incident_type": pl.String, "role_lead": pl.String},
        orient="row",
    )
    return (
        incidents.filter(pl.col("joint_event_id").is_not_null())
        .join(leads, on="incident_type", how="left")
        .sort("received_at", "incident_key")
        .group_by("joint_event_id")
        .agg(
            pl.col("agency_id").unique().sort().alias("agencies"),
            first_agency=pl.col("agency_id").first(),
            role_lead=pl.col("role_lead").first(),
        )
        .select(
            "joint_event_id",
            "agencies",
            lead_agency=pl.when(pl.col("agencies").list.contains(pl.col("role_lead")))
            .then("role_lead")
            .otherwise("first_agency"),
        )
    )
