"""The model's maths on small hand-made data: count quantiles, dispersion, folds, bands, promotion."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from models.backtest import fold_rows, make_folds
from models.distribution import count_quantiles, dispersion, interval_coverage
from models.metrics import point_scores
from models.training import decide


def test_count_quantiles_give_an_80_percent_band_for_poisson_counts():
    rng = np.random.default_rng(0)
    mean = rng.uniform(0.2, 6.0, 20_000)
    actual = rng.poisson(mean)
    p10, p50, p90 = count_quantiles(mean, 0.0, (0.1, 0.5, 0.9)).T
    assert abs(interval_coverage(actual, p10, p90).mean() - 0.8) < 0.01
    assert abs(interval_coverage(actual, np.full_like(p50, -1.0), p50).mean() - 0.5) < 0.01  # the median


def test_overdispersion_is_recovered_and_widens_the_band():
    rng = np.random.default_rng(1)
    mean = np.full(40_000, 3.0)
    alpha = 0.4
    actual = rng.negative_binomial(1 / alpha, (1 / alpha) / (1 / alpha + mean))
    assert dispersion(actual, mean) == pytest.approx(alpha, rel=0.1)
    assert dispersion(rng.poisson(mean), mean) < 0.02
    p10, _, p90 = count_quantiles(mean, alpha, (0.1, 0.5, 0.9)).T
    poisson_p10, _, poisson_p90 = count_quantiles(mean, 0.0, (0.1, 0.5, 0.9)).T
    assert (p90 - p10).mean() > (poisson_p90 - poisson_p10).mean()
    assert abs(interval_coverage(actual, p10, p90).mean() - 0.8) < 0.015


def test_a_shift_total_p90_is_not_the_sum_of_hourly_p90s():
    hourly = np.full(8, 0.5)
    hourly_p90 = count_quantiles(hourly, 0.0, (0.9,))[:, 0].sum()
    shift_p90 = count_quantiles(np.array([hourly.sum()]), 0.0, (0.9,))[0, 0]
    assert shift_p90 < hourly_p90


def test_folds_are_back_to_back_and_end_at_the_data():
    end = datetime(2024, 6, 1, tzinfo=UTC)
    folds = make_folds(end, 336, 3)
    assert [f.origin for f in folds] == [end - timedelta(hours=336 * k) for k in (3, 2, 1)]
    assert all(a.end == b.origin for a, b in zip(folds, folds[1:], strict=False))
    assert folds[-1].end == end


def test_each_lead_time_uses_the_freshest_band_allowed():
    origin = datetime(2024, 6, 1, tzinfo=UTC)
    hours = [origin + timedelta(hours=h) for h in range(-5, 400)]
    inputs = pl.DataFrame({
        "bucket_start": [t for t in hours for _ in (24, 168, 336)],
        "min_lag": [b for _ in hours for b in (24, 168, 336)],
    }).with_columns(pl.col("min_lag").cast(pl.Int16))  # fmt: skip
    rows = fold_rows(inputs, origin, 336, (24, 168, 336)).sort("horizon")
    assert rows.height == 336
    assert rows["horizon"].to_list() == list(range(1, 337))
    bands = dict(zip(rows["horizon"], rows["min_lag"], strict=True))
    assert (bands[1], bands[24], bands[25], bands[168], bands[169], bands[336]) == (
        24,
        24,
        168,
        168,
        336,
        336,
    )


def test_point_scores():
    scores = point_scores(np.array([2.0, 0.0, 4.0]), np.array([3.0, 1.0, 2.0]), np.array([2.0, 2.0, 2.0]))
    assert scores["wape"] == pytest.approx(4 / 6)
    assert scores["bias"] == pytest.approx(0.0)
    assert scores["mase"] == pytest.approx((4 / 3) / (4 / 3))


@pytest.mark.parametrize(
    ("wape", "naive", "champion", "promote"),
    [(0.5, 0.7, None, True), (0.5, 0.7, 0.55, True), (0.5, 0.7, 0.45, False), (0.8, 0.7, None, False),
     (0.5, 0.7, 0.5, False), (0.5197075506555251, 0.7, 0.5197075506555252, False)],
)  # fmt: skip
def test_a_challenger_is_promoted_only_when_it_beats_both_and_a_tie_in_the_last_digits_keeps_the_champion(
    wape, naive, champion, promote
):
    decision = decide({"wape": wape, "seasonal_naive_wape": naive}, champion)
    assert decision.promote is promote
    assert decision.reason
