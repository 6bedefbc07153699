"""PII stays protected: keyed hashing, columns matched by case and duplicates, fail-closed
files, unreadable rows without PII, feeds confined to their folders, formula-safe CSV cells."""

from __future__ import annotations

import csv
import hashlib
import json
import os

import duckdb
import pytest

from tests.conftest import HEADER, POLICE_FEED, police_row, write_key
from tests.test_ingest import _ingest, _query, assert_rows_accounted
from warehouse.pii import KEY_ENV, keyed_hash, load_key, matching
from warehouse.spreadsheet import spreadsheet_safe

KEY = ("0123456789abcdef" * 4).encode()  # the police workspace's key (tests.conftest.write_key)


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch):
    """Each test says where its key comes from; an operator's environment never leaks in."""
    monkeypatch.delenv(KEY_ENV, raising=False)


def _raw(config, column: str) -> list:
    return [row[0] for row in _query(config, f'SELECT "{column}" FROM raw.pd_cad ORDER BY _row_number')]


def _columns(config) -> list[str]:
    return [row[0] for row in _query(config, "DESCRIBE raw.pd_cad")]


def _quarantined(config) -> dict[int, tuple[list[str], dict]]:
    rows = _query(config, "SELECT row_number, reasons, raw_values FROM quality.quarantine ORDER BY 1")
    return {number: (reasons, json.loads(values)) for number, reasons, values in rows}


def test_hashes_are_keyed_so_a_dictionary_of_plain_sha256_finds_nothing(police_workspace):
    police_workspace("pd_01.csv", [police_row("P1", "01/02/2024 10:00:00 AM")])
    _ingest(police_workspace.config)
    [stored] = _raw(police_workspace.config, "Caller")
    candidates = ["John Doe", "Jane Roe", "Jane Doe", "John Roe"]
    assert stored not in {hashlib.sha256(name.encode()).hexdigest() for name in candidates}
    assert stored == keyed_hash(KEY, "Jane Roe")  # HMAC-SHA256, the same in DuckDB and Python
    assert stored == _hmac_of_other_implementations(KEY, "Jane Roe")


def _hmac_of_other_implementations(secret: bytes, text: str) -> str:
    import hmac

    return hmac.new(secret, text.encode(), "sha256").hexdigest()


def test_the_key_comes_from_the_environment_before_the_key_file(police_workspace, monkeypatch):
    other = "f" * 40
    monkeypatch.setenv(KEY_ENV, other)
    police_workspace("pd_01.csv", [police_row("P1", "01/02/2024 10:00:00 AM")])
    _ingest(police_workspace.config)
    assert _raw(police_workspace.config, "Caller") == [keyed_hash(other.encode(), "Jane Roe")]


def test_a_feed_that_hashes_refuses_to_ingest_without_a_key(police_workspace):
    (police_workspace.root / "pii.key").unlink()
    config = police_workspace.config
    config.write_text(config.read_text().replace('pii_key_file = "pii.key"\n', ""), encoding="utf-8")
    police_workspace("pd_01.csv", [police_row("P1", "01/02/2024 10:00:00 AM")])
    [outcome] = _ingest(config, validate=False)
    [message] = outcome.errors
    assert message.startswith("feed pd_cad: pii.hash needs a secret key and none is set")
    assert KEY_ENV in message and "pii_key_file" in message and "\n" not in message
    assert outcome.batches == []
    assert _query(config, "SELECT count(*) FROM meta.batches") == [(0,)]


@pytest.mark.parametrize(
    ("secret", "mode", "said"),
    [
        ("short", 0o600, "holds 5 characters; a PII key needs 32 or more"),
        ("k" * 40, 0o644, r"is open to others \(mode 0644\): chmod 600 it"),
    ],
)
def test_a_weak_or_exposed_key_file_is_refused(tmp_path, secret, mode, said):
    key_file = write_key(tmp_path / "pii.key", secret)
    key_file.chmod(mode)
    with pytest.raises(RuntimeError, match=said):
        load_key(key_file)
    with pytest.raises(RuntimeError, match="the PII key file .*missing.key not found"):
        load_key(tmp_path / "missing.key")


def test_the_key_is_kept_in_neither_the_config_nor_the_warehouse(police_workspace):
    from jointcast.config import ConfigError, load_settings

    police_workspace("pd_01.csv", [police_row("P1", "01/02/2024 10:00:00 AM")])
    _ingest(police_workspace.config)
    warehouse = (police_workspace.root / "warehouse.duckdb").read_bytes()
    assert KEY not in warehouse and KEY.hex().encode() not in warehouse
    config = police_workspace.config
    config.write_text(config.read_text().replace("pii_key_file", "pii_key"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"warehouse\.pii_key: unknown key"):
        load_settings(config)


def test_pii_columns_match_whatever_their_case_and_every_duplicate_of_them():
    header = ["Id", "CallerPhone", "callerphone_1", "CallerPhone_2", "Phone Type", "CALLERNAME"]
    assert matching(header, ["callerphone"]) == ["CallerPhone", "callerphone_1", "CallerPhone_2"]
    assert matching(header, ["CallerName"]) == ["CALLERNAME"]


def test_a_differently_cased_or_duplicated_pii_header_is_still_dropped_and_hashed(police_workspace):
    header = HEADER.replace("Phone,Caller", "PHONE,caller,phone")
    police_workspace("pd_01.csv", [police_row("P1", "01/02/2024 10:00:00 AM") + ",555-0199"], header=header)
    _ingest(police_workspace.config)
    columns = _columns(police_workspace.config)
    assert not [c for c in columns if "phone" in c.lower()]
    assert _raw(police_workspace.config, "caller") == [keyed_hash(KEY, "Jane Roe")]
    assert_rows_accounted(police_workspace.config)


@pytest.mark.parametrize(
    ("header", "encoding", "said"),
    [
        (
            HEADER.replace(",Phone", ",Telephone"),
            "utf-8",
            "PII column 'Phone' (feeds.pii.drop of feed pd_cad)",
        ),
        (HEADER.replace(",Caller", ",Name"), "utf-8", "PII column 'Caller' (feeds.pii.hash of feed pd_cad)"),
        # UTF-16 in a UTF-8 feed: no column is what it seems, and the file is refused for its encoding
        (HEADER, "utf-16", "the file is UTF-16 (it starts with a UTF-16 byte-order mark)"),
    ],
)
def test_a_file_without_a_configured_pii_column_is_refused(police_workspace, header, encoding, said):
    police_workspace(
        "pd_01.csv", [police_row("P1", "01/02/2024 10:00:00 AM")], header=header, encoding=encoding
    )
    [outcome] = _ingest(police_workspace.config, validate=False)
    [message] = outcome.errors
    assert [b.status for b in outcome.batches] == ["failed"]
    assert said in message and "pd_01.csv" in message and "\n" not in message
    assert _query(police_workspace.config, "SELECT count(*) FROM quality.quarantine") == [(0,)]
    assert not list((police_workspace.root / "raw").rglob("*.parquet"))


def test_unreadable_rows_are_quarantined_without_their_pii(police_workspace):
    good = police_row("G1", "01/02/2024 10:00:00 AM")
    shifted = good.replace("Jane Roe", "Roe, Jane")  # one field too many: fields cannot be trusted
    police_workspace("pd_01.csv", [good, shifted, good.replace("G1", "G2")])
    path = police_workspace.root / "feeds" / "pd" / "pd_01.csv"
    bad_bytes = police_row("B1", "01/02/2024 11:00:00 AM").replace("Jane", "J\xffne").encode("latin-1")
    path.write_bytes(path.read_bytes() + bad_bytes + b"\n")
    _ingest(police_workspace.config)
    quarantined = _quarantined(police_workspace.config)
    reasons, kept = quarantined[2]
    assert reasons[0].startswith("unreadable_row: too many columns")
    assert kept == {"length": len(shifted), "hmac_sha256": keyed_hash(KEY, shifted)}
    reasons, kept = quarantined[4]
    assert reasons[0].startswith("unreadable_row: invalid encoding")
    assert kept["Id"] == "B1" and kept["Area"] == "B01"
    assert not {"Phone", "Caller"} & set(kept)
    text = json.dumps(quarantined)
    assert "555-0100" not in text and "Roe" not in text and "Jane" not in text
    assert_rows_accounted(police_workspace.config)


def test_unreadable_rows_keep_their_text_only_when_the_feed_says_so(police_workspace):
    config = police_workspace.config
    config.write_text(
        config.read_text().replace(
            'hash = ["Caller"] }', 'hash = ["Caller"], retain_unreadable_raw = true }'
        ),
        encoding="utf-8",
    )
    shifted = police_row("G1", "01/02/2024 10:00:00 AM").replace("Jane Roe", "Roe, Jane")
    police_workspace("pd_01.csv", [shifted])
    _ingest(config)
    assert _quarantined(config)[1][1] == {"line": shifted}


JSONL_FEED = POLICE_FEED.replace(
    'uri = "feeds/pd/*.csv"\nformat = "csv"', 'uri = "feeds/pd/*.jsonl"\nformat = "jsonl"'
)


def test_a_malformed_json_line_keeps_only_its_length_and_keyed_hash(police_workspace):
    police_workspace.config.write_text(JSONL_FEED.format(extra=""), encoding="utf-8")
    names = HEADER.split(",")
    good = json.dumps(
        dict(zip(names, next(csv.reader([police_row("J1", "01/02/2024 10:00:00 AM")])), strict=True))
    )
    broken = good[:-1] + ', "Caller": "Jane Roe"'
    police_workspace("pd_01.jsonl", [good, broken], header=good)
    _ingest(police_workspace.config)
    reasons, kept = _quarantined(police_workspace.config)[3]
    assert reasons == ["malformed_json"]
    assert kept == {"length": len(broken), "hmac_sha256": keyed_hash(KEY, broken)}
    assert_rows_accounted(police_workspace.config)


def test_a_uri_climbing_out_of_its_folder_is_refused(police_workspace):
    config = police_workspace.config
    config.write_text(config.read_text().replace('"feeds/pd/*.csv"', '"feeds/../../etc/*.conf"'))
    [outcome] = _ingest(config, validate=False)
    assert outcome.errors == [
        "feed pd_cad: uri 'feeds/../../etc/*.conf' has a '..' step: a local feed may not leave its folder"
    ]
    assert outcome.batches == []


def test_leading_parent_steps_only_name_the_folder_and_its_files_load(police_workspace):
    """Data kept beside the workspace (``../data/*.csv``, relative to the config's folder) is a folder
    named as an absolute path would name it: its files load."""
    police_workspace("pd_01.csv", [police_row("P1", "01/02/2024 10:00:00 AM")])
    config = police_workspace.config
    beside = f'"../{police_workspace.root.name}/feeds/pd/*.csv"'
    config.write_text(config.read_text().replace('"feeds/pd/*.csv"', beside))
    [outcome] = _ingest(config, validate=False)
    assert outcome.errors == []
    assert len(outcome.batches) == 1


def test_a_symlink_out_of_the_feed_folder_is_refused_and_the_other_files_load(police_workspace, tmp_path):
    police_workspace("pd_01.csv", [police_row("P1", "01/02/2024 10:00:00 AM")])
    outside = tmp_path / "secret.csv"
    outside.write_text(HEADER + "\n" + police_row("S1", "01/02/2024 10:00:00 AM") + "\n")
    link = police_workspace.root / "feeds" / "pd" / "pd_02.csv"
    link.symlink_to(outside)
    inside = police_workspace.root / "feeds" / "pd" / "pd_03.csv"
    inside.symlink_to(police_workspace.root / "feeds" / "pd" / "pd_01.csv")  # a link within: fine
    [outcome] = _ingest(police_workspace.config, validate=False)
    [message] = outcome.errors
    assert message == (
        f"feed pd_cad: file '{link}' leads to '{outside.resolve()}', outside the feed's folder "
        f"'{link.parent.resolve()}'; not read"
    )
    assert [b.status for b in outcome.batches] == ["received", "failed", "skipped"]
    assert _raw(police_workspace.config, "Id") == ["P1"]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x.example","click")', '\'=HYPERLINK("http://x.example","click")'),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("+1-1", "'+1-1"),
        ("-2+3", "'-2+3"),
        ("\tB01", "'\tB01"),
        ("\rB01", "'\rB01"),
        ("-1.5", "-1.5"),
        ("+3", "+3"),
        ("-2e-3", "-2e-3"),
        ("B01 = north", "B01 = north"),
        ("", ""),
    ],
)
def test_csv_text_cells_a_spreadsheet_would_run_are_neutralised(tmp_path, cell, written):
    con = duckdb.connect()
    out = tmp_path / "cells.csv"
    query = "SELECT ? AS reason, -1.5 AS delta, CAST(-4 AS BIGINT) AS units"
    con.execute("CREATE TABLE t AS " + query, [cell])
    con.execute(f"COPY ({spreadsheet_safe(con, 'SELECT * FROM t')}) TO '{out}' (FORMAT csv, HEADER true)")
    with out.open(newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert row == {"reason": written, "delta": "-1.5", "units": "-4"}


def test_key_file_path_is_resolved_against_the_config_folder(police_workspace):
    from jointcast.config import load_settings

    settings = load_settings(police_workspace.config)
    assert settings.pii_key_path == police_workspace.root / "pii.key"
    assert load_key(settings.pii_key_path) == KEY
    assert os.stat(settings.pii_key_path).st_mode & 0o777 == 0o600


def test_a_feed_that_only_drops_ingests_without_a_key_and_keeps_only_lengths(police_workspace):
    (police_workspace.root / "pii.key").unlink()
    config = police_workspace.config
    text = config.read_text().replace('pii_key_file = "pii.key"\n', "")
    config.write_text(text.replace('hash = ["Caller"]', "hash = []"), encoding="utf-8")
    shifted = police_row("G2", "01/02/2024 10:00:00 AM").replace("Jane Roe", "Roe, Jane")
    police_workspace("pd_01.csv", [police_row("G1", "01/02/2024 10:00:00 AM"), shifted])
    [outcome] = _ingest(config)
    assert outcome.errors == []
    assert "Phone" not in _columns(config)
    assert _quarantined(config)[2][1] == {"length": len(shifted)}
    assert_rows_accounted(config)


def test_a_feed_file_named_in_the_uri_that_links_out_of_its_folder_is_refused(police_workspace, tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text(HEADER + "\n" + police_row("S1", "01/02/2024 10:00:00 AM") + "\n")
    link = police_workspace.root / "feeds" / "pd" / "today.csv"
    link.symlink_to(outside)
    config = police_workspace.config
    config.write_text(config.read_text().replace('"feeds/pd/*.csv"', '"feeds/pd/today.csv"'))
    [outcome] = _ingest(config, validate=False)
    [message] = outcome.errors
    assert message.startswith(f"feed pd_cad: file '{link}' leads to '{outside.resolve()}', outside")
    assert [b.status for b in outcome.batches] == ["failed"]
