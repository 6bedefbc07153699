"""No simulated caller's name or phone number in clear anywhere jointcast writes: the warehouse
(every text column of every table and view), the raw layer, quarantine, logs, the MLflow
store, exports and report pages; and a dictionary of every name the simulator can draw does
not recover a stored hash without the workspace's key."""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
from glob import glob
from pathlib import Path

import duckdb
import pytest

from jointcast.config import PiiSettings, Settings, load_settings
from jointcast.simulator.attributes import _FIRST_NAMES, _LAST_NAMES
from tests.test_ingest import _ingest, assert_rows_accounted
from warehouse.db import literal, open_warehouse, quote
from warehouse.exports import export_agency
from warehouse.pii import KEY_ENV, keyed_hash, load_key, matching
from warehouse.readers import open_rows

_PHONE = re.compile(r"\d{3}-\d{3}-\d{4}")
_WORD_PAIR = re.compile(r"(?=\b([^\W\d_][\w'.-]* [^\W\d_][\w'.-]*))")
TEXT_TYPES = ("VARCHAR", "JSON", "VARCHAR[]")


@pytest.fixture(autouse=True)
def _key_from_the_workspace(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


def _found(text: str, values: set[str]) -> set[str]:
    """The PII values in ``text``: every phone-shaped and every two-word run, overlapping."""
    return (set(_PHONE.findall(text)) | set(_WORD_PAIR.findall(text))) & values


def _pii_values(settings: Settings) -> set[str]:
    """Every value of every configured PII column in the workspace's feed files, read with the
    project's own readers (PII handling switched off)."""
    values: set[str] = set()
    con = duckdb.connect()
    for feed in (f for f in settings.feeds if f.pii.columns):
        clear = feed.model_copy(update={"pii": PiiSettings()})
        for path in sorted(glob(settings.feed_uri(feed))):
            rows = open_rows(con, Path(path), clear)
            for column in matching(rows.columns, feed.pii.columns):
                found = con.execute(f"SELECT DISTINCT {quote(column)} FROM ({rows.select_sql})").fetchall()
                values |= {value for (value,) in found if value}
    assert values and _found("\n".join(values), values) == values  # the scanner sees every value
    return values


def _warehouse_text(settings: Settings) -> str:
    """Every distinct text value of every table and view, the raw views included."""
    texts = []
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        columns = con.execute(
            """
            SELECT schema_name, table_name, column_name FROM duckdb_columns()
            WHERE NOT internal AND database_name = current_database() AND data_type IN ?
            """,
            [list(TEXT_TYPES)],
        ).fetchall()
        assert len(columns) > 50
        for schema, table, column in columns:
            found = con.execute(
                f"SELECT string_agg(DISTINCT CAST({quote(column)} AS VARCHAR), chr(10)) "
                f"FROM {quote(schema)}.{quote(table)}"
            ).fetchone()[0]
            texts.append(found or "")
        raw = settings.raw_root / "**" / "*.parquet"
        for (row,) in con.execute(
            f"SELECT CAST(t AS VARCHAR) FROM read_parquet({literal(str(raw))}, union_by_name = true) t"
        ).fetchall():
            texts.append(row)
    return "\n".join(texts)


def _files_text(*roots: Path) -> str:
    """Every file under ``roots`` as text (Parquet files by their rows)."""
    texts = []
    for root in roots:
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            if path.suffix == ".parquet":
                rows = duckdb.sql(f"SELECT CAST(t AS VARCHAR) FROM read_parquet({literal(str(path))}) t")
                texts += [row for (row,) in rows.fetchall()]
            else:
                texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(texts)


def _with_unreadable_rows(settings: Settings) -> list[str]:
    """Append to the first CSV feed that has PII a line with one field too many and a line with a
    byte invalid in UTF-8, both copies of real rows carrying a caller's name and phone."""
    feed = next(f for f in settings.feeds if f.format == "csv" and f.pii.columns)
    path = Path(sorted(glob(settings.feed_uri(feed)))[-1])
    lines = path.read_text(encoding="utf-8").splitlines()
    named = [line for line in lines[1:] if _PHONE.search(line) and "," not in line.split(feed.delimiter)[0]]
    extra_field = named[0] + feed.delimiter + "extra"
    bad_byte = named[1].replace(feed.delimiter, feed.delimiter + "\xff", 1)
    path.write_bytes(path.read_bytes() + (extra_field + "\n").encode() + (bad_byte + "\n").encode("latin-1"))
    return [extra_field, bad_byte]


def test_an_ingested_workspace_holds_no_pii_in_clear_and_its_hashes_resist_a_dictionary(workspace, caplog):
    settings = load_settings(workspace / "jointcast.toml")
    unreadable = _with_unreadable_rows(settings)
    values = _pii_values(settings)
    assert _found("\n".join(unreadable), values)  # the appended rows do carry PII
    caplog.set_level(logging.DEBUG)
    outcomes = _ingest(workspace / "jointcast.toml")
    assert not [error for outcome in outcomes for error in outcome.errors]
    assert_rows_accounted(workspace / "jointcast.toml")

    stored = _warehouse_text(settings)
    logs = caplog.text + "\n".join(str(outcome) for outcome in outcomes)
    assert _found(stored, values) == set()
    assert _found(logs, values) == set()
    assert _found(_files_text(settings.raw_root), values) == set()
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        kept = con.execute(
            "SELECT raw_values FROM quality.quarantine WHERE reasons[1] LIKE 'unreadable_row%'"
        ).fetchall()
    assert len(kept) >= 2

    secret = load_key(settings.pii_key_path)
    feed = next(f for f in settings.feeds if f.pii.hash)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        [column] = matching([r[0] for r in con.execute(f"DESCRIBE raw.{feed.id}").fetchall()], feed.pii.hash)
        hashes = {
            h for (h,) in con.execute(f"SELECT DISTINCT {quote(column)} FROM raw.{feed.id}").fetchall() if h
        }
    names = [f"{first} {last}" for first, last in itertools.product(_FIRST_NAMES, _LAST_NAMES)]
    assert len(hashes) > 100
    assert hashes.isdisjoint(hashlib.sha256(name.encode()).hexdigest() for name in names)
    assert hashes.isdisjoint(hashlib.sha256(name.lower().encode()).hexdigest() for name in names)
    # The dictionary is complete: with the key it recovers every stored hash.
    assert hashes <= {keyed_hash(secret, name) for name in names}


@pytest.mark.slow
def test_a_published_workspace_holds_no_pii_in_clear_in_mlflow_exports_or_reports(
    published_workspace, tmp_path
):
    settings = load_settings(published_workspace / "jointcast.toml")
    values = _pii_values(settings)
    reports = sorted(settings.report_root.glob("*.html"))
    assert len(reports) == len(settings.agencies)
    exports = tmp_path / "exports"
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        for agency, fmt in itertools.product(settings.agency_ids, ("csv", "parquet")):
            export_agency(con, agency, fmt, exports / agency / fmt)
    mlflow_store = [settings.artifact_root, Path(settings.tracking_uri.removeprefix("sqlite:///"))]
    assert all(path.exists() for path in mlflow_store)
    assert _found(_warehouse_text(settings), values) == set()
    assert _found(_files_text(settings.raw_root, exports, settings.report_root), values) == set()
    assert _found(_files_text(settings.artifact_root), values) == set()
    assert _found(mlflow_store[1].read_bytes().decode("utf-8", errors="replace"), values) == set()
