"""SQL that maps one feed's text rows onto the common incident schema.

Built from the feed's config alone, so a new agency's feed is onboarded by config. The
query reads the temp table ``_incoming`` (one batch, every value text) and returns the
typed common columns plus ``parse_reasons``: the codes of what could not be read.
Timestamps become UTC instants; naive local times are read in the feed's time zone,
DST-correct (a local time that occurs twice at the autumn change resolves to standard
time, one that never occurs at the spring change to the offset before it).
"""

from __future__ import annotations

from jointcast.config import FeedSettings
from warehouse.db import literal, quote

TIMESTAMP_FIELDS = ("received_at", "dispatched_at", "on_scene_at", "cleared_at")
ISO_OFFSET = r"(Z|z|[+-]\d\d(:?\d\d)?)$"


def _text(column: str | None) -> str:
    return "CAST(NULL AS VARCHAR)" if column is None else f"nullif(trim({quote(column)}), '')"


def timestamp_expr(value: str, feed: FeedSettings) -> str:
    """An expression turning text ``value`` into TIMESTAMPTZ, NULL where it does not parse."""
    fmt, tz = feed.timestamp_format, literal(feed.timezone)
    if fmt == "epoch_ms":
        return f"try(to_timestamp(try_cast({value} AS DOUBLE) / 1000.0))"
    if fmt == "epoch_s":
        return f"try(to_timestamp(try_cast({value} AS DOUBLE)))"
    if fmt == "iso":
        return (
            f"CASE WHEN regexp_matches({value}, {literal(ISO_OFFSET)})"
            f" THEN try_cast({value} AS TIMESTAMPTZ)"
            f" ELSE timezone({tz}, try_cast({value} AS TIMESTAMP)) END"
        )
    return f"timezone({tz}, try_strptime({value}, {literal(fmt)}))"


def _agency_expr(feed: FeedSettings) -> str:
    if feed.agency is not None:
        return literal(feed.agency)
    assert feed.agency_from is not None
    source = _text(feed.agency_from.column)
    if feed.agency_from.pattern:
        source = f"nullif(regexp_extract({source}, {literal(feed.agency_from.pattern)}, 1), '')"
    cases = " ".join(
        f"WHEN {literal(code)} THEN {literal(agency)}" for code, agency in feed.agency_from.map.items()
    )
    return f"CASE {source} {cases} ELSE NULL END"


def _code_expr(feed: FeedSettings) -> str:
    """The type code of a row: the source type, or the first group of ``type_pattern``."""
    if feed.type_pattern:
        return f"nullif(trim(regexp_extract(source_type, {literal(feed.type_pattern)}, 1)), '')"
    return "source_type"


def _type_expr(feed: FeedSettings) -> str:
    """The common incident type; with no type_codes map, the code itself, normalised."""
    if not feed.type_codes:
        return "nullif(trim(regexp_replace(lower(code), '[^a-z0-9]+', '_', 'g'), '_'), '')"
    cases = " ".join(f"WHEN {literal(code)} THEN {literal(kind)}" for code, kind in feed.type_codes.items())
    return f"CASE code {cases} ELSE NULL END"


def _call_source_expr(feed: FeedSettings) -> str:
    default = literal(feed.default_call_source)
    if feed.columns.call_source is None or not feed.call_source_codes:
        return default
    cases = " ".join(
        f"WHEN {literal(code)} THEN {literal(kind)}" for code, kind in feed.call_source_codes.items()
    )
    return f"CASE {_text(feed.columns.call_source)} {cases} ELSE 'other' END"


def stage_sql(feed: FeedSettings) -> str:
    """SELECT over ``_incoming``: the common schema and the row's own parse reasons."""
    cols = feed.columns
    texts = ",\n            ".join(
        f"{_text(getattr(cols, field))} AS {field}_text" for field in TIMESTAMP_FIELDS
    )
    stamps = ",\n        ".join(
        f"{timestamp_expr(field + '_text', feed)} AS {field}" for field in TIMESTAMP_FIELDS
    )
    unparseable_optional = "".join(
        f",\n            CASE WHEN {f}_text IS NOT NULL AND {f} IS NULL THEN 'unparseable_{f}' END"
        for f in TIMESTAMP_FIELDS[1:]
    )
    return f"""
WITH source AS (
    SELECT
        _row_number,
        {_agency_expr(feed)} AS agency_id,
        {_text(cols.source_incident_id)} AS source_incident_id,
        {_text(cols.source_type)} AS source_type,
        {_call_source_expr(feed)} AS call_source,
        {_text(cols.priority)} AS priority_text,
        {texts},
        {_text(cols.area_id)} AS area_id,
        {_text(cols.lat)} AS lat_text,
        {_text(cols.lon)} AS lon_text
    FROM _incoming
),
coded AS (
    SELECT *, {_code_expr(feed)} AS code FROM source
),
typed AS (
    SELECT
        *,
        {_type_expr(feed)} AS incident_type,
        try_cast(priority_text AS INTEGER) AS priority,
        {stamps},
        try_cast(lat_text AS DOUBLE) AS lat,
        try_cast(lon_text AS DOUBLE) AS lon
    FROM coded
),
final AS (
    SELECT
        *,
        list_filter([
            CASE WHEN source_incident_id IS NULL THEN 'blank_id' END,
            CASE WHEN agency_id IS NULL THEN 'unknown_agency' END,
            CASE WHEN received_at_text IS NULL THEN 'missing_timestamp' END,
            CASE WHEN received_at_text IS NOT NULL AND received_at IS NULL
                THEN 'unparseable_timestamp' END,
            CASE WHEN priority_text IS NOT NULL AND priority IS NULL
                THEN 'unparseable_priority' END,
            CASE WHEN (lat_text IS NOT NULL AND lat IS NULL) OR (lon_text IS NOT NULL AND lon IS NULL)
                THEN 'unparseable_coordinates' END{unparseable_optional}
        ], lambda reason: reason IS NOT NULL) AS parse_reasons
    FROM typed
)
SELECT * FROM final
"""


def duplicates_sql(source_columns: tuple[str, ...]) -> str:
    """Rows of ``_staged`` that repeat an id of the same file, with their reason.

    An exact copy of an earlier row is a ``duplicate_row``; a row replaced by a later,
    different row with the same id is a ``duplicate_id`` (the latest version wins).
    Only ids that occur more than once are looked at, so a clean file costs one GROUP BY.
    """
    row_hash = "hash(" + ", ".join(f"i.{quote(c)}" for c in source_columns) + ")"
    return f"""
WITH repeated AS (
    SELECT agency_id, source_incident_id FROM _staged
    WHERE source_incident_id IS NOT NULL AND agency_id IS NOT NULL
    GROUP BY agency_id, source_incident_id HAVING count(*) > 1
),
copies AS (
    SELECT s._row_number, s.agency_id, s.source_incident_id,
        row_number() OVER (PARTITION BY {row_hash} ORDER BY s._row_number) AS copy_number
    FROM _staged s
    JOIN repeated r ON r.agency_id = s.agency_id AND r.source_incident_id = s.source_incident_id
    JOIN _incoming i ON i._row_number = s._row_number
),
versions AS (
    SELECT *, count(*) FILTER (WHERE copy_number = 1) OVER (
        PARTITION BY agency_id, source_incident_id ORDER BY _row_number
        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
    ) AS later_versions
    FROM copies
),
final AS (
    SELECT _row_number,
        CASE WHEN copy_number > 1 THEN 'duplicate_row' ELSE 'duplicate_id' END AS reason
    FROM versions WHERE copy_number > 1 OR later_versions > 0
)
SELECT * FROM final
"""
