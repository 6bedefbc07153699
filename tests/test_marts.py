"""Each agency's encrypted mart: its key opens it, another's does not, and it holds its own rows only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from jointcast.cli import app
from jointcast.config import load_settings
from tests.conftest import _copy
from warehouse.agency_keys import KeyProblem, agency_key, key_env, require_key, write_key_file
from warehouse.db import open_warehouse
from warehouse.marts import ORDER, MartError, open_mart, refresh_marts

runner = CliRunner()
AGENCY_COLUMNS = ("agency_id", "lead_agency", "supporting_agencies", "agency_ids", "partner_agencies")


def _settings(root: Path):
    return load_settings(root / "jointcast.toml")


def _tables(con) -> list[str]:
    return [
        f"{schema}.{name}"
        for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'mart' ORDER BY ALL"
        ).fetchall()
    ]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
def test_each_mart_opens_with_its_agencys_key_and_fails_with_anothers(published_workspace):
    settings = _settings(published_workspace)
    keys = {agency: require_key(settings, agency) for agency in settings.agency_ids}
    assert len(set(keys.values())) == len(keys) == 4
    for agency, key in keys.items():
        path = settings.mart_path(agency)
        with open_mart(path, key, agency) as con:
            assert con.execute("SELECT agency_id FROM meta.mart").fetchone() == (agency,)
        other = next(k for a, k in keys.items() if a != agency)
        with (
            pytest.raises(MartError, match=f"agency '{agency}' does not open .*: wrong key"),
            open_mart(path, other, agency),
        ):
            pass
        with pytest.raises(duckdb.Error):  # without a key DuckDB does not read it either
            duckdb.connect(str(path), read_only=True).execute("SELECT * FROM forecast.demand")
        stored = path.read_bytes()
        assert (
            key.encode() not in stored
            and b"recommended_units" not in stored
            and b"shift_totals" not in stored
        )


@pytest.mark.slow
def test_a_mart_holds_its_agencys_rows_only_and_the_joint_rows_of_its_roles(published_workspace):
    settings = _settings(published_workspace)
    roles = settings.role_map
    with open_warehouse(settings.warehouse_path, read_only=True) as warehouse:
        for agency in settings.agency_ids:
            mine = {t for t, (lead, supporting) in roles.items() if agency == lead or agency in supporting}
            with open_mart(settings.mart_path(agency), require_key(settings, agency), agency) as con:
                assert _tables(con) == sorted([*ORDER, "meta.mart"])
                for table in ORDER:
                    frame = con.execute(f"SELECT * FROM {table}").pl()
                    if "agency_id" in frame.columns:
                        assert set(frame["agency_id"]) <= {agency}, table
                    if "agency_ids" in frame.columns:
                        assert all(agency in ids for ids in frame["agency_ids"]), table
                    if "lead_agency" in frame.columns and "supporting_agencies" in frame.columns:
                        assert all(
                            agency == lead or agency in supporting
                            for lead, supporting in frame.select("lead_agency", "supporting_agencies").rows()
                        ), table
                    assert not {"agencies", "incident_key"} & set(frame.columns), table
                joint = con.execute("SELECT DISTINCT incident_type FROM forecast.joint_demand").fetchall()
                assert joint and {t for (t,) in joint} <= mine
                for table in ("demand", "staffing", "shift_totals", "areas"):
                    (rows,) = con.execute(f"SELECT count(*) FROM forecast.{table}").fetchone()
                    expected = f"SELECT count(*) FROM forecast.{table} WHERE agency_id = ?"
                    assert rows == warehouse.execute(expected, [agency]).fetchone()[0] > 0, table


@pytest.mark.slow
def test_marts_and_the_warehouse_are_owner_only(published_workspace):
    settings = _settings(published_workspace)
    assert _mode(settings.warehouse_path) == 0o600
    assert _mode(settings.mart_root) == 0o700
    for agency in settings.agency_ids:
        assert _mode(settings.mart_path(agency)) == 0o600
        assert _mode(settings.key_file(agency)) == 0o600
    assert not [p.name for p in settings.mart_root.iterdir() if p.suffix != ".duckdb"]  # no temp file left


@pytest.mark.slow
def test_a_mart_is_written_again_only_when_its_rows_or_key_change(published_workspace, tmp_path, monkeypatch):
    from flows.pending import nothing_to_do

    root = _copy(published_workspace, tmp_path / "published")
    settings = _settings(root)
    before = {a: settings.mart_path(a).stat().st_ino for a in settings.agency_ids}
    killed = settings.mart_root / ".ems.duckdb.99999.tmp"  # what a writer killed half-way leaves
    killed.write_bytes(b"half a mart")
    with open_warehouse(settings.warehouse_path) as con:
        assert refresh_marts(con, settings) == dict.fromkeys(settings.agency_ids, "current")
    assert {a: settings.mart_path(a).stat().st_ino for a in settings.agency_ids} == before
    assert not killed.exists()

    new_key = "a-new-key-for-ems-0123456789"
    monkeypatch.setenv(key_env("ems"), new_key)
    assert nothing_to_do("publish", settings) is None  # its mart no longer opens with its key
    with open_warehouse(settings.warehouse_path) as con:
        outcome = refresh_marts(con, settings)
    assert outcome["ems"] == "written" and outcome["city_police"] == "current"
    with open_mart(settings.mart_path("ems"), new_key, "ems") as con:
        assert con.execute("SELECT count(*) FROM forecast.demand").fetchone()[0] > 0
    assert nothing_to_do("publish", settings) is not None


@pytest.mark.slow
def test_an_agency_without_a_key_gets_no_mart_and_the_others_do(published_workspace, tmp_path, caplog):
    root = _copy(published_workspace, tmp_path / "published")
    (root / "keys" / "ems.key").unlink()
    settings = _settings(root)
    with open_warehouse(settings.warehouse_path) as con:
        outcome = refresh_marts(con, settings)
    assert "key file" in outcome["ems"] and "not found" in outcome["ems"]
    assert not settings.mart_path("ems").exists()  # no outdated publication left behind
    assert settings.mart_path("city_police").exists()
    assert "ems: no mart written: key file" in caplog.text


@pytest.mark.slow
def test_show_and_export_need_the_agencys_key(published_workspace, tmp_path):
    root = _copy(published_workspace, tmp_path / "published")
    config = str(root / "jointcast.toml")
    settings = _settings(root)
    out = tmp_path / "export"
    exported = runner.invoke(app, ["export", "--agency", "ems", "--out", str(out), "--config", config])
    assert exported.exit_code == 0, exported.output
    assert _mode(out) == 0o700 and {_mode(p) for p in out.iterdir()} == {0o600}
    shown = runner.invoke(app, ["show", "staffing", "--agency", "ems", "--config", config])
    assert shown.exit_code == 0, shown.output
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    into_file = runner.invoke(app, ["export", "--agency", "ems", "--out", str(a_file), "--config", config])
    assert into_file.exit_code == 1 and into_file.stderr.strip().splitlines() == [
        f"error: --out {a_file} is a file, not a folder: name a folder to write the export into"
    ]  # one line, no traceback

    wrong = {key_env("ems"): require_key(settings, "city_police")}
    for command in (["show", "staffing"], ["export", "--out", str(tmp_path / "wrong")]):
        result = runner.invoke(app, [*command, "--agency", "ems", "--config", config], env=wrong)
        assert result.exit_code == 1
        assert result.stderr.count("error:") == 1 and "wrong key" in result.stderr, result.stderr
    assert not (tmp_path / "wrong").exists() or not any((tmp_path / "wrong").iterdir())

    text = (root / "jointcast.toml").read_text()
    (root / "jointcast.toml").write_text(text.replace('key_file = "keys/ems.key"\n', ""))
    result = runner.invoke(app, ["show", "staffing", "--agency", "ems", "--config", config])
    assert result.exit_code == 1 and "no key for agency 'ems': set $JOINTCAST_KEY_EMS" in result.stderr


@pytest.mark.slow
def test_an_agency_that_opts_out_of_joint_aggregates_neither_feeds_nor_receives_them(
    published_workspace, tmp_path, prefect
):
    from flows.publish import publish_flow

    root = _copy(published_workspace, tmp_path / "published")
    config = root / "jointcast.toml"
    text = config.read_text()
    config.write_text(
        text.replace('key_file = "keys/ems.key"\n', 'key_file = "keys/ems.key"\nshare_joint = false\n')
    )
    settings = load_settings(config)
    assert settings.joint_agencies == ("city_police", "county_fire", "transit_police")
    result = publish_flow(settings=settings)
    assert result["published"]
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        contributors = {
            a for (ids,) in con.execute("SELECT agencies FROM forecast.joint_demand").fetchall() for a in ids
        }
    assert contributors and "ems" not in contributors
    with open_mart(settings.mart_path("ems"), require_key(settings, "ems"), "ems") as con:
        assert con.execute("SELECT count(*) FROM forecast.joint_demand").fetchone() == (0,)
        assert con.execute("SELECT shares_joint FROM meta.mart").fetchone() == (False,)
        assert con.execute("SELECT count(*) FROM forecast.demand").fetchone()[0] > 0
    assert (
        "<div class='joint-outlook'>" not in (root / "report" / "ems.html").read_text()
    )  # nor in its report page
    fire = require_key(settings, "county_fire")
    with open_mart(settings.mart_path("county_fire"), fire, "county_fire") as con:
        assert con.execute("SELECT count(*) FROM forecast.joint_demand").fetchone()[0] > 0


def test_a_key_is_read_from_the_environment_first_and_a_key_file_only_when_private(
    small_workspace, monkeypatch
):
    settings = _settings(small_workspace)
    agency = settings.agency_ids[0]
    path = settings.key_file(agency)
    assert _mode(path) == 0o600 and len(agency_key(settings, agency)) == 64
    monkeypatch.setenv(key_env(agency), "  from-the-environment-0123  ")
    assert agency_key(settings, agency) == "from-the-environment-0123"
    monkeypatch.setenv(key_env(agency), "short")
    with pytest.raises(KeyProblem, match="5 characters: at least 16"):
        agency_key(settings, agency)
    monkeypatch.delenv(key_env(agency))
    path.chmod(0o644)
    with pytest.raises(KeyProblem, match=r"open to others \(mode 0644\): chmod 600 it"):
        agency_key(settings, agency)
    kept = path.read_text()
    path.chmod(0o600)
    assert write_key_file(path).read_text() == kept  # an existing key is never replaced


@pytest.mark.integration
def test_what_the_command_line_writes_is_owner_only(tmp_path):
    """Through the console script (its umask): the feeds, keys, warehouse and raw files."""
    root = tmp_path / "ws"
    program = str(Path(sys.executable).with_name("jointcast"))
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    for command in (["simulate", "--out", str(root), "--days", "8", "--agencies", "1"], ["ingest"]):
        config = [] if command[0] == "simulate" else ["--config", str(root / "jointcast.toml")]
        done = subprocess.run([program, *config, *command], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
    written = [p for p in root.rglob("*")]
    assert any(p.parent.name == "raw" or "raw" in p.parts for p in written)
    assert (root / "warehouse.duckdb").exists()
    for path in [root, *written]:
        assert _mode(path) & 0o077 == 0, f"{path} is {_mode(path):04o}"
