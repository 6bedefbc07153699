"""The raw layer: each batch's rows, as received, in one Parquet file beside the warehouse.

``<warehouse folder>/raw/<feed_id>/batch-<batch_id>.parquet`` holds ``_batch_id``,
``_row_number`` and every source column as text (PII already dropped or hashed); the
view ``raw.<feed_id>`` reads them all. Writing Parquet rather than a DuckDB table keeps
receiving a feed close to DuckDB's own CSV speed; the files are immutable once
published, like the source files they copy.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import duckdb

from jointcast.config import FeedSettings
from warehouse.csv_lines import count_lines
from warehouse.db import literal, quote
from warehouse.readers import (
    REJECTED_BEFORE,
    FeedFileError,
    SourceRows,
    collect_csv_rejects,
    describe_error,
    open_rows,
    read_csv_lines,
)  # fmt: skip

PARQUET = "FORMAT parquet, COMPRESSION zstd"


def batch_path(raw_root: Path, feed_id: str, batch_id: int) -> Path:
    return raw_root / feed_id / f"batch-{batch_id:08d}.parquet"


def write_source(
    con: duckdb.DuckDBPyConnection, path: Path, feed: FeedSettings, target: Path, batch_id: int
) -> tuple[SourceRows, Path]:
    """Write the file's rows as the batch's raw file, under a temporary name; returns how the rows
    were read and that file. Rows the format cannot read are left in ``_rejects``.

    A CSV file DuckDB's reader fails on, or reads into another number of records than the file
    has lines (a quote that swallowed line breaks, a blank line), is read again record by record
    (warehouse.csv_lines): its bad lines are quarantined one by one and the rest is loaded.
    """
    rows = open_rows(con, path, feed)
    staging = None
    try:
        staging = write_batch(con, rows, target, batch_id)
        if not rows.by_duckdb_csv or _records_match_lines(con, staging, path, feed):
            return rows, staging
    except duckdb.Error as exc:
        if not rows.by_duckdb_csv or isinstance(exc, duckdb.IOException):  # not the data: the disk
            discard(*(p for p in (staging,) if p is not None))
            raise FeedFileError(describe_error(exc, feed.format)) from exc
    discard(*(p for p in (staging,) if p is not None))
    rows = read_csv_lines(con, path, feed)
    try:
        return rows, write_batch(con, rows, target, batch_id)
    except duckdb.Error as exc:
        raise FeedFileError(describe_error(exc, feed.format)) from exc


def _records_match_lines(con: duckdb.DuckDBPyConnection, staging: Path, path: Path, feed: FeedSettings
                         ) -> bool:  # fmt: skip
    """Whether DuckDB read one record per line after the header (so its numbering is the file's); the
    lines up to the header (``header_row``) are none."""
    kept = con.execute(f"SELECT count(*) FROM read_parquet({literal(str(staging))})").fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM _rejects").fetchone()[0]
    return kept + rejected == count_lines(path, feed.encoding) - feed.header_row


def write_batch(con: duckdb.DuckDBPyConnection, rows: SourceRows, target: Path, batch_id: int) -> Path:
    """Write the batch to a temporary file beside ``target``; ``publish`` makes it visible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".tmp")
    try:
        con.execute(
            f"COPY (SELECT CAST({int(batch_id)} AS BIGINT) AS _batch_id, * FROM ({rows.select_sql})) "
            f"TO {literal(str(staging))} ({PARQUET})"
        )
    except duckdb.Error:  # a failed write (a full disk) leaves no part of the file behind
        discard(staging)
        raise
    if rows.by_duckdb_csv and collect_csv_rejects(con, rows.header_lines):
        _renumber(con, staging)
    return staging


def _renumber(con: duckdb.DuckDBPyConnection, staging: Path) -> None:
    """Give the rows read around rejected lines their true row numbers.

    The reader numbered the rows it kept 1..n; a rejected line leaves a gap, so every kept
    row moves down by the number of rejected lines before it.
    """
    fixed = staging.with_name(staging.name + ".renumbered")
    con.execute(
        f"""
        COPY (
            SELECT * REPLACE (
                _row_number + ({REJECTED_BEFORE.format(row="r._row_number")}) AS _row_number
            )
            FROM read_parquet({literal(str(staging))}) AS r ORDER BY _row_number
        ) TO {literal(str(fixed))} ({PARQUET})
        """
    )
    os.replace(fixed, staging)


def publish(staging: Path, target: Path) -> None:
    os.replace(staging, target)


def remove_uncommitted(
    con: duckdb.DuckDBPyConnection, raw_root: Path, feed_id: str, committed: tuple[str, ...]
) -> list[Path]:
    """Remove what a killed ingest left in the feed's raw folder; returns what was removed.

    That is every temporary file, and every batch file whose batch the warehouse does not
    hold with one of the ``committed`` statuses (the run died between placing the file and
    committing its batch). Runs take turns (warehouse.lock), so no live ingest owns them.
    """
    folder = raw_root / feed_id
    if not folder.is_dir():
        return []
    kept = {
        batch_path(raw_root, feed_id, batch_id).name
        for (batch_id,) in con.execute(
            "SELECT batch_id FROM meta.batches WHERE feed_id = ? AND list_contains(?, status)",
            [feed_id, list(committed)],
        ).fetchall()
    }
    leftovers = [p for p in folder.glob("batch-*.parquet") if p.name not in kept]
    leftovers += [p for p in folder.iterdir() if p.name.endswith((".tmp", ".renumbered"))]
    discard(*leftovers)
    return leftovers


def discard(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def refresh_view(con: duckdb.DuckDBPyConnection, raw_root: Path, feed_id: str) -> None:
    """(Re)create ``raw.<feed_id>`` over the feed's batch files, if it has any."""
    folder = raw_root / feed_id
    if not any(folder.glob("batch-*.parquet")):
        con.execute(f"DROP VIEW IF EXISTS raw.{feed_id}")
        return
    pattern = literal(str(Path(glob.escape(str(folder))) / "batch-*.parquet"))  # the folder's own "[" literal
    con.execute(
        f"CREATE OR REPLACE VIEW raw.{feed_id} AS SELECT * FROM read_parquet({pattern}, union_by_name = true)"
    )


def batch_rows_sql(path: Path, columns: tuple[str, ...]) -> str:
    select = ", ".join(quote(c) for c in columns)
    return f"SELECT _row_number, {select} FROM read_parquet({literal(str(path))})"
