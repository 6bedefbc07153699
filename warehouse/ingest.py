"""Receive feed files into the warehouse: every source row as received, in raw.<feed_id>.

Every file is one batch in ``meta.batches``, known by its SHA-256: the same bytes are
never received twice, so re-running ingest changes nothing, unless a file was rejected after
being read with other settings than the feed's now (``read_digest``): it is read again. One
file is one transaction, and the batch's raw file is in place before it commits: a batch the
warehouse holds as received always has its raw file, and a raw file without a committed batch (a run killed
before its commit) is garbage, removed by the next ingest (warehouse.raw_store.remove_uncommitted).
A received batch waits in raw until validation (warehouse.staging) moves its rows on to
core.incidents or quality.quarantine. Rows the file format itself cannot read are
quarantined here, at once, with their reason.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from jointcast.config import FeedSettings, Settings
from jointcast.faults import reach
from planning.provenance import digest
from warehouse.db import literal, transaction
from warehouse.pii import HOW_TO_SET, PiiKeyError, hashing_key, load_key, unreadable_values
from warehouse.raw_store import batch_path, discard, publish, refresh_view, remove_uncommitted, write_source
from warehouse.readers import FeedFileError, SourceRows
from warehouse.sources import (
    FeedSourceError,
    SourceFile,
    feed_folder,
    fetch,
    list_files,
    refuse_parent_steps,
)

log = logging.getLogger(__name__)

DONE_STATUSES = ("received", "loaded")  # a failed batch is retried on the next run
# A batch rejected by validation is received again only when the settings its file is read with
# change (``read_digest``, ``settled``); otherwise it stays rejected until its file changes.
COMMITTED_STATUSES = (*DONE_STATUSES, "rejected")
"""Batches whose raw file is kept (a failed batch has none; it is received again)."""

READ_FIELDS = ("format", "delimiter", "encoding", "pii")
"""What of a feed's settings its files are read with (warehouse.readers, warehouse.pii): a raw file
read under other values holds other rows, so a rejected batch is read again when one changes."""


def read_digest(feed: FeedSettings) -> str:
    """The digest of the settings the feed's files are read with (``READ_FIELDS``)."""
    return digest(feed.model_dump(mode="json", include=set(READ_FIELDS)))


def settled(status: str, batch_read_digest: str | None, current_read_digest: str) -> bool:
    """Whether ingest leaves a known file alone: received or loaded, or rejected after being read
    with the settings it would be read with now (a rejected batch from before the digests were
    recorded has none, and is read again once)."""
    return status in DONE_STATUSES or (status == "rejected" and batch_read_digest == current_read_digest)


@dataclass(frozen=True)
class BatchOutcome:
    feed_id: str
    uri: str
    batch_id: int | None
    status: str  # received | skipped | failed
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str | None = None
    again: bool = False
    """A file rejected before, received again because the settings it is read with changed."""


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

    @property
    def again(self) -> int:
        """Files rejected before and received again (read again: their read settings changed)."""
        return sum(b.again for b in self.batches)

    def again_said(self) -> str | None:
        """Why files already known were received again, in one line; None when none were."""
        if not self.again:
            return None
        files, are = ("file", "is") if self.again == 1 else ("files", "are")
        return (
            f"ingest: {self.again} rejected {files} of feed {self.feed_id} {are} received again: "
            f"its config changed how they are read ({', '.join(READ_FIELDS)})"
        )


def ingest_feed(con: duckdb.DuckDBPyConnection, settings: Settings, feed: FeedSettings) -> FeedOutcome:
    """Load every not-yet-loaded file of one feed; a bad file never stops the others."""
    outcome = FeedOutcome(feed.id)
    try:
        secret = _pii_key(settings, feed)
        refuse_parent_steps(feed.uri)
        uri = settings.feed_uri(feed)
        uris = list_files(uri)
    except (FeedSourceError, PiiKeyError) as exc:
        outcome.error = f"feed {feed.id}: {exc}"
        log.error(outcome.error)
        return outcome
    raw_root = settings.raw_root
    remove_uncommitted(con, raw_root, feed.id, COMMITTED_STATUSES)
    with hashing_key(con, secret):
        for file_uri in uris:
            batch = ingest_file(con, feed, file_uri, raw_root, secret=secret, folder=feed_folder(uri))
            outcome.batches.append(batch)
            reach("ingest.after_file")
    refresh_view(con, raw_root, feed.id)
    return outcome


def _pii_key(settings: Settings, feed: FeedSettings) -> bytes | None:
    """The PII key when the feed has PII columns; a feed that hashes cannot run without one."""
    if not feed.pii.columns:
        return None
    secret = load_key(settings.pii_key_path)
    if secret is None and feed.pii.hash:
        raise PiiKeyError(f"pii.hash needs a secret key and none is set: {HOW_TO_SET}")
    return secret


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    feed: FeedSettings,
    uri: str,
    raw_root: Path,
    *,
    secret: bytes | None = None,
    folder: Path | None = None,
) -> BatchOutcome:
    """Receive one file as one batch, or skip it when its exact content is already known.

    The batch's raw Parquet file is written under a temporary name and put in place, then
    the warehouse records the batch in one transaction: a failure leaves no trace of the
    batch but a failed row in meta.batches, and a kill before the commit leaves a file the
    next ingest removes. A known file that failed, or was rejected under other read settings,
    is received again as the same batch: its raw file replaced, its quarantined rows and counts
    reset in the transaction that records it received.
    """
    current = read_digest(feed)
    try:
        with fetch(uri, suffix=f".{feed.format}", inside=folder) as source:
            known = con.execute(
                "SELECT batch_id, status, read_digest FROM meta.batches"
                " WHERE feed_id = ? AND content_sha256 = ?",
                [feed.id, source.sha256],
            ).fetchone()
            if known and settled(known[1], known[2], current):
                log.debug("feed %s: %s already loaded as batch %s", feed.id, uri, known[0])
                return BatchOutcome(feed.id, uri, known[0], "skipped")
            again = known is not None and known[1] == "rejected"
            batch_id = known[0] if known else _next_batch_id(con)
            target = batch_path(raw_root, feed.id, batch_id)
            staging = None
            try:
                rows, staging = write_source(con, source.local_path, feed, target, batch_id)
                for note in rows.notes:
                    log.warning("feed %s: file %s: %s", feed.id, uri, note)
                publish(staging, target)
                reach("ingest.before_commit")
                with transaction(con):
                    con.execute("DELETE FROM quality.quarantine WHERE batch_id = ?", [batch_id])
                    con.execute("DELETE FROM quality.field_issues WHERE batch_id = ?", [batch_id])
                    counts = _record_received(con, feed, batch_id, source, rows, target, secret, current)
                reach("ingest.after_commit")
            except FeedFileError as exc:
                discard(*(p for p in (staging, target) if p is not None))
                message = f"feed {feed.id}: file {uri}: {exc}"
                with transaction(con):
                    con.execute("DELETE FROM quality.quarantine WHERE batch_id = ?", [batch_id])
                    con.execute("DELETE FROM quality.field_issues WHERE batch_id = ?", [batch_id])
                    _record_batch(con, feed.id, batch_id, source, (0, 0, 0), "failed", message, current)
                log.error(message)
                return BatchOutcome(feed.id, uri, batch_id, "failed", message=message, again=again)
    except FeedSourceError as exc:
        message = f"feed {feed.id}: {exc}"
        log.error(message)
        return BatchOutcome(feed.id, uri, None, "failed", message=message)
    rows_read, rows_loaded, rows_quarantined = counts
    log.debug(
        "feed %s: %s -> batch %s: %d rows received, %d unreadable",
        feed.id, uri, batch_id, rows_read, rows_quarantined,
    )  # fmt: skip
    return BatchOutcome(feed.id, uri, batch_id, "received", *counts, again=again)


def _next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
    """An id no batch has: past the largest recorded one as well as the sequence's.

    DuckDB (1.5) logs a sequence's advance only with a transaction that writes, so a kill after
    a batch's commit can hand its id out again; a batch id reused would overwrite that batch.
    """
    return con.execute(
        "SELECT greatest(nextval('meta.batch_id_seq'),"
        " (SELECT coalesce(max(batch_id), 0) + 1 FROM meta.batches))"
    ).fetchone()[0]


def _record_received(con, feed: FeedSettings, batch_id: int, source: SourceFile, rows: SourceRows,
                     raw_file: Path, secret: bytes | None, read: str) -> tuple[int, int, int]:  # fmt: skip
    """Record the batch as received and quarantine its unreadable rows; returns the counts."""
    kept = con.execute(f"SELECT count(*) FROM read_parquet({literal(str(raw_file))})").fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM _rejects").fetchone()[0]
    counts = (kept + rejected, 0, rejected)
    _record_batch(con, feed.id, batch_id, source, counts, "received", None, read)
    _quarantine_rejects(con, feed, batch_id, rows.header, secret)
    con.execute(
        "UPDATE meta.batches SET source_columns = ? WHERE batch_id = ?", [list(rows.columns), batch_id]
    )
    return counts


def _quarantine_rejects(con, feed: FeedSettings, batch_id: int, header, secret: bytes | None) -> None:
    """Quarantine the unreadable rows with what may be kept of them (warehouse.pii)."""
    rejects = con.execute("SELECT _row_number, reason, raw_line FROM _rejects ORDER BY 1").fetchall()
    if not rejects:
        return
    kept = pl.DataFrame(
        {
            "row_number": [row[0] for row in rejects],
            "reason": [row[1] for row in rejects],
            "kept": [json.dumps(unreadable_values(row[2], header, feed, secret)) for row in rejects],
        },
        schema={"row_number": pl.Int64, "reason": pl.String, "kept": pl.String},
    )
    con.register("_unreadable", kept)
    try:
        con.execute(
            "INSERT INTO quality.quarantine"
            " SELECT ?, ?, row_number, [reason], kept::JSON, now() FROM _unreadable",
            [batch_id, feed.id],
        )
    finally:
        con.unregister("_unreadable")


def _record_batch(con, feed_id, batch_id, source, counts, status, message, read: str) -> None:
    """Insert the batch, or reset the one this file already is (failed, or rejected under other read
    settings) to what this reading found: what validation recorded of it goes."""
    rows_read, rows_loaded, rows_quarantined = counts
    con.execute(
        """
        INSERT INTO meta.batches (batch_id, feed_id, source_uri, content_sha256, size_bytes,
            rows_read, rows_loaded, rows_quarantined, loaded_at, status, message, read_digest)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?)
        ON CONFLICT (batch_id) DO UPDATE SET
            rows_read = excluded.rows_read, rows_loaded = excluded.rows_loaded,
            rows_quarantined = excluded.rows_quarantined, status = excluded.status,
            message = excluded.message, read_digest = excluded.read_digest, check_digest = NULL,
            oldest_record_at = NULL, newest_record_at = NULL, validated_at = NULL
        """,
        [
            batch_id, feed_id, source.uri, source.sha256, source.size_bytes,
            rows_read, rows_loaded, rows_quarantined, status, message, read,
        ],
    )  # fmt: skip
