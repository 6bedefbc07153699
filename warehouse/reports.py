"""Read-only summaries of what the warehouse holds, for the command line."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from jointcast.config import FeedSettings
from warehouse.mapping import reason_columns


def feed_summary(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Per feed: batches, pending and failed batches, rows read, loaded and quarantined."""
    return con.execute(
        """
        SELECT feed_id, count(*) AS batches,
            count(*) FILTER (WHERE status = 'received') AS pending,
            count(*) FILTER (WHERE status IN ('failed', 'rejected')) AS failed,
            sum(rows_read)::BIGINT, sum(rows_loaded)::BIGINT, sum(rows_quarantined)::BIGINT
        FROM meta.batches GROUP BY feed_id ORDER BY feed_id
        """
    ).fetchall()


ISSUE_TABLES = ("quarantine", "field_issues")
"""quality.quarantine (rows not loaded) and quality.field_issues (rows loaded with fields set aside)."""


def quarantine_reasons(con: duckdb.DuckDBPyConnection, table: str = "quarantine") -> list[tuple]:
    """Per feed and reason (the code before any ':' detail): rows quarantined (or, ``table``
    "field_issues", loaded with fields set aside)."""
    assert table in ISSUE_TABLES
    return con.execute(
        f"""
        SELECT feed_id, split_part(reason, ':', 1) AS reason, count(*)::BIGINT
        FROM (SELECT feed_id, unnest(reasons) AS reason FROM quality.{table})
        GROUP BY ALL ORDER BY feed_id, 3 DESC
        """
    ).fetchall()


def reason_examples(
    con: duckdb.DuckDBPyConnection,
    feeds: Iterable[FeedSettings],
    top: int = 3,
    table: str = "quarantine",
    counted: list[tuple] | None = None,
) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """(feed, reason) -> the most common values (several columns each named, joined by " | ") of the source
    columns behind the reason (warehouse.mapping.reason_columns), with their row counts, in
    quality.quarantine or (``table``) quality.field_issues."""
    assert table in ISSUE_TABLES
    counted = quarantine_reasons(con, table) if counted is None else counted  # what quality already read
    present = {(feed_id, reason) for feed_id, reason, _rows in counted}
    found: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for feed in feeds:
        for reason, columns in reason_columns(feed).items():
            if (feed.id, reason) not in present:
                continue
            # several columns: each value named by its column ("MapY=0 | MapX=0"), one: the value alone
            named = len(columns) > 1
            cell = "coalesce(json_extract_string(raw_values, ?), '')"
            value = " || ' | ' || ".join(f"? || '=' || {cell}" if named else cell for _ in columns)
            keys = [p for c in columns for p in ((c, _json_key(c)) if named else (_json_key(c),))]
            rows = con.execute(
                f"""
                SELECT {value} AS value, count(*)::BIGINT AS n FROM quality.{table}
                WHERE feed_id = ? AND list_contains(list_transform(reasons, r -> split_part(r, ':', 1)), ?)
                GROUP BY value ORDER BY n DESC, value LIMIT ?
                """,
                [*keys, feed.id, reason, top],
            ).fetchall()
            if rows:
                found[(feed.id, reason)] = [(v, n) for v, n in rows]
    return found


def _json_key(key: str) -> str:
    """The JSON path of an object's member named ``key``, whatever characters it holds."""
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'$."{escaped}"'


def last_failures(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """Per feed: when its last failed or rejected batch was, and why."""
    rows = con.execute(
        """
        SELECT feed_id, arg_max(loaded_at, batch_id), arg_max(message, batch_id)
        FROM meta.batches WHERE status IN ('failed', 'rejected') GROUP BY feed_id
        """
    ).fetchall()
    return {feed: (when, message) for feed, when, message in rows}


def latest_docs(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute(
        "SELECT docs_uri FROM quality.validation_runs WHERE docs_uri IS NOT NULL"
        " ORDER BY validated_at DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def feed_outages(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """quality.outages, per feed and oldest first: feed_id, start_at, end_at, hours, how_found,
    records_seen, expected_records, reason (empty before the features stage made the table)."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'quality' AND table_name = 'outages'"
    ).fetchone()[0]
    if not exists:
        return []
    return con.execute(
        """
        SELECT feed_id, start_at, end_at, hours, how_found, records_seen, expected_records, reason
        FROM quality.outages ORDER BY feed_id, start_at, how_found
        """
    ).fetchall()
