"""Typed settings for jointcast, loaded once from ``jointcast.toml`` at the entry point.

Every relative path in the file (the warehouse, feed URIs, the events file, a SQLite
MLflow store) resolves against the folder that holds the config file, so a workspace
can be moved or cloned as a whole. Unknown keys and bad values are errors that name
the key.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import tomllib
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

CONFIG_ENV = "JOINTCAST_CONFIG"
DEFAULT_CONFIG = "jointcast.toml"

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
"""A lower-case SQL-safe identifier: agency and feed ids become table and view names."""

CallSource = Literal["citizen", "officer", "alarm", "other"]
CALL_SOURCES: tuple[str, ...] = ("citizen", "officer", "alarm", "other")
AgencyKind = Literal["police", "sheriff", "transit_police", "fire", "ems", "dispatch", "other"]
POLICE_KINDS = {"police", "sheriff", "transit_police"}
REMOTE_PROTOCOLS = ("http://", "https://", "s3://", "gs://", "az://", "abfs://", "memory://")


class ConfigError(ValueError):
    """A config problem, phrased as one line that names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarehouseSettings(_Strict):
    path: Path = Path("warehouse.duckdb")
    pii_key_file: Path | None = Field(
        None,
        description="a file (mode 0600) holding the secret that keys the PII hash; "
        "$JOINTCAST_PII_KEY, when set, is used instead",
    )


class MlflowSettings(_Strict):
    tracking_uri: str = "sqlite:///mlflow.db"
    artifact_root: Path = Path("mlartifacts")
    experiment: str = "jointcast"
    registered_model: str = "jointcast-demand"


class ForecastSettings(_Strict):
    bucket: Literal["1h"] = "1h"
    horizon_hours: int = Field(336, ge=1, le=24 * 62)
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    backtest_folds: int = Field(3, ge=1, le=52)
    train_days: int = Field(182, ge=14, le=3650, description="history each model is fitted on")
    tuning: Literal["fixed", "size", "search"] = "size"
    level_scaling: bool = False
    zero_sample_rate: float = Field(
        0.25, gt=0, le=1, description="share of zero-count training rows fitted on, weighted 1 / rate; 1: all"
    )
    events_file: Path | None = None

    @field_validator("quantiles")
    @classmethod
    def _quantiles_in_unit_interval(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 < q < 1 for q in value) or list(value) != sorted(set(value)):
            raise ValueError("quantiles must be increasing values strictly between 0 and 1")
        return value


class Shift(_Strict):
    name: Identifier
    start: time
    hours: float = Field(gt=0, le=24)


def _default_shifts() -> tuple[Shift, ...]:
    return (
        Shift(name="day", start=time(7), hours=8),
        Shift(name="evening", start=time(15), hours=8),
        Shift(name="night", start=time(23), hours=8),
    )


class StaffingSettings(_Strict):
    shifts: tuple[Shift, ...] = Field(default_factory=_default_shifts)
    proactive_share: float = Field(0.0, ge=0, lt=1)
    min_units: int = Field(1, ge=0)
    relief_factor: float = Field(1.6, ge=1, le=3)
    units_per_incident: float | dict[str, float] = 1.0
    service_minutes: Literal["estimate"] | dict[str, float] = "estimate"
    method: Literal["workload", "erlang_c"] = "workload"
    service_level_target: float = Field(0.9, gt=0, lt=1)
    answer_seconds: float = Field(15, gt=0)

    @property
    def target_utilisation(self) -> float:
        return 1.0 - self.proactive_share


AREA_KEYS = {
    "column": set(),
    "h3": {"resolution", "min_incidents", "coarsest_resolution"},
    "polygons": {"file", "id_property", "name_property"},
}
"""The keys of ``[agencies.areas]`` each method reads (besides ``method``)."""


class AreaSettings(_Strict):
    """Where an agency's areas come from: the feed's area column, H3 cells or a polygon file."""

    method: Literal["column", "h3", "polygons"] = "column"
    resolution: int = Field(8, ge=0, le=15, description="h3: the finest resolution")
    min_incidents: int = Field(
        0, ge=0, description="h3: a cell with fewer counted incidents rolls up to its parent; 0: never"
    )
    coarsest_resolution: int = Field(0, ge=0, le=15, description="h3: no roll-up coarser than this")
    file: Path | None = Field(None, description="polygons: GeoJSON FeatureCollection, relative to the config")
    id_property: str | None = Field(None, description="polygons: the feature property holding the area id")
    name_property: str | None = Field(None, description="polygons: the property holding a name (default: id)")

    @model_validator(mode="after")
    def _keys_of_method(self) -> AreaSettings:
        for key in sorted(self.model_fields_set - {"method"} - AREA_KEYS[self.method]):
            raise ValueError(f"{key}: not a key of method '{self.method}'")
        if self.method == "polygons":
            for key in ("file", "id_property"):
                if getattr(self, key) is None:
                    raise ValueError(f"{key}: required by method 'polygons'")
        if self.coarsest_resolution > self.resolution:
            raise ValueError(
                f"coarsest_resolution: {self.coarsest_resolution} is finer than resolution {self.resolution}"
            )
        return self


class AgencySettings(_Strict):
    id: Identifier
    name: str
    kind: AgencyKind = "other"
    timezone: str = "UTC"
    country: str = "US"
    subdivision: str | None = None
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="min_lon, min_lat, max_lon, max_lat of the jurisdiction"
    )
    demand_call_sources: tuple[CallSource, ...] | None = None
    max_lag_hours: float = Field(24, gt=0)
    available_units: int | None = Field(
        None, ge=0, description="units the agency can put on duty at once; kpi.planning compares with it"
    )
    staffing: StaffingSettings = Field(default_factory=StaffingSettings)
    areas: AreaSettings = Field(default_factory=AreaSettings)
    key_file: Path | None = Field(
        None, description="file holding the key of the agency's encrypted mart (else $JOINTCAST_KEY_<ID>)"
    )
    share_joint: bool = Field(
        True, description="the agency's forecast counts in the joint aggregates, and it receives them"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)

    @model_validator(mode="after")
    def _known_calendar(self) -> AgencySettings:
        """The holiday calendar exists: checked at load, not when features first need it."""
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"country: no holiday calendar for '{self.country}' (ISO 3166-1 alpha-2: 'US')")
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            raise ValueError(
                f"subdivision: '{self.subdivision}' is not a subdivision of {self.country} "
                f"(e.g. {', '.join(supported[self.country][:5])})"
            )
        return self

    @field_validator("bbox")
    @classmethod
    def _ordered_bbox(cls, value):
        if value is not None and not (value[0] < value[2] and value[1] < value[3]):
            raise ValueError("bbox must be [min_lon, min_lat, max_lon, max_lat]")
        return value

    @property
    def counted_call_sources(self) -> tuple[str, ...]:
        """Call sources counted as demand: police-like agencies skip officer-initiated work."""
        if self.demand_call_sources is not None:
            return self.demand_call_sources
        if self.kind in POLICE_KINDS:
            return tuple(s for s in CALL_SOURCES if s != "officer")
        return CALL_SOURCES


SourceColumn = str | Annotated[list[str], Field(min_length=1)]
"""A source column's name, or the names it has gone by (``["Received", "CallReceived"]``): each file
reads the first its header has (warehouse.staging.header_matched), so a feed whose export renamed a
column reads its older files and its newer ones alike."""


class ColumnMap(_Strict):
    """Source column names for each field of the common schema."""

    source_incident_id: SourceColumn
    received_at: SourceColumn
    source_type: SourceColumn
    priority: SourceColumn | None = None
    call_source: SourceColumn | None = None
    dispatched_at: SourceColumn | None = None
    on_scene_at: SourceColumn | None = None
    cleared_at: SourceColumn | None = None
    # A feed that writes a timestamp's date and time of day in two columns: the ``*_at`` key names the
    # date's column, the ``*_time`` key the time's; the two are read joined by a space.
    received_time: SourceColumn | None = None
    dispatched_time: SourceColumn | None = None
    on_scene_time: SourceColumn | None = None
    cleared_time: SourceColumn | None = None
    area_id: SourceColumn | None = None
    lat: SourceColumn | None = None
    lon: SourceColumn | None = None
    point: SourceColumn | None = Field(
        None, description="one column holding both coordinates: 'POINT (lon lat)' or a pair '(lat, lon)'"
    )
    unit: SourceColumn | None = Field(
        None,
        description="the unit of a feed written one row per unit dispatched: the rows of one incident id"
        " are its units, loaded as one incident",
    )

    def mapped(self) -> dict[str, str | list[str]]:
        """Common field -> source column (or the names it has gone by), for the fields this feed maps."""
        return {k: v for k, v in self.model_dump().items() if v is not None}

    @staticmethod
    def time_key(field: str) -> str:
        """The key of the time-of-day column that goes with timestamp ``field`` (``received_at``)."""
        return field.removesuffix("_at") + "_time"

    @model_validator(mode="after")
    def _coherent(self) -> ColumnMap:
        for field in ("dispatched_at", "on_scene_at", "cleared_at"):
            if getattr(self, self.time_key(field)) is not None and getattr(self, field) is None:
                key = self.time_key(field)
                raise ValueError(f"{key} is the time of {field}: map {field}'s date column too")
        if self.point is not None and (self.lat is not None or self.lon is not None):
            raise ValueError("map either point (one column with both coordinates) or lat and lon, not both")
        return self


STRPTIME_PROBE = datetime(2024, 11, 3, 13, 7, 9, tzinfo=UTC)
"""An instant with every field distinct, to tell a format that reads it back from one that cannot."""


def _check_strptime(fmt: str) -> None:
    """``fmt`` must be a strptime format that names at least a day and that DuckDB (which parses the
    feed) reads back: an unknown directive (``%Q``) or a format without a date fails here, at load,
    instead of leaving every row of the feed unparsed."""
    import duckdb  # the parser the feed's timestamps go through

    if not re.search(r"%[dejYyFDxcsb]", fmt):
        raise ValueError(
            f"timestamp_format {fmt!r} names no date: use iso, epoch_ms, epoch_s or a strptime format"
        )
    text = STRPTIME_PROBE.strftime(fmt)
    try:
        with duckdb.connect() as con:
            con.execute("SELECT strptime(?, ?)", [text, fmt]).fetchone()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(
            f"timestamp_format {fmt!r} is not a strptime format DuckDB reads ({first})"
        ) from None


WGS84 = "EPSG:4326"
"""Longitude and latitude in degrees: what coordinates are stored as, and a feed's default."""


def _check_crs(value: str) -> str:
    """``value`` must be a coordinate system PROJ (through DuckDB's spatial extension, which
    transforms the feed's coordinates) can transform to longitude and latitude."""
    if value == WGS84:
        return value
    import duckdb

    from warehouse.db import load_spatial

    try:
        with duckdb.connect() as con:
            load_spatial(con)
            con.execute(
                f"SELECT ST_Transform(ST_Point(0, 0), ?, '{WGS84}', always_xy := true)", [value]
            ).fetchone()
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        message = f"coordinates_crs {value!r} is not a coordinate system PROJ knows ({first})"
        raise ValueError(message) from None
    return value


def _check_group_regex(value: str | None) -> str | None:
    """A regex whose first capture group is what is taken from the matched text (or None)."""
    if value is not None:
        try:
            if re.compile(value).groups < 1:
                raise ValueError("pattern needs one capture group")
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from exc
    return value


class AgencyFrom(_Strict):
    """Take the agency of each row from a column, optionally through a regex's first group."""

    column: str
    pattern: str | None = None
    map: dict[str, Identifier]

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return _check_group_regex(value)


class PiiSettings(_Strict):
    """A feed's personal-data columns, matched without regard to case and across duplicated headers.

    ``drop``: never stored. ``hash``: stored as a keyed hash (HMAC-SHA256, warehouse.pii). A row the
    reader cannot split into fields is quarantined as its length and keyed hash unless
    ``retain_unreadable_raw`` says to keep its text, which then holds whatever PII it had.
    """

    drop: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()
    retain_unreadable_raw: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.drop, *self.hash)


class KnownOutage(_Strict):
    """A window in which the feed is known to have delivered nothing (or too little)."""

    start: datetime | date
    end: datetime | date
    reason: str = "configured"


class OutageSettings(_Strict):
    """How a feed's outages are found: from its own record counts, and from a list of known ones.

    ``min_hours`` 6: long enough that a feed's ordinary pauses are never an outage, short enough
    to catch most of a lost 8-hour shift (whether an empty run is improbable is what protects a
    small feed's quiet nights, not this). ``low_share`` 0.1: real demand moves by tens of percent
    on holidays and storms, never to a tenth of a usual day; a day that low is a partial delivery.
    """

    detect: bool = True
    min_hours: int = Field(6, ge=1, le=24 * 62)
    low_share: float = Field(0.1, ge=0, lt=1)
    known: tuple[KnownOutage, ...] = ()


class FeedSettings(_Strict):
    id: Identifier
    agency: Identifier | None = None
    agency_from: AgencyFrom | None = None
    uri: str
    format: Literal["csv", "json", "jsonl", "parquet", "xlsx"]
    sheet: str | None = Field(None, description="an xlsx feed's worksheet by name; default its first")
    delimiter: str = ","
    header_row: int = Field(
        1,
        ge=1,
        description="a csv feed's line (an xlsx sheet's row) holding the header; the ones above it (a"
        " report's title) are skipped",
    )
    encoding: Literal["utf-8", "latin-1", "cp1252", "utf-16"] = Field(
        "utf-8", description="cp1252: Windows' Western European text (Latin-1 plus euro sign, curly quotes)"
    )
    decimal_separator: Literal[".", ","] = Field(
        ".", description="the decimal mark of coordinates and priorities written as text: '45,78537' with ','"
    )
    columns: ColumnMap
    type_codes: dict[str, Identifier] = Field(default_factory=dict)
    type_pattern: str | None = Field(
        None, description="regex whose first group is the type code, e.g. '^\\w+: (.*)$'"
    )
    call_source_codes: dict[str, CallSource] = Field(default_factory=dict)
    default_call_source: CallSource = "citizen"
    timestamp_format: str | list[str] = Field(
        "iso",
        description="a strptime format, iso, epoch_ms or epoch_s; or a list of them, the first that reads"
        " a value winning (a feed whose export changed format)",
    )
    timezone: str = "UTC"
    priority_range: tuple[int, int] = (1, 5)
    priority_codes: dict[str, int] = Field(
        default_factory=dict, description="text priorities as numbers, e.g. { E = 1, HIGH = 1, LOW = 3 }"
    )
    point_order: Literal["lat_lon", "lon_lat"] = Field(
        "lat_lon", description="the order of a point column's pair; a WKT 'POINT (x y)' is always lon lat"
    )
    coordinates_crs: str = Field(
        WGS84, description="the coordinate system of lat/lon or point, e.g. a state plane 'EPSG:2272'"
    )
    priority_pattern: str | None = Field(
        None, description="regex whose first group is the priority, e.g. '^P?(\\w+)' for 'P1', '2A'"
    )
    pii: PiiSettings = Field(default_factory=PiiSettings)
    id_scope: Literal["feed", "year", "month", "day"] = Field(
        "feed",
        description="where the feed's incident ids are unique: 'year' for ids that restart each year, an"
        " incident then being its id and the year (month, day) it was received, in the feed's timezone",
    )
    max_quarantined_share: float = Field(
        0.8, gt=0, le=1, description="a batch with more of its rows quarantined is rejected whole"
    )
    expected_rows_band: float = Field(
        0.5, gt=0, le=1, description="a batch's rows may differ this much from the trailing mean"
    )
    start: datetime | date | None = Field(None, description="records received before are quarantined")
    end: datetime | date | None = Field(None, description="records received at or after are quarantined")
    outages: OutageSettings = Field(default_factory=OutageSettings)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1 or value in '\r\n"':
            raise ValueError(
                f"delimiter must be one character other than a quote or line break, got {value!r}"
            )
        return value

    @field_validator("priority_range")
    @classmethod
    def _ordered_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise ValueError(f"priority_range must be [lowest, highest], got [{value[0]}, {value[1]}]")
        return value

    @field_validator("coordinates_crs")
    @classmethod
    def _known_crs(cls, value: str) -> str:
        return _check_crs(value)

    @field_validator("type_pattern", "priority_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        return _check_group_regex(value)

    @model_validator(mode="after")
    def _codes_in_range(self) -> FeedSettings:
        low, high = self.priority_range
        for code, number in self.priority_codes.items():
            if not low <= number <= high:
                raise ValueError(
                    f"priority_codes.{code} = {number} lies outside priority_range [{low}, {high}]"
                )
        return self

    @field_validator("timestamp_format")
    @classmethod
    def _readable_format(cls, value: str | list[str]) -> str | list[str]:
        formats = [value] if isinstance(value, str) else value
        if not formats:
            raise ValueError("timestamp_format: an empty list reads no timestamp: give one format or more")
        for fmt in formats:
            if fmt not in ("iso", "epoch_ms", "epoch_s"):
                _check_strptime(fmt)
        return value

    @property
    def timestamp_formats(self) -> tuple[str, ...]:
        """``timestamp_format`` as a tuple, in the order a value is tried."""
        fmt = self.timestamp_format
        return (fmt,) if isinstance(fmt, str) else tuple(fmt)

    @model_validator(mode="after")
    def _readable_numbers_and_text(self) -> FeedSettings:
        if self.format == "csv" and self.decimal_separator == "," == self.delimiter:
            raise ValueError(
                "decimal_separator: a ',' decimal mark needs another delimiter than ',' "
                '(exports that write 45,78537 separate fields with delimiter = ";")'
            )
        if self.format == "json" and self.encoding != "utf-8":
            raise ValueError(
                f"encoding: a json feed is read as UTF-8, as JSON text is written (RFC 8259),"
                f" not {self.encoding}"
            )
        if self.header_row != 1 and self.format not in ("csv", "xlsx"):
            raise ValueError(f"header_row: read in csv and xlsx feeds only, not {self.format}")
        if self.format == "jsonl" and self.encoding == "cp1252":
            raise ValueError(
                "encoding: cp1252 is read in csv feeds only; a jsonl feed is utf-8, latin-1 or utf-16"
            )
        return self

    @model_validator(mode="after")
    def _one_agency_source(self) -> FeedSettings:
        if (self.agency is None) == (self.agency_from is None):
            raise ValueError("give exactly one of 'agency' or 'agency_from'")
        return self

    @model_validator(mode="after")
    def _ordered_windows(self) -> FeedSettings:
        if self.start is not None and self.end is not None and self.window[0] >= self.window[1]:
            raise ValueError("end must come after start")
        for i, known in enumerate(self.outages.known):
            if self.instant(known.start) >= self.instant(known.end):
                raise ValueError(f"outages.known[{i}]: end must come after start")
        return self

    def instant(self, value: datetime | date) -> datetime:
        """A config date or datetime as a UTC instant: a date (its midnight) or a naive datetime is
        a wall-clock time in the feed's ``timezone``."""
        if not isinstance(value, datetime):
            value = datetime.combine(value, time())
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(self.timezone))
        return value.astimezone(UTC)

    @property
    def window(self) -> tuple[datetime | None, datetime | None]:
        """The feed's ``start`` and ``end`` (exclusive) as UTC instants; None where open."""
        return tuple(None if v is None else self.instant(v) for v in (self.start, self.end))  # type: ignore[return-value]

    @property
    def known_outages(self) -> tuple[tuple[datetime, datetime, str], ...]:
        """The configured outages as (start, end, reason), UTC instants."""
        return tuple((self.instant(k.start), self.instant(k.end), k.reason) for k in self.outages.known)

    @property
    def agency_ids(self) -> tuple[str, ...]:
        if self.agency is not None:
            return (self.agency,)
        assert self.agency_from is not None
        return tuple(dict.fromkeys(self.agency_from.map.values()))

    @property
    def is_remote(self) -> bool:
        return self.uri.startswith(REMOTE_PROTOCOLS)


class RoleSettings(_Strict):
    incident_type: Identifier
    lead: Identifier
    supporting: tuple[Identifier, ...] = ()


class ScheduleSettings(_Strict):
    """Cron schedules of the served deployments (five fields: minute hour day month weekday)."""

    ingest: str = "0 * * * *"  # ingest + validate, hourly
    publish: str = "30 5 * * *"  # features + forecast + publish, daily
    train: str = "0 3 * * 0"  # train, weekly
    monitor: str = "15 4 * * *"  # monitor, daily (after the night's ingest, before publish)
    timezone: str = "UTC"

    @field_validator("ingest", "publish", "train", "monitor")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"'{value}' is not a cron schedule: five fields, e.g. '0 * * * *'")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _check_timezone(value)


class OrchestrationSettings(_Strict):
    """How the flows run: retries, the warehouse lock, the task runner, the schedules."""

    retries: int = Field(2, ge=0, le=20, description="retries of a feed's network failure")
    retry_delay_seconds: float = Field(10, ge=0, le=3600)
    lock_timeout_seconds: float = Field(
        0, ge=0, le=86400, description="how long a run waits for another run on the same warehouse"
    )
    task_runner: Literal["thread", "dask"] = "thread"
    dask_address: str | None = Field(None, description="a running Dask scheduler; none: a local cluster")
    dask_workers: int = Field(2, ge=1, le=256, description="workers of the local Dask cluster")
    dask_parquet_dir: str | None = Field(
        None,
        description="where training writes the model inputs as Parquet for the Dask workers to read: a "
        "folder every worker sees (relative to the config) or an fsspec URL (s3://...); none: "
        "<warehouse folder>/parquet",
    )
    schedules: ScheduleSettings = Field(default_factory=ScheduleSettings)


class MonitorSettings(_Strict):
    """`jointcast monitor`: when live accuracy or an input has drifted far enough to raise an alert."""

    recent_days: int = Field(7, ge=1, le=90, description="the recent window scored and compared, in days")
    wape_margin: float = Field(
        0.25, ge=0, le=10, description="alert when live shift WAPE > backtest WAPE x (1 + margin)"
    )
    bias_limit: float = Field(
        0.15, gt=0, le=10, description="alert when live shift bias is above this or below minus this"
    )
    coverage_band: tuple[float, float] = Field(
        (0.6, 0.95), description="alert when live coverage of p10-p90 leaves this band"
    )
    psi_threshold: float = Field(
        0.25, gt=0, le=10, description="alert when a population stability index exceeds this (a major shift)"
    )
    psi_features: tuple[Identifier, ...] = Field(
        ("lag_week_1", "how_mean_4"), description="model inputs whose distribution is compared"
    )
    retrain_on_alert: bool = Field(False, description="run `train` when an alert is raised")
    experiment: str | None = Field(
        None, description="MLflow experiment of the monitoring runs; none: <mlflow.experiment>-monitoring"
    )

    @field_validator("coverage_band")
    @classmethod
    def _ordered_band(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 <= low < high <= 1:
            raise ValueError("coverage_band must be [low, high] with 0 <= low < high <= 1")
        return value


class Settings(_Strict):
    """The whole of ``jointcast.toml``, read once per run at the entry point.

    ``root`` is the folder that holds the file; ``source_file`` and ``source_sha256``
    say which file and which bytes the run used (its lineage in MLflow and the
    publication log). None of the three may be written in the file itself.
    """

    root: Path = Field(default_factory=Path.cwd)
    source_file: Path | None = Field(None, description="the config file these settings were read from")
    source_sha256: str | None = Field(None, description="SHA-256 of the bytes they were read from")
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)
    agencies: tuple[AgencySettings, ...]
    feeds: tuple[FeedSettings, ...]
    roles: tuple[RoleSettings, ...] = ()
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)

    @model_validator(mode="before")
    @classmethod
    def _feed_timezones(cls, data: object) -> object:
        """A feed that does not set ``timezone`` reads its naive timestamps in its agencies' time zone
        (an agency's feed writes its own wall clock); a shared feed whose agencies' zones differ must
        say which it writes (else every naive time would be read hours off, silently)."""
        if not isinstance(data, dict) or not isinstance(data.get("feeds"), list | tuple):
            return data
        zones = {
            a.get("id"): a.get("timezone", "UTC") for a in data.get("agencies") or () if isinstance(a, dict)
        }
        feeds = []
        for i, feed in enumerate(data["feeds"]):
            if isinstance(feed, dict) and "timezone" not in feed:
                found = sorted({zones[a] for a in _named_agencies(feed) if a in zones})
                if len(found) > 1:
                    raise ValueError(
                        f"feeds[{i}].timezone: not set, and its agencies' time zones differ"
                        f" ({', '.join(found)}): set the zone its naive timestamps are written in"
                    )
                feed = {**feed, "timezone": found[0]} if found else feed
            feeds.append(feed)
        return {**data, "feeds": feeds}

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        agencies = [a.id for a in self.agencies]
        _unique("agencies", agencies)
        _unique("feeds", [f.id for f in self.feeds])
        for i, feed in enumerate(self.feeds):
            for agency in feed.agency_ids:
                if agency not in agencies:
                    where = "agency" if feed.agency else "agency_from.map"
                    raise ValueError(f"feeds[{i}].{where}: unknown agency '{agency}'")
        for i, role in enumerate(self.roles):
            for agency in (role.lead, *role.supporting):
                if agency not in agencies:
                    raise ValueError(f"roles[{i}]: unknown agency '{agency}'")
        for i, agency in enumerate(self.agencies):
            self._check_area_file(i, agency)
        if "?" in str(self.warehouse_path):
            raise ValueError(
                f"warehouse.path: {self.warehouse_path} holds a '?', which DuckDB cannot open a database"
                " under (it reads the rest as connection options): set warehouse.path to a path without"
                " one, or move the workspace"
            )
        return self

    def _check_area_file(self, index: int, agency: AgencySettings) -> None:
        """A polygon file exists and parses at load, not when the features stage first reads it."""
        from warehouse.area_files import AreaFileError, read_area_shapes

        path = self.area_file(agency)
        if path is None:
            return
        try:
            read_area_shapes(path, agency.areas.id_property, agency.areas.name_property)
        except AreaFileError as exc:
            raise ValueError(f"agencies[{index}].areas.file: {exc}") from None

    # -- resolved locations -------------------------------------------------------------
    def resolve(self, path: Path | str) -> Path:
        path = Path(path)
        return path if path.is_absolute() else (self.root / path).resolve()

    @property
    def warehouse_path(self) -> Path:
        return self.resolve(self.warehouse.path)

    @property
    def pii_key_path(self) -> Path | None:
        key_file = self.warehouse.pii_key_file
        return None if key_file is None else self.resolve(key_file)

    @property
    def raw_root(self) -> Path:
        """Where the raw layer's Parquet files live: beside the warehouse file."""
        return self.warehouse_path.parent / "raw"

    @property
    def parquet_root(self) -> str:
        """Where the Dask workers read training's Parquet: ``dask_parquet_dir`` (a path resolved against
        the config's folder, or an fsspec URL kept as written), else ``parquet`` beside the warehouse."""
        named = self.orchestration.dask_parquet_dir
        if named is None:
            return str(self.warehouse_path.parent / "parquet")
        return named if "://" in named else str(self.resolve(named))

    @property
    def report_root(self) -> Path:
        """Where the planners' report pages are written: one ``<agency_id>.html`` each."""
        return self.root / "report"

    def report_path(self, agency_id: str) -> Path:
        return self.report_root / f"{agency_id}.html"

    def accuracy_page_path(self, agency_id: str) -> Path:
        """The agency's accuracy page, written by `jointcast monitor` beside its report."""
        return self.report_root / f"{agency_id}_accuracy.html"

    @property
    def mart_root(self) -> Path:
        """Where each agency's encrypted mart lives: ``<agency_id>.duckdb``, beside the warehouse."""
        return self.warehouse_path.parent / "marts"

    def mart_path(self, agency_id: str) -> Path:
        return self.mart_root / f"{agency_id}.duckdb"

    def key_file(self, agency_id: str) -> Path | None:
        """The agency's key file, resolved; None when the config names none."""
        named = self.agency(agency_id).key_file
        return None if named is None else self.resolve(named)

    @property
    def joint_agencies(self) -> tuple[str, ...]:
        """Agencies whose forecasts make the joint aggregates (those that did not opt out)."""
        return tuple(a.id for a in self.agencies if a.share_joint)

    @property
    def tracking_uri(self) -> str:
        uri = self.mlflow.tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            return prefix + str(self.resolve(uri[len(prefix) :]))
        return uri

    @property
    def artifact_root(self) -> Path:
        return self.resolve(self.mlflow.artifact_root)

    @property
    def events_path(self) -> Path | None:
        events = self.forecast.events_file
        return None if events is None else self.resolve(events)

    def feed_uri(self, feed: FeedSettings) -> str:
        """The feed's URI with a relative local path joined to the config folder; symlinks in it
        are not followed here, so ingest can tell a file that leads out of its folder. The config
        folder's own ``[``, ``*`` and ``?`` are escaped: only the configured uri is a glob."""
        uri = feed.uri
        if feed.is_remote:
            return uri
        path = Path(uri.removeprefix("file://"))
        return str(path if path.is_absolute() else Path(glob.escape(str(self.root))) / path)

    @property
    def role_map(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """incident type -> (lead agency, supporting agencies)."""
        return {r.incident_type: (r.lead, tuple(r.supporting)) for r in self.roles}

    def area_file(self, agency: AgencySettings) -> Path | None:
        """The agency's polygon file, resolved; None unless its areas are polygons."""
        areas = agency.areas
        return self.resolve(areas.file) if areas.method == "polygons" and areas.file is not None else None

    @property
    def agency_ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.agencies)

    @property
    def monitoring_experiment(self) -> str:
        """The MLflow experiment of `jointcast monitor`'s daily runs."""
        return self.monitor.experiment or f"{self.mlflow.experiment}-monitoring"

    def agency(self, agency_id: str) -> AgencySettings:
        for agency in self.agencies:
            if agency.id == agency_id:
                return agency
        raise KeyError(f"unknown agency '{agency_id}'")

    def feed(self, feed_id: str) -> FeedSettings:
        for feed in self.feeds:
            if feed.id == feed_id:
                return feed
        raise KeyError(f"unknown feed '{feed_id}'")


def _named_agencies(feed: dict) -> list[object]:
    """The agency ids a feed's table names, as written (before validation)."""
    if "agency" in feed:
        return [feed["agency"]]
    mapped = feed.get("agency_from")
    values = mapped.get("map") if isinstance(mapped, dict) else None
    return list(values.values()) if isinstance(values, dict) else []


def _unique(section: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, item in enumerate(ids):
        if item in seen:
            raise ValueError(f"{section}[{i}].id: duplicate id '{item}'")
        seen.add(item)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone '{value}'") from exc
    return value


def _format_error(path: Path, error: ValidationError) -> str:
    """One line naming every problem (up to ``SHOWN_PROBLEMS``), each by its key: a new config is
    fixed in one edit, not one rerun per missing key."""
    problems = [_problem(found) for found in error.errors()]
    shown = "; ".join(problems[:SHOWN_PROBLEMS])
    more = len(problems) - SHOWN_PROBLEMS
    suffix = f" (and {more} more problem{'s' * (more > 1)})" if more > 0 else ""
    return f"config error in {path}: {shown}{suffix}"


SHOWN_PROBLEMS = 10


def _problem(found) -> str:
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in found["loc"])
    key = key.lstrip(".")
    message = found["msg"].removeprefix("Value error, ")
    if found["type"] == "extra_forbidden":
        message = "unknown key"
    elif found["type"] == "missing":
        message = "required key is missing"
    return f"{key}: {message}" if key else message


def config_path(explicit: str | Path | None = None) -> Path:
    """The config file to use: the explicit one, else $JOINTCAST_CONFIG, else ./jointcast.toml."""
    chosen = explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG
    return Path(chosen).expanduser().resolve()


INTERNAL_KEYS = ("root", "source_file", "source_sha256")
"""Settings fields that come from where the file is, never from what it says."""


def load_settings(path: str | Path | None = None) -> Settings:
    """Read, validate and resolve a config file; raises ConfigError with one clear line.

    The file is read once: the settings are parsed from the same bytes whose SHA-256
    they carry, so a config edited during a long run cannot change it half-way.
    """
    path = config_path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (pass --config or set {CONFIG_ENV})")
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config error in {path}: not valid TOML: {exc}") from exc
    for key in INTERNAL_KEYS:
        if key in data:
            raise ConfigError(f"config error in {path}: {key}: unknown key")
    source = {"root": path.parent, "source_file": path, "source_sha256": hashlib.sha256(raw).hexdigest()}
    try:
        return Settings.model_validate({**data, **source})
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None
