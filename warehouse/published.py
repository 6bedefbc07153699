"""The published tables, declared once: what publication, histories, views and exports follow.

Adding a published table is one ``Published`` entry here, its builder (planning/), and
its migration (warehouse/migrations/): writing it, its checksum in meta.publications,
its history, its per-agency view and its export all follow from the entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    name: str  # forecast.<name>
    key: str  # the columns a checksum (and an export) orders its rows by
    history: str | None = None  # forecast.<history>: every publication's rows, with its vintage
    agency_view: bool = False  # forecast.<agency_id>_<name>: one agency's rows
    exported: bool = True  # `jointcast export` writes the agency's rows


PUBLISHED = (
    Published("demand", "agency_id, area_id, bucket_start", history="history", agency_view=True),
    Published("staffing", "agency_id, area_id, shift_start", history="staffing_history", agency_view=True),
    Published("shift_totals", "agency_id, shift_start, shift_name", agency_view=True),
    Published("areas", "agency_id, area_id"),
    Published("joint_crosswalk", "agency_id, area_id, incident_type, lead_area_id", exported=False),
    Published("joint_summary", "agency_id, incident_type, lead_agency", exported=False),
)
"""In the order they are written."""


def published(name: str) -> Published:
    return next(table for table in PUBLISHED if table.name == name)
