"""Read one feed file: every source value as text, every data row numbered.

A reader returns the file's columns (PII already dropped) and a SELECT that yields
``_row_number`` (the 1-based data row of the file) and one VARCHAR column per source
column, PII columns hashed as the feed's config says. It also fills the temp table
``_rejects`` with the rows the format itself could not read (a CSV line with the wrong
number of fields or bytes that are not valid in the file's encoding, a JSON line that is
not a JSON object), each with its reason. The SELECT and ``_rejects`` together hold every
data row of the file exactly once. Rows are numbered in file order, so the SELECT must
run with DuckDB's ``preserve_insertion_order`` on (the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from jointcast.config import FeedSettings
from warehouse.db import literal, quote
from warehouse.pii import PiiColumnError, hash_sql, split_pii


class FeedFileError(RuntimeError):
    """A file that cannot be read as a batch at all (empty, wrong format, missing column)."""


@dataclass(frozen=True)
class SourceRows:
    columns: tuple[str, ...]
    select_sql: str
    header: tuple[str, ...] = ()
    """Every column of the file as read, PII ones included (to split unreadable rows by)."""


_REJECTS = """
CREATE OR REPLACE TEMP TABLE _rejects (_row_number BIGINT, reason VARCHAR, raw_line VARCHAR)
"""


def open_rows(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    """Prepare to read ``path`` as the feed's format; the SELECT is run by the caller."""
    if path.stat().st_size == 0:
        raise FeedFileError("empty file")
    con.execute(_REJECTS)
    reader = {"csv": _csv_rows, "jsonl": _jsonl_rows, "parquet": _parquet_rows}[feed.format]
    try:
        return reader(con, path, feed)
    except duckdb.Error as exc:
        raise FeedFileError(describe_error(exc, feed.format)) from exc
    except PiiColumnError as exc:
        raise FeedFileError(str(exc)) from None


def describe_error(exc: duckdb.Error, file_format: str) -> str:
    first_line = str(exc).strip().splitlines()[0]
    return f"cannot read as {file_format}: {first_line}"


def _csv_source(path: Path, feed: FeedSettings) -> str:
    return f"""read_csv({literal(str(path))},
        header = true, all_varchar = true,
        delim = {literal(feed.delimiter)}, quote = '"', escape = '"',
        encoding = {literal(feed.encoding)},
        store_rejects = true, rejects_table = '_csv_rejects', rejects_scan = '_csv_scans')"""


def _csv_rows(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    source = _csv_source(path, feed)
    header = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    columns, values = _pii_projection(header, feed)
    # Naming the whole row (a condition that is always true) makes DuckDB read every column: the 1.5
    # reader fails with an internal error when it rejects a line while reading only some of them.
    return SourceRows(
        tuple(columns),
        f"SELECT row_number() OVER () AS _row_number, {values} FROM {source} AS _csv_row"
        " WHERE _csv_row IS NOT NULL",
        tuple(header),
    )


def collect_csv_rejects(con: duckdb.DuckDBPyConnection) -> int:
    """Move the CSV reader's rejected lines into ``_rejects``; returns how many there were."""
    con.execute(
        """
        INSERT INTO _rejects
        SELECT DISTINCT ON (line) line - 1, 'unreadable_row: ' || lower(error_type)
            || coalesce(': ' || error_message, ''), csv_line
        FROM _csv_rejects ORDER BY line
        """
    )
    for table in ("_csv_rejects", "_csv_scans"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return con.execute("SELECT count(*) FROM _rejects").fetchone()[0]


def _jsonl_rows(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    # Read whole lines (JSON text never holds a raw 0x1e byte), then parse them here so a
    # malformed line is a quarantined row rather than a failed file. Blank lines are not rows.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _lines AS
        SELECT row_number() OVER () AS _row_number, line
        FROM read_csv({literal(str(path))}, columns = {{'line': 'VARCHAR'}},
            header = false, delim = '\x1e', quote = '', escape = '', auto_detect = false,
            encoding = {literal(feed.encoding)})
        """
    )
    con.execute(
        """
        DELETE FROM _lines WHERE line IS NULL OR trim(line) = '';
        CREATE OR REPLACE TEMP TABLE _objects AS
        SELECT _row_number, line FROM _lines
        WHERE json_valid(line) AND json_type(line) = 'OBJECT';
        INSERT INTO _rejects
        SELECT _row_number, CASE WHEN json_valid(line) THEN 'not_a_json_object'
            ELSE 'malformed_json' END, line
        FROM _lines WHERE _row_number NOT IN (SELECT _row_number FROM _objects);
        DROP TABLE _lines;
        """
    )
    keys = con.execute(
        """
        SELECT key FROM (SELECT unnest(json_keys(line)) AS key, _row_number FROM _objects)
        GROUP BY key ORDER BY min(_row_number), key
        """
    ).fetchall()
    header = [row[0] for row in keys]
    if not header:
        raise FeedFileError("no JSON object lines")
    paths = "[" + ", ".join(literal('$."' + c.replace('"', '\\"') + '"') for c in header) + "]"
    extracted = ", ".join(f"v[{i + 1}] AS {quote(c)}" for i, c in enumerate(header))
    columns, values = _pii_projection(header, feed)
    return SourceRows(
        tuple(columns),
        f"""SELECT _row_number, {values} FROM (
            SELECT _row_number, {extracted} FROM (
                SELECT _row_number, json_extract_string(line, {paths}) AS v FROM _objects
            ) ORDER BY _row_number
        )""",
        tuple(header),
    )


def _parquet_rows(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    source = f"read_parquet({literal(str(path))}, file_row_number = true)"
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({literal(str(path))})").fetchall()
    types = {row[0]: row[1] for row in described}
    header = list(types)
    texts = ", ".join(f"{_as_text(quote(c), types[c])} AS {quote(c)}" for c in header)
    columns, values = _pii_projection(header, feed)
    return SourceRows(
        tuple(columns),
        f"""SELECT _row_number, {values} FROM (
            SELECT file_row_number + 1 AS _row_number, {texts} FROM {source}
        )""",
        tuple(header),
    )


def _as_text(column: str, column_type: str) -> str:
    """A Parquet value as text; a zoned timestamp as its UTC time with "+00", whatever the
    session's time zone, and a naive one as the wall-clock time it holds."""
    if column_type == "TIMESTAMP WITH TIME ZONE":
        return f"CAST(timezone('UTC', {column}) AS VARCHAR) || '+00'"
    return f"CAST({column} AS VARCHAR)"


def _pii_projection(header: list[str], feed: FeedSettings) -> tuple[list[str], str]:
    """The columns kept and a select list that drops or key-hashes the feed's PII columns
    (warehouse.pii: any case, duplicates included; a configured column missing is an error)."""
    drop, hashed = split_pii(header, feed.pii, feed.id)
    kept = [c for c in header if c not in drop]
    values = ", ".join(f"{hash_sql(quote(c))} AS {quote(c)}" if c in hashed else quote(c) for c in kept)
    return kept, values
