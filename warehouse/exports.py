"""One agency's published tables as files, with a manifest of row counts and SHA-256 sums.

Every exported file with an agency_id column holds that agency's rows only. Joint demand
leaves as aggregates (expected events per lead area, hour and incident type, for the
types the agency has a role in): no other agency's incidents or per-agency numbers. The
agency's KPIs leave as its kpi views show them (``kpi_<table>``, warehouse.kpi_store).
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

from warehouse.db import literal, transaction
from warehouse.kpi_store import agency_queries
from warehouse.published import PUBLISHED
from warehouse.spreadsheet import spreadsheet_safe

Format = Literal["parquet", "csv"]


class ExportError(ValueError):
    """Nothing to export, said in one line."""


def _queries(agency: str) -> dict[str, str]:
    mine = literal(agency)
    tables = {
        table.name: f"SELECT * FROM forecast.{table.name} WHERE agency_id = {mine} ORDER BY {table.key}"
        for table in PUBLISHED
        if table.exported
    }
    return {
        **tables,
        "overrides": f"SELECT * FROM forecast.overrides WHERE agency_id = {mine} ORDER BY override_id",
        "joint_demand": f"""
            SELECT area_id, bucket_start, incident_type, lead_agency, supporting_agencies,
                   expected_events, expected_records
            FROM forecast.joint_demand
            WHERE lead_agency = {mine} OR list_contains(supporting_agencies, {mine})
            ORDER BY incident_type, area_id, bucket_start
        """,
        **{f"kpi_{name}": query for name, query in agency_queries(agency).items()},
    }


def export_agency(con: duckdb.DuckDBPyConnection, agency_id: str, fmt: Format, out: Path) -> dict:
    """Write the agency's files and manifest.json into ``out``; returns the manifest.

    The files are written into a temporary folder beside ``out`` and moved in when all
    of them are complete, the manifest last, so a reader never sees a partial export.
    """
    if fmt not in ("parquet", "csv"):
        raise ExportError(f"unknown export format '{fmt}': use parquet or csv")
    out.mkdir(parents=True, exist_ok=True)
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
            for name, query in _queries(agency_id).items():
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
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
