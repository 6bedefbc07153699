"""Move a received batch on from raw: stage it, then load its good rows and quarantine the rest.

The staging query maps raw text onto the common schema (warehouse.mapping) and notes
what could not be parsed; the validation step adds what its expectation suite found.
``promote_batch`` then writes, in one transaction with the batch's status, every row
with a reason to quality.quarantine and every other row to core.incidents, where the
latest version of an incident wins. Latest is a property of the data, not of when a file
happened to arrive (``VERSION_ORDER``): within a feed, the version from the later source
file (by its uri: feeds name their files in time order, as exports and monthly dumps do)
wins, and within one file the later row; the same file received again with new content
outranks its earlier content. A feed's file that arrives late (or is received again after
a failure) so never overwrites a newer version already in core. Versions from different
feeds of one agency have no common order: the one loaded last wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from features.service import MAX_SERVICE_HOURS
from jointcast.config import WGS84, ColumnMap, FeedSettings
from warehouse.db import folded_name, literal, load_spatial, quote
from warehouse.mapping import FIELD_REASONS, TIMESTAMP_FIELDS, duplicates_sql, repeated_hour_sql, stage_sql
from warehouse.raw_store import batch_path, batch_rows_sql

CORE_COLUMNS = (
    "incident_key", "agency_id", "feed_id", "source_incident_id", "incident_type",
    "source_type", "call_source", "priority", "received_at", "dispatched_at", "on_scene_at",
    "cleared_at", "area_id", "lat", "lon", "batch_id", "row_number", "units", "unit_hours",
)  # fmt: skip
"""core.incident_records' columns (core.incidents adds the features stage's joint_event_id)."""

# Common field -> the staged text column that holds the mapped source column's value.
_STAGED_TEXT = {
    "source_incident_id": "source_incident_id", "source_type": "source_type",
    "priority": "priority_text", "area_id": "area_id", "lat": "lat_text", "lon": "lon_text",
    "point": "point_text", "unit": "unit",
    **{field: f"{field}_text" for field in TIMESTAMP_FIELDS},
    **{ColumnMap.time_key(field): f"{field}_text" for field in TIMESTAMP_FIELDS},
}  # fmt: skip


CHUNK_KEY = "incident_key"
"""The frame's column whose uniqueness the suite checks: rows sharing a value are validated in one chunk."""

_FRAME = (
    "_row_number", "source_incident_id", CHUNK_KEY, "received_at_text", "received_at_parsed",
    "received_at", "dispatched_at", "on_scene_at", "cleared_at", "priority", "code", "lat", "lon",
    "agency_id",
)  # fmt: skip
"""The frame's columns (besides the mapped source columns), in order."""


class MissingRawBatch(RuntimeError):
    """A received batch whose raw file is gone (the run that wrote it died before placing it)."""


@dataclass(frozen=True)
class PendingBatch:
    batch_id: int
    feed_id: str
    source_uri: str
    columns: tuple[str, ...]
    rows_read: int
    again: bool = False
    """Rejected before, under other settings: validated again (``reset_rejected`` first)."""


def pending_batches(
    con: duckdb.DuckDBPyConnection,
    feed_id: str,
    read_digest: str | None = None,
    check_digest: str | None = None,
) -> list[PendingBatch]:
    """Batches of the feed received but not yet validated, oldest first; with the feed's current
    digests (warehouse.ingest.read_digest, expectations.validate.check_digest), also its rejected
    batches read with the current settings but validated under other ones. A rejected batch read
    with other settings is ingest's to read again first; a loaded batch is never validated again."""
    rows = con.execute(
        """
        SELECT batch_id, feed_id, source_uri, source_columns, rows_read, status = 'rejected'
        FROM meta.batches
        WHERE feed_id = ? AND (status = 'received'
            OR (status = 'rejected' AND read_digest = ? AND check_digest IS DISTINCT FROM ?))
        ORDER BY batch_id
        """,
        [feed_id, read_digest, check_digest],
    ).fetchall()
    return [PendingBatch(r[0], r[1], r[2], tuple(r[3] or ()), r[4], r[5]) for r in rows]


REJECTED_PREFIX = "batch_rejected: "
"""The first reason of each row quarantined because its batch was rejected (``reject_batch``)."""


def reset_rejected(con: duckdb.DuckDBPyConnection, batch: PendingBatch) -> int:
    """Undo the batch's rejection, inside the transaction that records its new outcome: its rows
    quarantined as ``batch_rejected`` leave the quarantine and its counts go back to what ingest
    recorded (the rows ingest could not read stay quarantined). Returns the rows taken out."""
    removed = con.execute(
        "DELETE FROM quality.quarantine WHERE batch_id = ? AND starts_with(reasons[1], ?)",
        [batch.batch_id, REJECTED_PREFIX],
    ).fetchone()[0]
    con.execute(
        "UPDATE meta.batches SET rows_loaded = 0, rows_quarantined = rows_quarantined - ? WHERE batch_id = ?",
        [removed, batch.batch_id],
    )
    return removed


def header_matched(feed: FeedSettings, header: tuple[str, ...]) -> tuple[FeedSettings, dict[str, str]]:
    """``feed`` with each mapped column read from this file's header: of a column's names (one, or
    the names it has gone by, in order) the first the header holds, else the first the header holds
    one column of up to case and spacing (a monthly export whose tool writes ``RCVD`` for ``Rcvd``);
    and config key -> the header's column for each match of the second kind. A name the header holds
    twice up to case and spacing is not guessed between, and a column none of whose names the header
    holds is left as its first name: the batch then lacks it, and says so."""
    alike: dict[str, list[str]] = {}
    for column in header:
        alike.setdefault(folded_name(column), []).append(column)

    def found(column: str) -> str:
        same = alike.get(folded_name(column), [])
        return column if column in header or len(same) != 1 else same[0]

    def chosen(names: str | list[str]) -> str:
        options = [names] if isinstance(names, str) else names
        exact = [name for name in options if name in header]
        alike_named = [match for match in map(found, options) if match not in options]
        return (exact or alike_named or options)[0]

    configured = feed.columns.mapped()
    columns = {name: chosen(names) for name, names in configured.items()}
    matched = {f"columns.{name}": columns[name] for name, names in configured.items()
               if columns[name] not in ([names] if isinstance(names, str) else names)}  # fmt: skip
    update: dict[str, object] = {"columns": feed.columns.model_copy(update=columns)}
    if feed.agency_from is not None and found(feed.agency_from.column) != feed.agency_from.column:
        matched["agency_from.column"] = found(feed.agency_from.column)
        update["agency_from"] = feed.agency_from.model_copy(update={"column": matched["agency_from.column"]})
    return (feed.model_copy(update=update) if matched or columns != configured else feed), matched


def absent_columns(feed: FeedSettings, columns: tuple[str, ...]) -> dict[str, str]:
    """Config key -> source column, for the mapped columns the batch does not have."""
    wanted = {f"columns.{name}": column for name, column in feed.columns.mapped().items()}
    if feed.agency_from is not None:
        wanted["agency_from.column"] = feed.agency_from.column
    return {key: column for key, column in wanted.items() if column not in columns}


@dataclass(frozen=True)
class StagedBatch:
    """A staged batch as its expectation suite sees it: the temp view ``_checked``, one row per
    source row. ``columns`` maps each of the frame's columns to the view's column holding it
    (DuckDB's names are case-insensitive, pandas' are not: a source column may clash with a field)."""

    rows: int
    first_row: int
    last_row: int
    columns: dict[str, str]


def stage_batch(
    con: duckdb.DuckDBPyConnection, feed: FeedSettings, batch: PendingBatch, raw_root: Path
) -> StagedBatch:
    """Stage the batch into ``_staged`` and describe the frame its expectation suite checks.

    Where mapped columns are absent, nothing can be mapped: the frame holds the source
    columns the batch does have, for the suite's column checks to fail on. ``_incoming`` is a
    view over the batch's raw Parquet file, read again where needed rather than held in memory.
    """
    path = batch_path(raw_root, feed.id, batch.batch_id)
    if not path.is_file():
        raise MissingRawBatch(f"raw file {path} of batch {batch.batch_id} is missing")
    con.execute(f"CREATE OR REPLACE TEMP VIEW _incoming AS {batch_rows_sql(path, batch.columns)}")
    if absent_columns(feed, batch.columns):
        columns = {c: c for c in ("_row_number", *batch.columns)}
        select = ", ".join(quote(c) for c in columns)
        con.execute(f"CREATE OR REPLACE TEMP VIEW _checked AS SELECT {select} FROM _incoming")
        return _described(con, columns)
    _stage(con, feed)
    con.execute(
        f"""
        UPDATE _staged SET parse_reasons = list_append(parse_reasons, d.reason)
        FROM ({duplicates_sql(batch.columns)}) d WHERE _staged._row_number = d._row_number
        """
    )
    # The suite checks that each mapped source column is present: give each a column of
    # the frame under its source name (the staged text it was read into).
    sources = {column: _STAGED_TEXT.get(field, field) for field, column in feed.columns.mapped().items()}
    if feed.agency_from is not None:
        sources.setdefault(feed.agency_from.column, "agency_id")
    extra = {column: staged for column, staged in sources.items() if column not in _FRAME}
    aliases = "".join(f", {staged} AS _source_{i}" for i, staged in enumerate(extra.values()))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW _checked AS
        SELECT _row_number, source_incident_id,
            -- rows the staging step already holds as duplicates leave the uniqueness check
            CASE WHEN list_contains(parse_reasons, 'duplicate_row')
                OR list_contains(parse_reasons, 'duplicate_id') THEN NULL
                -- a feed of one row per unit: a key per unit of the incident
                ELSE agency_id || ':' || source_incident_id || coalesce(chr(31) || unit, '') END
                AS {CHUNK_KEY},
            received_at_text,
            CASE WHEN received_at_text IS NOT NULL THEN received_at IS NOT NULL END
                AS received_at_parsed,
            received_at, dispatched_at, on_scene_at, cleared_at,
            -- a 64-bit integer: GX compares int64 (and float64) columns with its bounds vectorised,
            -- any other dtype one value at a time
            CAST(priority AS BIGINT) AS priority, code, lat, lon, agency_id
            {aliases}
        FROM _staged
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _shared_keys AS SELECT {CHUNK_KEY} FROM _checked
        WHERE {CHUNK_KEY} IS NOT NULL GROUP BY {CHUNK_KEY} HAVING count(*) > 1
        """
    )
    columns = {c: c for c in _FRAME} | {column: f"_source_{i}" for i, column in enumerate(extra)}
    return _described(con, columns)


def _stage(con: duckdb.DuckDBPyConnection, feed: FeedSettings) -> None:
    """Stage ``_incoming`` into ``_staged``, in one pass when no timestamp column mixes naive and
    zoned values (the usual case); a batch where one does is staged again, knowing which. A batch
    with naive timestamps in a repeated hour (the autumn change) then has those rows' timestamps
    read from the data (``repeated_hour_sql``): only those few rows are read again and updated.

    ``_staged`` keeps, per timestamp field, whether the row's value was read as zoned
    (``_<field>_zoned``) or as naive (``_<field>_naive``): what the mixing is found from; and, for a
    naive value that occurs twice, its earlier reading (``<field>_earlier``).
    """
    intermediate = [f"{f}_{kind}" for f in TIMESTAMP_FIELDS for kind in ("zoned", "naive", "mixed")]
    readings = "".join(
        f", {f}_zoned IS NOT NULL AS _{f}_zoned, {f}_zoned IS NULL AND {f}_naive IS NOT NULL AS _{f}_naive"
        for f in TIMESTAMP_FIELDS
    )

    if feed.coordinates_crs != WGS84:
        load_spatial(con)  # ST_Transform, for the feed's projected coordinates

    def staged(mixed: dict[str, str]) -> None:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _staged AS SELECT * EXCLUDE ({', '.join(intermediate)}){readings}"
            f" FROM ({stage_sql(feed, mixed)})"
        )

    staged({})
    kinds = ", ".join(f"count_if(_{f}_zoned), count_if(_{f}_naive)" for f in TIMESTAMP_FIELDS)
    repeats = " OR ".join(f"{f}_earlier IS NOT NULL" for f in TIMESTAMP_FIELDS)
    *found, repeated = con.execute(f"SELECT {kinds}, count(*) FILTER ({repeats}) > 0 FROM _staged").fetchone()
    mixed = {
        field: odd_kind(zoned, naive)
        for field, zoned, naive in zip(TIMESTAMP_FIELDS, found[::2], found[1::2], strict=True)
        if zoned and naive
    }
    if mixed:
        staged(mixed)
    if repeated:
        # the few rows in a repeated hour: each timestamp read from the data (warehouse.mapping)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _repeated AS {repeated_hour_sql(feed)}")
        values = ", ".join(f"{f} = r.{f}" for f in TIMESTAMP_FIELDS)
        con.execute(f"UPDATE _staged SET {values} FROM _repeated r WHERE _staged._row_number = r._row_number")
        con.execute(
            "UPDATE _staged SET parse_reasons = r.parse_reasons FROM _repeated r"
            " WHERE _staged._row_number = r._row_number AND r.parse_reasons IS NOT NULL"
        )


def odd_kind(zoned: int, naive: int) -> str:
    """Of a column's values, zoned and naive, the kind that is the odd one out: the fewer (a few values
    without the offset the rest carry, or with one the rest lack), or ``"both"`` when neither is fewer."""
    return "both" if zoned == naive else "naive" if naive < zoned else "zoned"


def _described(con: duckdb.DuckDBPyConnection, columns: dict[str, str]) -> StagedBatch:
    query = "SELECT count(*), min(_row_number), max(_row_number) FROM _checked"
    rows, first, last = con.execute(query).fetchone()
    return StagedBatch(rows, first or 0, last or 0, columns)


def staged_chunks(
    con: duckdb.DuckDBPyConnection, staged: StagedBatch, chunk_rows: int, columns: list[str]
) -> Iterator[pd.DataFrame]:
    """The frame the suite checks, ``chunk_rows`` row numbers at a time in row order, holding
    ``_row_number`` and ``columns`` (those it has).

    A key value several rows share (one the staging step did not already hold as a duplicate)
    must be judged by the uniqueness expectation with all its rows in view: those rows leave
    their ranges and come last, in one chunk of their own. An empty batch is one empty chunk.
    """
    keyed = CHUNK_KEY in staged.columns
    shared = keyed and con.execute("SELECT count(*) FROM _shared_keys").fetchone()[0] > 0
    apart = f" AND ({CHUNK_KEY} IS NULL OR {CHUNK_KEY} NOT IN (SELECT {CHUNK_KEY} FROM _shared_keys))"
    sent = False
    for start in range(staged.first_row, staged.last_row + 1, chunk_rows):
        where = f"_row_number BETWEEN ? AND ?{apart if shared else ''}"
        frame = staged_frame(con, staged, columns, where, [start, start + chunk_rows - 1])
        if len(frame):
            sent = True
            yield frame
    if shared:
        sent = True
        yield staged_frame(con, staged, columns, f"{CHUNK_KEY} IN (SELECT {CHUNK_KEY} FROM _shared_keys)")
    if not sent:
        yield staged_frame(con, staged, columns, "false")


def staged_frame(
    con: duckdb.DuckDBPyConnection,
    staged: StagedBatch,
    columns: list[str] | None,
    where: str = "true",
    parameters: list | None = None,
) -> pd.DataFrame:
    """The frame's rows ``where`` holds, in row order: ``_row_number`` and ``columns`` (those it
    has; None: every column)."""
    names = list(staged.columns) if columns is None else ["_row_number", *columns]
    wanted = {name: staged.columns[name] for name in dict.fromkeys(names) if name in staged.columns}
    select = ", ".join(quote(column) for column in wanted.values())
    query = f"SELECT {select} FROM _checked WHERE {where} ORDER BY _row_number"
    frame = con.execute(query, parameters or []).df()
    frame.columns = list(wanted)
    return frame


def record_span(con: duckdb.DuckDBPyConnection, staged: StagedBatch, earliest: datetime, latest: datetime):
    """Oldest and newest received time of the batch within [earliest, latest] (None, None: none)."""
    if "received_at" not in staged.columns:
        return None, None
    return con.execute(
        "SELECT min(received_at), max(received_at) FROM _checked WHERE received_at BETWEEN ? AND ?",
        [earliest, latest],
    ).fetchone()


STAGING_MEMORY = "2GB"
"""DuckDB's memory while batches are staged, checked and promoted: beyond it, the staged tables
spill to the warehouse's temporary folder (``<warehouse>.tmp``), so a 10M-row file fits a small box."""


@contextmanager
def staging_memory(con: duckdb.DuckDBPyConnection, limit: str = STAGING_MEMORY) -> Iterator[None]:
    """Cap DuckDB's memory at ``limit``; afterwards drop what staging left and restore the cap."""
    before = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    con.execute(f"SET memory_limit = {literal(limit)}")
    try:
        yield
    finally:
        for name, kind in (("_checked", "VIEW"), ("_incoming", "VIEW"), ("_accepted", "VIEW"),
                           ("_staged", "TABLE"), ("_shared_keys", "TABLE"), ("_held", "TABLE"),
                           ("_moved", "TABLE"), ("_repeated", "TABLE")):  # fmt: skip
            con.execute(f"DROP {kind} IF EXISTS temp.{name}")
        con.execute(f"SET memory_limit = {literal(before)}")


def add_row_reasons(con: duckdb.DuckDBPyConnection, row_reasons: dict[int, list[str]]) -> None:
    """Add the expectation suite's reasons per row (row number -> reasons) to ``_staged``'s own."""
    if not row_reasons:
        return
    found = pa.table({
        "_row_number": pa.array(list(row_reasons), pa.int64()),
        "reasons": pa.array(list(row_reasons.values()), pa.list_(pa.string())),
    })  # fmt: skip
    con.register("_found", found)
    try:
        con.execute(
            """
            UPDATE _staged SET parse_reasons = list_distinct(list_concat(parse_reasons, f.reasons))
            FROM _found f WHERE _staged._row_number = f._row_number
            """
        )
    finally:
        con.unregister("_found")


_FIELD_CODES = f"[{', '.join(literal(r) for r in FIELD_REASONS)}]"
_QUARANTINED = f"len(list_filter(parse_reasons, r -> NOT list_contains({_FIELD_CODES}, r))) > 0"
"""A row of ``_staged`` that is quarantined: a reason besides those that only set fields aside."""
_SET_ASIDE = f"len(parse_reasons) > 0 AND NOT ({_QUARANTINED})"


def _set_aside(field: str) -> str:
    """``field`` of a ``_staged`` row, null where one of its reasons sets the field aside."""
    reasons = [reason for reason, fields in FIELD_REASONS.items() if field in fields]
    listed = ", ".join(literal(r) for r in reasons)
    return f"CASE WHEN list_has_any(parse_reasons, [{listed}]) THEN NULL ELSE {field} END"


def reasons_found(con: duckdb.DuckDBPyConnection, top: int = 3) -> ReasonsFound:
    """Rows of ``_staged`` to quarantine, rows with fields to set aside, and the ``top`` most common
    reasons of each kind (the code before any ':' detail) with their rows: a rejected file's line
    names what quarantined its rows, not the fields its rows would also have had set aside."""
    quarantined, set_aside = con.execute(
        f"SELECT count(*) FILTER ({_QUARANTINED}), count(*) FILTER ({_SET_ASIDE}) FROM _staged"
    ).fetchone()
    common = con.execute(
        f"""
        SELECT list_contains({_FIELD_CODES}, reason) AS aside, split_part(reason, ':', 1) AS code,
            count(*) AS n
        FROM (SELECT unnest(parse_reasons) AS reason FROM _staged) GROUP BY aside, code ORDER BY n DESC, code
        """
    ).fetchall()
    return ReasonsFound(
        quarantined,
        set_aside,
        [(code, n) for aside, code, n in common if not aside][:top],
        [(code, n) for aside, code, n in common if aside][:top],
    )


@dataclass(frozen=True)
class ReasonsFound:
    quarantined: int
    set_aside: int
    common_quarantined: list[tuple[str, int]]
    common_set_aside: list[tuple[str, int]]


def promote_batch(con: duckdb.DuckDBPyConnection, feed: FeedSettings, batch: PendingBatch) -> tuple[int, int]:
    """Quarantine the rows of ``_staged`` with a reason that makes them unusable (add_row_reasons
    adds the suite's), load the others, with the fields their other reasons concern set aside (null;
    the row listed in quality.field_issues); returns (loaded, quarantined).

    The accepted rows are read from ``_staged`` where they lie, not copied first, and written to
    core in one pass. A feed written one row per unit writes each incident once, its units combined
    (``units_combined_sql``); its loaded count is of rows, as its quarantined count is.
    """
    quarantined = con.execute(
        f"""
        INSERT INTO quality.quarantine
        SELECT ?, ?, s._row_number, s.parse_reasons, to_json(i), now()
        FROM (SELECT * FROM _staged WHERE {_QUARANTINED}) s JOIN _incoming i ON i._row_number = s._row_number
        """,
        [batch.batch_id, feed.id],
    ).fetchone()[0]
    fields = ", ".join(
        f"CASE WHEN list_contains(parse_reasons, {literal(reason)})"
        f" THEN [{', '.join(literal(f) for f in set_aside)}] ELSE []::VARCHAR[] END"
        for reason, set_aside in FIELD_REASONS.items()
    )
    con.execute(
        f"""
        INSERT INTO quality.field_issues
        SELECT ?, ?, s._row_number, s.agency_id || ':' || s.source_incident_id, s.parse_reasons,
            list_sort(list_distinct(flatten([{fields}]))), to_json(i), now()
        FROM (SELECT * FROM _staged WHERE {_SET_ASIDE}) s JOIN _incoming i ON i._row_number = s._row_number
        """,
        [batch.batch_id, feed.id],
    )
    # a view, not a copy: the accepted rows are read from _staged where they lie
    accepted = f"""
        SELECT agency_id || ':' || source_incident_id AS incident_key, agency_id,
            {literal(feed.id)} AS feed_id, source_incident_id, incident_type, source_type,
            call_source, {_set_aside("priority")} AS priority, received_at,
            {", ".join(f"{_set_aside(f)} AS {f}" for f in TIMESTAMP_FIELDS[1:])},
            area_id, {_set_aside("lat")} AS lat, {_set_aside("lon")} AS lon,
            CAST({int(batch.batch_id)} AS BIGINT) AS batch_id, _row_number AS row_number
        FROM _staged WHERE NOT ({_QUARANTINED})
    """
    loaded = con.execute(f"SELECT count(*) FROM ({accepted})").fetchone()[0]
    incidents = (
        f"SELECT *, CAST(NULL AS INTEGER) AS units, CAST(NULL AS DOUBLE) AS unit_hours FROM ({accepted})"
        if feed.columns.unit is None
        else units_combined_sql(accepted)  # a feed of one row per unit: loaded rows, fewer incidents
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW _accepted AS {incidents}")
    con.execute(HELD_SQL, [batch.source_uri, batch.batch_id])
    moved = feed.agency_from is not None and _moved_versions(con, feed, batch)
    # a filter on row numbers, not an anti-join: a join over every accepted row costs more than the write
    newest = "true"
    if con.execute("SELECT count(*) FROM _held WHERE outranked").fetchone()[0]:
        newest = "row_number NOT IN (SELECT row_number FROM _held WHERE outranked)"
    if moved:
        newest += " AND row_number NOT IN (SELECT row_number FROM _moved WHERE outranked)"
        con.execute(
            f"DELETE FROM core.incident_records WHERE feed_id = {literal(feed.id)} AND incident_key IN "
            f"(SELECT held_key FROM _moved WHERE {MOVES})"
        )
    con.execute(
        "DELETE FROM core.incident_records WHERE incident_key IN "
        "(SELECT incident_key FROM _held WHERE NOT outranked)"
    )
    columns = ", ".join(CORE_COLUMNS)
    con.execute(
        f"INSERT INTO core.incident_records ({columns}) SELECT {columns} FROM _accepted WHERE {newest}"
    )
    return loaded, quarantined


def units_combined_sql(accepted: str) -> str:
    """The ``accepted`` rows of a feed written one row per unit dispatched, one row per incident.

    The incident was received and dispatched when its first unit was, reached when its first unit
    arrived and cleared when its last unit left; its other fields are those of its last row that
    has them, and its row number that row's, for the latest version to win as for any feed.
    ``units`` counts its rows; ``unit_hours`` is the hours its units were busy between them (each
    unit's cleared less dispatched, else on scene, kept in (0, 24] h as the service-time rule keeps an
    incident's), the mean of those measured standing in for any unmeasured: the incident's workload.
    """
    last = ", ".join(
        f"arg_max({f}, row_number) FILTER (WHERE {f} IS NOT NULL) AS {f}"
        for f in ("incident_type", "source_type", "call_source", "priority", "area_id")
    )
    busy = "epoch(cleared_at - coalesce(dispatched_at, on_scene_at)) / 3600.0"
    return f"""
        WITH unit_rows AS (
            SELECT *, CASE WHEN {busy} > 0 AND {busy} <= {MAX_SERVICE_HOURS} THEN {busy} END AS busy
            FROM ({accepted})
        )
        SELECT incident_key, any_value(agency_id) AS agency_id, any_value(feed_id) AS feed_id,
            any_value(source_incident_id) AS source_incident_id, {last},
            min(received_at) AS received_at, min(dispatched_at) AS dispatched_at,
            min(on_scene_at) AS on_scene_at, max(cleared_at) AS cleared_at,
            arg_max(lat, row_number) FILTER (WHERE lat IS NOT NULL AND lon IS NOT NULL) AS lat,
            arg_max(lon, row_number) FILTER (WHERE lat IS NOT NULL AND lon IS NOT NULL) AS lon,
            any_value(batch_id) AS batch_id, max(row_number) AS row_number,
            CAST(count(*) AS INTEGER) AS units, avg(busy) * count(*) AS unit_hours
        FROM unit_rows GROUP BY incident_key
    """


VERSION_ORDER = ("source_uri", "batch_id", "row_number")
"""What makes one version of an incident later than another of the same feed: its source
file's uri, then (the same file received again) its batch, then its row in the file."""

HELD_SQL = f"""
CREATE OR REPLACE TEMP TABLE _held AS
SELECT a.row_number, any_value(a.incident_key) AS incident_key,
    bool_or(held.feed_id = a.feed_id
        AND ({", ".join(f"held.{c}" for c in VERSION_ORDER)}) > (?, ?, a.row_number)) AS outranked,
    max(abs(epoch(a.received_at - held.received_at))) / 86400.0 AS days_apart
FROM _accepted a JOIN (
    SELECT r.incident_key, r.feed_id, b.source_uri, r.batch_id, r.row_number, r.received_at
    FROM core.incident_records r JOIN meta.batches b USING (batch_id)
) held ON held.incident_key = a.incident_key
GROUP BY a.row_number
"""
"""The rows of ``_accepted`` whose incident core already holds (parameters: the batch's source uri
and id), in ``_held``, each ``outranked`` where core holds a later version from the same feed: those
are not written. They count as loaded: valid rows, whose incident's later version was simply
there first. The others replace core's version. ``days_apart``: how far the two versions' received
times are (``reused_ids``)."""

MOVED_SQL = f"""
CREATE OR REPLACE TEMP TABLE _moved AS
SELECT a.row_number, a.incident_key, held.incident_key AS held_key,
    ({", ".join(f"held.{c}" for c in VERSION_ORDER)}) > (?, ?, a.row_number) AS outranked
FROM _accepted a JOIN (
    SELECT r.incident_key, r.agency_id, r.source_incident_id, b.source_uri, r.batch_id, r.row_number
    FROM core.incident_records r JOIN meta.batches b USING (batch_id)
    WHERE r.feed_id = ?
) held ON held.source_incident_id = a.source_incident_id AND held.agency_id <> a.agency_id
"""
"""The versions core holds of the accepted rows' ids under another agency of the same shared feed
(parameters: the batch's source uri and id, the feed), each ``outranked`` when core's is the later."""

MOVES = (
    "row_number NOT IN (SELECT row_number FROM _moved WHERE outranked"
    " UNION ALL SELECT row_number FROM _held WHERE outranked)"
)
"""The rows of ``_moved`` whose move is made: the accepted version is written (no later one held,
under its agency or another), and the other agency's version is no longer held."""

JOINT_IDS_SQL = """
SELECT EXISTS (SELECT 1 FROM _accepted GROUP BY source_incident_id HAVING count(DISTINCT agency_id) > 1)
    OR EXISTS (SELECT 1 FROM core.incident_records WHERE feed_id = ?
               GROUP BY batch_id, source_incident_id HAVING count(DISTINCT agency_id) > 1)
"""
"""Whether a shared feed writes one incident id under several agencies in one file (a row per agency
that answered): then each agency's version of an id is its own."""


def _moved_versions(con: duckdb.DuckDBPyConnection, feed: FeedSettings, batch: PendingBatch) -> int:
    """How many of a shared feed's incidents the batch re-sends under another agency than the one core
    holds them under (``_moved``): a call re-typed from a fire alarm to a medical call moves from the
    fire department's demand to EMS's. The later version wins, as for any re-sent incident, and the
    other is no longer held: counted once, by one agency. A feed that writes one id under several
    agencies in one file (``JOINT_IDS_SQL``: a row per agency that answered) moves nothing: each
    agency's version is its own, replaced only by that agency's."""
    con.execute(MOVED_SQL, [batch.source_uri, batch.batch_id, feed.id])
    count = con.execute("SELECT count(DISTINCT held_key) FROM _moved").fetchone()[0]
    if count and con.execute(JOINT_IDS_SQL, [feed.id]).fetchone()[0]:
        con.execute("DELETE FROM _moved")
        return 0
    return count


def moved_ids(con: duckdb.DuckDBPyConnection, feed: FeedSettings) -> str | None:
    """A warning when the batch just promoted re-sent incidents of a shared feed under another agency."""
    if feed.agency_from is None:
        return None
    count, held, new = con.execute(
        "SELECT count(DISTINCT held_key), min(held_key), arg_min(incident_key, held_key) FROM _moved"
        f" WHERE {MOVES}"
    ).fetchone()
    if not count:
        return None
    return (
        f"{count:,} incident{'' if count == 1 else 's'} re-sent under another agency (e.g. {held} is now"
        f" {new}): the later version replaced the earlier, so each is counted once, by its agency now"
    )


REUSED_DAYS = 30
"""Two versions of one incident received further apart than this are two incidents that share an id."""


def reused_ids(con: duckdb.DuckDBPyConnection) -> str | None:
    """A warning when the batch just promoted held incident ids core already had for an incident
    received over ``REUSED_DAYS`` apart: a correction does not move a call by a month, an id that
    restarts (each year, month or day) does, and one of the two incidents is lost to the other."""
    count, example, days = con.execute(
        "SELECT count(*), arg_max(incident_key, days_apart), max(days_apart) FROM _held WHERE days_apart > ?",
        [REUSED_DAYS],
    ).fetchone()
    if not count:
        return None
    return (
        f"{count:,} incident id{'' if count == 1 else 's'} already held for an incident received over"
        f" {REUSED_DAYS} days apart "
        f"(e.g. {example}, {days:,.0f} days): one version replaced the other. If the feed's ids restart "
        "each year, month or day, set id_scope"
    )


def reject_batch(
    con: duckdb.DuckDBPyConnection, feed: FeedSettings, batch: PendingBatch, check: str, *, staged: bool
) -> int:
    """Quarantine every readable row of a batch that failed a batch-level check. With the batch
    ``staged`` (its mapped columns present), each row keeps its own reasons after the check's, so
    what was wrong with a rejected file's rows can be read from the quarantine."""
    own = "coalesce(s.parse_reasons, [])" if staged else "[]"
    joined = "LEFT JOIN _staged s ON s._row_number = i._row_number" if staged else ""
    return con.execute(
        f"""
        INSERT INTO quality.quarantine
        SELECT ?, ?, i._row_number, list_prepend(?, {own}), to_json(i), now() FROM _incoming i {joined}
        """,
        [batch.batch_id, feed.id, f"{REJECTED_PREFIX}{check}"],
    ).fetchone()[0]


def finish_batch(
    con: duckdb.DuckDBPyConnection,
    batch: PendingBatch,
    *,
    loaded: int,
    quarantined: int,
    status: str,
    message: str | None,
    record_span: tuple[datetime | None, datetime | None],
    check_digest: str | None = None,
) -> None:
    """Record the batch's outcome, and the digest of the settings it was validated under."""
    con.execute(
        """
        UPDATE meta.batches SET rows_loaded = ?, rows_quarantined = rows_quarantined + ?,
            status = ?, message = ?, oldest_record_at = ?, newest_record_at = ?, validated_at = now(),
            check_digest = ?
        WHERE batch_id = ?
        """,
        [loaded, quarantined, status, message, *record_span, check_digest, batch.batch_id],
    )


def trailing_rows_per_day(con: duckdb.DuckDBPyConnection, feed_id: str, batches: int = 6) -> float | None:
    """Rows per day over the feed's last loaded batches, pooled: their rows over the time their
    records span, each at least an hour. The last ``batches`` of them, and older ones until they
    span a day between them: a rate read off a few hours (a first file of one morning) says nothing
    of the night. None with no history, or with less than a day of it."""
    row = con.execute(
        """
        WITH recent AS (
            SELECT rows_read,
                greatest(1.0 / 24, epoch(newest_record_at - oldest_record_at) / 86400.0) AS days,
                row_number() OVER newest_first AS n,
                coalesce(sum(days) OVER (newest_first ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                    AS newer_days
            FROM meta.batches
            WHERE feed_id = ? AND status = 'loaded' AND oldest_record_at IS NOT NULL
            WINDOW newest_first AS (ORDER BY batch_id DESC)
        )
        SELECT sum(rows_read) / sum(days), sum(days) FROM recent WHERE n <= ? OR newer_days < 1
        """,
        [feed_id, batches],
    ).fetchone()
    if row is None or row[0] is None or row[1] < 1:
        return None
    return float(row[0])


def earlier_delivery(
    con: duckdb.DuckDBPyConnection, feed_id: str, oldest: datetime, newest: datetime, earliest: datetime
) -> tuple[datetime | None, int]:
    """Where the feed's loaded files already delivered the first hours of a batch whose records span
    ``oldest``..``newest``: the newest record of a loaded batch that ends inside that span, and how many
    of this batch's checked records (received from ``earliest``) lie at or before it; (None, 0) if none
    does. A file that re-sends the last days of the one before (records updated since, an export window
    that overlaps) holds only some of those hours' records, so its size is judged on the hours after."""
    [(until,)] = con.execute(
        """
        SELECT max(newest_record_at) FROM meta.batches
        WHERE feed_id = ? AND status = 'loaded' AND newest_record_at >= ? AND newest_record_at < ?
        """,
        [feed_id, oldest, newest],
    ).fetchall()
    if until is None:
        return None, 0
    [(rows,)] = con.execute(
        "SELECT count(*) FROM _checked WHERE received_at BETWEEN ? AND ?", [earliest, until]
    ).fetchall()
    return until, rows


SAME_HOURS_WEEKS = 4
"""How many earlier weeks a file of under a week is compared with, at the same hours of the week."""


def expected_rows(
    con: duckdb.DuckDBPyConnection, feed_id: str, oldest: datetime, newest: datetime
) -> float | None:
    """The rows a file whose records span ``oldest``..``newest`` usually holds: under a week, the
    mean count of the feed's records in core at the same hours of the week over the last
    ``SAME_HOURS_WEEKS`` weeks its loaded history covers whole (a 03:00 hourly file is compared with
    earlier nights, not with the day's mean hour); else, or without such weeks, the trailing rows
    per day over the days it spans (at least an hour). None with no history."""
    span = newest - oldest
    if span < timedelta(days=7):
        found = con.execute(
            """
            WITH covered AS (
                SELECT min(oldest_record_at) AS first, max(newest_record_at) AS last FROM meta.batches
                WHERE feed_id = ? AND status = 'loaded'
            ),
            weeks AS (
                SELECT ?::TIMESTAMPTZ - to_days(7 * k) AS start, ?::TIMESTAMPTZ - to_days(7 * k) AS finish
                FROM range(1, ? + 1) AS t(k), covered WHERE start >= first AND finish <= last
            )
            SELECT count(DISTINCT w.start), count(r.received_at) FROM weeks w
            LEFT JOIN core.incident_records r
                ON r.feed_id = ? AND r.received_at BETWEEN w.start AND w.finish
            """,
            [feed_id, oldest, newest, SAME_HOURS_WEEKS, feed_id],
        ).fetchone()
        weeks, records = found
        if weeks:
            return records / weeks
    per_day = trailing_rows_per_day(con, feed_id)
    return None if per_day is None else per_day * max(1 / 24, span.total_seconds() / 86400)
