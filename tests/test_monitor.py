"""The planning loop on the published demo a week later: the simulated clock advanced 7 days into
the same feeds (one agency's demand 40% up from the third day on), ingested, validated, monitored."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pytest

from jointcast.config import load_settings
from tests.browser import dump_dom
from tests.conftest import _copy
from tests.servers import mlflow_server

pytestmark = pytest.mark.slow
STEPPED = "city_police"
CONTENT = (
    "incident_key", "agency_id", "feed_id", "source_incident_id", "incident_type", "call_source", "priority",
    "received_at", "dispatched_at", "on_scene_at", "cleared_at", "area_id", "lat", "lon",
)  # fmt: skip


def simulated_end(root: Path) -> date:
    """The end day the simulator wrote the workspace up to (its config's header says)."""
    found = re.search(
        r"days from \d{4}-\d{2}-\d{2} to (\d{4}-\d{2}-\d{2})", (root / "jointcast.toml").read_text()
    )
    return date.fromisoformat(found.group(1))


def _frame(root: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        frame = pl.from_arrow(con.execute(sql).to_arrow_table())
    zoned = [
        name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime) and dtype.time_zone
    ]
    return frame.with_columns(pl.col(zoned).dt.convert_time_zone("UTC"))


@pytest.fixture(scope="module")
def advanced(published_workspace, tmp_path_factory) -> Path:
    """The published workspace a week later, ingested and validated (read-only: copy it)."""
    from jointcast.simulator import simulate
    from tests.test_ingest import _ingest

    root = _copy(published_workspace, tmp_path_factory.mktemp("advanced") / "workspace")
    end = simulated_end(root)
    # 50% more from the third day on (a jump from the first would also lift the week's file past
    # validation's row-count bounds, and be rejected whole: that check is not what is tested here)
    simulate(root, days=120, seed=5, end=end, advance=7, step=[(STEPPED, end + timedelta(days=2), 1.5)])
    # the shared workspace ends today: validation's clock moves on the week with the feeds, so the
    # new days are not taken for records from the future
    later = datetime.combine(end + timedelta(days=7), datetime.min.time(), tzinfo=UTC)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("expectations.validate.now_utc", lambda: later)
        _ingest(root / "jointcast.toml")
    return root


@pytest.fixture(scope="module")
def monitored(advanced, tmp_path_factory, prefect):
    """A copy of the advanced workspace, monitored once; with the run's result."""
    from flows.monitor import monitor_flow

    root = _copy(advanced, tmp_path_factory.mktemp("monitored") / "workspace")
    return root, monitor_flow(settings=load_settings(root / "jointcast.toml"))


def test_advancing_the_clock_adds_days_and_keeps_every_earlier_incident(published_workspace, advanced):
    end = datetime.combine(simulated_end(advanced), datetime.min.time(), tzinfo=UTC)
    columns = ", ".join(CONTENT)
    before = _frame(published_workspace, f"SELECT {columns} FROM core.incidents ORDER BY incident_key")
    after = _frame(advanced, f"SELECT {columns} FROM core.incidents ORDER BY incident_key")
    earlier = after.filter(pl.col("received_at") < end)
    assert earlier.equals(before.filter(pl.col("received_at") < end))
    later = after.filter(pl.col("received_at") >= end)
    assert later["received_at"].max() >= end + timedelta(days=6, hours=20)
    assert set(later["agency_id"]) == set(before["agency_id"])
    assert later.filter(pl.col("received_at") < end + timedelta(days=7)).height == later.height


def test_accuracy_holds_the_new_days_and_its_wape_is_the_one_from_history_and_incidents(monitored):
    root, _result = monitored
    settings = load_settings(root / "jointcast.toml")
    end = datetime.combine(simulated_end(root), datetime.min.time(), tzinfo=UTC)
    accuracy = _frame(root, "SELECT * FROM forecast.accuracy")
    assert accuracy["shift_end"].max() > end + timedelta(days=6)
    assert accuracy["shift_start"].min() >= end
    # every agency, area and whole shift of the first week of the vintage
    assert set(accuracy["agency_id"]) == set(settings.agency_ids)
    # The areas of agencies whose feed names them are the areas of core.incidents: count directly.
    counted = {a.id: list(a.counted_call_sources) for a in settings.agencies if a.areas.method == "column"}
    sources = pl.DataFrame({"agency_id": list(counted), "call_source": list(counted.values())}).explode(
        "call_source"
    )
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        con.register("_sources", sources.to_arrow())
        direct = pl.from_arrow(con.execute("""
            WITH scored AS (SELECT * FROM forecast.accuracy WHERE agency_id IN (SELECT agency_id FROM _sources)),
            forecast AS (
                SELECT s.vintage, s.agency_id, s.area_id, s.shift_start, sum(h.mean) AS forecast
                FROM scored s JOIN forecast.history h ON h.vintage = s.vintage AND h.agency_id = s.agency_id
                    AND h.area_id = s.area_id AND h.bucket_start >= s.shift_start AND h.bucket_start < s.shift_end
                GROUP BY ALL
            ),
            actual AS (
                SELECT s.vintage, s.agency_id, s.area_id, s.shift_start, count(i.incident_key) AS actual
                FROM scored s LEFT JOIN (
                    SELECT i.* FROM core.incidents i JOIN _sources USING (agency_id, call_source)
                ) i ON i.agency_id = s.agency_id AND i.area_id = s.area_id
                    AND i.received_at >= s.shift_start AND i.received_at < s.shift_end
                GROUP BY ALL
            )
            SELECT * FROM forecast JOIN actual USING (vintage, agency_id, area_id, shift_start)
        """).to_arrow_table())  # fmt: skip
    mine = accuracy.filter(pl.col("agency_id").is_in(list(counted)))
    assert direct.height == mine.height > 0
    assert (mine["hours_scored"] == ((mine["shift_end"] - mine["shift_start"]).dt.total_hours())).all()
    wape = mine["abs_error"].sum() / mine["actual"].sum()
    direct_wape = (direct["forecast"] - direct["actual"]).abs().sum() / direct["actual"].sum()
    assert wape == pytest.approx(direct_wape, rel=1e-9)
    assert mine["actual"].sum() == direct["actual"].sum()
    # the weekly summary beside the backtest: the same rows, summed per week
    weekly = _frame(root, "SELECT * FROM forecast.accuracy_weekly")
    assert weekly["area_shifts"].sum() == accuracy.height
    assert weekly["actual"].sum() == pytest.approx(accuracy["actual"].sum())
    assert weekly["backtest_wape"].null_count() == 0 and weekly["champion_version"].null_count() == 0


def test_a_level_jump_raises_an_alert_naming_that_agency(monitored):
    root, result = monitored
    alerts = _frame(root, "SELECT * FROM quality.alerts")
    stepped = alerts.filter(agency_id=STEPPED)
    assert stepped.height >= 1 and result["new_alerts"] == alerts.height
    assert set(stepped["action"]) == {"logged"}
    # the forecast under the higher level, and the level's own drift (which a season may blur)
    assert "live_bias" in set(stepped["measure"])
    assert set(stepped["measure"]) <= {"live_bias", "live_wape_shift", "coverage_80", "demand_level_psi",
                                       "feature_psi:how_mean_4", "feature_psi:lag_week_1"}  # fmt: skip
    assert result["agencies"][STEPPED]["live"]["bias"] < -0.1  # the forecast under the higher demand


def test_the_monitoring_experiment_has_the_day_s_run_with_live_and_backtest_figures(monitored):
    from mlflow import MlflowClient

    root, result = monitored
    settings = load_settings(root / "jointcast.toml")
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    experiment = client.get_experiment_by_name("jointcast-monitoring")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [result["run_id"]]
    metrics, tags = runs[0].data.metrics, runs[0].data.tags
    for agency_id in settings.agency_ids:
        for name in ("live_wape_shift", "live_bias", "live_coverage_80", "backtest_wape_shift"):
            assert f"{name}_{agency_id}" in metrics
    assert metrics[f"live_wape_shift_{STEPPED}"] == pytest.approx(result["agencies"][STEPPED]["live"]["wape"])
    champion = client.get_model_version_by_alias(settings.mlflow.registered_model, "champion")
    assert tags["champion_version"] == str(champion.version)


def test_rerunning_monitor_changes_nothing(monitored):
    from mlflow import MlflowClient

    from flows.monitor import monitor_flow

    root, result = monitored
    tables = {
        name: _frame(root, f"SELECT * FROM {name} ORDER BY ALL")
        for name in ("forecast.accuracy", "forecast.accuracy_weekly", "quality.alerts")
    }
    again = monitor_flow(settings=load_settings(root / "jointcast.toml"))
    assert again["new_alerts"] == 0 and again["run_id"] == result["run_id"]
    for name, before in tables.items():
        assert _frame(root, f"SELECT * FROM {name} ORDER BY ALL").equals(before), name
    client = MlflowClient(tracking_uri=load_settings(root / "jointcast.toml").tracking_uri)
    history = client.get_metric_history(result["run_id"], f"live_wape_shift_{STEPPED}")
    assert len(history) == 1


@pytest.mark.browser
def test_the_accuracy_page_renders_with_the_shifts_weeks_and_alerts(monitored):
    root, result = monitored
    page = root / "report" / f"{STEPPED}_accuracy.html"
    assert str(page) in result["pages"]
    dom = dump_dom(page)
    assert "<script" not in dom
    shifts = re.search(r'<figure id="accuracy-shifts".*?</figure>', dom, re.S).group(0)
    assert shifts.count("<path") > 3 and "<svg" in shifts
    assert '<figure id="accuracy-weekly"' in dom
    assert re.search(r'<div id="alerts">.*?<tr class="?alert', dom, re.S)


def test_retrain_on_alert_trains_a_challenger(advanced, tmp_path, prefect):
    from mlflow import MlflowClient

    from flows.monitor import monitor_flow

    root = _copy(advanced, tmp_path / "workspace")
    config = root / "jointcast.toml"
    config.write_text(config.read_text() + "\n[monitor]\nretrain_on_alert = true\n")
    settings = load_settings(config)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    name = settings.mlflow.registered_model
    versions = {v.version for v in client.search_model_versions(f"name = '{name}'")}
    result = monitor_flow(settings=settings)
    assert result["new_alerts"] > 0
    trained = result["retrained"]
    assert trained is not None and str(trained["version"]) not in {str(v) for v in versions}
    assert str(client.get_model_version_by_alias(name, "challenger").version) == str(trained["version"])
    actions = _frame(root, "SELECT DISTINCT action FROM quality.alerts")["action"].to_list()
    assert actions == ["retrain triggered"]


@pytest.mark.integration
def test_the_monitoring_runs_show_in_a_real_mlflow_server(advanced, tmp_path, prefect):
    from flows.monitor import monitor_flow

    root = _copy(advanced, tmp_path / "workspace")
    with mlflow_server(root / "mlflow.db") as base:
        settings = load_settings(root / "jointcast.toml")
        settings = settings.model_copy(
            update={"mlflow": settings.mlflow.model_copy(update={"tracking_uri": base})}
        )
        result = monitor_flow(settings=settings)
        api = f"{base}/api/2.0/mlflow"
        found = httpx.get(
            f"{api}/experiments/get-by-name", params={"experiment_name": "jointcast-monitoring"}
        )
        experiment_id = found.json()["experiment"]["experiment_id"]
        runs = httpx.post(f"{api}/runs/search", json={"experiment_ids": [experiment_id]}).json()["runs"]
        assert [r["info"]["run_id"] for r in runs] == [result["run_id"]]
        metrics = {m["key"]: m["value"] for m in runs[0]["data"]["metrics"]}
        assert metrics[f"live_wape_shift_{STEPPED}"] == pytest.approx(
            result["agencies"][STEPPED]["live"]["wape"]
        )
        assert f"backtest_wape_shift_{STEPPED}" in metrics
        tags = {t["key"]: t["value"] for t in runs[0]["data"]["tags"]}
        assert tags["champion_version"] and tags["monitor_day"]


def test_monitor_computes_the_kpis_with_the_accuracy_it_scored(monitored):
    root, result = monitored
    planning = _frame(root, "SELECT * FROM kpi.planning")
    assert result["kpi_rows"]["planning"] == _frame(root, "SELECT count(*) AS n FROM kpi.planning")["n"][0]
    scored = _frame(root, "SELECT DISTINCT agency_id FROM forecast.accuracy")
    # the planning KPIs carry the live accuracy of every agency the monitor scored
    with_accuracy = planning.filter(pl.col("wape").is_not_null())
    assert set(with_accuracy["agency_id"]) == set(scored["agency_id"])
