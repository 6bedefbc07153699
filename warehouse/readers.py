"""Read one feed file: every source value as text, every data row numbered.

A reader returns the file's columns (PII already dropped) and a SELECT that yields
``_row_number`` (the 1-based data row of the file) and one VARCHAR column per source
column, PII columns hashed as the feed's config says. It also fills the temp table
``_rejects`` with the rows the format itself could not read (a CSV line with the wrong
number of fields, broken quoting or bytes that are not valid in the file's encoding, a line
over ``MAX_RECORD_BYTES``, a JSON line or array element that is not a JSON object), each with its
reason and line number (an array element's place in the array). The SELECT and ``_rejects``
together hold every data row of the file exactly once: one bad line never fails its file. Rows
are numbered in file order, so the SELECT must run with DuckDB's ``preserve_insertion_order`` on
(the default).

CSV is read by DuckDB's reader; a file it fails on or misreads is read again record by
record (``read_csv_lines``, warehouse.csv_lines), which is slower but quarantines a bad
line alone. JSON (one array, or an ArcGIS response) and JSON Lines rows are objects whose nested
objects' fields become columns of their own, named by their dotted path (``geo.lat``).
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from dataclasses import dataclass, replace
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
from warehouse.db import literal, load_extension, quote
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
    header_lines: int = 1
    """Lines up to the header's (a CSV's ``header_row``): a data row's line is its number plus these."""
    notes: tuple[str, ...] = ()
    """What the file says that a person should know, though every row of it is read (warnings)."""


_REJECTS = """
CREATE OR REPLACE TEMP TABLE _rejects (_row_number BIGINT, reason VARCHAR, raw_line VARCHAR)
"""


def open_rows(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    """Prepare to read ``path`` as the feed's format; the SELECT is run by the caller."""
    if path.stat().st_size == 0:
        raise FeedFileError("empty file")
    if feed.format not in BINARY_FORMATS:
        _refuse_other_encoding(path, feed.encoding)
    con.execute(_REJECTS)
    readers = {
        "csv": _csv_rows, "json": _json_rows, "jsonl": _jsonl_rows, "parquet": _parquet_rows,
        "xlsx": _xlsx_rows,
    }  # fmt: skip
    reader = readers[feed.format]
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
        header = true, all_varchar = true, skip = {feed.header_row - 1},
        delim = {literal(feed.delimiter)}, quote = '"', escape = '"',
        encoding = {literal(feed.encoding)}, max_line_size = {MAX_RECORD_BYTES},
        store_rejects = true, rejects_table = '_csv_rejects', rejects_scan = '_csv_scans')"""


DUCKDB_ENCODINGS = ("utf-8", "latin-1", "utf-16")
"""The encodings DuckDB's CSV reader decodes itself; a file in another (cp1252) is read record by record."""


def _csv_rows(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    if feed.encoding not in DUCKDB_ENCODINGS:
        return read_csv_lines(con, path, feed)
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
        header_lines=feed.header_row,
    )


def read_csv_lines(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    """Read the file record by record (warehouse.csv_lines) into the temp table ``_csv_lines``,
    its unreadable lines into ``_rejects``: for a file DuckDB's reader fails on or misreads."""
    con.execute(_REJECTS)
    try:
        first = header_line(path, feed.encoding, feed.header_row)
        header = _header_names(con, first, feed)
    except CsvFileError as exc:
        raise FeedFileError(f"cannot read as csv: {exc}") from None
    except duckdb.Error as exc:
        raise FeedFileError(
            f"cannot read the header line (line {feed.header_row}) as csv: {_first_line(exc)}"
        ) from exc
    typed = ", ".join(f"column{i} VARCHAR" for i in range(len(header)))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _csv_lines (_row_number BIGINT, {typed})")
    result = ReadLines()
    try:
        for chunk in read_lines(path, feed.encoding, feed.delimiter, len(header), result, feed.header_row):
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
        raise CsvFileError(f"the header line (line {feed.header_row}) is not one line of fields") from None
    with tempfile.TemporaryDirectory(prefix="jointcast-header-") as folder:
        header_file = Path(folder) / "header.csv"
        header_file.write_text(line + "\n", encoding="utf-8")
        source = f"""read_csv({literal(str(header_file))}, header = true, all_varchar = true,
            delim = {literal(feed.delimiter)}, quote = '"', escape = '"')"""
        names = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    if len(names) != len(fields):
        raise CsvFileError(
            f"the header line (line {feed.header_row}) has {len(fields)} fields but reads as {len(names)}"
        )
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
    # malformed line is a quarantined row rather than a failed file. Blank lines are not rows.
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
    con.execute("DELETE FROM _lines WHERE line IS NULL OR trim(line) = ''")
    if _first_character(path) == "[" and _one_json_array(con):
        raise FeedFileError(f"the file is one JSON array, not JSON Lines: set format = {_JSON}")
    return _object_rows(con, feed, "no JSON object lines")


_JSON, _JSONL = '"json"', '"jsonl"'
_PEEK = 1 << 20
CHUNK_BYTES = 8 << 20
"""Bytes read from a file's start to tell its shape (its first character, its first line)."""


def _first_character(path: Path) -> str:
    """The file's first character after a UTF-8 byte-order mark and white space ('' when none)."""
    with open_bytes(path) as handle:
        text = handle.read(_PEEK).removeprefix(b"\xef\xbb\xbf").lstrip()
    return text[:1].decode("latin-1")


def _one_json_array(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the lines of a file that starts with '[' are one JSON array rather than JSON Lines:
    its first line is no JSON value by itself (an array broken across lines, or a line too long to
    read), or it is the file's one line and holds no object."""
    first, valid, lines, objects = con.execute(
        """
        SELECT min(_row_number), arg_min(json_valid(line), _row_number), count(*),
            count(*) FILTER (WHERE CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' END)
        FROM _lines
        """
    ).fetchone()
    rejected_before = con.execute(
        "SELECT count(*) FROM _rejects WHERE _row_number < coalesce(?, 1 << 62)", [first]
    ).fetchone()[0]
    return rejected_before > 0 or not valid or (lines == 1 and objects == 0)


def _json_rows(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    """A file holding one JSON array of objects, each element a row numbered by its place in the array
    (1 for the first); or an ArcGIS REST response, ``{"features": [{"attributes": {...}, "geometry":
    {...}}, ...]}``, each feature a row of its attributes (and ``geometry.x``, ``geometry.y``).

    DuckDB's reader streams the array's elements, so a large file is never held whole; an element
    that is no JSON object is quarantined alone. An array with a syntax error (an unquoted word,
    brackets or strings that do not close, trailing text) or bytes that are not UTF-8 fails as a
    whole, in one line: the reader cannot tell where the elements around the error begin and end.
    """
    first = _first_character(path)
    if first == "[":
        _read_json(
            con,
            f"""CREATE OR REPLACE TEMP TABLE _lines AS
            SELECT row_number() OVER () AS _row_number, CAST(json AS VARCHAR) AS line
            FROM read_json_objects({literal(str(path))}, format = 'array')""",
            "not one well-formed JSON array",
        )
        unwrap, notes = None, ()
    elif first == "{":
        _refuse_json_lines(path)
        unwrap, notes = _features(con, path)
    else:
        found = "holds nothing but white space" if not first else f"starts with {first!r}"
        raise FeedFileError(f"the file is not a JSON array: it {found}")
    con.execute(
        f"""
        INSERT INTO _rejects
        SELECT _row_number, 'unreadable_row: element over {MAX_RECORD_BYTES} bytes (element '
            || _row_number || ')', left(line, {KEPT_CHARS})
        FROM _lines WHERE strlen(line) > {MAX_RECORD_BYTES};
        DELETE FROM _lines WHERE strlen(line) > {MAX_RECORD_BYTES};
        """
    )
    if not con.execute("SELECT count(*) FROM _lines").fetchone()[0] and not _rejected(con):
        raise FeedFileError("the JSON array is empty: no rows")
    rows = _object_rows(con, feed, "no JSON objects in the array", unwrap=unwrap)
    return replace(rows, notes=notes)


def _text_bytes(path: Path) -> int:
    """The file's size, decompressed where its name says it is compressed (as DuckDB reads it)."""
    if path.suffix not in (".gz", ".bz2", ".xz", ".zip", ".zst"):
        return path.stat().st_size
    size = 0
    with open_bytes(path) as handle:
        while block := handle.read(CHUNK_BYTES):
            size += len(block)
    return size


def _rejected(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM _rejects").fetchone()[0]


def _read_json(con: duckdb.DuckDBPyConnection, sql: str, what: str) -> None:
    """Run ``sql``, a read of the file by DuckDB's JSON reader; a malformed file is one line."""
    try:
        con.execute(sql)
    except duckdb.InvalidInputException as exc:
        detail = re.sub(r' in file "[^"]*"', "", _first_line(exc)).removeprefix("Invalid Input Error: ")
        raise FeedFileError(f"{what}: {detail.rstrip(' .')}") from None


def _refuse_json_lines(path: Path) -> None:
    """A file of one JSON object per line in a json feed is refused in one line saying so."""
    with open_bytes(path) as handle:
        text = handle.read(_PEEK).removeprefix(b"\xef\xbb\xbf").lstrip()
    first, newline, rest = text.partition(b"\n")
    try:
        record = json.loads(first)
    except ValueError:  # an object broken across lines, or longer than what was read
        return
    if newline and isinstance(record, dict) and rest.strip():
        raise FeedFileError(
            f"the file is JSON Lines (one JSON object per line), not one JSON array: set format = {_JSONL}"
        )


def _features(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, tuple[str, ...]]:
    """The features of an ArcGIS REST response (``f=json``) or a GeoJSON FeatureCollection into
    ``_lines``, numbered by their place in ``features``; returns the key whose fields are named without
    it (``attributes``, ``properties``) and what the response says a person should know. The file is
    read whole: ArcGIS pages its results (a server's maxRecordCount, 1,000 or 2,000 features), so one
    response is small. A GeoJSON feature is its ``properties`` and its ``geometry`` (the point in
    ``geometry.coordinates``, ``[longitude, latitude]``); its ``type`` ("Feature") is no column."""
    size = min(max(_text_bytes(path) + 1, 16 << 20), (1 << 32) - 1)
    _read_json(
        con,
        f"""CREATE OR REPLACE TEMP TABLE _document AS
        SELECT json FROM read_json_objects({literal(str(path))}, format = 'unstructured',
            maximum_object_size = {size})""",
        "not one well-formed JSON value",
    )
    [(values, kind, features, error, exceeded, geojson)] = con.execute(
        """
        SELECT count(*), any_value(json_type(json)), any_value(json_type(json, '$.features')),
            any_value(coalesce(json_extract_string(json, '$.error.code') || ' ', '')
                || json_extract_string(json, '$.error.message')),
            any_value(json_extract_string(json, '$.exceededTransferLimit')),
            coalesce(any_value(json_extract_string(json, '$.type') = 'FeatureCollection'), false)
        FROM _document
        """
    ).fetchall()
    if values > 1:
        raise FeedFileError(
            f"the file holds {values} JSON values one after another (JSON Lines), not one JSON array:"
            f" set format = {_JSONL}"
        )
    if error is not None:
        raise FeedFileError(f"the file is an ArcGIS error response: {error}")
    if kind != "OBJECT" or features != "ARRAY":
        raise FeedFileError(
            "the file is one JSON object, not an array of objects, an ArcGIS response"
            ' ({"features": [...]}) nor a GeoJSON FeatureCollection'
        )
    # a GeoJSON feature: its properties and geometry, without the "type" every feature holds
    line = "f"
    if geojson:
        line = ("CASE WHEN json_type(f) = 'OBJECT' THEN json_object('properties', f -> '$.properties',"
                " 'geometry', f -> '$.geometry') ELSE f END")  # fmt: skip
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _lines AS
        SELECT i AS _row_number, CAST({line} AS VARCHAR) AS line FROM (
            SELECT generate_subscripts(features, 1) AS i, unnest(features) AS f
            FROM (SELECT json_extract(json, '$.features[*]') AS features FROM _document)
        );
        DROP TABLE _document;
        """
    )
    if geojson:
        return "properties", ()
    if exceeded != "true":
        return "attributes", ()
    return "attributes", (
        "the ArcGIS response says exceededTransferLimit: the query matched more features than it holds;"
        " page it (resultOffset) so that every feature is read",
    )


def _object_rows(
    con: duckdb.DuckDBPyConnection, feed: FeedSettings, none_found: str, unwrap: str | None = None
) -> SourceRows:
    """Rows of the JSON values in ``_lines`` (``_row_number``, ``line``): each object is a row,
    anything else is quarantined. A nested object's fields are columns of their own, named by their
    path (``{"geo": {"lat": 1}}`` is ``geo.lat``); an array is one column holding its JSON text, as
    is a key whose value is an object in some rows and not in others. An object that names a key
    twice, or that gives one column two values (``"geo.lat"`` beside ``"geo": {"lat": ...}``), is
    quarantined: which of its values counts is anyone's guess. ``unwrap``: a key whose object's
    fields are named without it (an ArcGIS feature's ``attributes``)."""
    con.execute(
        """
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
    # Only a file with a '{' inside a line can nest objects: the others are spared the structure's pass.
    [nested] = con.execute("SELECT bool_or(contains(substr(line, 2), '{')) FROM _objects").fetchone()
    if nested:
        [structure] = con.execute("SELECT json_group_structure(line::JSON) FROM _objects").fetchone()
        shape = json.loads(structure) if structure else None
        order = _key_order(con, list(_object_paths(shape, ())))
    else:
        order = _key_order(con, ["$"])
        shape = dict.fromkeys(order["$"], "JSON")
    columns: dict[str, list[str]] = {}
    objects: list[str] = []
    if isinstance(shape, dict) and shape:  # else no objects, or only empty ones ({})
        _fields(shape, (), unwrap, order, columns, objects)
    if not columns:
        raise FeedFileError(none_found)
    paths = [path for found in columns.values() for path in found]
    checks = [f"len(json_keys(line, {literal(p)})) = len(list_distinct(json_keys(line, {literal(p)})))"
              for p in objects]  # fmt: skip
    checks += [
        " + ".join(f"(json_extract(line, {literal(p)}) IS NOT NULL)::INTEGER" for p in found) + " <= 1"
        for found in columns.values()
        if len(found) > 1
    ]
    if checks:
        unique = " AND ".join(f"coalesce({check}, true)" for check in checks)
        con.execute(
            f"""
            INSERT INTO _rejects SELECT _row_number, 'duplicate_json_key', line FROM _objects
            WHERE NOT ({unique});
            DELETE FROM _objects WHERE NOT ({unique});
            """
        )
    index = {path: i + 1 for i, path in enumerate(paths)}
    header = list(columns)
    extracted = ", ".join(
        f"coalesce({', '.join(f'v[{index[p]}]' for p in found)}) AS {quote(name)}"
        for name, found in columns.items()
    )
    listed = "[" + ", ".join(literal(p) for p in paths) + "]"
    kept, values = _pii_projection(header, feed, nested=True)
    return SourceRows(
        tuple(kept),
        f"""SELECT _row_number, {values} FROM (
            SELECT _row_number, {extracted} FROM (
                SELECT _row_number, json_extract_string(line, {listed}) AS v FROM _objects
            ) ORDER BY _row_number
        )""",
        tuple(header),
    )


def _fields(structure: object, path: tuple[str, ...], unwrap: str | None, order: dict[str, dict[str, int]],
            columns: dict[str, list[str]], objects: list[str]) -> None:  # fmt: skip
    """Collect the columns of a JSON structure (DuckDB's ``json_group_structure`` of the file's rows):
    column name -> the JSON paths that fill it; ``objects``: the paths of the nested objects. Each
    object's keys come in ``order``."""
    if isinstance(structure, dict) and structure:
        here = _json_path(path)
        if path:
            objects.append(here)
        rank = order.get(here, {})
        for key in sorted(structure, key=lambda k: (rank.get(k, len(rank)), k)):
            _fields(structure[key], (*path, key), unwrap, order, columns, objects)
        return
    named = path[1:] if unwrap is not None and len(path) > 1 and path[0] == unwrap else path
    columns.setdefault(".".join(named), []).append(_json_path(path))


def _key_order(con: duckdb.DuckDBPyConnection, paths: list[str]) -> dict[str, dict[str, int]]:
    """Each object path -> its keys' ranks in the order they first appear in the file, as written in
    the first row that has them (a structure's own order depends on how DuckDB's threads shared the
    rows)."""
    if not paths:
        return {}
    selects = " UNION ALL ".join(
        f"SELECT {i} AS object, unnest(keys) AS key, generate_subscripts(keys, 1) AS place, _row_number"
        f" FROM (SELECT _row_number, json_keys(line, {literal(p)}) AS keys FROM _objects)"
        for i, p in enumerate(paths)
    )
    order: dict[str, dict[str, int]] = {p: {} for p in paths}
    for i, key in con.execute(
        f"""SELECT object, key FROM ({selects}) GROUP BY object, key
        ORDER BY object, min(_row_number), arg_min(place, _row_number), key"""
    ).fetchall():
        ranks = order[paths[i]]
        ranks[key] = len(ranks)
    return order


def _object_paths(structure: object, path: tuple[str, ...]):
    if isinstance(structure, dict) and structure:
        yield _json_path(path)
        for key, inner in structure.items():
            yield from _object_paths(inner, (*path, key))


def _json_path(path: tuple[str, ...]) -> str:
    return "$" + "".join('."' + key.replace('"', '\\"') + '"' for key in path)


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


BINARY_FORMATS = ("parquet", "xlsx")
"""Formats whose files are no text: they have no encoding to check."""


def _xlsx_rows(con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings) -> SourceRows:
    """An Excel workbook's sheet (``feed.sheet``, else its first), its row ``feed.header_row`` (its first
    by default) the header, every cell as text (DuckDB's read_xlsx): a text cell as written, a number as
    its value, a date or time cell as its serial number (days since 1899-12-30, which timestamps read:
    warehouse.mapping). A whole number reads without the ".0" a spreadsheet's numbers carry, so an id
    typed 12345 is "12345".

    The rows above the header (a report's title) are not read. The columns are the header's, up to its
    last named cell: an unnamed cell between two named ones is a column too (read_xlsx's own range
    would end at it). The sheet is read to its last row, past any empty one (read_xlsx would stop at
    the first); an empty row holds no record and is no row, and a row keeps its number in the sheet
    below the header.
    """
    load_extension(con, "duckdb_extension_excel")
    sheet = "" if feed.sheet is None else f", sheet = {literal(feed.sheet)}"
    last = _xlsx_last_column(con, path, feed.header_row, sheet)
    cells = literal(f"A{feed.header_row}:{last}")
    source = f"read_xlsx({literal(str(path))}, header = true, all_varchar = true, range = {cells}{sheet})"
    header = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    whole = literal(WHOLE_NUMBER_CELL) + ", " + literal(r"\1")
    texts = ", ".join(f"regexp_replace({quote(c)}, {whole}) AS {quote(c)}" for c in header)
    filled = f"coalesce({', '.join(quote(c) for c in header)}) IS NOT NULL"
    columns, values = _pii_projection(header, feed)
    return SourceRows(
        tuple(columns),
        f"""SELECT _row_number, {values} FROM (
            SELECT row_number() OVER () AS _row_number, {texts} FROM {source}
        ) WHERE {filled}""",
        tuple(header),
    )


def _xlsx_last_column(con: duckdb.DuckDBPyConnection, path: Path, row: int, sheet: str) -> str:
    """The letters of the last column whose cell in the header's ``row`` holds a name."""
    cells = literal(f"A{row}:XFD{row}")  # the whole row: the sheet's 16,384 columns, read as one row
    found = con.execute(
        f"SELECT * FROM read_xlsx({literal(str(path))}, header = false, all_varchar = true, range = {cells}"
        f"{sheet})"
    ).fetchone()
    named = [i for i, cell in enumerate(found or ()) if cell is not None and cell.strip()]
    if not named:
        raise FeedFileError(f"the header row (row {row}) of the sheet is empty: no column names")
    letters, number = "", named[-1] + 1
    while number:
        number, digit = divmod(number - 1, 26)
        letters = chr(ord("A") + digit) + letters
    return letters


WHOLE_NUMBER_CELL = r"^(-?\d+)\.0$"
"""A number cell read as text with the ".0" of a whole number."""


def _as_text(column: str, column_type: str) -> str:
    """A Parquet value as text; a zoned timestamp as its UTC time with "+00", whatever the
    session's time zone, and a naive one as the wall-clock time it holds."""
    if column_type == "TIMESTAMP WITH TIME ZONE":
        return f"CAST(timezone('UTC', {column}) AS VARCHAR) || '+00'"
    return f"CAST({column} AS VARCHAR)"


def _pii_projection(header: list[str], feed: FeedSettings, nested: bool = False) -> tuple[list[str], str]:
    """The columns kept and a select list that drops or key-hashes the feed's PII columns
    (warehouse.pii: any case, duplicates included, a JSON record's ``nested`` fields under a PII
    name too; a configured column missing is an error)."""
    drop, hashed = split_pii(header, feed.pii, feed.id, nested)
    kept = [c for c in header if c not in drop]
    values = ", ".join(f"{hash_sql(quote(c))} AS {quote(c)}" if c in hashed else quote(c) for c in kept)
    return kept, values
