"""Training on a smaller simulation: accuracy bounds, MLflow logging, registry, a real server."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flows.train import train_flow
from jointcast.config import load_settings

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_real_mlflow_server_serves_the_metrics_and_the_champion(trained):
    root, result = trained
    port = _free_port()
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen(
        [str(mlflow_cli), "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)
        api = f"{base}/api/2.0/mlflow"
        run = httpx.get(f"{api}/runs/get", params={"run_id": result["run_id"]}).json()["run"]
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert metrics["wape"] == pytest.approx(result["wape"])
        alias = httpx.get(
            f"{api}/registered-models/alias", params={"name": "jointcast-demand", "alias": "champion"}
        )
        assert alias.json()["model_version"]["version"] == result["version"]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
