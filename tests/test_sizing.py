"""Trees sized to the data, and the small search around that size on the backtest's folds."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from models.parameters import CANDIDATE_NAMES, ModelParameters
from models.training import train_and_backtest
from tests.test_demand_model import SERIES, _rows

HOURS = 24 * 24


def test_a_quiet_feed_gets_fewer_larger_leaves_than_a_busy_panel():
    params = ModelParameters()
    busy = params.sized(rows=10_000_000, incidents=2_000_000)
    demo_like = params.sized(rows=1_500_000, incidents=600_000)
    quiet = params.sized(rows=60_000, incidents=4_000)
    assert quiet.num_leaves < demo_like.num_leaves < busy.num_leaves
    assert quiet.min_data_in_leaf > demo_like.min_data_in_leaf  # a leaf needs rows enough for its incidents
    assert demo_like.num_leaves == 31  # the fixed default's size at the size it was chosen for
    for sized in (busy, demo_like, quiet):
        assert 7 <= sized.num_leaves <= 127 and sized.min_data_in_leaf >= 20 and sized.sizing == "size"
    assert params.sized(rows=0, incidents=0).num_leaves == params.num_leaves  # nothing to size on


def test_the_search_tries_simpler_and_richer_trees_around_the_sized_ones():
    sized = ModelParameters().sized(rows=1_500_000, incidents=600_000)
    sized_, simpler, richer = sized.candidates()
    assert (sized_.num_leaves, sized_.min_data_in_leaf) == (sized.num_leaves, sized.min_data_in_leaf)
    assert simpler.num_leaves < sized.num_leaves < richer.num_leaves
    assert simpler.min_data_in_leaf > sized.min_data_in_leaf > richer.min_data_in_leaf


@pytest.fixture(scope="module")
def inputs() -> pl.DataFrame:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=h) for h in range(HOURS)]
    return _rows(hours=HOURS).with_columns(
        bucket_start=pl.Series(hours * len(SERIES)), min_lag=pl.lit(24, pl.Int16)
    )


def test_a_search_keeps_the_candidate_with_the_best_backtest_and_logs_every_one(inputs):
    end = inputs["bucket_start"].max() + timedelta(hours=1)
    params = ModelParameters(num_boost_round=20, train_days=14, sizing="search")
    result = train_and_backtest(inputs, end, "test", params, 24, 2, (0.1, 0.5, 0.9))
    table = result.search
    assert table["candidate"].to_list() == list(CANDIDATE_NAMES)
    assert table["chosen"].sum() == 1
    chosen = table.filter("chosen").row(0, named=True)
    assert chosen["wape"] == result.metrics["wape"] == pytest.approx(table["wape"].min(), rel=1e-9)  # TIE
    assert (result.params.num_leaves, result.params.min_data_in_leaf) == (
        chosen["num_leaves"], chosen["min_data_in_leaf"])  # fmt: skip
    assert result.params.sizing == "search"
    sized = train_and_backtest(inputs, end, "test", ModelParameters(num_boost_round=20, train_days=14,
                               sizing="size"), 24, 2, (0.1, 0.5, 0.9))  # fmt: skip
    assert sized.search is None and sized.params.sizing == "size"
    assert sized.metrics["wape"] == pytest.approx(table.filter(pl.col("candidate") == "sized")["wape"].item())
