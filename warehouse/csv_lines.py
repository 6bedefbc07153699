"""Read a CSV file record by record when DuckDB's reader cannot, so one bad line never blocks its file.

DuckDB reads a well-formed file fast, but one stray quote makes it swallow every line up to
the next quote (or fail the whole file while sniffing it), and one record over its line-size
limit fails the file with "Line: 1". warehouse.readers therefore reads a file here instead
when DuckDB fails on it, or when DuckDB found fewer records than the file has lines (a line
break swallowed by a quote, a blank line). Here a record is found by quote parity (RFC 4180:
a quote opened on a line and not closed on it carries the record on to the next line) and
checked with Python's csv module:

- a line whose quote is never closed (up to the end of the file or ``MAX_RECORD_BYTES``), or
  whose multi-line record does not have the header's number of fields, is quarantined alone,
  with its line number, and reading resumes on the next line: a stray quote costs one row;
- a record longer than ``MAX_RECORD_BYTES``, with the wrong number of fields, with malformed
  quoting or with bytes that are not valid in the feed's encoding is quarantined the same way;
- a blank line is not a row (as DuckDB reads it).

Rows are numbered as DuckDB numbers them: the n-th record of the file (a quarantined line is
one record). Values are text and an empty field is NULL, as DuckDB's ``all_varchar`` gives them.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import pyarrow as pa

MAX_RECORD_BYTES = 2_000_000
"""Longest record read (DuckDB's default line-size limit): a longer one is quarantined, not loaded."""
KEPT_CHARS = 10_000
"""How much of an oversized line quarantine keeps (its full length is in the reason)."""
_CHUNK_ROWS = 50_000
_UTF8_BOM = b"\xef\xbb\xbf"


class CsvFileError(RuntimeError):
    """The file cannot be read record by record either (no header, not in the feed's encoding)."""


@dataclass
class ReadLines:
    """What reading a file line by line gave: how many data rows it has, the rejected lines."""

    rows: int = 0
    """Data rows seen: those written and those rejected."""
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    """(row number, reason, the line as text) of every record not read."""


def open_bytes(path: Path):
    """The file's bytes as a context manager, decompressed as its name says (``.gz``, ``.bz2``,
    ``.xz``, ``.zip``): DuckDB's reader reads a ``.gz`` file so, and lines are counted and read
    again record by record in what it read, not in the compressed bytes."""
    return fsspec.open(str(path), "rb", compression="infer")


def count_lines(path: Path, encoding: str) -> int:
    """Lines in the file (a last line without a line break counted), blank ones included.

    A file with no ``\\n`` at all counts its ``\\r`` (old Mac line ends), as DuckDB reads it.
    """
    data_lines = carriage = 0
    last = b""
    if encoding == "utf-16":
        with open_bytes(path) as handle:
            text = handle.read().decode("utf-16", errors="replace")
        return _lines_in(text.count("\n"), text.count("\r"), text[-1:].encode())
    with open_bytes(path) as handle:
        while block := handle.read(8 * 1024 * 1024):
            data_lines += block.count(b"\n")
            carriage += block.count(b"\r")
            last = block[-1:]
    return _lines_in(data_lines, carriage, last)


def _lines_in(newlines: int, carriages: int, last: bytes) -> int:
    if newlines:
        return newlines + (last not in (b"\n", b""))
    return carriages + (last not in (b"\r", b""))


def header_line(path: Path, encoding: str, header_row: int = 1) -> str:
    """The file's line ``header_row`` (its first by default) as text (a byte-order mark left out)."""
    lines = _physical_lines(path, encoding)
    first = next(itertools.islice(lines, header_row - 1, None), None)
    text = None if first is None else _decoded(first[1], encoding)
    if text is None:
        missing = "no header line" + (
            "" if header_row == 1 else f": the file has fewer than {header_row} lines"
        )
        raise CsvFileError(missing if first is None else f"the header line is not {encoding}")
    return text


def read_lines(
    path: Path, encoding: str, delimiter: str, width: int, result: ReadLines, header_row: int = 1
) -> Iterator[pa.Table]:
    """The file's readable records in chunks (``_row_number`` and the fields as ``column0..``), from the
    line after ``header_row``; ``width`` is the header's field count; the lines not read go to
    ``result.rejects`` (their numbers the file's own)."""
    lines = _physical_lines(path, encoding)
    for _ in range(header_row):  # the header and any lines above it
        next(lines, None)
    schema = pa.schema([("_row_number", pa.int64())] + [(f"column{i}", pa.string()) for i in range(width)])
    chunk: list[list] = []
    for row_number, fields in _records(lines, encoding, delimiter, width, result):
        chunk.append([row_number, *fields])
        if len(chunk) >= _CHUNK_ROWS:
            yield _table(chunk, schema)
            chunk = []
    yield _table(chunk, schema)


def _table(rows: list[list], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    arrays = [pa.array(column, type=f.type) for column, f in zip(columns, schema, strict=True)]
    return pa.table(arrays, schema=schema)


def _physical_lines(path: Path, encoding: str) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the line break), split as DuckDB splits: at ``\\n`` (a ``\\r``
    before it dropped), or at ``\\r`` in a file with no ``\\n``. UTF-16 is read as UTF-8 text."""
    if encoding == "utf-16":
        try:
            with open_bytes(path) as handle:
                data = handle.read().decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise CsvFileError(f"not valid utf-16 (byte {exc.start})") from None
        yield from _split(io.BytesIO(data))
        return
    with open_bytes(path) as handle:
        yield from _split(handle)


def _split(handle) -> Iterator[tuple[int, bytes]]:
    for number, line in _numbered(handle):
        yield number, line[len(_UTF8_BOM) :] if number == 1 and line.startswith(_UTF8_BOM) else line


def _numbered(handle) -> Iterator[tuple[int, bytes]]:
    head = handle.read(8 * 1024 * 1024)
    handle.seek(0)
    if b"\n" not in head and b"\r" in head and b"\n" not in handle.read():
        handle.seek(0)
        lines = handle.read().split(b"\r")
        if lines and lines[-1] == b"":
            lines.pop()
        yield from enumerate(lines, start=1)
        return
    handle.seek(0)
    for number, line in enumerate(handle, start=1):
        line = line[:-1] if line.endswith(b"\n") else line
        yield number, line[:-1] if line.endswith(b"\r") else line


def _decoded(line: bytes, encoding: str) -> str | None:
    try:
        return line.decode("utf-8" if encoding == "utf-16" else encoding)
    except UnicodeDecodeError:
        return None


def _records(
    lines: Iterator[tuple[int, bytes]], encoding: str, delimiter: str, width: int, result: ReadLines
) -> Iterator[tuple[int, list]]:
    """Each readable record as (row number, fields); each unreadable line goes to ``result.rejects``."""
    pending: list[tuple[int, bytes]] = []

    def take() -> tuple[int, bytes] | None:
        return pending.pop() if pending else next(lines, None)

    def reject(line_number: int, line: bytes, why: str) -> None:
        text = line.decode("utf-8" if encoding == "utf-16" else encoding, errors="replace")
        result.rejects.append((result.rows, f"unreadable_row: {why} (line {line_number})", text[:KEPT_CHARS]))

    while (first := take()) is not None:
        line_number, line = first
        if not line:
            continue  # a blank line is not a row
        result.rows += 1
        if len(line) > MAX_RECORD_BYTES:
            reject(line_number, line, f"record of {len(line):,} bytes, over {MAX_RECORD_BYTES:,}")
            continue
        consumed, size, quotes = [first], len(line), line.count(b'"')
        while quotes % 2:
            following = take()
            if following is None:
                break
            if size + len(following[1]) > MAX_RECORD_BYTES:
                pending.append(following)
                break
            consumed.append(following)
            size += len(following[1]) + 1
            quotes += following[1].count(b'"')
        if quotes % 2:
            pending.extend(reversed(consumed[1:]))
            reject(line_number, line, "unterminated quote")
            continue
        record = line if len(consumed) == 1 else b"\n".join(part for _, part in consumed)
        text = _decoded(record, encoding)
        if text is None:
            pending.extend(reversed(consumed[1:]))
            reject(line_number, line, f"invalid encoding: not {encoding}")
            continue
        fields, why = _fields(text, delimiter, width)
        if why is not None and len(consumed) > 1:
            pending.extend(reversed(consumed[1:]))
            reject(line_number, line, "unterminated quote")
            continue
        if why is not None:
            reject(line_number, line, why)
            continue
        yield result.rows, [value if value != "" else None for value in fields]


def _fields(text: str, delimiter: str, width: int) -> tuple[list[str], str | None]:
    """The record's fields, or why it is not one record of ``width`` fields."""
    if '"' not in text and "\r" not in text:  # most records: nothing for the csv module to do
        fields = text.split(delimiter)
    else:
        try:
            records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"',
                                      doublequote=True, strict=True))  # fmt: skip
        except csv.Error as exc:
            return [], f"malformed quoting: {exc}"
        if len(records) != 1:
            return [], "malformed quoting: a line break outside quotes"
        fields = records[0]
    if len(fields) > width:
        return [], f"too many columns: expected {width}, found {len(fields)}"
    if len(fields) < width:
        return [], f"missing columns: expected {width}, found {len(fields)}"
    return fields, None
