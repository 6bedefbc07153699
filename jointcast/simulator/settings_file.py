"""The ready-to-run ``jointcast.toml`` for a simulated workspace, as hand-readable TOML text."""

from __future__ import annotations

import json
from collections.abc import Iterable

from jointcast.simulator.agencies import AgencySpec
from jointcast.simulator.area_files import AREAS_FOLDER, ID_PROPERTY, NAME_PROPERTY
from jointcast.simulator.feeds import NEW_YORK, FeedSpec

EVENTS_FILE = "events.csv"
PII_KEY_FILE = "pii.key"
"""The workspace's random PII hashing key (mode 0600), named by ``[warehouse] pii_key_file``."""
KEYS_FOLDER = "keys"
"""Each agency's mart key, ``keys/<agency_id>.key``: random, owner-only, never in the config itself."""
POLYGON_AGENCIES = ("county_fire",)
"""Agencies whose config takes their areas from the simulator's polygon file rather than the
feed's area column, so the demo exercises both."""

# incident type -> lead agency, supporting agencies (filtered to the simulated agencies)
ROLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("traffic_collision", "city_police", ("county_fire", "ems")),
    ("structure_fire", "county_fire", ("ems", "city_police")),
    ("overdose", "ems", ("city_police",)),
    ("cardiac", "ems", ("county_fire",)),
    ("medical_assist", "ems", ("county_fire", "transit_police")),
    ("assault", "city_police", ("transit_police", "ems")),
    ("robbery", "city_police", ("transit_police",)),
    ("hazmat", "county_fire", ("city_police",)),
    ("fare_evasion", "transit_police", ()),
    ("suspicious_package", "transit_police", ("city_police", "county_fire")),
)


def _text(value) -> str:
    """A TOML value: JSON strings, numbers and arrays are valid TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return json.dumps(value)


def _table(header: str, values: dict) -> list[str]:
    lines = [header] if header else []
    for key, value in values.items():
        name = key if key.isidentifier() else json.dumps(key)
        lines.append(f"{name} = {_text(value)}")
    return lines + [""]


def _agency(spec: AgencySpec, bbox: tuple[float, ...]) -> list[str]:
    shifts = ",\n".join(
        f'  {{ name = "{name}", start = {start}:00, hours = {hours:g} }}'
        for name, start, hours in spec.shifts
    )
    return [
        *_table(
            "[[agencies]]",
            {
                "id": spec.id,
                "name": spec.name,
                "kind": spec.kind,
                "timezone": NEW_YORK,
                "country": "US",
                "subdivision": "PA",
                "bbox": list(bbox),
                "max_lag_hours": spec.max_lag_hours,
                "key_file": f"{KEYS_FOLDER}/{spec.id}.key",
            },
        )[:-1],
        "",
        "[agencies.staffing]",
        f"shifts = [\n{shifts},\n]",
        f"proactive_share = {spec.proactive_share}",
        f"min_units = {spec.min_units}  # per area and shift",
        f"relief_factor = {spec.relief_factor}",
        'service_minutes = "estimate"',
        "",
        *(_polygon_areas(spec) if spec.id in POLYGON_AGENCIES else []),
    ]


def _polygon_areas(spec: AgencySpec) -> list[str]:
    return _table(
        "[agencies.areas]",
        {
            "method": "polygons",
            "file": f"{AREAS_FOLDER}/{spec.id}.geojson",
            "id_property": ID_PROPERTY,
            "name_property": NAME_PROPERTY,
        },
    )


def _feed(feed: FeedSpec) -> list[str]:
    head = {
        "id": feed.id,
        "agency": feed.agency_id,
        "uri": f"feeds/{feed.id}/*.{feed.extension}",
        "format": feed.format,
    }
    if feed.format == "csv":
        head["delimiter"] = feed.delimiter
    head |= {
        "timestamp_format": feed.timestamp_format,
        "timezone": feed.timezone,
        "priority_range": list(feed.priority_range),
    }
    if "call_source" not in feed.columns:
        head["default_call_source"] = "citizen"
    lines = _table("[[feeds]]", head)
    lines += _table("[feeds.columns]", feed.mapped_columns)
    lines += _table("[feeds.type_codes]", feed.type_codes)
    if feed.call_source_codes:
        lines += _table("[feeds.call_source_codes]", feed.call_source_codes)
    if feed.pii_drop or feed.pii_hash:
        lines += _table("[feeds.pii]", {"drop": list(feed.pii_drop), "hash": list(feed.pii_hash)})
    return lines


def _roles(agency_ids: list[str], incident_types: set[str]) -> list[str]:
    """Roles among the simulated agencies and the types their feeds record; an absent lead
    passes to its first present supporter."""
    lines = []
    for incident_type, lead, supporting in ROLES:
        present = [agency for agency in (lead, *supporting) if agency in agency_ids]
        if present and incident_type in incident_types:
            lines += _table(
                "[[roles]]",
                {"incident_type": incident_type, "lead": present[0], "supporting": present[1:]},
            )
    return lines


def settings_text(
    agencies: Iterable[AgencySpec],
    feeds: Iterable[FeedSpec],
    bbox: tuple[float, ...],
    header: str,
) -> str:
    """The whole config; every path relative to the folder the file is written to."""
    agencies, feeds = list(agencies), list(feeds)
    lines = [f"# {line}" if line else "#" for line in header.splitlines()] + [""]
    lines += _table("[warehouse]", {"path": "warehouse.duckdb", "pii_key_file": PII_KEY_FILE})
    lines += _table(
        "[mlflow]",
        {
            "tracking_uri": "sqlite:///mlflow.db",
            "artifact_root": "mlartifacts",
            "experiment": "jointcast",
            "registered_model": "jointcast-demand",
        },
    )
    lines += _table(
        "[forecast]",
        {
            "bucket": "1h",
            "horizon_hours": 336,
            "quantiles": [0.1, 0.5, 0.9],
            "backtest_folds": 3,
            "events_file": EVENTS_FILE,
        },
    )
    for spec in agencies:
        lines += _agency(spec, bbox)
    for feed in feeds:
        lines += _feed(feed)
    incident_types = {name for feed in feeds for name in feed.type_codes.values()}
    lines += _roles([spec.id for spec in agencies], incident_types)
    return "\n".join(lines).rstrip("\n") + "\n"
