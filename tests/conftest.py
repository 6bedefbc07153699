"""Shared fixtures: small workspaces written by the project's own simulator or by hand."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from jointcast.config import load_settings

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")  # as the CLI sets it
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")

HEAVY_MARKERS = ("integration", "browser", "slow")


def pytest_collection_modifyitems(config, items):
    """Files with the most tests that train, start servers or run commands come first, each file's
    own tests in the order written. `make test` gives one file at a time to each of its processes
    (xdist's loadfile, in this order): long files that start early leave no process running alone
    at the end. The order is the same in every process, as xdist requires."""
    heavy = Counter(item.path for item in items if any(item.get_closest_marker(m) for m in HEAVY_MARKERS))
    first_seen = {path: index for index, path in enumerate(dict.fromkeys(item.path for item in items))}
    items.sort(key=lambda item: (-heavy[item.path], first_seen[item.path]))


POLICE_FEED = """
[warehouse]
path = "warehouse.duckdb"
pii_key_file = "pii.key"

[[agencies]]
id = "pd"
name = "Police Department"
kind = "police"
timezone = "America/New_York"
bbox = [-75.5, 39.9, -75.0, 40.3]

[[feeds]]
id = "pd_cad"
agency = "pd"
uri = "feeds/pd/*.csv"
format = "csv"
timestamp_format = "%m/%d/%Y %I:%M:%S %p"
timezone = "America/New_York"
type_codes = {{ TC = "traffic_collision", THEFT = "theft" }}
call_source_codes = {{ "911" = "citizen", SELF = "officer" }}
pii = {{ drop = ["Phone"], hash = ["Caller"] }}
{extra}

[feeds.columns]
source_incident_id = "Id"
received_at = "Rcvd"
source_type = "Type"
priority = "Prio"
call_source = "Src"
dispatched_at = "Disp"
area_id = "Area"
lat = "Lat"
lon = "Lon"
"""

HEADER = "Id,Type,Prio,Src,Rcvd,Disp,Area,Lat,Lon,Phone,Caller"


def police_row(incident_id: str, received: str, dispatched: str = "", type_code: str = "TC") -> str:
    return f"{incident_id},{type_code},2,911,{received},{dispatched},B01,40.1,-75.2,555-0100,Jane Roe"


def write_key(path: Path, secret: str = "0123456789abcdef" * 4) -> Path:
    """A PII key file as the simulator writes one: owner-only."""
    path.write_text(secret + "\n", encoding="ascii")
    path.chmod(0o600)
    return path


@pytest.fixture
def police_workspace(tmp_path: Path):
    """A one-feed workspace; returns a writer for feed files and the config path."""
    config = tmp_path / "jointcast.toml"
    config.write_text(POLICE_FEED.format(extra=""), encoding="utf-8")
    write_key(tmp_path / "pii.key")
    (tmp_path / "feeds" / "pd").mkdir(parents=True)

    def write(name: str, rows: list[str], header: str = HEADER, encoding: str = "utf-8") -> Path:
        path = tmp_path / "feeds" / "pd" / name
        path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
        return path

    write.config = config
    write.root = tmp_path
    return write


@pytest.fixture(scope="session")
def simulated_feeds(tmp_path_factory) -> Path:
    """Five weeks of four agencies' feeds up to today, 2% injected defects (read-only: copy it).

    The window ends today so that the simulator's future-timestamp defects lie in the future
    and the newest data is fresh, as in a live deployment; it always spans a month boundary.
    """
    from jointcast.simulator import simulate

    out = tmp_path_factory.mktemp("simulated")
    simulate(out, days=35, seed=11, messy_rate=0.02)
    return out


@pytest.fixture(scope="session")
def small_feeds(tmp_path_factory) -> Path:
    """30 days of two agencies, clean: the least a whole pipeline (one backtest fold) runs on."""
    from jointcast.simulator import simulate

    out = tmp_path_factory.mktemp("small")
    simulate(out, days=30, seed=3, agencies=2)
    return out


@pytest.fixture
def small_workspace(small_feeds, tmp_path) -> Path:
    """A private copy of the small workspace."""
    return _copy(small_feeds, tmp_path / "small")


def _copy(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


@pytest.fixture
def workspace(simulated_feeds, tmp_path) -> Path:
    """A private copy of the simulated workspace, so a test may write its warehouse."""
    return _copy(simulated_feeds, tmp_path / "workspace")


@pytest.fixture(scope="session")
def prefect():
    """One temporary Prefect API (its own database) for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory, prefect):
    """120 days of four agencies, ingested, validated, featured and trained (a champion exists).

    Returns the workspace and the first training's result. Tests that change it work on a copy.
    """
    from flows.features import features_flow
    from flows.train import train_flow
    from jointcast.simulator import simulate
    from tests.test_ingest import _ingest

    root = tmp_path_factory.mktemp("training") / "workspace"
    simulate(root, days=120, seed=5)
    config = root / "jointcast.toml"
    _ingest(config)
    features_flow(settings=load_settings(str(config)))
    return root, train_flow(settings=load_settings(str(config)))


@pytest.fixture(scope="session")
def published_workspace(trained_workspace, tmp_path_factory) -> Path:
    """A copy of the trained workspace with the champion's forecast published (read-only: copy it)."""
    from flows.forecast import forecast_flow

    root = _copy(trained_workspace[0], tmp_path_factory.mktemp("published") / "workspace")
    forecast_flow(settings=load_settings(str(root / "jointcast.toml")))
    return root


@pytest.fixture
def published(published_workspace, tmp_path) -> Path:
    """A private copy of the published workspace."""
    return _copy(published_workspace, tmp_path / "published")
