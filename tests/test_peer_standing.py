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
