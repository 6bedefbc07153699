"""Read one feed file into DuckDB temp tables: every source value as text, numbered rows.

Each reader leaves two temp tables on the connection:

- ``_incoming``: ``_row_number`` (1-based data row of the file) and one VARCHAR column per
  source column, PII already dropped or hashed as the feed's config says;
- ``_rejects``: rows the format itself could not read (a CSV line with the wrong number of
  fields or bad bytes, a JSON line that is not a JSON object), with the reason.

Together they hold every data row of the file exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from jointcast.config import FeedSettings
from warehouse.db import literal, quote


class FeedFileError(RuntimeError):
    """A file that cannot be read as a batch at all (empty, wrong format, missing column)."""


@dataclass(frozen=True)
class ReadResult:
    columns: tuple[str, ...]
    rows_read: int
    rows_rejected: int


_REJECTS = """
CREATE OR REPLACE TEMP TABLE _rejects (
    _row_number BIGINT, reason VARCHAR, raw_line VARCHAR
)
"""


def read_file(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> ReadResult:
    """Load ``path`` into ``_incoming`` / ``_rejects`` according to the feed's format."""
    if path.stat().st_size == 0:
        raise FeedFileError("empty file")
    con.execute(_REJECTS)
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[feed.format]
    try:
        columns = reader(con, path, feed)
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise FeedFileError(f"cannot read as {feed.format}: {first_line}") from exc
    columns = _apply_pii(con, columns, feed)
    incoming = con.execute("SELECT count(*) FROM _incoming").fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM _rejects").fetchone()[0]
    return ReadResult(tuple(columns), incoming + rejected, rejected)


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> list[str]:
    for table in ("_csv_rejects", "_csv_scans"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _read AS
        SELECT * FROM read_csv({literal(str(path))},
            header = true, all_varchar = true,
            delim = {literal(feed.delimiter)}, quote = '"', escape = '"',
            encoding = {literal(feed.encoding)},
            store_rejects = true, rejects_table = '_csv_rejects', rejects_scan = '_csv_scans')
        """
    )
    columns = [row[0] for row in con.execute("DESCRIBE _read").fetchall()]
    # A rejected line leaves a gap: shift the numbers of the rows after it.
    con.execute(
        """
        INSERT INTO _rejects
        SELECT DISTINCT ON (line) line - 1, 'unreadable_row: ' || lower(error_type)
            || coalesce(': ' || error_message, ''), csv_line
        FROM _csv_rejects ORDER BY line
        """
    )
    select = ", ".join(quote(c) for c in columns)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _incoming AS
        WITH numbered AS (
            SELECT rowid - (SELECT min(rowid) FROM _read) + 1 AS n, {select} FROM _read
        ),
        gaps AS (
            SELECT _row_number - row_number() OVER (ORDER BY _row_number) AS before
            FROM _rejects
        )
        SELECT n + (SELECT count(*) FROM gaps WHERE gaps.before < n) AS _row_number, {select}
        FROM numbered
        """
    )
    con.execute("DROP TABLE _read")
    return columns


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> list[str]:
    # Read whole lines (JSON text never holds a raw 0x1e byte), then parse them here so a
    # malformed line is a quarantined row rather than a failed file.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _all_lines AS
        SELECT line FROM read_csv({literal(str(path))}, columns = {{'line': 'VARCHAR'}},
            header = false, delim = '\x1e', quote = '', escape = '', auto_detect = false,
            encoding = {literal(feed.encoding)})
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _lines AS
        SELECT rowid - (SELECT min(rowid) FROM _all_lines) + 1 AS _row_number, line
        FROM _all_lines WHERE line IS NOT NULL AND trim(line) <> ''
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _valid AS
        SELECT _row_number, line FROM _lines WHERE json_valid(line)
        """
    )
    con.execute(
        """
        INSERT INTO _rejects
        SELECT _row_number, 'malformed_json', line FROM _lines
        WHERE NOT json_valid(line)
        UNION ALL
        SELECT _row_number, 'not_a_json_object', line FROM _valid
        WHERE json_type(line) <> 'OBJECT'
        """
    )
    columns = [
        row[0]
        for row in con.execute(
            """
            SELECT key FROM (
                SELECT unnest(json_keys(line)) AS key, _row_number FROM _valid
                WHERE json_type(line) = 'OBJECT'
            ) GROUP BY key ORDER BY min(_row_number), key
            """
        ).fetchall()
    ]
    if not columns:
        raise FeedFileError("no JSON object lines")
    paths = "[" + ", ".join(literal('$."' + c.replace('"', '\\"') + '"') for c in columns) + "]"
    values = ", ".join(f"v[{i + 1}] AS {quote(c)}" for i, c in enumerate(columns))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _incoming AS
        SELECT _row_number, {values} FROM (
            SELECT _row_number, json_extract_string(line, {paths}) AS v FROM _valid
            WHERE json_type(line) = 'OBJECT'
        )
        """
    )
    con.execute("DROP TABLE _all_lines; DROP TABLE _lines; DROP TABLE _valid")
    return columns


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> list[str]:
    source = f"read_parquet({literal(str(path))})"
    columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    values = ", ".join(f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}" for c in columns)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _incoming AS
        SELECT file_row_number + 1 AS _row_number, {values}
        FROM read_parquet({literal(str(path))}, file_row_number = true)
        """
    )
    return columns


def _apply_pii(con: duckdb.DuckDBPyConnection, columns: list[str], feed: FeedSettings) -> list[str]:
    """Drop or hash the feed's PII columns before anything is stored."""
    drop = set(feed.pii.drop)
    hashed = set(feed.pii.hash)
    if not (drop | hashed) & set(columns):
        return columns
    kept = [c for c in columns if c not in drop]
    values = ", ".join(
        f"CASE WHEN {quote(c)} IS NULL THEN NULL ELSE sha256({quote(c)}) END AS {quote(c)}"
        if c in hashed
        else quote(c)
        for c in kept
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _incoming AS SELECT _row_number, {values} FROM _incoming")
    return kept
