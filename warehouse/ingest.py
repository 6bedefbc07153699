"""Load feed files into the warehouse: raw rows as received, common-schema incidents in core.

Every file is one batch in ``meta.batches``, known by its SHA-256: the same bytes are
never loaded twice, so re-running ingest changes nothing. One file is one transaction:
its raw rows, its incidents and its quarantined rows land together or not at all.
Within a batch ``rows_read = rows_loaded + rows_quarantined``. An incident re-sent in a
later file replaces the earlier version (latest wins).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import duckdb

from jointcast.config import FeedSettings, Settings
from warehouse.db import literal, quote, table_columns, table_exists, transaction
from warehouse.mapping import duplicates_sql, stage_sql
from warehouse.readers import (
    FeedFileError,
    SourceRows,
    collect_csv_rejects,
    describe_error,
    open_rows,
    renumber_sql,
)
from warehouse.sources import FeedSourceError, SourceFile, fetch, list_files

log = logging.getLogger(__name__)

CORE_COLUMNS = (
    "incident_key", "agency_id", "feed_id", "source_incident_id", "incident_type",
    "source_type", "call_source", "priority", "received_at", "dispatched_at", "on_scene_at",
    "cleared_at", "area_id", "lat", "lon", "joint_event_id", "batch_id", "row_number",
)  # fmt: skip
DONE_STATUSES = ("received", "loaded")  # a failed batch is retried on the next run


@dataclass(frozen=True)
class BatchOutcome:
    feed_id: str
    uri: str
    batch_id: int | None
    status: str  # loaded | skipped | failed
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str | None = None


@dataclass
class FeedOutcome:
    feed_id: str
    batches: list[BatchOutcome] = field(default_factory=list)
    error: str | None = None

    @property
    def errors(self) -> list[str]:
        found = [self.error] if self.error else []
        return found + [b.message for b in self.batches if b.status == "failed" and b.message]

    def total(self, attribute: str) -> int:
        return sum(getattr(b, attribute) for b in self.batches)


def ingest_feed(con: duckdb.DuckDBPyConnection, settings: Settings, feed: FeedSettings) -> FeedOutcome:
    """Load every not-yet-loaded file of one feed; a bad file never stops the others."""
    outcome = FeedOutcome(feed.id)
    try:
        uris = list_files(settings.feed_uri(feed))
    except FeedSourceError as exc:
        outcome.error = f"feed {feed.id}: {exc}"
        log.error(outcome.error)
        return outcome
    for uri in uris:
        batch = ingest_file(con, feed, uri)
        outcome.batches.append(batch)
    return outcome


def ingest_file(con: duckdb.DuckDBPyConnection, feed: FeedSettings, uri: str) -> BatchOutcome:
    """Load one file as one batch, or skip it when its exact content is already loaded."""
    try:
        with fetch(uri, suffix=f".{feed.format}") as source:
            known = con.execute(
                "SELECT batch_id, status FROM meta.batches WHERE feed_id = ? AND content_sha256 = ?",
                [feed.id, source.sha256],
            ).fetchone()
            if known and known[1] in DONE_STATUSES:
                log.info("feed %s: %s already loaded as batch %s", feed.id, uri, known[0])
                return BatchOutcome(feed.id, uri, known[0], "skipped")
            batch_id = known[0] if known else _next_batch_id(con)
            try:
                with transaction(con):
                    _forget_batch(con, feed.id, batch_id)
                    counts, failure = _load_batch(con, feed, batch_id, source)
                    status = "failed" if failure else "loaded"
                    message = f"feed {feed.id}: file {uri}: {failure}" if failure else None
                    _record_batch(con, feed.id, batch_id, source, counts, status, message)
                if failure:
                    log.error(message)
                    return BatchOutcome(feed.id, uri, batch_id, "failed", *counts, message)
            except FeedFileError as exc:
                message = f"feed {feed.id}: file {uri}: {exc}"
                with transaction(con):
                    _record_batch(con, feed.id, batch_id, source, (0, 0, 0), "failed", message)
                log.error(message)
                return BatchOutcome(feed.id, uri, batch_id, "failed", message=message)
    except FeedSourceError as exc:
        message = f"feed {feed.id}: {exc}"
        log.error(message)
        return BatchOutcome(feed.id, uri, None, "failed", message=message)
    rows_read, rows_loaded, rows_quarantined = counts
    log.info(
        "feed %s: %s -> batch %s: %d read, %d loaded, %d quarantined",
        feed.id, uri, batch_id, rows_read, rows_loaded, rows_quarantined,
    )  # fmt: skip
    return BatchOutcome(feed.id, uri, batch_id, "loaded", *counts)


def _next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT nextval('meta.batch_id_seq')").fetchone()[0]


def _forget_batch(con: duckdb.DuckDBPyConnection, feed_id: str, batch_id: int) -> None:
    """Remove what an earlier failed attempt at this batch left, so a retry starts clean."""
    if table_exists(con, "raw", feed_id):
        con.execute(f"DELETE FROM raw.{feed_id} WHERE _batch_id = ?", [batch_id])
    con.execute("DELETE FROM quality.quarantine WHERE batch_id = ?", [batch_id])


def _load_batch(
    con: duckdb.DuckDBPyConnection, feed: FeedSettings, batch_id: int, source: SourceFile
) -> tuple[tuple[int, int, int], str | None]:
    """Read, keep raw, map, quarantine and upsert one batch; returns counts and a failure."""
    rows = open_rows(con, source.local_path, feed)
    _store_raw(con, feed, batch_id, rows)
    select = ", ".join(quote(c) for c in rows.columns)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _incoming AS SELECT _row_number, {select} "
        f"FROM raw.{feed.id} WHERE _batch_id = {int(batch_id)}"
    )
    rows_read = con.execute("SELECT count(*) FROM _incoming").fetchone()[0]
    rejected = _quarantine_rejects(con, feed.id, batch_id)
    rows_read += rejected
    absent = _absent_columns(feed, rows.columns)
    if absent:
        failure = f"mapped column {absent[0]} is absent from the file"
        con.execute(
            f"""
            INSERT INTO quality.quarantine
            SELECT ?, ?, _row_number, [{literal("batch_rejected: " + failure)}],
                to_json(i), now() FROM _incoming i
            """,
            [batch_id, feed.id],
        )
        return (rows_read, 0, rows_read), failure
    con.execute("SET preserve_insertion_order = false")  # row numbers are fixed by now
    try:
        loaded, quarantined = _promote(con, feed, batch_id, rows.columns)
    finally:
        con.execute("RESET preserve_insertion_order")
    return (rows_read, loaded, quarantined + rejected), None


def _promote(con, feed: FeedSettings, batch_id: int, columns: tuple[str, ...]) -> tuple[int, int]:
    """Map ``_incoming`` to the common schema; bad rows to quarantine, good ones to core."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _staged AS {stage_sql(feed)}")
    con.execute(
        f"""
        UPDATE _staged SET parse_reasons = list_append(parse_reasons, d.reason)
        FROM ({duplicates_sql(columns)}) d WHERE _staged._row_number = d._row_number
        """
    )
    quarantined = con.execute(
        """
        INSERT INTO quality.quarantine
        SELECT ?, ?, s._row_number, s.parse_reasons, to_json(i), now()
        FROM _staged s JOIN _incoming i ON i._row_number = s._row_number
        WHERE len(s.parse_reasons) > 0
        """,
        [batch_id, feed.id],
    ).fetchone()[0]
    loaded = upsert_incidents(con, feed.id, batch_id, "SELECT * FROM _staged WHERE len(parse_reasons) = 0")
    con.execute("DROP TABLE _staged")
    return loaded, quarantined


def _absent_columns(feed: FeedSettings, columns: tuple[str, ...]) -> list[str]:
    wanted = {f"columns.{name}": column for name, column in feed.columns.mapped().items()}
    if feed.agency_from is not None:
        wanted["agency_from.column"] = feed.agency_from.column
    return [f"'{column}' ({key})" for key, column in wanted.items() if column not in columns]


def _store_raw(con: duckdb.DuckDBPyConnection, feed: FeedSettings, batch_id: int, rows: SourceRows) -> None:
    """Append the batch's rows, as received, to raw.<feed_id> (new source columns are added)."""
    if not table_exists(con, "raw", feed.id):
        con.execute(f"CREATE TABLE raw.{feed.id} (_batch_id BIGINT NOT NULL, _row_number BIGINT NOT NULL)")
    known = set(table_columns(con, "raw", feed.id))
    for column in rows.columns:
        if column not in known:
            con.execute(f"ALTER TABLE raw.{feed.id} ADD COLUMN {quote(column)} VARCHAR")
    try:
        con.execute(
            f"INSERT INTO raw.{feed.id} BY NAME SELECT {int(batch_id)} AS _batch_id, * FROM ({rows.select_sql})"
        )
    except duckdb.Error as exc:
        raise FeedFileError(describe_error(exc, feed.format)) from exc
    if feed.format == "csv" and collect_csv_rejects(con):
        con.execute(renumber_sql(f"raw.{feed.id}", f"_batch_id = {int(batch_id)}"))


def _quarantine_rejects(con: duckdb.DuckDBPyConnection, feed_id: str, batch_id: int) -> int:
    return con.execute(
        """
        INSERT INTO quality.quarantine
        SELECT ?, ?, _row_number, [reason], to_json({'line': raw_line}), now() FROM _rejects
        """,
        [batch_id, feed_id],
    ).fetchone()[0]


def upsert_incidents(con: duckdb.DuckDBPyConnection, feed_id: str, batch_id: int, rows_sql: str) -> int:
    """Insert the staged rows into core.incidents, replacing earlier versions (latest wins)."""
    columns = ", ".join(CORE_COLUMNS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _accepted AS
        SELECT agency_id || ':' || source_incident_id AS incident_key, agency_id,
            {literal(feed_id)} AS feed_id, source_incident_id, incident_type, source_type,
            call_source, priority, received_at, dispatched_at, on_scene_at, cleared_at,
            area_id, lat, lon, CAST(NULL AS VARCHAR) AS joint_event_id,
            CAST({int(batch_id)} AS BIGINT) AS batch_id, _row_number AS row_number
        FROM ({rows_sql})
        """
    )
    con.execute(
        "DELETE FROM core.incidents WHERE incident_key IN (SELECT incident_key FROM _accepted)"
    )
    loaded = con.execute(
        f"INSERT INTO core.incidents ({columns}) SELECT {columns} FROM _accepted"
    ).fetchone()[0]
    con.execute("DROP TABLE _accepted")
    return loaded


def _record_batch(con, feed_id, batch_id, source, counts, status, message) -> None:
    rows_read, rows_loaded, rows_quarantined = counts
    con.execute(
        """
        INSERT INTO meta.batches AS b VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?)
        ON CONFLICT (batch_id) DO UPDATE SET
            rows_read = excluded.rows_read, rows_loaded = excluded.rows_loaded,
            rows_quarantined = excluded.rows_quarantined, status = excluded.status,
            message = excluded.message
        """,
        [
            batch_id, feed_id, source.uri, source.sha256, source.size_bytes,
            rows_read, rows_loaded, rows_quarantined, status, message,
        ],
    )  # fmt: skip
