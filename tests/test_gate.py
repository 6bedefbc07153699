"""The promotion gate: a challenger is champion only if it beats every baseline and the champion;
when no model beats the best baseline, that baseline is registered, promoted and published."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from jointcast.config import load_settings
from models.baseline_model import BaselineDemandModel
from models.training import decide, decision_table


def _metrics(wape, naive, how_mean, per_agency=None) -> dict[str, float]:
    metrics = {"wape": wape, "seasonal_naive_wape": naive, "how_mean_wape": how_mean, "coverage_80": 0.8,
               "bias": -0.01}  # fmt: skip
    for agency, (a_wape, a_naive, a_how) in (per_agency or {}).items():
        metrics |= {f"wape_{agency}": a_wape, f"seasonal_naive_wape_{agency}": a_naive,
                    f"how_mean_wape_{agency}": a_how, f"coverage_80_{agency}": 0.8, f"bias_{agency}": 0.0}  # fmt: skip
    return metrics


def test_a_challenger_that_beats_seasonal_naive_but_loses_to_the_hour_of_week_mean_is_not_promoted():
    metrics = _metrics(0.60, 0.80, 0.55)

    decision = decide(metrics, champion_wape=None)

    assert decision.promote is False
    assert decision.fallback == "how_mean_4"  # no champion beats it either: the baseline is published
    assert "how_mean 0.5500" in decision.reason


def test_a_champion_that_beats_the_baselines_stays_when_the_challenger_loses_to_one():
    decision = decide(_metrics(0.60, 0.80, 0.55), champion_wape=0.50)

    assert decision.promote is False and decision.fallback is None
    # a baseline champion re-scored on the same rows ties its baseline: it stays, nothing new registered
    assert decide(_metrics(0.60, 0.80, 0.55), champion_wape=0.55).fallback is None


def test_a_tie_with_a_baseline_is_a_loss_and_winning_names_every_baseline():
    assert decide(_metrics(0.55, 0.80, 0.55), None).promote is False
    decision = decide(_metrics(0.50, 0.80, 0.55), None)
    assert decision.promote is True and "seasonal_naive 0.8000" in decision.reason
    assert "how_mean 0.5500" in decision.reason


def test_the_agencies_the_challenger_loses_on_are_named_while_the_total_decides():
    metrics = _metrics(0.50, 0.80, 0.55, {"city": (0.45, 0.70, 0.52), "quiet": (0.90, 1.10, 0.85)})

    decision = decide(metrics, None)

    assert decision.promote is True
    assert decision.lost_on == {"quiet": "how_mean"}
    assert "how_mean for quiet" in decision.reason


def test_the_decision_table_holds_every_candidate_with_its_scores_and_verdict():
    metrics = _metrics(0.60, 0.80, 0.55, {"city": (0.58, 0.79, 0.54)})
    baselines = {
        "seasonal_naive": {"coverage_80": 0.70, "bias": 0.02, "coverage_80_city": 0.71, "bias_city": 0.03},
        "how_mean": {"coverage_80": 0.79, "bias": -0.01, "coverage_80_city": 0.78, "bias_city": -0.02},
    }
    decision = decide(metrics, champion_wape=0.62)

    table = decision_table(decision, metrics, baselines, ("version 1", {"wape": 0.62}))

    assert set(table["candidate"]) == {"challenger", "seasonal_naive", "how_mean", "champion"}
    how_mean = table.filter(pl.col("candidate") == "how_mean", pl.col("agency_id") == "all").row(
        0, named=True
    )
    assert how_mean["wape"] == 0.55 and how_mean["coverage_80"] == 0.79 and how_mean["bias"] == -0.01
    assert how_mean["verdict"] == "champion (baseline)" and how_mean["model"] == "how_mean_4"
    city = table.filter(pl.col("candidate") == "challenger", pl.col("agency_id") == "city").row(0, named=True)
    assert city["wape"] == 0.58 and city["verdict"] == "not promoted"
    champion = table.filter(pl.col("candidate") == "champion", pl.col("agency_id") == "all")
    assert champion["verdict"].to_list() == ["replaced"] and champion["wape"].to_list() == [0.62]
    assert table["reason"].unique().to_list() == [decision.reason]


def test_a_baseline_model_forecasts_its_column_and_falls_back_where_it_is_unknown():
    rows = pl.DataFrame({"how_mean_4": [1.5, None, None], "lag_week_1": [3, 2, None]})

    model = BaselineDemandModel("how_mean_4")

    assert model.predict_mean(rows).tolist() == [1.5, 2.0, 0.0]
    assert model.features_from(["how_mean_4", "x"]) == ("how_mean_4",)
    assert np.all(model.explain(rows).to_numpy() == 0)
    with pytest.raises(ValueError, match="baseline column"):
        BaselineDemandModel("mean_24")


@pytest.mark.integration
@pytest.mark.slow
def test_when_no_model_beats_the_best_baseline_the_baseline_is_champion_published_and_named(
    prefect, small_workspace, monkeypatch
):
    """A one-tree model with a tiny learning rate predicts little more than the overall mean: it
    cannot beat the baselines, so the best baseline is registered, promoted and published."""
    import mlflow
    from mlflow import MlflowClient

    import flows.pending
    import flows.train
    from flows.features import features_flow
    from flows.forecast import forecast_flow
    from models.parameters import ModelParameters
    from tests.test_ingest import _ingest

    config = _quick(small_workspace)
    settings = load_settings(config)
    weak = ModelParameters(train_days=settings.forecast.train_days, num_boost_round=1, learning_rate=0.001)
    monkeypatch.setattr(flows.pending, "configured_parameters", lambda _settings: weak)
    _ingest(config)
    features_flow(settings=settings)

    trained = flows.train.train_flow(settings=settings)

    assert trained["promoted"] is False and trained["baseline"] in ("how_mean_4", "lag_week_1")
    mlflow.set_tracking_uri(settings.tracking_uri)
    client, name = MlflowClient(), settings.mlflow.registered_model
    champion = client.get_model_version_by_alias(name, "champion")
    assert str(champion.version) == trained["champion_version"] != trained["version"]
    assert champion.tags["baseline"] == trained["baseline"] and "published instead" in champion.tags["reason"]
    assert str(client.get_model_version_by_alias(name, "challenger").version) == trained["version"]
    decision = pl.read_csv(client.download_artifacts(trained["run_id"], "tables/decision.csv"))
    verdicts = dict(decision.filter(pl.col("agency_id") == "all").select("candidate", "verdict").iter_rows())
    assert verdicts["challenger"] == "not promoted" and "champion (baseline)" in verdicts.values()
    assert "published instead" in client.get_run(champion.run_id).data.tags["mlflow.note.content"]
    assert flows.train.train_flow(settings=settings) == {"version": str(champion.version), "trained": False}

    forecast_flow(settings=settings)

    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        versions = con.execute("SELECT DISTINCT model_version FROM forecast.demand").fetchall()
    assert versions == [(str(champion.version),)]
    page = settings.report_path(settings.agencies[0].id).read_text(encoding="utf-8")
    assert "because no trained model beat it on the backtest" in page


def _quick(root: Path) -> Path:
    """A day ahead and one fold: the least a backtest runs on."""
    config = root / "jointcast.toml"
    text = config.read_text(encoding="utf-8")
    for default, quick in (
        ("horizon_hours = 336", "horizon_hours = 24"),
        ("backtest_folds = 3", "backtest_folds = 1"),
    ):
        text = text.replace(default, quick)
    config.write_text(text, encoding="utf-8")
    return config
