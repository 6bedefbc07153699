"""The raw layer: each batch's rows, as received, in one Parquet file beside the warehouse.

``<warehouse folder>/raw/<feed_id>/batch-<batch_id>.parquet`` holds ``_batch_id``,
``_row_number`` and every source column as text (PII already dropped or hashed); the
view ``raw.<feed_id>`` reads them all. Writing Parquet rather than a DuckDB table keeps
receiving a feed close to DuckDB's own CSV speed; the files are immutable once
published, like the source files they copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from warehouse.db import literal, quote
from warehouse.readers import SourceRows, collect_csv_rejects

PARQUET = "FORMAT parquet, COMPRESSION zstd"


def batch_path(raw_root: Path, feed_id: str, batch_id: int) -> Path:
    return raw_root / feed_id / f"batch-{batch_id:08d}.parquet"


def write_batch(
    con: duckdb.DuckDBPyConnection, rows: SourceRows, target: Path, batch_id: int, file_format: str
) -> Path:
    """Write the batch to a temporary file beside ``target``; ``publish`` makes it visible."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".tmp")
    con.execute(
        f"COPY (SELECT CAST({int(batch_id)} AS BIGINT) AS _batch_id, * FROM ({rows.select_sql})) "
        f"TO {literal(str(staging))} ({PARQUET})"
    )
    if file_format == "csv" and collect_csv_rejects(con):
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
            WITH gaps AS (
                SELECT _row_number - row_number() OVER (ORDER BY _row_number) AS kept_before
                FROM _rejects
            )
            SELECT * REPLACE (
                _row_number + (SELECT count(*) FROM gaps WHERE gaps.kept_before < r._row_number)
                AS _row_number
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
    pattern = literal(str(folder / "batch-*.parquet"))
    con.execute(
        f"CREATE OR REPLACE VIEW raw.{feed_id} AS SELECT * FROM read_parquet({pattern}, union_by_name = true)"
    )


def batch_rows_sql(path: Path, columns: tuple[str, ...]) -> str:
    select = ", ".join(quote(c) for c in columns)
    return f"SELECT _row_number, {select} FROM read_parquet({literal(str(path))})"
