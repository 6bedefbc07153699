"""Read one feed file: every source value as text, every data row numbered.

A reader returns the file's columns (PII already dropped) and a SELECT that yields
``_row_number`` (the 1-based data row of the file) and one VARCHAR column per source
column, PII columns hashed as the feed's config says. It also fills the temp table
``_rejects`` with the rows the format itself could not read (a CSV line with the wrong
number of fields, broken quoting or bytes that are not valid in the file's encoding, a line
over ``MAX_RECORD_BYTES``, a JSON line that is not a JSON object), each with its reason and
line number. The SELECT and ``_rejects`` together hold every data row of the file exactly
once: one bad line never fails its file. Rows are numbered in file order, so the SELECT must
run with DuckDB's ``preserve_insertion_order`` on (the default).

CSV is read by DuckDB's reader; a file it fails on or misreads is read again record by
record (``read_csv_lines``, warehouse.csv_lines), which is slower but quarantines a bad
line alone.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from jointcast.config import FeedSettings
from jointcast.write_errors import unwritable
from warehouse.csv_lines import (
    KEPT_CHARS,
    MAX_RECORD_BYTES,
    CsvFileError,
    ReadLines,
    header_line,
    open_bytes,
    read_lines,
)
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
    by_duckdb_csv: bool = False
    """Read by DuckDB's CSV reader, which may need checking against the file's lines."""


_REJECTS = """
CREATE OR REPLACE TEMP TABLE _rejects (_row_number BIGINT, reason VARCHAR, raw_line VARCHAR)
"""


def open_rows(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    """Prepare to read ``path`` as the feed's format; the SELECT is run by the caller."""
    if path.stat().st_size == 0:
        raise FeedFileError("empty file")
    if feed.format != "parquet":
        _refuse_other_encoding(path, feed.encoding)
    con.execute(_REJECTS)
    reader = {"csv": _csv_rows, "jsonl": _jsonl_rows, "parquet": _parquet_rows}[feed.format]
    try:
        return reader(con, path, feed)
    except duckdb.Error as exc:
        if feed.format == "csv":
            return read_csv_lines(con, path, feed)
        raise FeedFileError(describe_error(exc, feed.format)) from exc
    except PiiColumnError as exc:
        raise FeedFileError(str(exc)) from None


_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def _refuse_other_encoding(path: Path, encoding: str) -> None:
    """A UTF-16 file in a feed read as UTF-8 or Latin-1 is refused with one line: read byte by
    byte, every row of it would be garbage (and its PII columns unrecognised)."""
    with open_bytes(path) as handle:
        marked = handle.read(2) in _UTF16_MARKS
    if marked and encoding != "utf-16":
        raise FeedFileError(
            f"the file is UTF-16 (it starts with a UTF-16 byte-order mark) but the feed's encoding is "
            f'{encoding}: set encoding = "utf-16" or send {encoding}'
        )


def describe_error(exc: duckdb.Error, file_format: str) -> str:
    """The reader's failure in one line; a write that failed (a full disk) is said as such."""
    return unwritable(exc) or f"cannot read as {file_format}: {_first_line(exc)}"


def _csv_source(path: Path, feed: FeedSettings) -> str:
    return f"""read_csv({literal(str(path))},
        header = true, all_varchar = true,
        delim = {literal(feed.delimiter)}, quote = '"', escape = '"',
        encoding = {literal(feed.encoding)}, max_line_size = {MAX_RECORD_BYTES},
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
        by_duckdb_csv=True,
    )


def read_csv_lines(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    """Read the file record by record (warehouse.csv_lines) into the temp table ``_csv_lines``,
    its unreadable lines into ``_rejects``: for a file DuckDB's reader fails on or misreads."""
    con.execute(_REJECTS)
    try:
        first = header_line(path, feed.encoding)
        header = _header_names(con, first, feed)
    except CsvFileError as exc:
        raise FeedFileError(f"cannot read as csv: {exc}") from None
    except duckdb.Error as exc:
        raise FeedFileError(f"cannot read the header line (line 1) as csv: {_first_line(exc)}") from exc
    typed = ", ".join(f"column{i} VARCHAR" for i in range(len(header)))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _csv_lines (_row_number BIGINT, {typed})")
    result = ReadLines()
    try:
        for chunk in read_lines(path, feed.encoding, feed.delimiter, len(header), result):
            con.register("_csv_chunk", chunk)
            try:
                con.execute("INSERT INTO _csv_lines SELECT * FROM _csv_chunk")
            finally:
                con.unregister("_csv_chunk")
    except CsvFileError as exc:
        raise FeedFileError(f"cannot read as csv: {exc}") from None
    if result.rejects:
        rows, reasons, lines = zip(*result.rejects, strict=True)
        rejected = pa.table({"row": pa.array(rows, pa.int64()), "reason": reasons, "line": lines})
        con.register("_csv_rejected", rejected)
        try:
            con.execute("INSERT INTO _rejects SELECT * FROM _csv_rejected")
        finally:
            con.unregister("_csv_rejected")
    try:
        columns, values = _pii_projection(header, feed)
    except PiiColumnError as exc:
        raise FeedFileError(str(exc)) from None
    renamed = ", ".join(f"column{i} AS {quote(c)}" for i, c in enumerate(header))
    return SourceRows(
        tuple(columns),
        f"SELECT _row_number, {values} FROM (SELECT _row_number, {renamed} FROM _csv_lines ORDER BY 1)",
        tuple(header),
    )


def _header_names(con: duckdb.DuckDBPyConnection, line: str, feed: FeedSettings) -> list[str]:
    """The column names DuckDB gives the header line (a repeated name renamed ``<name>_1``), one
    per field: the same names a file DuckDB reads whole gets."""
    try:
        [fields] = list(csv.reader([line], delimiter=feed.delimiter, quotechar='"', strict=True))
    except (csv.Error, ValueError):
        raise CsvFileError("the header line (line 1) is not one line of fields") from None
    with tempfile.TemporaryDirectory(prefix="jointcast-header-") as folder:
        header_file = Path(folder) / "header.csv"
        header_file.write_text(line + "\n", encoding="utf-8")
        source = f"""read_csv({literal(str(header_file))}, header = true, all_varchar = true,
            delim = {literal(feed.delimiter)}, quote = '"', escape = '"')"""
        names = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    if len(names) != len(fields):
        raise CsvFileError(f"the header line (line 1) has {len(fields)} fields but reads as {len(names)}")
    return names


REJECTED_BEFORE = """
    SELECT count(*) FROM (
        SELECT _row_number - row_number() OVER (ORDER BY _row_number) AS kept_before FROM _rejects
    ) AS gaps WHERE gaps.kept_before < {row}
"""
"""How many rejected rows come before the {row}-th row the reader kept: a kept row's true number is
its number among the kept rows plus this (each rejected row leaves a gap in the reader's count)."""


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def collect_csv_rejects(con: duckdb.DuckDBPyConnection, header_lines: int = 1) -> int:
    """Move the CSV reader's rejected lines into ``_rejects``; returns how many there were."""
    con.execute(
        f"""
        INSERT INTO _rejects
        SELECT DISTINCT ON (line) line - {int(header_lines)}, 'unreadable_row: ' || lower(error_type)
            || coalesce(': ' || error_message, '') || ' (line ' || line || ')', left(csv_line, {KEPT_CHARS})
        FROM _csv_rejects ORDER BY line, byte_position  -- a line's first error names it
        """
    )
    for table in ("_csv_rejects", "_csv_scans"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return con.execute("SELECT count(*) FROM _rejects").fetchone()[0]


def _jsonl_rows(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    # Read whole lines (JSON text never holds a raw 0x1e byte), then parse them here so a
    # malformed line is a quarantined row rather than a failed file. Blank lines are not rows. An
    # object naming a key twice is quarantined too: which of its values counts is anyone's guess.
    # A line over the size limit or with bytes not valid in the encoding is rejected by the line
    # reader; the lines around it are renumbered to their true line numbers, as CSV rows are.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _lines AS
        SELECT row_number() OVER () AS _row_number, line
        FROM read_csv({literal(str(path))}, columns = {{'line': 'VARCHAR'}},
            header = false, delim = '\x1e', quote = '', escape = '', auto_detect = false,
            encoding = {literal(feed.encoding)}, max_line_size = {MAX_RECORD_BYTES},
            store_rejects = true, rejects_table = '_csv_rejects', rejects_scan = '_csv_scans')
        """
    )
    if collect_csv_rejects(con, header_lines=0):
        con.execute(
            f"UPDATE _lines SET _row_number = _row_number + ({REJECTED_BEFORE.format(row='_row_number')})"
        )
    con.execute(
        """
        DELETE FROM _lines WHERE line IS NULL OR trim(line) = '';
        CREATE OR REPLACE TEMP TABLE _objects AS
        SELECT _row_number, line FROM _lines
        WHERE json_valid(line) AND json_type(line) = 'OBJECT'
            AND len(json_keys(line)) = len(list_distinct(json_keys(line)));
        INSERT INTO _rejects
        SELECT _row_number, CASE WHEN NOT json_valid(line) THEN 'malformed_json'
            WHEN json_type(line) <> 'OBJECT' THEN 'not_a_json_object'
            ELSE 'duplicate_json_key' END, line
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
