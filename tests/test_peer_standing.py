"""The peers benchmark's summary: jointcast against the best peer, and like for like."""

from bench.peers import ORACLE, OUR_MEDIAN, OURS, standing


def _row(wape: float, bias: float) -> dict[str, float]:
    return {"wape": wape, "bias": bias}


def test_the_mean_is_set_against_the_best_unbiased_peer_and_the_median_against_the_best_of_all():
    rows = {
        OURS: _row(0.86, 0.02),
        OUR_MEDIAN: _row(0.79, -0.19),
        "mlforecast LightGBM (log1p)": _row(0.83, -0.33),  # low and biased: the best WAPE
        "mlforecast LightGBM (poisson)": _row(0.88, 0.00),
        "statsforecast AutoETS": _row(0.90, 0.04),
        "hour-of-week mean, 4 weeks": _row(0.50, 0.0),  # a baseline, not a peer
        ORACLE: _row(0.81, 0.0),
    }
    overall, like_for_like, median, oracle = standing(rows)
    assert overall.startswith(f"{OURS}: 0.8600, 1.036x the best peer (mlforecast LightGBM (log1p): 0.8300")
    assert (
        "0.977x the best peer forecasting the mean (bias within 5%) (mlforecast LightGBM (poisson)"
        in like_for_like
    )
    assert median.startswith(f"{OUR_MEDIAN}: 0.7900, 0.952x the best peer (mlforecast LightGBM (log1p)")
    assert oracle.startswith(f"{ORACLE}: 0.8100, 0.976x")


def test_without_peers_there_is_nothing_to_say():
    assert standing({OURS: _row(0.5, 0.0)}) == []


def test_each_folds_totals_are_read_against_the_true_rates_total():
    from datetime import UTC, datetime

    import polars as pl

    from bench.peers import totals_against_truth

    origin = datetime(2026, 10, 20, tzinfo=UTC)
    hourly = pl.DataFrame({
        "agency_id": ["a", "a", "b"], "origin": [origin] * 3,
        "mean": [3.0, 2.5, 1.0], "how_mean_4": [2.0, 2.0, 1.0], "actual": [4.0, 1.0, 0.0], "oracle": [2.5, 2.5, 2.0],
    })  # fmt: skip
    a, b = totals_against_truth(hourly)
    assert a == {"agency_id": "a", "origin": "2026-10-20", "mean": 1.1, "how_mean_4": 0.8, "actual": 1.0}
    assert (b["agency_id"], b["mean"], b["actual"]) == ("b", 0.5, 0.0)
    assert totals_against_truth(hourly.with_columns(oracle=None)) == []


def test_the_levelled_diagnostic_keeps_the_models_shape_at_the_true_total():
    from datetime import UTC, datetime

    import polars as pl

    from bench.peers import with_true_level

    origin = datetime(2026, 10, 20, tzinfo=UTC)
    hourly = pl.DataFrame({
        "agency_id": ["a"] * 3, "area_id": ["x", "x", "y"], "origin": [origin] * 3,
        "mean": [1.0, 3.0, 0.0], "oracle": [1.0, 1.0, 0.5],
    })  # fmt: skip
    levelled = with_true_level(hourly)["mean"].to_list()
    assert levelled[:2] == [0.5, 1.5]  # area x: total 2 as the truth's, shape 1:3 as the model's
    assert levelled[2] == 0.0  # a zero forecast has no shape to scale
