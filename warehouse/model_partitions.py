"""Model inputs as Parquet partitions for training on a Dask cluster: written here, read by the workers.

LightGBM's Dask interface trains where the data is. The workers read their partitions themselves,
by path or fsspec URL, so the driver ships no frames: it writes the observed model inputs once,
then sends each worker the names of its files and the training window.

Rows are spread over the partitions by a hash of (series, hour, band), so every partition is an even
sample of every training window and holds (nearly) every series. LightGBM's data-parallel learner
needs that: each machine finds the bins of some of the features from its own rows, and a machine
holding only some series would leave the others' categorical levels without a bin. Each file is
sorted by hour (then series and band, so its rows, and the fit, are the same every time it is
written), so a window reads only the row groups it overlaps.

A set of partitions is named by a digest of what it holds (what the features were built from and
the partition count) and written whole: each file under a temporary name then renamed (or, on an
object store, put whole), the manifest last. A set with its manifest is complete and reused; any
other set under the folder is an older or a killed writer's, and is removed once the new one is
complete. The workers must see the same location as the driver: a shared filesystem, or an object
store URL (``s3://...``, with its fsspec package, e.g. s3fs, installed on the driver and every worker).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime

import duckdb
import fsspec
import polars as pl
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from warehouse.db import literal, quote
from warehouse.features_store import read_frame
from warehouse.stages import recorded_inputs

MANIFEST = "_manifest.json"
FOLDER = "model_inputs"
ROWS_PER_PARTITION = 1_000_000
"""About this many rows a partition, so one fits a worker's memory many times over."""
LAYOUT = 2
"""The files' layout: a change makes a new set rather than reusing one written the old way."""


@dataclass(frozen=True)
class Partitions:
    """A complete set of model-input partitions: the files' paths (or URLs), in partition order."""

    digest: str
    paths: tuple[str, ...]
    rows: int
    written: bool  # False when an existing set was reused


def partition_count(rows: int, workers: int) -> int:
    """Partitions for ``rows`` on ``workers``: about ``ROWS_PER_PARTITION`` rows each, and a whole
    number per worker, so each worker gets an equal share."""
    wanted = max(1, math.ceil(rows / ROWS_PER_PARTITION))
    return max(1, workers) * math.ceil(wanted / max(1, workers))


def write_model_partitions(con: duckdb.DuckDBPyConnection, root: str, workers: int) -> Partitions:
    """The observed rows of features.model_inputs as hash partitions under ``<root>/model_inputs/``,
    written unless the set for these inputs and this count is complete there already."""
    rows = con.execute("SELECT count(*) FROM features.model_inputs WHERE incidents IS NOT NULL").fetchone()[0]
    count = partition_count(rows, workers)
    built_from = recorded_inputs(con, "features") or _contents_digest(con)
    digest = hashlib.sha256(f"{LAYOUT}|{built_from}|{count}".encode()).hexdigest()[:16]
    fs, base = fsspec.core.url_to_fs(root)
    folder = f"{base.rstrip('/')}/{FOLDER}/{digest}"
    names = [f"part-{number:04d}.parquet" for number in range(count)]
    paths = tuple(f"{root.rstrip('/')}/{FOLDER}/{digest}/{name}" for name in names)
    if _complete(fs, folder) == names:
        return Partitions(digest, paths, rows, written=False)
    if fs.exists(folder):
        fs.rm(folder, recursive=True)
    fs.makedirs(folder, exist_ok=True)
    for number, name in enumerate(names):
        query = (
            "SELECT * FROM features.model_inputs WHERE incidents IS NOT NULL"
            f" AND hash(agency_id, area_id, bucket_start, min_lag) % {count} = {number}"
            " ORDER BY bucket_start, agency_id, area_id, min_lag"  # one order: the same file, the same fit
        )
        _copy(con, query, fs, f"{folder}/{name}")
    with fs.open(f"{folder}/{MANIFEST}", "w") as manifest:
        json.dump({"digest": digest, "rows": rows, "files": names}, manifest)
    for other in fs.ls(f"{base.rstrip('/')}/{FOLDER}", detail=False):
        if other.rstrip("/").rsplit("/", 1)[-1] != digest:
            fs.rm(other, recursive=True)
    return Partitions(digest, paths, rows, written=True)


def read_partition(path: str, start: datetime, end: datetime) -> pl.DataFrame:
    """The rows of one partition whose hour is in [``start``, ``end``): what a worker trains on."""
    fs, stripped = fsspec.core.url_to_fs(path)
    table = pq.read_table(
        stripped,
        filesystem=None if isinstance(fs, LocalFileSystem) else fs,
        filters=[("bucket_start", ">=", start), ("bucket_start", "<", end)],
    )
    return pl.from_arrow(table)


@dataclass(frozen=True)
class TrainingWindow:
    """What the driver needs to know of a training window, read from the partitions with DuckDB."""

    rows: int
    series: pl.DataFrame  # the distinct (agency_id, area_id) in the window
    median: float | None  # the median of the named column (NaN counted as missing), if one was named


def training_window(
    paths: tuple[str, ...], start: datetime, end: datetime, median_of: str | None = None
) -> TrainingWindow:
    """The rows, series and a column's median of the partitions' rows in [``start``, ``end``)."""
    fs, _ = fsspec.core.url_to_fs(paths[0])
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        if not isinstance(fs, LocalFileSystem):
            con.register_filesystem(fs)
        source = "read_parquet(?) WHERE bucket_start >= ? AND bucket_start < ?"
        parameters = [list(paths), start, end]
        column = None if median_of is None else f"CAST({quote(median_of)} AS DOUBLE)"
        value = "NULL" if column is None else f"CASE WHEN isnan({column}) THEN NULL ELSE {column} END"
        rows, median = con.execute(f"SELECT count(*), median({value}) FROM {source}", parameters).fetchone()
        series = read_frame(con, f"SELECT DISTINCT agency_id, area_id FROM {source}", parameters)
    return TrainingWindow(rows, series, None if median is None else float(median))


def _complete(fs, folder: str) -> list[str] | None:
    """The files of the set in ``folder`` when it is complete (its manifest written, every file there)."""
    try:
        with fs.open(f"{folder}/{MANIFEST}", "r") as manifest:
            names = json.load(manifest)["files"]
    except (FileNotFoundError, ValueError, KeyError):
        return None
    return names if all(fs.exists(f"{folder}/{name}") for name in names) else None


def _copy(con: duckdb.DuckDBPyConnection, query: str, fs, target: str) -> None:
    """``query``'s rows as a Parquet file at ``target``, which appears whole or not at all."""
    if isinstance(fs, LocalFileSystem):
        partial = f"{target}.tmp-{os.getpid()}"
        con.execute(f"COPY ({query}) TO {literal(partial)} (FORMAT parquet)")
        os.replace(partial, target)
        return
    with tempfile.TemporaryDirectory() as scratch:
        local = os.path.join(scratch, "part.parquet")
        con.execute(f"COPY ({query}) TO {literal(local)} (FORMAT parquet)")
        fs.put_file(local, target)  # an object store's put is whole or nothing


def _contents_digest(con: duckdb.DuckDBPyConnection) -> str:
    """A digest of the model inputs' observed rows, for a warehouse whose features recorded no inputs."""
    hashed = "hash(agency_id, area_id, bucket_start, min_lag, incidents)"
    return str(con.execute(f"SELECT sum({hashed}) FROM features.model_inputs").fetchone()[0])
