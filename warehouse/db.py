"""The one place that opens the DuckDB warehouse and keeps its schema current."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)
OPEN_WAIT_SECONDS = 30.0


class WarehouseInUse(RuntimeError):
    """The DuckDB file stayed open in another process too long."""


MIGRATIONS = "migrations"


def _migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration file shipped with the package, in order."""
    found = []
    for entry in resources.files(__package__).joinpath(MIGRATIONS).iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations this warehouse has not seen yet; returns their names."""
    con.execute(
        "CREATE SCHEMA IF NOT EXISTS meta;"
        "CREATE TABLE IF NOT EXISTS meta.schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    applied = {row[0] for row in con.execute("SELECT version FROM meta.schema_migrations").fetchall()}
    done = []
    for version, name, sql in _migrations():
        if version in applied:
            continue
        with transaction(con):
            con.execute(sql)
            con.execute("INSERT INTO meta.schema_migrations VALUES (?, ?, now())", [version, name])
        log.debug("applied migration %s", name)
        done.append(name)
    if done:
        durable(con)
    return done


def durable(con: duckdb.DuckDBPyConnection) -> None:
    """Write what is committed into the database file itself, leaving the write-ahead log empty.

    DuckDB (1.5) cannot replay a log holding a column comment on a table whose column default
    calls a function (``nextval``): the warehouse would not open again after a kill. Schema
    changes (migrations, a publication's column comments) are therefore checkpointed at once.
    """
    con.execute("CHECKPOINT")


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (creating and migrating it when writable, owner-only), session in UTC."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only)
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        owner_only(path)
        migrate(con)
    return con


OWNER_FILE, OWNER_FOLDER = 0o600, 0o700
"""Modes of what jointcast writes: the warehouse holds every agency's incidents, so only its
owner (the data team's account) may read it; the command line also sets the umask to match."""


def owner_only(path: Path) -> Path:
    """Make ``path`` readable by its owner only (a file 0600, a folder 0700); returns it."""
    if os.name == "posix" and path.exists():
        path.chmod(OWNER_FOLDER if path.is_dir() else OWNER_FILE)
    return path


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """DuckDB's connection, waiting out another process's brief hold on the file.

    One process at a time may write a DuckDB file, and none may read it meanwhile. Runs take
    turns through warehouse.lock, but a command's read-only courtesy (a summary table, a
    `show`) can hold the file for a moment; a run opening it then waits instead of failing.
    """
    deadline = time.monotonic() + OPEN_WAIT_SECONDS
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.InternalException as exc:
            if "replaying WAL" not in str(exc):
                raise
            if read_only:  # replaying writes the file: leave that to a command that may
                raise WarehouseInUse(
                    f"warehouse {path} has a write-ahead log to replay, left by a run that could not "
                    "finish writing (a full disk?): run a stage that writes, e.g. `jointcast ingest`, first"
                ) from None
            _replay_wal(path)
        except duckdb.IOException as exc:
            if "version number" in str(exc):  # a file of another DuckDB storage version
                raise WarehouseInUse(
                    f"warehouse {path} was written by another DuckDB release than this install's "
                    f"{duckdb.__version__}: move it aside and run `jointcast run` to rebuild it from the "
                    f"feeds ({str(exc).splitlines()[0]})"
                ) from None
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseInUse(
                    f"warehouse {path} stayed open in another process for {OPEN_WAIT_SECONDS:.0f} s: {exc}"
                ) from None
            time.sleep(0.2)


def _replay_wal(path: Path) -> None:
    """Fold a write-ahead log that opening the file directly cannot replay into the file.

    When a run could not checkpoint (a full disk stopped it), the log keeps the views it made;
    DuckDB 1.5 then fails to replay them on a plain ``connect`` ("no default database set")
    though it replays them when the file is attached to another session, which this does,
    checkpointing them into the file so the next connect finds an empty log.
    """
    log.warning("warehouse %s: replaying its write-ahead log through an attached session", path)
    with duckdb.connect() as session:
        session.execute(f"ATTACH {literal(str(path))} AS warehouse")
        session.execute("CHECKPOINT warehouse")
        session.execute("DETACH warehouse")


@contextmanager
def open_warehouse(path: Path | str, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit on success, roll back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def load_extension(con: duckdb.DuckDBPyConnection, package: str) -> None:
    """Load a DuckDB extension from its Python package's file (``duckdb_extension_spatial``), as
    installed by the lock: offline, and built for this DuckDB release."""
    name = package.removeprefix("duckdb_extension_")
    extension = (
        resources.files(package) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    )
    con.execute(f"LOAD {literal(str(extension))}")


def load_spatial(con: duckdb.DuckDBPyConnection) -> None:
    """The spatial extension: ST_Transform, for a feed whose coordinates are projected."""
    load_extension(con, "duckdb_extension_spatial")


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (source column names can hold any character)."""
    return '"' + identifier.replace('"', '""') + '"'


_BYTE_ORDER_MARKS = ("\ufeff", "\u00ef\u00bb\u00bf")
"""A byte-order mark before a header's first name: as UTF-8 text, and its bytes read as Latin-1."""


def folded_name(name: str) -> str:
    """A source column's name up to case, spacing and a byte-order mark before it: ``" Incident  ID"``
    and ``"INCIDENT ID"`` alike, and ``"ï»¿numéro"`` (a UTF-8 mark in a file read as Latin-1) and
    ``"numéro"`` (how PII columns are matched, and a mapped column its header lacks by exact name)."""
    for mark in _BYTE_ORDER_MARKS:
        name = name.removeprefix(mark)
    return " ".join(name.split()).casefold()


def literal(value: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"
