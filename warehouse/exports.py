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
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb

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
    """Write the agency's files and manifest.json into ``out``; returns the manifest.

    ``con`` is a session on the agency's mart (warehouse.marts.open_mart).

    The files are written into a temporary folder beside ``out`` and moved in when all
    of them are complete, the manifest last, so a reader never sees a partial export.
    """
    if fmt not in ("parquet", "csv"):
        raise ExportError(f"unknown export format '{fmt}': use parquet or csv")
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a folder: name a folder to write the export into")
    if not out.exists():  # a folder of its own is made owner-only; a folder given is left as it is
        try:
            out.mkdir(parents=True)
        except OSError as exc:
            raise ExportError(f"--out {out}: cannot make the folder: {exc.strerror}") from None
        owner_only(out)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
    try:
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
                raise ExportError(
                    f"nothing published for agency '{agency_id}': run `jointcast forecast` first"
                )
            files = {}
            for name, query in _queries().items():
                path = staging / f"{name}.{fmt}"
                options = (
                    "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
                )
                cells = spreadsheet_safe(con, query) if fmt == "csv" else query
                con.execute(f"COPY ({cells}) TO {literal(str(path))} ({options})")
                rows = con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
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
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        for name in [*files, "manifest.json"]:
            os.replace(owner_only(staging / name), out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
