"""Training on a smaller simulation: accuracy bounds, MLflow logging, registry, a real server."""

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest

from flows.train import backtest_flow, train_flow
from jointcast.config import load_settings
from models.backtest import Fold, run_backtest
from models.metrics import evaluate
from models.parameters import ModelParameters
from models.plots import backtest_chart, close
from tests.servers import mlflow_server

# a workspace trained on the session's Prefect API; one test starts an MLflow server
pytestmark = [pytest.mark.integration, pytest.mark.slow]
AGENCIES = ("city_police", "county_fire", "ems", "transit_police")


@pytest.fixture(scope="module")
def trained(trained_workspace):
    return trained_workspace


def _client(root: Path):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    return MlflowClient()


def test_the_model_beats_seasonal_naive_comes_near_the_true_rates_and_its_band_covers_80_percent(trained):
    _, result = trained
    assert result["wape"] <= 0.85 * result["seasonal_naive_wape"]
    assert result["wape"] <= 1.12 * result["oracle_wape"]
    assert 0.72 <= result["coverage_80"] <= 0.88


def test_the_run_holds_what_reviewers_look_at(trained):
    root, result = trained
    client = _client(root)
    run = client.get_run(result["run_id"])
    metrics = run.data.metrics
    for name in ("wape", "seasonal_naive_wape", "oracle_wape", "coverage_80", "wape_hourly", "wape_agency_hourly",
                 "pinball", "mase", "bias", "wape_h001_024", "wape_h169_336"):  # fmt: skip
        assert name in metrics, name
    for agency in AGENCIES:
        assert f"wape_{agency}" in metrics and f"coverage_80_{agency}" in metrics
    assert {"git_commit", "config_sha256", "data_as_of", "folds_digest"} <= set(run.data.tags)
    artifacts = {
        a.path for folder in ("plots", "tables") for a in client.list_artifacts(run.info.run_id, folder)
    }
    assert "plots/feature_importance.png" in artifacts and "tables/metrics.csv" in artifacts
    assert {f"plots/backtest_{a}.png" for a in AGENCIES} <= artifacts
    decision = pl.read_csv(client.download_artifacts(run.info.run_id, "tables/decision.csv"))
    headline = decision.filter(pl.col("agency_id") == "all")
    assert headline["candidate"].to_list() == ["challenger", "seasonal_naive", "how_mean"]  # no champion yet
    assert headline["verdict"].to_list() == ["champion", "baseline", "baseline"]
    assert set(decision["agency_id"]) == {"all", *AGENCIES}
    assert headline.filter(pl.col("candidate") == "how_mean")["coverage_80"].is_not_null().all()
    assert run.data.params["sizing"] == "size"  # the trees were sized to the data, and logged as fitted
    assert int(run.data.params["num_leaves"]) >= 7 and int(run.data.params["min_data_in_leaf"]) >= 20
    [dataset] = run.inputs.dataset_inputs
    assert dataset.dataset.name == "model_inputs" and dataset.dataset.digest


def test_the_first_model_is_champion_a_rerun_trains_nothing_and_an_equal_retrain_stays_challenger(trained):
    root, first = trained
    client = _client(root)
    name = "jointcast-demand"
    assert first["promoted"] is True
    settings = load_settings(str(root / "jointcast.toml"))
    versions = len(client.search_model_versions(f"name = '{name}'"))

    again = train_flow(settings=settings)  # same data, parameters and code

    assert again == {"version": first["version"], "trained": False}
    assert len(client.search_model_versions(f"name = '{name}'")) == versions
    # 120 days of history: a 150-day window trains on the same rows, so the same model, another config
    longer = settings.model_copy(
        update={"forecast": settings.forecast.model_copy(update={"train_days": 150})}
    )
    second = train_flow(settings=longer)
    assert second["trained"] is True and second["promoted"] is False
    assert str(client.get_model_version_by_alias(name, "champion").version) == first["version"]
    challenger = client.get_model_version_by_alias(name, "challenger")
    assert str(challenger.version) == second["version"]
    assert challenger.tags["decision"] == "challenger"
    assert float(challenger.tags["champion_wape"]) == pytest.approx(first["wape"], rel=1e-6)
    run = client.get_run(second["run_id"])
    assert run.info.run_name.startswith("train 4 agencies ")
    assert "challenger" in run.data.tags["mlflow.note.content"]
    assert run.info.end_time - run.info.start_time > 1000  # opened before the backtest, not after it


def test_a_real_mlflow_server_serves_the_metrics_and_the_champion(trained):
    root, result = trained
    with mlflow_server(root / "mlflow.db") as base:
        api = f"{base}/api/2.0/mlflow"
        run = httpx.get(f"{api}/runs/get", params={"run_id": result["run_id"]}).json()["run"]
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert metrics["wape"] == pytest.approx(result["wape"])
        alias = httpx.get(
            f"{api}/registered-models/alias", params={"name": "jointcast-demand", "alias": "champion"}
        )
        assert alias.json()["model_version"]["version"] == result["version"]


QUANTILES = (0.1, 0.5, 0.9)


def _backtest(truth: pl.DataFrame | None):
    """The backtest's scoring on one hand-made fold: two areas, two days, no model fitted."""
    origin = datetime(2024, 6, 1, tzinfo=UTC)
    hours = [origin + timedelta(hours=h) for h in range(48)]
    fold = pl.DataFrame({
        "agency_id": "pd", "area_id": [a for a in ("A", "B") for _ in hours], "bucket_start": hours * 2,
        "horizon": list(range(1, 49)) * 2, "min_lag": 24, "origin": origin,
        "actual": [float(h % 3) for h in range(96)], "mean": 1.0, "seasonal_naive": 2.0, "how_mean_4": 1.5,
    }).with_columns(pl.col("horizon").cast(pl.Int32), pl.col("min_lag").cast(pl.Int16))  # fmt: skip
    folds = [Fold(origin, origin + timedelta(hours=48))]
    unstopped = ModelParameters(early_stopping_rounds=0)  # the mapper hands back the fold: nothing is fitted
    return run_backtest(pl.DataFrame(), folds, unstopped, 48, (24, 168), QUANTILES, truth,
                        mapper=lambda _forecast, _folds: [fold])  # fmt: skip


def _chart_labels(backtest) -> set[str]:
    figure = backtest_chart(backtest.grains["agency_hourly"], "pd", QUANTILES)
    labels = {text.get_text() for text in figure.axes[0].get_legend().get_texts()}
    close(figure)
    return labels


def test_the_oracle_is_scored_and_drawn_only_with_ground_truth():
    without = _backtest(None)
    assert all(frame["oracle"].null_count() == frame.height for frame in without.grains.values())
    metrics = evaluate(without.grains, QUANTILES)
    assert "wape" in metrics and "seasonal_naive_wape" in metrics and "how_mean_wape" in metrics
    assert [name for name in metrics if "oracle" in name] == []
    assert "true rate" not in _chart_labels(without)

    hourly = without.predictions
    truth = hourly.select("agency_id", "area_id", "bucket_start", rate=pl.col("actual") + 0.5)
    scored = evaluate(_backtest(truth).grains, QUANTILES)
    shift_error = 0.5 * 8 * 12 / hourly["actual"].sum()  # 12 shifts, each 8 hours off by 0.5
    assert scored["oracle_wape"] == pytest.approx(shift_error)
    assert {"oracle_wape_hourly", "oracle_wape_agency_hourly", "oracle_wape_pd"} <= set(scored)
    assert "true rate" in _chart_labels(_backtest(truth))

    partial = evaluate(_backtest(truth.filter(pl.col("area_id") == "A")).grains, QUANTILES)
    assert [name for name in partial if "oracle" in name] == []  # a truth with gaps scores nothing


def test_a_workspace_without_ground_truth_logs_no_oracle(prefect, small_workspace):
    """A real workspace (no truth/): no oracle in the result the CLI prints, nor in MLflow."""
    from flows.features import features_flow
    from tests.test_ingest import _ingest

    shutil.rmtree(small_workspace / "truth")
    config = small_workspace / "jointcast.toml"
    text = config.read_text(encoding="utf-8")  # a day ahead, one fold: quick
    for default, quick in (
        ("horizon_hours = 336", "horizon_hours = 24"),
        ("backtest_folds = 3", "backtest_folds = 1"),
    ):
        text = text.replace(default, quick)
    config.write_text(text, encoding="utf-8")
    _ingest(config)
    features_flow(settings=load_settings(config))

    result = backtest_flow(settings=load_settings(config))

    assert "wape" in result and [key for key in result if "oracle" in key] == []
    client = _client(small_workspace)
    metrics = client.get_run(result["run_id"]).data.metrics
    assert "seasonal_naive_wape" in metrics and [name for name in metrics if "oracle" in name] == []
    table = pl.read_csv(client.download_artifacts(result["run_id"], "tables/metrics.csv"))
    assert not table.filter(pl.col("metric").str.contains("oracle")).height
