"""What the stages last built from (meta.stage_inputs), and the warehouse facts behind it."""

from __future__ import annotations

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


def settled_files(con: duckdb.DuckDBPyConnection, feed_id: str, statuses: tuple[str, ...]) -> set[str]:
    """Content SHA-256s of the feed's files that ingest will not take again."""
    rows = con.execute(
        "SELECT content_sha256 FROM meta.batches WHERE feed_id = ? AND list_contains(?, status)",
        [feed_id, list(statuses)],
    ).fetchall()
    return {row[0] for row in rows}


def received_batches(con: duckdb.DuckDBPyConnection) -> int:
    """Batches received but not yet validated."""
    return con.execute("SELECT count(*) FROM meta.batches WHERE status = 'received'").fetchone()[0]


def undocumented_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Validation runs whose Data Docs were never built (a validate killed before building them)."""
    return con.execute("SELECT count(*) FROM quality.validation_runs WHERE docs_uri IS NULL").fetchone()[0]
