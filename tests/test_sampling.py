"""Zero sampling (models.sampling): every hour with incidents kept, zeros sampled with weight 1 / rate,
the same rows on every run and in every window that holds them."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features.model_inputs import TARGET
from models.sampling import WEIGHT, zero_sampled


def _panel(series: int = 20, hours: int = 500) -> pl.DataFrame:
    """Model-input keys of ``series`` series x ``hours`` hours x two bands; about 70% zero counts."""
    rng = np.random.default_rng(4)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    keys = pl.DataFrame({"area_id": [f"A{s:02d}" for s in range(series)]}).join(
        pl.DataFrame({"bucket_start": [start + timedelta(hours=h) for h in range(hours)]}), how="cross"
    )
    panel = keys.join(pl.DataFrame({"min_lag": [24, 168]}, schema={"min_lag": pl.Int16}), how="cross")
    return panel.with_columns(agency_id=pl.lit("pd"), **{TARGET: rng.poisson(0.35, panel.height)})


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return _panel()


def test_every_non_zero_row_is_kept_with_weight_one_and_kept_zeros_weigh_one_over_the_rate(panel):
    sampled = zero_sampled(panel, 0.2, seed=7)
    non_zero = panel.filter(pl.col(TARGET) > 0)
    assert sampled.filter(pl.col(TARGET) > 0).drop(WEIGHT).equals(non_zero)
    assert sampled.filter(pl.col(TARGET) > 0)[WEIGHT].unique().to_list() == [1.0]
    assert sampled.filter(pl.col(TARGET) == 0)[WEIGHT].unique().to_list() == [pytest.approx(5.0)]
    assert sampled[TARGET].sum() == panel[TARGET].sum()  # the incidents, hence their weighted total, stay


def test_the_weighted_zero_count_matches_the_zeros_in_expectation(panel):
    zeros = panel.filter(pl.col(TARGET) == 0).height
    totals = [zero_sampled(panel, 0.1, seed).filter(pl.col(TARGET) == 0)[WEIGHT].sum() for seed in range(40)]
    # each seed keeps a binomial(zeros, 0.1) sample: its weighted total is within a few % of the zeros
    assert all(abs(total / zeros - 1) < 0.1 for total in totals)
    assert abs(np.mean(totals) / zeros - 1) < 0.01


def test_the_same_seed_keeps_the_same_rows_in_every_window_that_holds_them(panel):
    first, again = zero_sampled(panel, 0.25, seed=7), zero_sampled(panel, 0.25, seed=7)
    assert first.equals(again)
    assert not first.equals(zero_sampled(panel, 0.25, seed=8))
    # a later window (a later backtest fold) keeps exactly the rows the first kept where they overlap
    cut = panel["bucket_start"].min() + timedelta(hours=200)
    window = zero_sampled(panel.filter(pl.col("bucket_start") >= cut), 0.25, seed=7)
    assert window.equals(first.filter(pl.col("bucket_start") >= cut))


def test_rate_one_keeps_every_row_and_a_rate_outside_zero_to_one_is_refused(panel):
    assert zero_sampled(panel, 1.0, seed=7).drop(WEIGHT).equals(panel)
    for rate in (0.0, 1.5):
        with pytest.raises(ValueError, match="zero_sample_rate"):
            zero_sampled(panel, rate, seed=7)


def test_a_rows_share_is_pinned_to_its_keys_not_to_a_library_version():
    """The kept rows come from jointcast's own hash (BLAKE2b, SplitMix64): these shares are the same
    with any polars or NumPy, so retraining on the same input after an upgrade keeps the same rows."""
    from models.sampling import kept_share

    hour = datetime(2026, 1, 1, tzinfo=UTC)
    rows = pl.DataFrame({
        "agency_id": ["pd", "pd", "fd"], "area_id": ["A01", "A01", "A01"],
        "bucket_start": [hour, hour + timedelta(hours=1), hour], "min_lag": pl.Series([24, 24, 168], dtype=pl.Int16),
    })  # fmt: skip
    assert kept_share(rows, 7).tolist() == pytest.approx([0.679397704377, 0.114270970112, 0.324200268359])
    # a row's own share, whatever the frame around it
    assert kept_share(rows.reverse(), 7).tolist()[::-1] == kept_share(rows, 7).tolist()
