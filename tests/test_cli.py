"""The command line: every verb loads, stages run as Prefect flows, failures exit non-zero."""

import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from jointcast.cli import app
from tests.conftest import POLICE_FEED
from tests.test_ingest import _query

runner = CliRunner()


def jointcast(*args: str) -> subprocess.CompletedProcess:
    """The real command in its own process, talking to the test session's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "jointcast", *args],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip


VERBS = {  # verb -> the options its help must list (and the required ones, for a config check)
    "simulate": [
        "--out",
        "--days",
        "--seed",
        "--agencies",
        "--messy-rate",
        "--end",
        "--step",
        "--advance",
        "--unit-rows",
    ],
    "ingest": ["--config"],
    "validate": ["--config"],
    "quality": ["--config"],
    "features": ["--config"],
    "train": ["--config"],
    "backtest": ["--config"],
    "forecast": ["--config"],
    "publish": ["--config"],
    "export": ["--agency", "--format", "--out", "--config"],
    "run": ["--config"],
    "monitor": ["--config"],
    "serve": ["--config", "--limit"],
    "deploy": ["--work-pool", "--config"],
    "sql": ["QUERY", "--config"],
    "demo": ["--out", "--days", "--seed"],
    "exercise": ["--scenario", "--out"],
    "override add": ["--agency", "--area", "--from", "--to", "--factor", "--reason", "--config"],
    "override list": ["--agency", "--all", "--config"],
    "override withdraw": ["OVERRIDE_ID", "--reason", "--config"],
    "show staffing": ["--agency", "--date", "--config"],
    "scenario add": ["FILE", "--reason", "--config"],
    "scenario list": ["--config"],
    "scenario run": ["NAME", "--config"],
    "scenario show": ["NAME", "--agency", "--config"],
    "scenario drop": ["NAME", "--config"],
}
NEEDS = {  # the required arguments a config check needs besides --config
    "export": ["--agency", "ems"], "deploy": ["--work-pool", "pool"],
    "override add": ["--agency", "ems", "--from", "2026-01-01", "--to", "2026-01-02", "--factor", "2",
                     "--reason", "r"],
    "override withdraw": ["1"], "show staffing": ["--agency", "ems"],
    "scenario add": ["game.toml", "--reason", "r"], "scenario run": ["game"], "scenario show": ["game"],
    "scenario drop": ["game"],
}  # fmt: skip


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_listing_its_options(verb):
    result = runner.invoke(app, [*verb.split(), "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    for option in VERBS[verb]:
        assert option.lower() in result.output.lower(), f"{verb} --help lacks {option}"


@pytest.mark.parametrize("verb", [v for v, options in VERBS.items() if "--config" in options])
def test_config_before_the_verb_is_the_documented_form_for_every_verb(verb, tmp_path):
    missing = tmp_path / "nowhere" / "jointcast.toml"
    before = runner.invoke(app, ["--config", str(missing), *verb.split(), *NEEDS.get(verb, [])])
    after = runner.invoke(app, [*verb.split(), *NEEDS.get(verb, []), "--config", str(missing)])
    for result in (before, after):
        assert result.exit_code == 2, result.output
        assert (
            result.stderr.strip()
            == f"error: config file not found: {missing} (pass --config or set JOINTCAST_CONFIG)"
        )


def test_a_verbs_own_config_wins_over_the_one_before_it(tmp_path):
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    result = runner.invoke(app, ["-c", str(first), "quality", "-c", str(second)])
    assert result.exit_code == 2 and str(second) in result.stderr and str(first) not in result.stderr


@pytest.mark.integration
def test_ingest_and_validate_run_as_flows_and_quality_reports_per_feed(prefect, workspace):
    # `jointcast run` end to end is tests/test_prefect_server.py's, against a real server
    for verb in ("ingest", "validate"):
        result = jointcast(verb, "--config", str(workspace / "jointcast.toml"))
        assert result.returncode == 0, result.stderr
        # one line per stage and feed, in the project's format; Prefect's run states stay in its UI
        assert f" {verb} in " in result.stderr and "Task run" not in result.stderr, result.stderr
        assert "Flow run" not in result.stderr and "| INFO" not in result.stderr, result.stderr
    assert (result.stdout + result.stderr).count("Data Docs: ") == 1, "validate names its Data Docs once"
    assert "city_police_cad" in result.stdout
    quality = runner.invoke(app, ["quality", "--config", str(workspace / "jointcast.toml")])
    assert quality.exit_code == 0, quality.output
    assert "missing_timestamp" in quality.output and "Data Docs: file://" in quality.output
    assert _query(workspace / "jointcast.toml", "SELECT count(*) > 0 FROM core.incidents") == [(True,)]


@pytest.mark.integration
def test_a_feed_that_fails_exits_non_zero_naming_it_while_the_others_load(prefect, workspace):
    shutil.rmtree(workspace / "feeds" / "county_fire_cad")
    result = jointcast("ingest", "--config", str(workspace / "jointcast.toml"))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: feed county_fire_cad: no files match")
    assert "Traceback" not in result.stderr
    loaded = dict(
        _query(
            workspace / "jointcast.toml",
            "SELECT feed_id, count(*) FROM meta.batches WHERE status = 'received' GROUP BY 1",
        )
    )
    assert set(loaded) == {"city_police_cad", "ems_epcr", "transit_police_rms"}


def test_a_bad_config_is_one_line_and_exit_status_2(tmp_path):
    config = tmp_path / "jointcast.toml"
    config.write_text('[warehouse]\npath = "w.duckdb"\ncolour = "red"\n')
    result = runner.invoke(app, ["ingest", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: config error in {config}: warehouse.colour: unknown key; agencies: required key is missing;"
        " feeds: required key is missing"
    ]


def test_each_invocation_prints_as_wide_as_its_own_columns(tmp_path):
    """A process that runs several invocations (tests, a Python caller) does not keep the first's width:
    rich reads COLUMNS once, when a console is made."""
    from jointcast.cli_support import console, errors

    config = tmp_path / "jointcast.toml"
    config.write_text('[warehouse]\npath = "w.duckdb"\ncolour = "red"\n')
    console.width = errors.width = 80  # as consoles made where COLUMNS was 80
    for columns in (300, 60):
        result = runner.invoke(app, ["ingest", "--config", str(config)], env={"COLUMNS": str(columns)})
        assert result.exit_code == 2
        assert console.width == errors.width == columns


def test_an_error_line_keeps_its_brackets(tmp_path):
    """Rich markup is escaped in error lines: a regex's [a-z] class is printed, not swallowed."""
    config = tmp_path / "jointcast.toml"
    config.write_text(
        POLICE_FEED.format(extra="").replace('id = "pd_cad"', 'id = "PD-CAD"'), encoding="utf-8"
    )
    result = runner.invoke(app, ["ingest", "--config", str(config)])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "String should match pattern '^[a-z][a-z0-9_]{0,62}$'" in line
