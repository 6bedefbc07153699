"""How each simulated agency publishes its feed: file format, columns, codes and timestamps."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from jointcast.simulator.agencies import AgencySpec

NEW_YORK = "America/New_York"

COMMON_FIELDS = (
    "source_incident_id",
    "source_type",
    "priority",
    "call_source",
    "received_at",
    "dispatched_at",
    "on_scene_at",
    "cleared_at",
    "area_id",
    "lat",
    "lon",
    "unit",
)
TIMESTAMP_FIELDS = ("received_at", "dispatched_at", "on_scene_at", "cleared_at")
PERSON_FIELDS = ("person_name", "phone")


@dataclass(frozen=True)
class FeedSpec:
    """One feed's shape. ``columns`` maps common fields (and person_name/phone) to source columns,
    in the order they are written."""

    id: str
    agency_id: str
    format: Literal["csv", "jsonl", "parquet"]
    columns: dict[str, str]
    type_codes: dict[str, str]
    timestamp_format: str
    timezone: str
    priority_range: tuple[int, int]
    delimiter: str = ","
    channel_codes: dict[str, str] = field(default_factory=dict)
    """Generation channel (911, phone, officer, alarm, other) -> the source code written."""
    call_source_codes: dict[str, str] = field(default_factory=dict)
    pii_drop: tuple[str, ...] = ()
    pii_hash: tuple[str, ...] = ()
    unknown_codes: tuple[str, ...] = ("XXX",)
    unparseable_values: tuple[str, ...] = ()

    @property
    def extension(self) -> str:
        return self.format

    @property
    def local_wall_clock(self) -> bool:
        """Timestamps written as naive local text: a fall-back hour is ambiguous in the file."""
        return self.timestamp_format not in ("epoch_ms", "epoch_s", "iso") and self.timezone != "UTC"

    @property
    def code_of_type(self) -> dict[str, str]:
        return {incident_type: code for code, incident_type in self.type_codes.items()}

    @property
    def mapped_columns(self) -> dict[str, str]:
        """The config's column mapping: common schema fields only."""
        return {k: v for k, v in self.columns.items() if k in COMMON_FIELDS}


CITY_POLICE_CAD = FeedSpec(
    id="city_police_cad",
    agency_id="city_police",
    format="csv",
    columns={
        "source_incident_id": "IncidentNumber",
        "source_type": "CallType",
        "priority": "Priority",
        "call_source": "Source",
        "received_at": "CallReceived",
        "dispatched_at": "Dispatched",
        "on_scene_at": "OnScene",
        "cleared_at": "Cleared",
        "area_id": "Beat",
        "lat": "Latitude",
        "lon": "Longitude",
        "person_name": "CallerName",
        "phone": "CallerPhone",
    },
    type_codes={
        "TC": "traffic_collision",
        "THEFT": "theft",
        "BURG": "burglary",
        "ROBB": "robbery",
        "ASLT": "assault",
        "DOM": "domestic",
        "DIST": "disturbance",
        "ALARM": "alarm",
        "SUSP": "suspicious",
        "WELF": "welfare_check",
        "NOISE": "noise_complaint",
        "PARK": "parking_complaint",
        "TSTOP": "traffic_stop",
        "PSTOP": "pedestrian_stop",
        "PATROL": "directed_patrol",
        "OD": "overdose",
        "FIRE": "structure_fire",
    },
    timestamp_format="%m/%d/%Y %I:%M:%S %p",
    timezone=NEW_YORK,
    priority_range=(1, 5),
    channel_codes={
        "911": "911",
        "phone": "PHONE",
        "officer": "SELF",
        "alarm": "ALARM",
        "other": "AGENCY",
    },
    call_source_codes={
        "911": "citizen",
        "PHONE": "citizen",
        "SELF": "officer",
        "ALARM": "alarm",
        "AGENCY": "other",
    },
    pii_drop=("CallerPhone",),
    pii_hash=("CallerName",),
    unknown_codes=("XCALL", "10-99", "UNK", "MISC9"),
    unparseable_values=("N/A", "UNKNOWN", "00/00/0000 12:00:00 AM", "#VALUE!"),
)

COUNTY_FIRE_CAD = FeedSpec(
    id="county_fire_cad",
    agency_id="county_fire",
    format="jsonl",
    columns={
        "source_incident_id": "incident_id",
        "source_type": "nature_code",
        "priority": "priority",
        "received_at": "alarm_ts",
        "dispatched_at": "dispatch_ts",
        "on_scene_at": "arrive_ts",
        "cleared_at": "clear_ts",
        "area_id": "district",
        "lat": "lat",
        "lon": "lon",
        "call_source": "reported_by",
    },
    type_codes={
        "STRUC": "structure_fire",
        "VEH": "vehicle_fire",
        "ALARM": "fire_alarm",
        "MVA": "traffic_collision",
        "HAZ": "hazmat",
        "RESC": "rescue",
        "BRUSH": "brush_fire",
        "EMSA": "medical_assist",
        "ODOR": "gas_odor",
        "SVC": "service_call",
    },
    timestamp_format="epoch_ms",
    timezone="UTC",
    priority_range=(1, 3),
    channel_codes={"911": "911", "phone": "PHONE", "alarm": "ALARM"},
    call_source_codes={"911": "citizen", "PHONE": "citizen", "ALARM": "alarm"},
    unknown_codes=("ZZZ", "OTHR", "MUTAID"),
    unparseable_values=("n/a", "pending", "TBD"),
)

EMS_EPCR = FeedSpec(
    id="ems_epcr",
    agency_id="ems",
    format="parquet",
    columns={
        "source_incident_id": "pcr_id",
        "source_type": "complaint",
        "priority": "acuity",
        "received_at": "t_call",
        "dispatched_at": "t_dispatch",
        "on_scene_at": "t_arrive",
        "cleared_at": "t_available",
        "area_id": "zone",
        "lat": "latitude",
        "lon": "longitude",
        "person_name": "patient_name",
    },
    type_codes={
        "CARDIAC": "cardiac",
        "RESP": "respiratory",
        "FALL": "fall",
        "SICK": "sick_person",
        "INJ": "injury",
        "PSYCH": "psychiatric",
        "STROKE": "stroke",
        "UNC": "unconscious",
        "SEIZ": "seizure",
        "ABD": "abdominal_pain",
        "MVC": "traffic_collision",
        "OD": "overdose",
        "FIRE": "structure_fire",
    },
    timestamp_format="iso",
    timezone="UTC",
    priority_range=(1, 4),
    pii_drop=("patient_name",),
    unknown_codes=("OTHER9", "UNKNOWN", "TEST"),
)

TRANSIT_POLICE_RMS = FeedSpec(
    id="transit_police_rms",
    agency_id="transit_police",
    format="csv",
    delimiter=";",
    columns={
        "source_incident_id": "evt_no",
        "source_type": "evt_cd",
        "priority": "pri",
        "call_source": "origin",
        "received_at": "rcvd",
        "dispatched_at": "disp",
        "on_scene_at": "arr",
        "cleared_at": "clr",
        "area_id": "stn",
        "lat": "y",
        "lon": "x",
    },
    type_codes={
        "100": "fare_evasion",
        "210": "assault",
        "220": "robbery",
        "230": "theft",
        "300": "disorderly",
        "350": "suspicious",
        "410": "trespass",
        "420": "vandalism",
        "500": "medical_assist",
        "610": "suspicious_package",
    },
    timestamp_format="%Y-%m-%dT%H:%M:%S",
    timezone=NEW_YORK,
    priority_range=(1, 3),
    channel_codes={"911": "C", "phone": "C", "officer": "O", "alarm": "A"},
    call_source_codes={"C": "citizen", "O": "officer", "A": "alarm"},
    unknown_codes=("999", "042", "777"),
    unparseable_values=("n/a", "0000-00-00T00:00:00", "--"),
)

FEEDS: tuple[FeedSpec, ...] = (CITY_POLICE_CAD, COUNTY_FIRE_CAD, EMS_EPCR, TRANSIT_POLICE_RMS)


UNIT_COLUMN = "unit_id"


def feed_of(agency: AgencySpec, unit_rows: bool = False) -> FeedSpec:
    """The agency's feed: its kind's format under the agency's own feed and agency ids; with
    ``unit_rows``, written one row per unit dispatched (a ``unit_id`` column)."""
    base_id = agency.feed_id.removesuffix(f"_{agency.copy}") if agency.copy > 1 else agency.feed_id
    feed = next(feed for feed in FEEDS if feed.id == base_id)
    if agency.copy > 1:
        feed = replace(feed, id=agency.feed_id, agency_id=agency.id)
    return replace(feed, columns={**feed.columns, "unit": UNIT_COLUMN}) if unit_rows else feed
