"""One agency's published tables as files, with a manifest of row counts and SHA-256 sums.

An export reads the agency's encrypted mart (warehouse.marts), so it holds what the mart
holds and needs the agency's key. Every exported file with an agency_id column holds that
agency's rows only. Joint demand leaves as aggregates (expected events per lead area, hour
and incident type, for the types the agency has a role in): no other agency's incidents or
per-agency numbers. The agency's KPIs leave as its kpi views show them (``kpi_<table>``,
warehouse.kpi_store), freshness computed at the export. The agency's rows of its what-if scenarios
leave as ``scenario_<table>`` with ``scenarios`` naming them (warehouse.marts).
CSV text cells that a spreadsheet would run as a formula are neutralised (warehouse.spreadsheet).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb

from jointcast.faults import reach
from jointcast.write_errors import unwritable
from warehouse.db import literal, owner_only, transaction
from warehouse.kpi_store import FRESHNESS
from warehouse.marts import ORDER
from warehouse.published import PUBLISHED
from warehouse.spreadsheet import spreadsheet_safe

Format = Literal["parquet", "csv"]


class ExportError(ValueError):
    """Nothing to export, said in one line."""


def _queries() -> dict[str, str]:
    """Exported file name -> its query on the agency's mart."""
    forecast = [table.name for table in PUBLISHED if table.exported] + ["overrides", "joint_demand"]
    files = {name: f"SELECT * FROM forecast.{name} ORDER BY {ORDER[f'forecast.{name}']}" for name in forecast}
    for table, order in ORDER.items():
        if table.startswith("kpi."):
            name = table.removeprefix("kpi.")
            fresh = f", {FRESHNESS}" if name == "sharing" else ""
            files[f"kpi_{name}"] = f"SELECT *{fresh} FROM {table} ORDER BY {order}"
        elif table.startswith("scenario."):
            name = table.removeprefix("scenario.")
            files["scenarios" if name == "scenarios" else f"scenario_{name}"] = (
                f"SELECT * FROM {table} ORDER BY {order}"
            )
    return files


def export_agency(con: duckdb.DuckDBPyConnection, agency_id: str, fmt: Format, out: Path) -> dict:
    """Write the agency's files and manifest.json as the folder ``out``; returns the manifest.

    ``con`` is a session on the agency's mart (warehouse.marts.open_mart).

    All or nothing: the whole folder, manifest included, is written under a temporary name
    beside ``out`` (``.export-<name>-*``) and swapped into place with one rename, so a reader
    sees the previous export or the new one, never a mix. A folder a killed export left
    behind is removed by the next export to the same ``out``. An existing ``out`` is replaced
    only when it is empty or holds an export (its manifest and files) and keeps its mode; a
    folder of its own is made owner-only.
    """
    if fmt not in ("parquet", "csv"):
        raise ExportError(f"unknown export format '{fmt}': use parquet or csv")
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a folder: name a folder to write the export into")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"--out {out}: cannot make the folder: {exc.strerror}") from None
    _remove_stale(out)
    if out.exists():
        _check_replaceable(out)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{out.name}-", dir=out.parent))
    try:
        try:
            manifest = _write_export(con, agency_id, fmt, staging)
        except (OSError, duckdb.Error) as exc:
            if (problem := unwritable(exc)) is None:
                raise
            raise ExportError(f"--out {out}: {problem}") from None
        if out.exists():  # the folder given keeps its mode
            staging.chmod(stat.S_IMODE(out.stat().st_mode))
        reach("export.before_swap")
        _swap_into_place(staging, out)
        reach("export.after_swap")
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the new export if it failed, else the previous one
    return manifest


STAGING_PREFIX = ".export-"


def _write_export(con: duckdb.DuckDBPyConnection, agency_id: str, fmt: Format, folder: Path) -> dict:
    """Every file of the export and, last, its manifest.json, into ``folder``."""
    with transaction(con):  # one snapshot: every file from the same publication
        publication = con.execute(
            """
            SELECT publication_id, model_name, model_version, mlflow_run_id, min(generated_at),
                   min(data_as_of)
            FROM forecast.demand WHERE agency_id = ? GROUP BY ALL
            """,
            [agency_id],
        ).fetchall()
        if not publication:
            raise ExportError(f"nothing published for agency '{agency_id}': run `jointcast forecast` first")
        files = {}
        for name, query in _queries().items():
            path = folder / f"{name}.{fmt}"
            options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
            cells = spreadsheet_safe(con, query) if fmt == "csv" else query
            con.execute(f"COPY ({cells}) TO {literal(str(path))} ({options})")
            rows = con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
            owner_only(path)
            files[path.name] = {"rows": rows, "sha256": _sha256(path), "bytes": path.stat().st_size}
    publication_id, model_name, model_version, run_id, generated_at, data_as_of = publication[0]
    manifest = {
        "agency_id": agency_id,
        "publication_id": publication_id,
        "model_name": model_name,
        "model_version": model_version,
        "mlflow_run_id": run_id,
        "generated_at": generated_at.isoformat(),
        "data_as_of": data_as_of.isoformat(),
        "exported_at": datetime.now(UTC).isoformat(),
        "format": fmt,
        "files": files,
    }
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    owner_only(path)
    return manifest


MANIFEST = "manifest.json"


def _remove_stale(out: Path) -> None:
    """Remove the temporary folders killed exports to ``out`` left beside it."""
    for leftover in out.parent.glob(f"{STAGING_PREFIX}{out.name}-*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)


def _check_replaceable(out: Path) -> None:
    """``out`` is empty or holds an export and nothing else: an export replaces it whole."""
    names = {entry.name for entry in out.iterdir()}
    if not names:
        return
    try:
        listed = set(json.loads((out / MANIFEST).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = None
    if listed is None or names - listed - {MANIFEST}:
        raise ExportError(
            f"--out {out} holds files that are not an export's: an export replaces its folder whole, "
            "so name an empty or new folder"
        )


def _swap_into_place(staging: Path, out: Path) -> None:
    """Put the folder ``staging`` at ``out`` with one rename; a previous ``out`` ends up at ``staging``.

    Linux swaps two folders in one step (renameat2 with RENAME_EXCHANGE); elsewhere the previous
    folder steps aside first, so a kill between the two renames leaves no ``out`` but the new
    export complete under its temporary name, never a mix.
    """
    if not out.exists():
        os.rename(staging, out)
        return
    if _exchange(staging, out):
        return
    aside = staging.with_name(staging.name + "-previous")
    os.rename(out, aside)
    os.rename(staging, out)
    os.rename(aside, staging)


_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_cwd = -100
    done = renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), _RENAME_EXCHANGE)
    return done == 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
