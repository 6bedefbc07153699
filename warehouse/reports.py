"""Read-only summaries of what the warehouse holds, for the command line."""

from __future__ import annotations

import duckdb


def feed_summary(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Per feed: batches, failed batches, rows read, loaded and quarantined."""
    return con.execute(
        """
        SELECT feed_id, count(*) AS batches, count(*) FILTER (WHERE status = 'failed') AS failed,
            sum(rows_read)::BIGINT, sum(rows_loaded)::BIGINT, sum(rows_quarantined)::BIGINT
        FROM meta.batches GROUP BY feed_id ORDER BY feed_id
        """
    ).fetchall()
