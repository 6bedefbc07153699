"""The benchmark's open-source peers forecast exactly the rows jointcast's backtest scores.

bench/peers.py needs pyproject's `bench` extra (mlforecast, statsforecast), which `make test`
does not install; `make bench` does."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

pytest.importorskip("mlforecast", reason="the bench extra (mlforecast, statsforecast) is not installed")
pytest.importorskip("statsforecast", reason="the bench extra (mlforecast, statsforecast) is not installed")

from bench.peers import KEYS, compare, peer_forecasts  # noqa: E402
from models.backtest import make_folds  # noqa: E402

HORIZON = 24


@pytest.fixture(scope="module")
def demand(tmp_path_factory) -> pl.DataFrame:
    """Counts drawn from the simulator's true rates: 9 weeks of one agency, three areas."""
    from jointcast.simulator import simulate

    out = tmp_path_factory.mktemp("peers")
    simulate(out, days=63, seed=5, agencies=1)
    rates = pl.read_parquet(out / "truth" / "rates.parquet")
    areas = rates["area_id"].unique().sort().head(3)
    rates = rates.filter(pl.col("area_id").is_in(areas.implode()))
    draws = np.random.default_rng(5).poisson(rates["rate"].to_numpy())
    return rates.select("agency_id", "area_id", "bucket_start", pl.Series("incidents", draws))


@pytest.mark.slow
def test_peers_forecast_the_backtest_rows_and_score_through_its_grains(demand):
    end = demand["bucket_start"].max() + timedelta(hours=1)
    folds = make_folds(end, HORIZON, 2)
    peers, _ = peer_forecasts(demand, [f.origin for f in folds], HORIZON, train_days=28)
    # the rows the backtest scores: every series, every hour of every fold
    hourly = pl.concat(
        demand.filter(pl.col("bucket_start") >= f.origin, pl.col("bucket_start") < f.end).with_columns(
            origin=pl.lit(f.origin),
            horizon=((pl.col("bucket_start") - pl.lit(f.origin)).dt.total_hours() + 1).cast(pl.Int32),
        )
        for f in folds
    ).select(
        *KEYS, "horizon", pl.col("incidents").cast(pl.Float64).alias("actual"),
        pl.col("incidents").cast(pl.Float64).alias("mean"), pl.lit(1.0).alias("seasonal_naive"),
        pl.lit(1.0).alias("how_mean_4"), pl.lit(None, pl.Float64).alias("oracle"),
        pl.lit(0.0).alias("p10"), pl.lit(9.0).alias("p90"), pl.lit(0, pl.Int16).alias("min_lag"),
    ).with_columns(block=pl.col("origin"))  # fmt: skip

    assert set(peers) == {
        "mlforecast LightGBM (log1p)", "mlforecast LightGBM (poisson)", "statsforecast MSTL", "statsforecast AutoETS"
    }  # fmt: skip
    expected = hourly.select(KEYS).sort(KEYS)
    for name, peer in peers.items():
        assert peer.select(KEYS).sort(KEYS).equals(expected), name
        assert peer["mean"].min() >= 0 and peer["mean"].is_finite().all(), name
        assert (peer["lo_80"] <= peer["hi_80"]).all(), name

    rows = compare({"hourly": hourly}, peers, None)
    assert rows["jointcast (LightGBM)"]["wape"] == 0  # its "forecast" here is the actual itself
    assert all(0 < rows[name]["wape"] < 2 for name in peers)
    assert all(0 <= rows[name]["coverage_80_hourly"] <= 1 for name in peers)
    assert "coverage_80_hourly" not in rows["seasonal naive"]  # no interval, no coverage
