"""Joint demand's geography: each agency's forecast, by incident type, in the lead agency's areas.

Agencies cut the map differently, so demand "across agencies per area" is told in the
areas of the agency that leads the incident type ([[roles]]). From recent history, each
record of agency g in its area b of type T is placed in the lead agency's area whose
centroid is nearest (the record's own location, else its area's centroid); where the lead
agency's areas have real geometry, the lead area that contains the record's location
(``placed``), the nearest centroid only for records it cannot place. A joint event
(records of several agencies linked by joint_event_id) counts once as an event: its lead
agency's record if it has one, else its first record. The shares let a forecast of
agency g's demand in area b be spread over types and lead areas:

    events(T, a, t) = sum over g, b of forecast(g, b, t) x event_share(g, b, T, a)
"""

from __future__ import annotations

import polars as pl

from features.cross import COS_LAT, area_centroids


def joint_crosswalk(
    incidents: pl.DataFrame,
    roles: dict[str, tuple[str, tuple[str, ...]]],
    placed: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Shares of each agency x area's records per incident type and lead area.

    Args:
        incidents: the counted incidents of a recent window: incident_key, agency_id,
            area_id, incident_type, lat, lon, joint_event_id.
        roles: incident type -> (lead agency, supporting agencies).
        placed: incident_key, target_agency, target_area_id: records in the areas of agencies
            with real geometry (``features.places.placed_in_others``).

    Returns:
        agency_id, area_id, incident_type, lead_agency, supporting_agencies, lead_area_id,
        record_share, event_share (shares of all the agency x area's records, every type).
    """
    schema = {
        "agency_id": pl.String, "area_id": pl.String, "incident_type": pl.String,
        "lead_agency": pl.String, "supporting_agencies": pl.List(pl.String), "lead_area_id": pl.String,
        "record_share": pl.Float64, "event_share": pl.Float64,
    }  # fmt: skip
    role_table = pl.DataFrame(
        [(t, lead, list(supporting)) for t, (lead, supporting) in roles.items()],
        schema={
            "incident_type": pl.String,
            "lead_agency": pl.String,
            "supporting_agencies": schema["supporting_agencies"],
        },
        orient="row",
    )
    records = incidents.filter(pl.col("area_id").is_not_null())
    if records.is_empty() or role_table.is_empty():
        return pl.DataFrame(schema=schema)
    totals = records.group_by("agency_id", "area_id").agg(records=pl.len())
    centroids = area_centroids(records.lazy()).collect()
    located = (
        records.join(role_table, on="incident_type")
        .join(centroids, on=["agency_id", "area_id"], how="left")
        .with_columns(
            lat=pl.coalesce("lat", "area_lat"),
            lon=pl.coalesce("lon", "area_lon"),
            counts_once=_counts_once(),
        )
    )
    lead_areas = centroids.rename({"agency_id": "lead_agency", "area_id": "lead_area_id"})
    distance = (pl.col("lat") - pl.col("area_lat")) ** 2 + (
        (pl.col("lon") - pl.col("area_lon")) * COS_LAT
    ) ** 2
    own = located.filter(pl.col("agency_id") == pl.col("lead_agency")).with_columns(lead_area_id="area_id")
    others = (
        located.filter(pl.col("agency_id") != pl.col("lead_agency"), pl.col("lat").is_not_null())
        .drop("area_lat", "area_lon")
        .join(lead_areas, on="lead_agency")
        .sort("incident_key", distance, "lead_area_id")
        .unique("incident_key", keep="first", maintain_order=True)
    )
    if placed is not None:
        containing = placed.rename({"target_agency": "lead_agency", "target_area_id": "_containing"})
        others = (
            others.join(containing, on=["incident_key", "lead_agency"], how="left")
            .with_columns(lead_area_id=pl.coalesce("_containing", "lead_area_id"))
            .drop("_containing")
        )
    placed = pl.concat([own.select(others.columns), others], how="vertical_relaxed")
    return (
        placed.group_by("agency_id", "area_id", "incident_type", "lead_agency", "lead_area_id")
        .agg(pl.col("supporting_agencies").first(), records=pl.len(), events=pl.col("counts_once").sum())
        .join(totals, on=["agency_id", "area_id"], suffix="_all")
        .select(
            *list(schema)[:6],
            record_share=pl.col("records") / pl.col("records_all"),
            event_share=pl.col("events") / pl.col("records_all"),
        )
        .sort("agency_id", "area_id", "incident_type", "lead_area_id")
    )


def _counts_once() -> pl.Expr:
    """True for the one record of each joint event that stands for it (and every lone record)."""
    is_lead = pl.col("agency_id") == pl.col("lead_agency")
    has_lead = is_lead.any().over("joint_event_id")
    first = pl.col("incident_key") == pl.col("incident_key").min().over("joint_event_id")
    chosen = pl.when(has_lead).then(is_lead & _first_lead()).otherwise(first)
    return pl.col("joint_event_id").is_null() | chosen


def _first_lead() -> pl.Expr:
    """The lead agency's first record within the joint event (it may have several)."""
    lead_key = pl.when(pl.col("agency_id") == pl.col("lead_agency")).then(pl.col("incident_key"))
    return pl.col("incident_key") == lead_key.min().over("joint_event_id")
