"""What publishing reads besides the panel: service times, the joint crosswalk, the areas and the
joint events summary.

Pure polars. All three come from each agency's recent counted incidents: the last
``RECENT_DAYS`` days before that agency's newest record, so a late feed's window ends where
its data does. The features stage writes them as ``features.service_profile``,
``features.joint_crosswalk``, ``features.areas`` and ``features.joint_summary`` (its own
shorter window: ``features.joint_summary.JOINT_DAYS``) with the other features tables, and a
publication copies them, so no later stage reads ``core.incidents`` again.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from features.areas import areas
from features.crosswalk import joint_crosswalk
from features.joint_summary import joint_summary
from features.service import service_times

RECENT_DAYS = 90
"""History behind service times, the type mix, the joint crosswalk and the area centroids."""


def recent_incidents(incidents: pl.LazyFrame, days: int = RECENT_DAYS) -> pl.LazyFrame:
    """Each agency's incidents received in the ``days`` before its newest incident."""
    since = pl.col("received_at").max().over("agency_id") - timedelta(days=days)
    return incidents.filter(pl.col("received_at") >= since)


def derived_tables(
    recent_counted: pl.DataFrame,
    roles: dict[str, tuple[str, tuple[str, ...]]],
    placed: pl.DataFrame | None = None,
    described: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """features.service_profile, features.joint_crosswalk, features.areas and features.joint_summary.

    Args:
        recent_counted: the counted incidents of the recent window (``recent_incidents``
            of all incidents, then ``counted_incidents``), with their joint_event_id.
        roles: incident type -> (lead agency, supporting agencies).
        placed: records in the areas of agencies with real geometry (``features.places``).
        described: those agencies' areas with name, centroid and geometry: every area of
            their demand panel, so a quiet area is still described.
    """
    lazy = recent_counted.lazy()
    return {
        "service_profile": service_times(lazy).collect(),
        "joint_crosswalk": joint_crosswalk(recent_counted, roles, placed),
        "areas": areas(lazy, described=None if described is None else described.lazy()).collect(),
        "joint_summary": joint_summary(recent_counted, roles),
    }
