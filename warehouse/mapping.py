"""SQL that maps one feed's text rows onto the common incident schema.

Built from the feed's config alone, so a new agency's feed is onboarded by config. The
query reads the temp table ``_incoming`` (one batch, every value text) and returns the
typed common columns plus ``parse_reasons``: the codes of what could not be read.

Timestamps become UTC instants (TIMESTAMPTZ), whatever their shape. Each value is read
either as *zoned* (it names its own offset or zone: ``+00``, ``+05:30``, ``-0400``, ``Z``,
``UTC``, ``America/New_York``, one of ``ZONE_ABBREVIATIONS``; an epoch number) or as
*naive* (a wall-clock time with no zone). A zoned value is the instant it names; only a
naive value is read in the feed's ``timezone``, DST-correct: a local time that never occurs
at the spring change takes the offset before it. A local time that occurs twice at the
autumn change (in the repeated hour, 01:00-02:00 in New York) is read here as standard time,
the later instant, with its earlier (daylight-time) reading beside it as ``<field>_earlier``;
``repeated_hour_sql`` then reads those few rows from the data. A received time is daylight
time while the file, walked in its time order (ascending or descending, told by the rows
around the hour), has not yet gone back on the wall clock, and standard time from where it
does; a dispatch, on-scene or clear time is the reading at or after the row's received time
and nearest to it. Where the data cannot tell (one row in the hour, a clock that never goes
back, no clear order, no later reading), standard time stays. The file's order is a matter
of the whole batch, so it is read by that second query over the staged rows, not by this one:
a query that looked across the batch while mapping it would hold every row of it at once.

A column whose values in one batch are partly naive and partly zoned has an odd one out, the
fewer kind (both, when as many): those values are quarantined as ``mixed_timestamp_offsets``
(``mixed_<field>_offsets`` for the optional timestamps) rather than guessed, and the others
read as usual. A value that is neither is unparseable, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from jointcast.config import WGS84, FeedSettings
from warehouse.db import literal, quote

TIMESTAMP_FIELDS = ("received_at", "dispatched_at", "on_scene_at", "cleared_at")

# Zone words read as the fixed offsets they name. ICU, left to itself, reads "PST" and
# "CST" as Los Angeles and Chicago time (so "PST" in July is UTC-7) and knows no "EDT".
ZONE_ABBREVIATIONS = {
    "Z": "+00:00", "z": "+00:00", "UTC": "+00:00", "GMT": "+00:00",
    "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00", "CDT": "-05:00",
    "MST": "-07:00", "MDT": "-06:00", "PST": "-08:00", "PDT": "-07:00",
    "AKST": "-09:00", "AKDT": "-08:00", "HST": "-10:00",
}  # fmt: skip
# Other abbreviations ICU accepts, refused: it reads them as legacy Java ids ("AST" is
# Anchorage, "BST" Bangladesh, "IST" India) or with daylight saving ("CET" in July is +02).
REFUSED_ABBREVIATIONS = (
    "ACT", "AET", "AGT", "ART", "AST", "BET", "BST", "CAT", "CNT", "CTT", "EAT", "ECT", "IET",
    "IST", "JST", "MIT", "NET", "NST", "PLT", "PNT", "PRT", "SST", "VST", "CET", "EET", "MET", "WET",
)  # fmt: skip
_ZONE_WORD = r"(^|[^A-Za-z/_])(" + "|".join(ZONE_ABBREVIATIONS) + r")($|[^\w/])"
_REFUSED_WORD = r"(^|[^A-Za-z/_])(" + "|".join(REFUSED_ABBREVIATIONS) + r")($|[^\w/])"
# An ISO value that names its zone: a time, then an offset or a zone name.
ISO_ZONED = r":\d\d(\.\d*)?(\s*([Zz]|[+-]\d\d(:?\d\d)?)|\s+[A-Za-z][\w/+-]*)$"
# How DuckDB writes a typed Parquet timestamp as text (an offset only when it is zoned).
TYPED_TEXT = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?)?$"
_ZONE_DIRECTIVE = re.compile(r"\s*(?<!%)%[zZ]")


def _text(column: str | None) -> str:
    return "CAST(NULL AS VARCHAR)" if column is None else f"nullif(trim({quote(column)}), '')"


def _timestamp_text(feed: FeedSettings, field: str) -> str:
    """The text of timestamp ``field``: its column, or its date and time-of-day columns joined by a
    space (NULL when either is blank: a date without its time is no instant)."""
    date, time = getattr(feed.columns, field), getattr(feed.columns, feed.columns.time_key(field))
    return _text(date) if time is None else f"{_text(date)} || ' ' || {_text(time)}"


# A point column's value: WKT (``POINT (x y)``, x the longitude; Z/M values after them ignored) or a
# pair of numbers, optionally in brackets, split by a comma, semicolon or spaces (``(40.1, -75.2)``).
_WKT_POINT = r"(?i)^\s*POINT\s*(Z|M|ZM)?\s*\(\s*([^\s()]+)\s+([^\s()]+)[^()]*\)\s*$"
_EMPTY_POINT = r"(?i)^\s*POINT\s*(Z|M|ZM)?\s*EMPTY\s*$"
_PAIR = r"^[\s(\[]*([^\s,;()\[\]]+)\s*[,;\s]\s*([^\s,;()\[\]]+)[\s)\]]*$"
# With a decimal comma (``decimal_separator = ","``) the numbers hold commas: only a semicolon or spaces
# split them (``45,78537; 9,12345``).
_COMMA_PAIR = r"^[\s(\[]*([^\s;()\[\]]+)\s*[;\s]\s*([^\s;()\[\]]+)[\s)\]]*$"


def _coordinate_text(feed: FeedSettings, axis: str) -> str:
    """The text of coordinate ``axis`` (lat or lon): its column, or its part of the point column. A
    point that is neither WKT nor a pair keeps its text behind a ``?`` (never a number), so it is an
    unparseable coordinate; ``POINT EMPTY`` is no coordinate, as a blank is."""
    if feed.columns.point is None:
        return _text(getattr(feed.columns, axis))
    point = _text(feed.columns.point)
    pair = _COMMA_PAIR if feed.decimal_separator == "," else _PAIR
    wkt_group = 3 if axis == "lat" else 2
    pair_group = 1 if (axis == "lat") == (feed.point_order == "lat_lon") else 2
    return (
        f"CASE WHEN regexp_matches({point}, {literal(_WKT_POINT)})"
        f" THEN regexp_extract({point}, {literal(_WKT_POINT)}, {wkt_group})"
        f" WHEN regexp_matches({point}, {literal(_EMPTY_POINT)}) THEN NULL"
        f" WHEN regexp_matches({point}, {literal(pair)})"
        f" THEN regexp_extract({point}, {literal(pair)}, {pair_group})"
        f" ELSE '?' || {point} END"
    )


def _coordinate(feed: FeedSettings, axis: str) -> str:
    """Coordinate ``axis`` in degrees: the finite number of its text, transformed from the feed's
    ``coordinates_crs`` (with the other axis) where that is not longitude and latitude."""
    if feed.coordinates_crs == WGS84:
        return _finite(f"{axis}_text", feed)
    point = (
        f"try(ST_Transform(ST_Point({_finite('lon_text', feed)}, {_finite('lat_text', feed)}),"
        f" {literal(feed.coordinates_crs)}, {literal(WGS84)}, always_xy := true))"
    )
    degrees = f"ST_Y({point})" if axis == "lat" else f"ST_X({point})"
    return f"CASE WHEN isfinite({degrees}) THEN {degrees} END"


def _zone_words_as_offsets(value: str) -> str:
    """``value`` with its zone abbreviation written as the offset it names; NULL if refused."""
    word = literal(_ZONE_WORD)
    offsets = " ".join(f"WHEN {literal(w)} THEN {literal(o)}" for w, o in ZONE_ABBREVIATIONS.items())
    offset = f"CASE regexp_extract({value}, {word}, 2) {offsets} ELSE '' END"
    return (
        f"CASE WHEN NOT regexp_matches({value}, '[A-Za-z]') THEN {value}"
        f" WHEN regexp_matches({value}, {literal(_REFUSED_WORD)}) THEN NULL"
        f" ELSE regexp_replace({value}, {word}, '\\1' || {offset} || '\\3') END"
    )


def _iso(value: str) -> tuple[str, str]:
    """(zoned, naive) readings of an ISO 8601 value; at most one is not NULL."""
    zoned = literal(ISO_ZONED)
    # DuckDB wants the offset right after the time: "01:14:27 -04:00" -> "01:14:27-04:00".
    spelled = f"regexp_replace({_zone_words_as_offsets(value)}, '\\s+([+-]\\d\\d(:?\\d\\d)?)$', '\\1')"
    # DuckDB 1.5 casts a zoned value only with its seconds: "01:14+00" -> "01:14:00+00".
    spelled = f"regexp_replace({spelled}, '([T ]\\d\\d:\\d\\d)([Zz+-]|\\s)', '\\1:00\\2')"
    return (
        f"CASE WHEN regexp_matches({value}, {zoned}) THEN try_cast({spelled} AS TIMESTAMPTZ) END",
        f"CASE WHEN NOT regexp_matches({value}, {zoned}) THEN try_cast({value} AS TIMESTAMP) END",
    )


def strptime_formats(fmt: str) -> tuple[str, list[str]]:
    """The format of the naive values, and the formats of the zoned ones.

    A format's zone directive (``%z`` an offset, ``%Z`` a zone name) is where a value may
    name its zone, as either an offset or a name, directly or after a space; a format
    without one lets a value end with a zone. The naive format is the format without it.
    """
    directives = list(_ZONE_DIRECTIVE.finditer(fmt))
    naive = _ZONE_DIRECTIVE.sub("", fmt)
    if len(directives) > 1:
        return naive, [fmt]
    head, tail = (fmt[: directives[0].start()], fmt[directives[0].end() :]) if directives else (fmt, "")
    return naive, [head + space + code + tail for code in ("%z", "%Z") for space in ("", " ")]


def _strptime(value: str, fmt: str) -> tuple[str, str]:
    naive_format, zoned_formats = strptime_formats(fmt)
    naive = f"try_strptime({value}, {literal(naive_format)})"
    # One try_strptime per format, the first that parses winning, as a list of formats would: DuckDB
    # 1.5's try_strptime over a list drops a zone name (%Z) once a row before it matched an offset (%z).
    spelled = _zone_words_as_offsets(value)
    zoned = f"coalesce({', '.join(f'try_strptime({spelled}, {literal(f)})' for f in zoned_formats)})"
    # The reading the format expects first: a failed strptime costs several successful ones.
    if _ZONE_DIRECTIVE.search(fmt):
        return zoned, f"CASE WHEN {zoned} IS NULL THEN {naive} END"
    return f"CASE WHEN {naive} IS NULL THEN {zoned} END", naive


def _format_readings(value: str, fmt: str) -> tuple[str, str]:
    """(zoned, naive) readings of text ``value`` in one format of ``timestamp_format``."""
    if fmt in ("epoch_ms", "epoch_s"):
        scale = "1000.0" if fmt == "epoch_ms" else "1.0"
        return f"try(to_timestamp(try_cast({value} AS DOUBLE) / {scale}))", "CAST(NULL AS TIMESTAMP)"
    if fmt == "iso":
        return _iso(value)
    return _strptime(value, fmt)


def _first_reading(readings: list[tuple[str, str]], side: int) -> str:
    """Of a value's (zoned, naive) readings in several formats, the ``side`` (0 zoned, 1 naive) of the
    first format that reads it at all."""
    cases = " ".join(f"WHEN ({z}) IS NOT NULL OR ({n}) IS NOT NULL THEN {(z, n)[side]}" for z, n in readings)
    return f"CASE {cases} END"


def timestamp_readings(value: str, feed: FeedSettings) -> tuple[str, str]:
    """(zoned, naive): text ``value`` as a TIMESTAMPTZ if it names its zone, else as a TIMESTAMP.

    At most one of the two is not NULL; both are NULL where the value does not parse.
    Epoch numbers are instants. In a Parquet feed, a timestamp the file typed (written as
    text by DuckDB) is read as the instant or wall-clock time it is, whatever the format; in an
    xlsx feed, a date cell (its serial number) is read as the wall-clock time it shows.
    """
    readings = [_format_readings(value, fmt) for fmt in feed.timestamp_formats]
    if len(readings) == 1:
        [(zoned, naive)] = readings
    else:
        zoned, naive = _first_reading(readings, 0), _first_reading(readings, 1)
    if feed.format == "xlsx":
        return zoned, f"coalesce({naive}, CASE WHEN {zoned} IS NULL THEN {_excel_serial(value)} END)"
    if feed.format != "parquet":
        return zoned, naive
    typed = f"regexp_matches({value}, {literal(TYPED_TEXT)})"
    typed_zoned, typed_naive = _iso(value)
    return (
        f"coalesce({zoned}, CASE WHEN {typed} THEN {typed_zoned} END)",
        f"coalesce({naive}, CASE WHEN {typed} THEN {typed_naive} END)",
    )


EXCEL_SERIAL = r"^(\d+(\.\d+)?)( (0|0?\.\d+))?$"
"""A spreadsheet's date and time as text: days since 1899-12-30 with the day's fraction (``45306.375``),
or a date cell and a time cell joined (``45306 0.375``: a date and its time of day in two columns)."""
EXCEL_DAYS = (1, 2958465)
"""The serials a spreadsheet writes a date with: 1900-01-01 to 9999-12-31."""


def _excel_serial(value: str) -> str:
    """The wall-clock time a spreadsheet's date serial ``value`` shows, to the millisecond; NULL for
    any other text or a number no date is written as."""
    days = (
        f"(try_cast(regexp_extract({value}, {literal(EXCEL_SERIAL)}, 1) AS DOUBLE)"
        f" + coalesce(try_cast(regexp_extract({value}, {literal(EXCEL_SERIAL)}, 4) AS DOUBLE), 0))"
    )
    # a value the pattern does not match extracts '', which try_cast makes NULL: no time
    return (
        f"CASE WHEN {days} BETWEEN {EXCEL_DAYS[0]} AND {EXCEL_DAYS[1]}"
        f" THEN TIMESTAMP '1899-12-30' + to_milliseconds(CAST(round({days} * 86400000) AS BIGINT)) END"
    )


def _agency_expr(feed: FeedSettings) -> str:
    """The agency of a row: its own for a feed of one agency, else its column's value (or
    ``agency_from.pattern``'s first group of it) looked up in ``agency_from.map`` (``code_lookup``;
    a ``"*"`` entry takes every other value, a blank too); NULL (unknown_agency) otherwise."""
    if feed.agency is not None:
        return literal(feed.agency)
    assert feed.agency_from is not None
    source = _text(feed.agency_from.column)
    if feed.agency_from.pattern:
        source = f"nullif(regexp_extract({source}, {literal(feed.agency_from.pattern)}, 1), '')"
    listed = {code: literal(agency) for code, agency in feed.agency_from.map.items() if code != OTHER_CODES}
    other = feed.agency_from.map.get(OTHER_CODES)
    return code_lookup(source, listed, "NULL" if other is None else literal(other))


def code_lookup(value: str, codes: dict[str, str], otherwise: str) -> str:
    """SQL for the entry of ``codes`` (code -> SQL value) that ``value`` names, else ``otherwise``.

    A value matches the code it equals, else the first code it equals up to case and runs of white
    space (``aid  response`` is ``Aid Response``): exports re-key the same codes by hand and over
    the years, and a code map lists each once. A map may still tell ``E`` from ``e``: an exact match
    is looked up first."""
    if not codes:
        return otherwise
    exact = " ".join(f"WHEN {literal(code)} THEN {sql}" for code, sql in codes.items())
    folded = " ".join(f"WHEN {_folded(literal(code))} THEN {sql}" for code, sql in codes.items())
    return f"CASE {value} {exact} ELSE CASE {_folded(value)} {folded} ELSE {otherwise} END END"


def canonical_code(value: str, codes: Iterable[str]) -> str:
    """SQL for the code of ``codes`` that ``value`` names (``code_lookup``'s match), else ``value``."""
    return code_lookup(value, {code: literal(code) for code in codes}, value)


def _folded(text: str) -> str:
    return f"upper(regexp_replace(trim({text}), '\\s+', ' ', 'g'))"


def _code_expr(feed: FeedSettings) -> str:
    """The type code of a row: the source type, or the first group of ``type_pattern``; written as
    ``type_codes`` writes it when it names one of its codes up to case and spacing (``code_lookup``)."""
    code = "source_type"
    if feed.type_pattern:
        code = f"nullif(trim(regexp_extract(source_type, {literal(feed.type_pattern)}, 1)), '')"
    listed = [c for c in feed.type_codes if c != OTHER_CODES]
    return canonical_code(code, listed) if listed else code


OTHER_CODES = "*"
"""A ``type_codes`` key naming the type of every code the map does not list (instead of quarantine)."""


def _type_expr(feed: FeedSettings) -> str:
    """The common incident type; with no type_codes map, the code itself, normalised."""
    if not feed.type_codes:
        return "nullif(trim(regexp_replace(lower(code), '[^a-z0-9]+', '_', 'g'), '_'), '')"
    listed = {code: kind for code, kind in feed.type_codes.items() if code != OTHER_CODES}
    cases = " ".join(f"WHEN {literal(code)} THEN {literal(kind)}" for code, kind in listed.items())
    other = feed.type_codes.get(OTHER_CODES)
    # ``code`` is already written as type_codes writes it (``_code_expr``): an exact lookup suffices
    return f"CASE code {cases} ELSE {'NULL' if other is None else literal(other)} END"


def _call_source_expr(feed: FeedSettings) -> str:
    default = literal(feed.default_call_source)
    if feed.columns.call_source is None or not feed.call_source_codes:
        return default
    codes = {code: literal(kind) for code, kind in feed.call_source_codes.items()}
    return code_lookup(_text(feed.columns.call_source), codes, "'other'")


def mixed_offsets_reason(field: str) -> str:
    """The quarantine reason of a row whose ``field`` column mixes naive and zoned values."""
    return "mixed_timestamp_offsets" if field == "received_at" else f"mixed_{field}_offsets"


WINDOW_REASONS = ("before_feed_start", "after_feed_end")
"""The codes of the reasons of a row received outside the feed's ``start`` .. ``end``."""


def window_reasons(feed: FeedSettings) -> list[str]:
    """The quarantine reasons of rows received outside the feed's ``start`` .. ``end`` (exclusive),
    e.g. ``before_feed_start: received_at 2019-03-01 08:00 before the feed's start 2020-01-01``;
    the record's time is shown in the feed's time zone, the bound as the config writes it. One
    expression per bound the feed has, NULL for a row within it."""
    local = f"strftime(timezone({literal(feed.timezone)}, received_at), '%Y-%m-%d %H:%M')"
    start, end = feed.window
    bounds = [
        (feed.start, start, "<", WINDOW_REASONS[0], "before the feed's start"),
        (feed.end, end, ">=", WINDOW_REASONS[1], "at or after the feed's end (exclusive)"),
    ]
    reasons = []
    for written, instant, test, code, words in bounds:
        if instant is None:
            continue
        shown = written.isoformat(sep=" ") if isinstance(written, datetime) else written.isoformat()
        reasons.append(
            f"CASE WHEN received_at {test} {literal(instant.isoformat())}::TIMESTAMPTZ"
            f" THEN {literal(f'{code}: received_at ')} || {local} || {literal(f' {words} {shown}')} END"
        )
    return reasons


def stage_sql(feed: FeedSettings, mixed: Mapping[str, str] | None = None) -> str:
    """SELECT over ``_incoming``: the common schema and the row's own parse reasons.

    ``mixed``: the timestamp fields whose column mixes naive and zoned values in this batch, each
    with the kind of value that is the odd one out (``"naive"``, ``"zoned"``, or ``"both"`` when
    neither is fewer), found from a first staging of it (warehouse.staging): those values are
    quarantined (``mixed_offsets_reason``), the others read as the column's usual kind. Knowing
    them up front, each row is parsed and written straight on, in one pass.
    """
    mixed = mixed or {}
    cols, tz = feed.columns, literal(feed.timezone)
    texts = ",\n        ".join(f"{_timestamp_text(feed, f)} AS {f}_text" for f in TIMESTAMP_FIELDS)
    readings = ",\n        ".join(
        f"{zoned} AS {f}_zoned,\n        {naive} AS {f}_naive"
        for f in TIMESTAMP_FIELDS
        for zoned, naive in [timestamp_readings(f + "_text", feed)]
    )
    offsets = "SELECT " + ", ".join(f"{f in mixed} AS {f}_mixed" for f in TIMESTAMP_FIELDS)
    stamps = ",\n        ".join(
        f"coalesce({f}_zoned, timezone({tz}, {f}_naive)) AS {f}" for f in TIMESTAMP_FIELDS
    )
    unparseable_optional = "".join(
        f",\n            CASE WHEN {f}_text IS NOT NULL AND {f} IS NULL THEN 'unparseable_{f}' END"
        for f in TIMESTAMP_FIELDS[1:]
    )
    odd = {"naive": "{f}_zoned IS NULL AND {f}_naive IS NOT NULL", "zoned": "{f}_zoned IS NOT NULL",
           "both": "{f} IS NOT NULL"}  # fmt: skip
    earliest = f"{literal(EARLIEST.isoformat())}::TIMESTAMPTZ"
    placeholders = "".join(
        f",\n            CASE WHEN {f} < {earliest} THEN '{f}_before_2000' END" for f in TIMESTAMP_FIELDS[1:]
    )
    mixed_reasons = "".join(
        f",\n            CASE WHEN {odd[kind].format(f=f)} THEN {literal(mixed_offsets_reason(f))} END"
        for f, kind in mixed.items()
    )
    outside = "".join(f",\n            {reason}" for reason in window_reasons(feed))
    earlier = "".join(f",\n        {_earlier_reading(feed, f)} AS {f}_earlier" for f in TIMESTAMP_FIELDS)
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
        {_text(cols.point)} AS point_text,
        {_text(cols.unit)} AS unit,
        {_coordinate_text(feed, "lat")} AS lat_text,
        {_coordinate_text(feed, "lon")} AS lon_text
    FROM _incoming
),
coded AS (
    SELECT *, {_code_expr(feed)} AS code FROM source
),
typed AS (
    SELECT
        *,
        {_type_expr(feed)} AS incident_type,
        {_priority_expr(feed)} AS priority,
        {readings},
        {_coordinate(feed, "lat")} AS lat,
        {_coordinate(feed, "lon")} AS lon
    FROM coded
),
offsets AS (
    -- one row: which timestamp columns of the batch hold both naive and zoned values
    {offsets}
),
stamped AS (
    SELECT
        typed.*,
        offsets.*,
        {stamps}
    FROM typed CROSS JOIN offsets
),
final AS (
    SELECT
        *{_replaced(feed)}{earlier},
        list_filter([
            CASE WHEN source_incident_id IS NULL THEN 'blank_id' END,
            CASE WHEN agency_id IS NULL THEN 'unknown_agency' END,
            CASE WHEN received_at_text IS NULL THEN 'missing_timestamp' END,
            CASE WHEN received_at_text IS NOT NULL AND received_at IS NULL
                THEN 'unparseable_timestamp' END,
            CASE WHEN priority_text IS NOT NULL AND priority IS NULL
                THEN 'unparseable_priority' END,
            CASE WHEN (lat_text IS NOT NULL AND lat IS NULL) OR (lon_text IS NOT NULL AND lon IS NULL)
                THEN 'unparseable_coordinates' END,
            CASE WHEN {_impossible_point(feed)} THEN 'impossible_coordinates' END{unparseable_optional}
            {mixed_reasons}{outside}{placeholders}
        ], lambda reason: reason IS NOT NULL) AS parse_reasons
    FROM stamped
)
SELECT * FROM final
"""


CLOCK_YEARS = (1970, 2100)
"""The years ``clock_back`` looks through for the times a zone's clock went back."""


class ClockBack(NamedTuple):
    """Where a zone's repeated local times lie (the hours of the day, the months, the days of the
    month) and how far its clock went back."""

    hours: tuple[int, ...]
    months: tuple[int, ...]
    days: tuple[int, ...]
    shifts: tuple[timedelta, ...]


@cache
def clock_back(timezone: str) -> ClockBack:
    """Where zone ``timezone``'s clock went back in ``CLOCK_YEARS`` (the autumn change, or an offset
    made smaller for good), after which the wall clock shows again the times it has just shown. All
    empty for a zone whose clock never goes back. Looked at a week at a time: a zone changes its clock
    months apart.

    A naive value's hour, month and day so rule out, cheaply, nearly every time that is not repeated;
    the database's own zone rules then judge each value that passes."""
    zone, week = ZoneInfo(timezone), 7 * 86_400

    def offset(second: int) -> timedelta:
        return datetime.fromtimestamp(second, zone).utcoffset()

    hours: set[int] = set()
    months: set[int] = set()
    days: set[int] = set()
    shifts: set[timedelta] = set()
    at = int(datetime(CLOCK_YEARS[0], 1, 1, tzinfo=UTC).timestamp())
    last = int(datetime(CLOCK_YEARS[1], 1, 1, tzinfo=UTC).timestamp())
    before = offset(at)
    while at < last:
        after = offset(at + week)
        if after < before:
            low, high = at, at + week  # the first second of the new offset: the clock goes back there
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == before else (low, middle)
            back = datetime.fromtimestamp(high, UTC).replace(tzinfo=None)
            start, stop = back + after, back + before
            hour = start.replace(minute=0, second=0)
            while hour < stop:
                hours.add(hour.hour)
                months.add(hour.month)
                days.add(hour.day)
                hour += timedelta(hours=1)
            shifts.add(before - after)
        at, before = at + week, after
    return ClockBack(*(tuple(sorted(found)) for found in (hours, months, days, shifts)))


def _earlier_reading(feed: FeedSettings, field: str) -> str:
    """For a naive ``field`` value in a repeated hour of the feed's zone (a local time that occurs twice
    as the clock goes back), the earlier of the two instants it reads as: the value as read (the stamp)
    is the later one, standard time. NULL for any other value, and for zoned values."""
    hours, months, days, shifts = clock_back(feed.timezone)
    if not shifts:
        return "CAST(NULL AS TIMESTAMPTZ)"
    naive, tz = f"{field}_naive", literal(feed.timezone)

    def listed(numbers: tuple[int, ...]) -> str:
        return ", ".join(str(n) for n in numbers)

    # a zoned value has no naive reading: NULL, never near
    near = f"hour({naive}) IN ({listed(hours)}) AND month({naive}) IN ({listed(months)})"
    near += f" AND day({naive}) IN ({listed(days)})"
    earlier = [f"{field} - INTERVAL '{int(shift.total_seconds())} seconds'" for shift in shifts]
    readings = " ".join(f"WHEN timezone({tz}, {e}) = {naive} THEN {e}" for e in earlier)
    return f"CASE WHEN {near} THEN CASE {readings} END END"


MAX_REPEATED_HOUR_ROWS = 10_000
"""More rows than any feed has in one hour: a batch's repeated hour with more (a broken export) keeps
the standard-time reading, unexamined (its order is judged by comparing every pair of its rows)."""

NEIGHBOUR_ROWS = 50
"""How far from a repeated hour's rows in the file (in rows, either way) the rows lie whose order
shows the file's direction."""


def repeated_hour_sql(feed: FeedSettings) -> str:
    """Rows of ``_staged`` holding a naive timestamp in a repeated hour, with their timestamps read
    from the data; ``parse_reasons`` is not NULL only where that moves the row across the feed's
    ``start`` or ``end`` (its reasons again).

    ``received_at``: a file lists its calls in time order, ascending or descending (or by incident
    number, which follows time). The rows of the file within ``NEIGHBOUR_ROWS`` rows of a change's
    repeated-hour rows, outside that hour and received within a day of it, tell the file's direction:
    their received times mostly rise from one row to the next, or mostly fall (at least three steps one
    way for each step the other way). Walked in that order, the hour's rows are its first pass (daylight
    time, the earlier reading) up to a point and its second (standard time) from there on: the point
    that leaves the fewest pairs of them out of time order (the first such point on a tie), where the
    wall clock went back. A few rows out of place so do not move it. Where no point leaves fewer pairs
    out of order than reading every row alike (one row; rows whose clock never goes back), or the
    direction is unclear, every row stays standard time, as read.

    ``dispatched_at``, ``on_scene_at``, ``cleared_at``: the reading at or after the row's received
    time and nearest to it; standard time, as read, when neither is.
    """
    near = NEIGHBOUR_ROWS
    any_earlier = " OR ".join(f"{f}_earlier IS NOT NULL" for f in TIMESTAMP_FIELDS[1:])
    later_fields = "".join(
        f",\n        CASE WHEN s.{f}_earlier >= coalesce(r.received_at, s.received_at)"
        f" THEN s.{f}_earlier ELSE s.{f} END AS {f}"
        for f in TIMESTAMP_FIELDS[1:]
    )
    reasons = "CAST(NULL AS VARCHAR[])"
    if outside := window_reasons(feed):
        kept = " OR ".join(f"starts_with(reason, {literal(code + ':')})" for code in WINDOW_REASONS)
        again = (
            f"list_concat(list_filter(parse_reasons, lambda reason: NOT ({kept})),"
            f" list_filter([{', '.join(outside)}], lambda reason: reason IS NOT NULL))"
        )
        reasons = f"CASE WHEN {again} <> parse_reasons THEN {again} END"
    return f"""
WITH repeated AS (
    SELECT _row_number, received_at_earlier AS earlier, received_at AS later
    FROM _staged WHERE received_at_earlier IS NOT NULL
),
changes AS (
    -- the rows of one change of clock lie within its hour; changes lie months apart
    SELECT *, sum(CAST(starts AS INTEGER)) OVER (ORDER BY later, _row_number) AS change
    FROM (
        SELECT *,
            coalesce(later - lag(later) OVER (ORDER BY later, _row_number) > INTERVAL 1 DAY, true) AS starts
        FROM repeated
    )
),
spans AS (
    SELECT change, min(earlier) - INTERVAL 1 DAY AS since, max(later) + INTERVAL 1 DAY AS until
    FROM changes GROUP BY change HAVING count(*) <= {MAX_REPEATED_HOUR_ROWS}
),
neighbours AS (
    SELECT n.change, s._row_number, epoch_us(s.received_at) AS received
    FROM _staged s JOIN (
        SELECT DISTINCT * FROM (
            SELECT change, since, until, unnest(range(_row_number - {near}, _row_number + {near} + 1))
                AS _row_number
            FROM changes JOIN spans USING (change)
        )
    ) n USING (_row_number)
    WHERE s.received_at_earlier IS NULL AND s.received_at BETWEEN n.since AND n.until
),
directions AS (
    SELECT change, CASE WHEN rises > 0 AND rises >= 3 * falls THEN 1
        WHEN falls > 0 AND falls >= 3 * rises THEN -1 END AS direction
    FROM (
        SELECT change, count(*) FILTER (WHERE step > 0) AS rises, count(*) FILTER (WHERE step < 0) AS falls
        FROM (
            SELECT change, received - lag(received) OVER (PARTITION BY change ORDER BY _row_number) AS step
            FROM neighbours
        )
        GROUP BY change
    )
),
walked AS (
    -- place: the row's place in the file's time order
    SELECT c.change, c._row_number, c.earlier, c.later, c._row_number * d.direction AS place
    FROM changes c JOIN directions d USING (change)
    WHERE d.direction IS NOT NULL
),
out_of_order AS (
    -- of the rows before each, those with a later wall clock; of the rows after it, an earlier one
    SELECT a._row_number, count(*) FILTER (WHERE b.place < a.place AND b.later > a.later) AS behind,
        count(*) FILTER (WHERE b.place > a.place AND b.later < a.later) AS ahead
    FROM walked a JOIN walked b USING (change)
    GROUP BY a._row_number
),
split_costs AS (
    -- the pairs out of order with the rows up to this one read as the first pass, the rest as the
    -- second; unsplit: with every row read alike
    SELECT w.*, sum(o.behind) OVER up_to + coalesce(sum(o.ahead) OVER the_rest, 0) AS cost,
        sum(o.ahead) OVER (PARTITION BY w.change) AS unsplit
    FROM walked w JOIN out_of_order o USING (_row_number)
    WINDOW up_to AS (PARTITION BY w.change ORDER BY w.place ROWS UNBOUNDED PRECEDING),
        the_rest AS (PARTITION BY w.change ORDER BY w.place ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
),
splits AS (
    SELECT change, arg_min(place, (cost, place)) AS last_first
    FROM split_costs WHERE cost < unsplit GROUP BY change
),
received AS (
    SELECT c._row_number, CASE WHEN c.place <= s.last_first THEN c.earlier ELSE c.later END AS received_at
    FROM split_costs c JOIN splits s USING (change)
),
resolved AS (
    SELECT s._row_number, s.parse_reasons, coalesce(r.received_at, s.received_at) AS received_at{later_fields}
    FROM _staged s JOIN (
        SELECT _row_number FROM received UNION SELECT _row_number FROM _staged WHERE {any_earlier}
    ) USING (_row_number)
    LEFT JOIN received r USING (_row_number)
)
SELECT _row_number, {", ".join(TIMESTAMP_FIELDS)}, {reasons} AS parse_reasons FROM resolved
"""


ID_SCOPES = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}
"""A feed's ``id_scope`` -> how the period its id is unique within is written after the id."""


def _replaced(feed: FeedSettings) -> str:
    """The columns the mapping's last step writes anew: a dispatch, on-scene or clear time before
    ``EARLIEST`` is no time (a CAD's 1900-01-01 for "none"), so it is NULL there, with its reason
    (``<field>_before_2000``), and never makes the incident's times look out of order; and the id of a
    feed whose ids restart (``_scoped_id``)."""
    replaced = [f"CASE WHEN {f} >= {literal(EARLIEST.isoformat())}::TIMESTAMPTZ THEN {f} END AS {f}"
                for f in TIMESTAMP_FIELDS[1:]]  # fmt: skip
    if feed.id_scope != "feed":
        replaced.append(f"{_scoped_id(feed)} AS source_incident_id")
    return f" REPLACE ({', '.join(replaced)})"


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""No incident of a feed was received, dispatched, reached or cleared before this: an earlier time is a
placeholder (``timestamp_before_2000``; ``<field>_before_2000`` for the other timestamps)."""


def _scoped_id(feed: FeedSettings) -> str:
    """A feed whose ids restart each year, month or day: the id with the local period the incident was
    received in (``A123`` of 2024 is ``A123/2024``), so that next year's ``A123`` is another incident."""
    local = f"timezone({literal(feed.timezone)}, received_at)"
    period = f"strftime({local}, {literal(ID_SCOPES[feed.id_scope])})"
    return f"source_incident_id || '/' || {period}"


def _priority_expr(feed: FeedSettings) -> str:
    """The priority number of a row: its text (or ``priority_pattern``'s first group of it) looked up
    in ``priority_codes``, else read as a whole number; NULL (unparseable) otherwise."""
    value = "priority_text"
    if feed.priority_pattern:
        value = f"nullif(trim(regexp_extract(priority_text, {literal(feed.priority_pattern)}, 1)), '')"
    if not feed.priority_codes:
        return _whole_number(value, feed)
    codes = {code: str(int(n)) for code, n in feed.priority_codes.items()}
    return code_lookup(value, codes, _whole_number(value, feed))


def _number(text: str, feed: FeedSettings) -> str:
    """``text`` as a DOUBLE, NULL when it is no number. With ``decimal_separator = ","`` a value's one
    comma is its decimal mark ("45,78537"); a value with a comma and a point ("1.234,5", grouped digits)
    is no number, never guessed; one without a comma is read with a point (a JSON number, a typed Parquet
    value)."""
    if feed.decimal_separator == ".":
        return f"try_cast({text} AS DOUBLE)"
    commas = f"length({text}) - length(replace({text}, ',', ''))"
    comma_text = (
        f"CASE WHEN NOT contains({text}, ',') THEN {text}"
        f" WHEN {commas} = 1 AND NOT contains({text}, '.') THEN replace({text}, ',', '.') END"
    )
    return f"try_cast({comma_text} AS DOUBLE)"


def _whole_number(text: str, feed: FeedSettings) -> str:
    """``text`` as an INTEGER when it is a whole number ("3", "3.0"); NULL otherwise, so "2.7" is an
    unparseable priority rather than silently rounded to 3."""
    number = _number(text, feed)
    whole = f"isfinite({number}) AND {number} = trunc({number})"
    return f"CASE WHEN {whole} THEN try_cast({number} AS INTEGER) END"


def _impossible_point(feed: FeedSettings) -> str:
    """A point no agency's incident lies at, whether or not the agency has a ``bbox``: (0, 0) as written
    (a CAD's "no location", in any CRS) or as read, a latitude beyond 90 degrees or a longitude beyond
    180. Left in, such a point would be a place of its own (an H3 cell in the Gulf of Guinea)."""
    found = "(lat = 0 AND lon = 0) OR abs(lat) > 90 OR abs(lon) > 180"
    if feed.coordinates_crs != WGS84:  # else lat and lon are the numbers as written
        found = f"({_finite('lat_text', feed)} = 0 AND {_finite('lon_text', feed)} = 0) OR {found}"
    return f"coalesce({found}, false)"


def _finite(text: str, feed: FeedSettings) -> str:
    """``text`` as a DOUBLE when it is a finite number; NULL for "NaN", "inf" and non-numbers, so such
    a coordinate is unparseable instead of passing range checks it cannot fail."""
    number = _number(text, feed)
    return f"CASE WHEN isfinite({number}) THEN {number} END"


def duplicates_sql(source_columns: tuple[str, ...]) -> str:
    """Rows of ``_staged`` that repeat an id of the same file, with their reason.

    An exact copy of an earlier row is a ``duplicate_row``; a row replaced by a later,
    different row with the same id is a ``duplicate_id`` (the latest version wins). In a feed
    written one row per unit (``unit`` mapped), a version is of one unit of the incident: rows
    of other units are the incident's other units, not versions of one another.
    Only ids that occur more than once are looked at, so a clean file costs one GROUP BY.
    """
    row_hash = "hash(" + ", ".join(f"i.{quote(c)}" for c in source_columns) + ")"
    return f"""
WITH repeated AS (
    SELECT agency_id, source_incident_id, unit FROM _staged
    WHERE source_incident_id IS NOT NULL AND agency_id IS NOT NULL
    GROUP BY agency_id, source_incident_id, unit HAVING count(*) > 1
),
copies AS (
    SELECT s._row_number, s.agency_id, s.source_incident_id, s.unit,
        row_number() OVER (PARTITION BY {row_hash} ORDER BY s._row_number) AS copy_number
    FROM _staged s
    JOIN repeated r ON r.agency_id = s.agency_id AND r.source_incident_id = s.source_incident_id
        AND r.unit IS NOT DISTINCT FROM s.unit
    JOIN _incoming i ON i._row_number = s._row_number
),
versions AS (
    SELECT *, count(*) FILTER (WHERE copy_number = 1) OVER (
        PARTITION BY agency_id, source_incident_id, unit ORDER BY _row_number
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


FIELD_REASONS: dict[str, tuple[str, ...]] = {
    "out_of_jurisdiction": ("lat", "lon"),
    "unparseable_coordinates": ("lat", "lon"),
    "impossible_coordinates": ("lat", "lon"),
    "negative_duration": ("dispatched_at", "on_scene_at", "cleared_at"),
    "unparseable_priority": ("priority",),
    "priority_out_of_range": ("priority",),
    **{f"unparseable_{f}": (f,) for f in TIMESTAMP_FIELDS[1:]},
    **{mixed_offsets_reason(f): (f,) for f in TIMESTAMP_FIELDS[1:]},
    **{f"{f}_before_2000": (f,) for f in TIMESTAMP_FIELDS[1:]},
}
"""Reasons that concern a field besides what makes a row demand (its id, agency, type and time
received), and the fields they set aside: such a row is loaded with those fields null and listed
in quality.field_issues. Any other reason quarantines the row."""


def reason_columns(feed: FeedSettings) -> dict[str, tuple[str, ...]]:
    """Quarantine reason -> the feed's source columns whose values it is about (``quality`` shows the
    most common of them, so a data team sees which codes or shapes to map)."""
    cols = feed.columns

    def columns(*fields: str) -> tuple[str, ...]:
        return tuple(c for c in (getattr(cols, f) for f in fields) if c is not None)

    def stamp(field: str) -> tuple[str, ...]:
        return columns(field, cols.time_key(field))

    coordinates = columns("point") or columns("lat", "lon")
    found = {
        "unparseable_priority": columns("priority"),
        "priority_out_of_range": columns("priority"),
        "unknown_type_code": columns("source_type"),
        "unparseable_coordinates": coordinates,
        "impossible_coordinates": coordinates,
        "out_of_jurisdiction": coordinates,
        "unknown_agency": (feed.agency_from.column,) if feed.agency_from is not None else (),
        **dict.fromkeys(
            (
                "missing_timestamp",
                "unparseable_timestamp",
                "timestamp_before_2000",
                "future_timestamp",
                "before_feed_start",
                "after_feed_end",
            ),
            stamp("received_at"),
        ),  # fmt: skip
    }
    for field in TIMESTAMP_FIELDS:
        found[mixed_offsets_reason(field)] = stamp(field)
        if field != "received_at":
            found[f"unparseable_{field}"] = stamp(field)
            found[f"{field}_before_2000"] = stamp(field)
    return {reason: fields for reason, fields in found.items() if fields}
