"""What the stages last built from (meta.stage_inputs), and the warehouse facts behind it."""

from __future__ import annotations

from datetime import datetime

import duckdb


def recorded_inputs(con: duckdb.DuckDBPyConnection, stage: str) -> str | None:
    """The inputs digest the stage last built from, or None."""
    row = con.execute("SELECT inputs_digest FROM meta.stage_inputs WHERE stage = ?", [stage]).fetchone()
    return row[0] if row else None


def record_inputs(con: duckdb.DuckDBPyConnection, stage: str, inputs_digest: str) -> None:
    con.execute(
        """
        INSERT INTO meta.stage_inputs (stage, inputs_digest, recorded_at) VALUES (?, ?, now())
        ON CONFLICT (stage) DO UPDATE SET
            inputs_digest = excluded.inputs_digest, recorded_at = excluded.recorded_at
        """,
        [stage, inputs_digest],
    )


def loaded_batches(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    """(batch_id, content SHA-256) of every batch in core: what core.incidents is made of."""
    return con.execute(
        "SELECT batch_id, content_sha256 FROM meta.batches WHERE status = 'loaded' ORDER BY batch_id"
    ).fetchall()


def rejected_windows(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[tuple[datetime, datetime, str], ...]]:
    """Per feed, the hours of its rejected files that no loaded file of the feed covers: (start, end
    exclusive, reason) windows, whole hours. A file received again whose new content loaded covers
    its own rejection; hours a loaded file spans (a cumulative export re-sent) are not missing."""
    rows = con.execute(
        """
        WITH rejected AS (
            SELECT feed_id, batch_id, source_uri,
                generate_series(date_trunc('hour', oldest_record_at), date_trunc('hour', newest_record_at),
                                INTERVAL 1 HOUR) AS hours
            FROM meta.batches b
            WHERE status = 'rejected' AND oldest_record_at IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM meta.batches l WHERE l.feed_id = b.feed_id AND l.source_uri = b.source_uri
                    AND l.status = 'loaded' AND l.batch_id > b.batch_id)
        ),
        uncovered AS (
            SELECT feed_id, batch_id, source_uri, unnest(hours) AS hour FROM rejected
        ),
        missing AS (
            SELECT * FROM uncovered u WHERE NOT EXISTS (
                SELECT 1 FROM meta.batches l WHERE l.feed_id = u.feed_id AND l.status = 'loaded'
                    AND u.hour BETWEEN date_trunc('hour', l.oldest_record_at) AND l.newest_record_at)
        ),
        islands AS (
            SELECT *, epoch(hour) / 3600 - row_number() OVER (PARTITION BY batch_id ORDER BY hour) AS island
            FROM missing
        )
        SELECT feed_id, min(hour), max(hour) + INTERVAL 1 HOUR, 'file rejected: ' || any_value(source_uri)
        FROM islands GROUP BY feed_id, batch_id, island ORDER BY feed_id, 2
        """
    ).fetchall()
    found: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for feed_id, start, end, reason in rows:
        found.setdefault(feed_id, []).append((start, end, reason))
    return {feed_id: tuple(windows) for feed_id, windows in found.items()}


def settled_files(con: duckdb.DuckDBPyConnection, feed_id: str, read_digest: str) -> set[str]:
    """Content SHA-256s of the feed's files that ingest will not take again (warehouse.ingest.settled):
    received or loaded, or rejected after being read with the settings of ``read_digest``."""
    from warehouse.ingest import DONE_STATUSES

    rows = con.execute(
        """
        SELECT content_sha256 FROM meta.batches WHERE feed_id = ?
            AND (list_contains(?, status) OR (status = 'rejected' AND read_digest = ?))
        """,
        [feed_id, list(DONE_STATUSES), read_digest],
    ).fetchall()
    return {row[0] for row in rows}


def rejected_to_read_again(con: duckdb.DuckDBPyConnection, feed_id: str, read_digest: str) -> int:
    """The feed's rejected batches read with other settings than ``read_digest``'s (ingest's work)."""
    return con.execute(
        "SELECT count(*) FROM meta.batches WHERE feed_id = ? AND status = 'rejected'"
        " AND read_digest IS DISTINCT FROM ?",
        [feed_id, read_digest],
    ).fetchone()[0]


def received_batches(con: duckdb.DuckDBPyConnection) -> int:
    """Batches received but not yet validated."""
    return con.execute("SELECT count(*) FROM meta.batches WHERE status = 'received'").fetchone()[0]


def undocumented_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Validation runs whose Data Docs were never built (a validate killed before building them)."""
    return con.execute("SELECT count(*) FROM quality.validation_runs WHERE docs_uri IS NULL").fetchone()[0]
