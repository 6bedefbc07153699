from pathlib import Path

import pytest

from jointcast.config import ConfigError, load_settings
from tests.conftest import POLICE_FEED


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jointcast.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    settings = load_settings(_write(tmp_path, POLICE_FEED.format(extra="")))
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert settings.feed_uri(settings.feeds[0]) == str(tmp_path / "feeds/pd/*.csv")


def test_the_dask_workers_parquet_sits_beside_the_warehouse_unless_named(tmp_path):
    """A named folder resolves against the config's; an fsspec URL (object storage) is kept as written."""
    text = POLICE_FEED.format(extra="")
    assert load_settings(_write(tmp_path, text)).parquet_root == str(tmp_path / "parquet")
    named = text + '\n[orchestration]\ntask_runner = "dask"\ndask_parquet_dir = "shared/jointcast"\n'
    assert load_settings(_write(tmp_path, named)).parquet_root == str(tmp_path / "shared" / "jointcast")
    url = named.replace('"shared/jointcast"', '"s3://bucket/jointcast"')
    assert load_settings(_write(tmp_path, url)).parquet_root == "s3://bucket/jointcast"


def test_police_demand_skips_officer_initiated_calls_by_default(tmp_path):
    agency = load_settings(_write(tmp_path, POLICE_FEED.format(extra=""))).agencies[0]
    assert "officer" not in agency.counted_call_sources
    assert "citizen" in agency.counted_call_sources


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('format = "csv"', 'format = "csv"\ncolour = "blue"'), "feeds[0].colour: unknown key"),
        (('format = "csv"', 'format = "xml"'), "feeds[0].format: Input should be"),
        (('agency = "pd"', 'agency = "fire"'), "feeds[0].agency: unknown agency 'fire'"),
        (('id = "pd_cad"', 'id = "pd-cad; drop"'), "feeds[0].id: String should match pattern"),
        (
            ('timezone = "America/New_York"\nbbox', 'timezone = "Mars/Olympus"\nbbox'),
            "agencies[0].timezone: unknown time zone 'Mars/Olympus'",
        ),
        (('received_at = "Rcvd"\n', ""), "feeds[0].columns.received_at: required key is missing"),
        (("[[agencies]]", "[monitor]\nwape_margn = 0.2\n\n[[agencies]]"), "monitor.wape_margn: unknown key"),
        (("[[agencies]]", "[monitor]\ncoverage_band = [0.9, 0.6]\n\n[[agencies]]"), "monitor.coverage_band"),
        (
            ("[[agencies]]", "[forecast]\nzero_sample_rate = 0\n\n[[agencies]]"),
            "forecast.zero_sample_rate: Input should be greater than 0",
        ),
        # values that would silently disable a check or fail a stage later are refused at load
        (
            ('format = "csv"', 'format = "csv"\npriority_range = [5, 1]'),
            "feeds[0].priority_range: priority_range must be [lowest, highest], got [5, 1]",
        ),
        (
            ('format = "csv"', 'format = "csv"\ndelimiter = ""'),
            "feeds[0].delimiter: delimiter must be one character",
        ),
        (('format = "csv"', 'format = "csv"\ndelimiter = ";;"'), "feeds[0].delimiter"),
        (
            ('"%m/%d/%Y %I:%M:%S %p"', '"%Q %Y-%m-%d"'),
            "feeds[0].timestamp_format: timestamp_format '%Q %Y-%m-%d' is not a strptime format DuckDB reads",
        ),
        (
            ('"%m/%d/%Y %I:%M:%S %p"', '"%H:%M"'),
            "feeds[0].timestamp_format: timestamp_format '%H:%M' names no date",
        ),
        (
            ('"%m/%d/%Y %I:%M:%S %p"', '["%m/%d/%Y %I:%M:%S %p", "%H:%M"]'),
            "feeds[0].timestamp_format: timestamp_format '%H:%M' names no date",
        ),
        (('"%m/%d/%Y %I:%M:%S %p"', "[]"), "feeds[0].timestamp_format: timestamp_format: an empty list"),
        (
            ('format = "csv"', 'format = "jsonl"\nencoding = "cp1252"'),
            "feeds[0]: encoding: cp1252 is read in csv feeds only",
        ),
        (
            ('format = "csv"', "format = \"csv\"\ntype_pattern = '^(\\w+'"),
            "feeds[0].type_pattern: invalid regex",
        ),
        (
            ('format = "csv"', 'format = "csv"\npriority_codes = { E = 1, LOW = 9 }'),
            "feeds[0]: priority_codes.LOW = 9 lies outside priority_range [1, 5]",
        ),
        (
            ('format = "csv"', "format = \"csv\"\npriority_pattern = '^P?\\d'"),
            "feeds[0].priority_pattern: pattern needs one capture group",
        ),
        (
            ('format = "csv"', 'format = "csv"\ncoordinates_crs = "EPSG:999999"'),
            "feeds[0].coordinates_crs: coordinates_crs 'EPSG:999999' is not a coordinate system PROJ knows",
        ),
        (
            ('lat = "Lat"', 'lat = "Lat"\npoint = "Loc"'),
            "feeds[0].columns: map either point (one column with both coordinates) or lat and lon, not both",
        ),
        (
            ('dispatched_at = "Disp"', 'on_scene_time = "SceneTime"'),
            "feeds[0].columns: on_scene_time is the time of on_scene_at: map on_scene_at's date column too",
        ),
        (
            ('format = "csv"', 'format = "csv"\ndecimal_separator = ";"'),
            "feeds[0].decimal_separator: Input should be '.' or ','",
        ),
        (
            ('format = "csv"', 'format = "csv"\ndecimal_separator = ","'),
            "feeds[0]: decimal_separator: a ',' decimal mark needs another delimiter than ','",
        ),
        (
            ('format = "csv"', 'format = "json"\nencoding = "latin-1"'),
            "feeds[0]: encoding: a json feed is read as UTF-8",
        ),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(tmp_path, change, message):
    text = POLICE_FEED.format(extra="").replace(*change)
    with pytest.raises(ConfigError) as error:
        load_settings(_write(tmp_path, text))
    line = str(error.value)
    assert "\n" not in line
    assert message in line
    assert str(tmp_path / "jointcast.toml") in line


def test_a_new_configs_problems_are_all_named_in_its_one_line(tmp_path):
    text = (
        POLICE_FEED.format(extra="")
        .replace('name = "Police Department"\n', "")
        .replace('format = "csv"\n', "")
    )
    with pytest.raises(ConfigError) as error:
        load_settings(_write(tmp_path, text))
    assert str(error.value).endswith(
        ": agencies[0].name: required key is missing; feeds[0].format: required key is missing"
    )


def test_a_feed_without_a_timezone_reads_naive_times_in_its_agencys(tmp_path):
    """An agency's export writes its own wall clock: a feed that leaves ``timezone`` out is read in its
    agency's zone, not UTC (hours off, silently); a shared feed of agencies in two zones must say."""
    text = POLICE_FEED.format(extra="").replace('timezone = "America/New_York"\ntype_codes', "type_codes")
    assert load_settings(_write(tmp_path, text)).feeds[0].timezone == "America/New_York"
    shared = text.replace('agency = "pd"\n', "") + (
        '[feeds.agency_from]\ncolumn = "Area"\nmap = { B01 = "pd", B02 = "so" }\n'
        '[[agencies]]\nid = "so"\nname = "Sheriff"\nkind = "sheriff"\ntimezone = "America/Chicago"\n'
    )
    with pytest.raises(ConfigError, match=r"feeds\[0\]\.timezone: not set, and its agencies' time zones differ"
                       r" \(America/Chicago, America/New_York\)"):  # fmt: skip
        load_settings(_write(tmp_path, shared))


def test_a_missing_config_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="JOINTCAST_CONFIG"):
        load_settings(tmp_path / "nope.toml")


def test_the_config_env_var_is_honoured(tmp_path, monkeypatch):
    path = _write(tmp_path, POLICE_FEED.format(extra=""))
    monkeypatch.setenv("JOINTCAST_CONFIG", str(path))
    assert load_settings().root == tmp_path


def test_the_zero_sample_rate_reaches_the_model_parameters(tmp_path):
    from flows.pending import configured_parameters

    text = POLICE_FEED.format(extra="").replace(
        "[[agencies]]", "[forecast]\nzero_sample_rate = 1\n\n[[agencies]]", 1
    )
    assert configured_parameters(load_settings(_write(tmp_path, text))).zero_sample_rate == 1.0  # off
    assert (
        configured_parameters(load_settings(_write(tmp_path, POLICE_FEED.format(extra="")))).zero_sample_rate
        == 0.25
    )


@pytest.mark.parametrize("folder", ["ops?2026", "ops"])
def test_a_warehouse_path_duckdb_cannot_open_is_refused_at_load(tmp_path, folder):
    """DuckDB reads what follows a '?' in a database path as options, and its write-ahead log then
    lands in a folder that does not exist: the first commit would fail mid-run."""
    workspace = tmp_path / folder
    workspace.mkdir()
    text = POLICE_FEED.format(extra="").replace('path = "warehouse.duckdb"', 'path = "store/w?.duckdb"')
    with pytest.raises(ConfigError) as error:
        load_settings(_write(workspace, text))
    assert "\n" not in str(error.value)
    assert f"warehouse.path: {workspace / 'store' / 'w?.duckdb'} holds a '?'" in str(error.value)
    if "?" in folder:  # the default path under a folder with a '?' in its name
        with pytest.raises(ConfigError, match="holds a '[?]'"):
            load_settings(_write(workspace, POLICE_FEED.format(extra="")))
