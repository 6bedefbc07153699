"""The blend with the hour-of-week mean: weights learned on the backtest's folds, used only where
they help, scored cross-fitted, and served by the logged model exactly as forecast uses them."""

from datetime import UTC, datetime, timedelta

import mlflow
import numpy as np
import polars as pl

from models.blend import MIN_FOLDS, MIN_GAIN, blended, cross_fitted, learn_weights
from models.lightgbm_model import LightGBMDemandModel
from models.parameters import ModelParameters, flat_params
from tests.test_demand_model import PARAMS, _rows, log_as_champion, store  # noqa: F401 -- the fixture

ORIGINS = [datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=14 * k) for k in range(3)]


def _hourly(seed: int = 1, shifts: int = 200) -> pl.DataFrame:
    """Backtest rows of two agencies: ``sharp`` whose model mean is the truth, ``noisy`` whose model
    mean is the truth with large noise while its hour-of-week mean is the truth with small noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for origin in ORIGINS:
        for agency, model_noise, mean_noise in (("sharp", 0.0, 1.0), ("noisy", 1.5, 0.2)):
            rate = rng.gamma(4.0, 1.0, shifts)
            frames.append(pl.DataFrame({
                "agency_id": agency, "area_id": "A", "origin": origin,
                "block": [origin + timedelta(hours=8 * i) for i in range(shifts)],
                "actual": rng.poisson(rate).astype(float),
                "mean": np.clip(rate * np.exp(rng.normal(0, model_noise, shifts)), 0, None),
                "how_mean_4": np.clip(rate * np.exp(rng.normal(0, mean_noise, shifts)), 0, None),
            }))  # fmt: skip
    return pl.concat(frames)


def _wape(frame: pl.DataFrame, agency: str) -> float:
    part = frame.filter(pl.col("agency_id") == agency)
    return float((part["mean"] - part["actual"]).abs().sum() / part["actual"].sum())


def test_an_agency_gets_a_blend_only_where_the_folds_say_it_helps():
    weights = learn_weights(_hourly())
    assert weights["sharp"] == 1.0  # the model alone is best: no blend
    assert weights["noisy"] < 0.5  # most of the weight on the far better hour-of-week mean


def test_a_blend_the_folds_disagree_on_or_learned_on_one_fold_is_not_used():
    hourly = _hourly()
    assert learn_weights(hourly)["noisy"] < 1.0
    # in the last fold, the hour-of-week mean is far off: the blend would lose there
    spoiled = hourly.with_columns(
        how_mean_4=pl.when((pl.col("origin") == ORIGINS[-1]) & (pl.col("agency_id") == "noisy"))
        .then(pl.col("how_mean_4") * 5)
        .otherwise(pl.col("how_mean_4"))
    )
    assert learn_weights(spoiled)["noisy"] == 1.0
    one = hourly.filter(pl.col("origin") == ORIGINS[0])
    assert MIN_FOLDS > 1 and learn_weights(one)["noisy"] == 1.0


def test_a_blend_that_gains_less_than_the_threshold_is_not_used():
    hourly = _hourly().with_columns(how_mean_4=pl.col("mean") * 1.001)  # the same forecast, nearly
    assert set(learn_weights(hourly).values()) == {1.0}
    assert MIN_GAIN > 0


def test_each_fold_is_blended_with_weights_learned_on_the_other_folds():
    hourly = _hourly()
    scored, weights = cross_fitted(hourly)
    assert weights == learn_weights(hourly)
    for origin in ORIGINS:
        other = learn_weights(hourly.filter(pl.col("origin") != origin))
        fold = hourly.filter(pl.col("origin") == origin)
        expected = fold.with_columns(blended(other))
        assert scored.filter(pl.col("origin") == origin).equals(expected)
    assert _wape(scored, "noisy") < _wape(hourly, "noisy")
    two_folds = hourly.filter(pl.col("origin") != ORIGINS[0])
    unblended, ones = cross_fitted(two_folds)  # each fold's weights would rest on one fold: none
    assert learn_weights(two_folds)["noisy"] < 1.0
    assert unblended.equals(two_folds) and set(ones.values()) == {1.0}


def test_an_hour_without_an_hour_of_week_mean_keeps_the_models_mean():
    frame = pl.DataFrame({"agency_id": ["pd", "pd"], "mean": [2.0, 2.0], "how_mean_4": [1.0, None]})
    assert frame.select(blended({"pd": 0.25}))["mean"].to_list() == [1.25, 2.0]


def test_the_blended_model_is_logged_and_served_with_its_blend(store):  # noqa: F811
    from models import tracking

    rows = _rows()
    model = LightGBMDemandModel(PARAMS).fit(rows).blended({"pd": 0.4, "fd": 1.0})
    assert model.blend == {"pd": 0.4}
    alone = LightGBMDemandModel(PARAMS).fit(rows)
    pd_rows = (rows["agency_id"] == "pd").to_numpy()
    expected = np.where(pd_rows, 0.4 * alone.predict_mean(rows) + 0.6 * rows["how_mean_4"].to_numpy(),
                        alone.predict_mean(rows))  # fmt: skip
    assert np.allclose(model.predict_mean(rows), expected)
    logged = log_as_champion(model, rows)
    champion, _ = tracking.load_champion("demand")
    assert champion.blend == model.blend
    assert np.array_equal(champion.predict_mean(rows), model.predict_mean(rows))
    served = mlflow.pyfunc.load_model(logged.model_uri).predict(model.table(rows))  # what `models serve` runs
    assert np.allclose(np.asarray(served), model.predict_mean(rows))


def test_a_run_logged_before_blends_existed_is_rescored_without_one():
    logged = {k: str(v) for k, v in flat_params(ModelParameters(), 336, 3).items() if k != "blend"}
    assert ModelParameters.from_logged(logged).blend is False
    assert ModelParameters.from_logged({**logged, "blend": "True"}).blend is True
