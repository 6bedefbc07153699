"""The demand model's seam: LightGBM behind it on small frames, its MLflow round trip, and a forecast
that refuses a champion trained on other features than the warehouse's model inputs now have."""

import pickle
import shutil
from dataclasses import replace

import duckdb
import lightgbm as lgb
import numpy as np
import polars as pl
import pytest

from features.model_inputs import CROSS_AGENCY_FEATURES, FEATURES, TARGET
from models.drivers import drivers
from models.forecasting import unmatched_features
from models.lightgbm_model import CATEGORICAL, MODEL_FEATURES, LightGBMDemandModel, design_matrix
from models.parameters import ModelParameters, flat_params

PARAMS = ModelParameters(num_boost_round=20, min_data_in_leaf=20, num_leaves=7)
SERIES = [("pd", "A"), ("pd", "B"), ("fd", "A")]
FLAGS = ("is_weekend", "is_holiday", "is_day_before_holiday", "is_day_after_holiday", "event_active")


def _rows(hours: int = 300, seed: int = 0) -> pl.DataFrame:
    """Model-input rows of three series: every feature, demand driven by the hour and last week."""
    rng = np.random.default_rng(seed)
    n = len(SERIES) * hours
    columns = {
        "agency_id": [agency for agency, _ in SERIES for _ in range(hours)],
        "area_id": [area for _, area in SERIES for _ in range(hours)],
    }
    for feature in FEATURES[2:]:
        columns[feature] = rng.random(n) < 0.2 if feature in FLAGS else rng.gamma(2.0, 1.0, n)
    columns["hour"] = rng.integers(0, 24, n)
    rate = np.exp(0.8 * np.sin(columns["hour"] / 24 * 2 * np.pi) + 0.2 * columns["lag_week_1"] - 0.5)
    return pl.DataFrame({**columns, TARGET: rng.poisson(rate)})


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return _rows()


@pytest.fixture(scope="module")
def fitted(rows) -> LightGBMDemandModel:
    return LightGBMDemandModel(PARAMS).fit(rows)


def test_fit_returns_a_fitted_copy_with_its_features_and_levels(rows, fitted):
    untrained = LightGBMDemandModel(PARAMS)
    future = rows.head(50).with_columns(pl.lit(None, rows[TARGET].dtype).alias(TARGET))
    refitted = untrained.fit(pl.concat([rows, future]))  # rows with no target yet are left out
    assert np.array_equal(refitted.predict_mean(rows), fitted.predict_mean(rows))
    assert untrained.booster is None
    assert fitted.features == MODEL_FEATURES == tuple(fitted.fitted.feature_name())
    assert fitted.categories == {"agency_id": ["fd", "pd"], "series_id": ["fd:A", "pd:A", "pd:B"]}
    with pytest.raises(ValueError, match="not fitted"):
        untrained.predict_mean(rows)


def test_a_model_fitted_without_the_cross_agency_features_never_reads_them(rows, fitted):
    params = replace(PARAMS, excluded_features=CROSS_AGENCY_FEATURES)
    without = LightGBMDemandModel(params).fit(rows)
    assert without.features == tuple(f for f in MODEL_FEATURES if not f.startswith("other_"))
    assert without.features == tuple(without.fitted.feature_name())
    # what it predicts does not move with other agencies' demand
    shuffled = rows.with_columns(pl.col(f).shuffle(seed=3) for f in CROSS_AGENCY_FEATURES)
    assert np.array_equal(without.predict_mean(shuffled), without.predict_mean(rows))
    assert not np.array_equal(fitted.predict_mean(shuffled), fitted.predict_mean(rows))
    with pytest.raises(ValueError, match="not features of the model: other_mean_7"):
        LightGBMDemandModel(replace(PARAMS, excluded_features=("other_mean_7",))).fit(rows)


def test_the_parameters_come_back_from_their_logged_text():
    params = replace(PARAMS, excluded_features=CROSS_AGENCY_FEATURES)
    for original in (params, PARAMS):
        logged = {k: str(v) for k, v in flat_params(original, 336, 3).items()}  # MLflow keeps text
        assert ModelParameters.from_logged(logged) == original


def test_predictions_are_means_and_contributions_add_up_to_their_log(rows, fitted):
    mean = fitted.predict_mean(rows)
    assert mean.shape == (rows.height,) and (mean > 0).all()
    assert mean.sum() == pytest.approx(rows[TARGET].sum(), rel=0.05)
    contributions = fitted.explain(rows)
    assert contributions.columns == list(fitted.features) and contributions.height == rows.height
    baseline = np.log(mean) - contributions.sum_horizontal().to_numpy()
    assert np.ptp(baseline) < 1e-9  # log(mean) = baseline + the row's contributions, exactly
    hour = contributions["hour"].abs().mean()
    assert hour > contributions["month"].abs().mean()  # demand here depends on the hour, not the month
    reasons = drivers(contributions)
    assert len(reasons) == rows.height and all(len(r.split("; ")) == 3 for r in reasons)


def test_the_model_reads_its_features_by_name_and_an_unseen_series_as_missing(rows, fitted):
    shuffled = rows.select(reversed(rows.columns)).with_columns(unused=pl.lit(1.0))
    assert np.array_equal(fitted.predict_mean(shuffled), fitted.predict_mean(rows))
    unseen = rows.head(5).with_columns(area_id=pl.lit("Z"))
    assert fitted.table(unseen)["series_id"].tolist() == [-1] * 5
    assert np.isfinite(fitted.predict_mean(unseen)).all()


def test_a_saved_booster_restores_to_the_same_model(rows, fitted):
    booster = lgb.Booster(model_str=fitted.fitted.model_to_string())
    restored = LightGBMDemandModel.restore(booster, fitted.categories, list(fitted.features))
    assert np.array_equal(restored.predict_mean(rows), fitted.predict_mean(rows))
    assert restored.explain(rows.head(20)).equals(fitted.explain(rows.head(20)))
    without_list = LightGBMDemandModel.restore(booster, fitted.categories)  # logged before the list was
    assert without_list.features == fitted.features
    shipped = pickle.loads(pickle.dumps(fitted))  # as to a Dask worker
    assert np.array_equal(shipped.predict_mean(rows), fitted.predict_mean(rows))


def test_features_that_differ_from_the_trained_ones_are_one_line(rows, fitted):
    name = "the champion (version 3)"
    assert unmatched_features(fitted, rows.columns, name) is None
    assert unmatched_features(fitted, list(reversed(rows.columns)), name) is None
    renamed = rows.rename({"lag_week_1": "lag_week_one"}).drop("area_id").columns
    assert unmatched_features(fitted, renamed, name) == (
        "the champion (version 3) was trained on features the warehouse's model inputs lack "
        "(series_id, lag_week_1): run `jointcast train`"
    )
    older = replace(fitted, features=tuple(f for f in fitted.features if f != "event_attendance"))
    assert unmatched_features(older, rows.columns, name) == (
        "the champion (version 3) was not trained on features the model inputs now have "
        "(event_attendance): run `jointcast train`"
    )


@pytest.fixture
def store(tmp_path):
    """A private MLflow store; the tracking URI is put back afterwards."""
    import mlflow

    from models import tracking

    before = mlflow.get_tracking_uri()
    tracking.use_store(f"sqlite:///{tmp_path}/mlflow.db", "seam", tmp_path / "artifacts")
    yield
    mlflow.set_tracking_uri(before)


def _make_champion(version: str) -> None:
    from models import registry

    registry.record_decision("demand", version, True, {})


def log_as_champion(model, rows: pl.DataFrame):
    """``model`` logged and registered as the store's "demand" champion, as `train` does; its run."""
    from models import tracking

    with tracking.training_run("train", {}, {}):
        logged = tracking.log_results(
            metrics={"wape": 0.5}, figures={}, tables={}, training_data=rows, dataset_name="rows",
            dataset_source="test", model=model, example=rows.head(5), registered_model="demand",
        )  # fmt: skip
    _make_champion(logged.version)
    return logged


def test_the_champion_comes_back_from_mlflow_with_its_features_and_levels(rows, fitted, store):
    from models import tracking

    logged = log_as_champion(fitted, rows)
    model, champion = tracking.load_champion("demand")
    assert champion.version == logged.version
    assert model.features == fitted.features and model.categories == fitted.categories
    assert np.array_equal(model.predict_mean(rows), fitted.predict_mean(rows))


def test_a_champion_logged_without_a_feature_list_reads_the_boosters_own(rows, fitted, store):
    import mlflow

    from models import tracking

    booster_names = fitted.fitted.feature_name()
    with mlflow.start_run():  # as models were logged before the feature list was
        info = mlflow.lightgbm.log_model(fitted.fitted, name="model", registered_model_name="demand")
        mlflow.log_dict(fitted.categories, tracking.CATEGORIES)
    _make_champion(str(info.registered_model_version))
    model, _ = tracking.load_champion("demand")
    assert list(model.features) == booster_names
    assert np.array_equal(model.predict_mean(rows), fitted.predict_mean(rows))
    assert unmatched_features(model, rows.columns, "the champion") is None


@pytest.mark.integration  # the workspace trained on the session's Prefect API
@pytest.mark.slow
@pytest.mark.parametrize(
    "change",
    ["DROP COLUMN lag_week_1", "RENAME COLUMN lag_week_1 TO lag_week_one"],
)
def test_forecast_fails_in_one_line_when_the_inputs_lack_a_feature_of_the_champion(
    trained_workspace, tmp_path, change
):
    from flows.common import StageFailed
    from flows.forecast import forecast_flow
    from jointcast.config import load_settings
    from models import registry

    root = shutil.copytree(trained_workspace[0], tmp_path / "workspace")
    settings = load_settings(str(root / "jointcast.toml"))
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(f"ALTER TABLE features.model_inputs {change}")
    state = forecast_flow(settings=settings, return_state=True)
    assert state.is_failed()
    with pytest.raises(StageFailed) as failure:
        state.result()
    registry.point_at(settings.tracking_uri)
    version = registry.current_champion(settings.mlflow.registered_model).version
    assert failure.value.problems == [
        f"forecast: the champion (version {version}) was trained on features the warehouse's model inputs "
        "lack (lag_week_1): run `jointcast train`"
    ]


def test_the_float32_training_matrix_fits_the_model_the_pandas_table_did(rows, fitted):
    """LightGBM now bins a float32 matrix built from polars, not the pandas table it copied to
    float64: on the same rows the model predicts what a fit on that table predicts."""
    table = design_matrix(rows, fitted.features, fitted.categories)
    dataset = lgb.Dataset(table, label=rows[TARGET].to_numpy(), categorical_feature=list(CATEGORICAL))
    booster = lgb.train(PARAMS.lightgbm(), dataset, num_boost_round=PARAMS.num_boost_round)
    np.testing.assert_allclose(fitted.predict_mean(rows), booster.predict(table), rtol=1e-5)


def test_a_zero_sampled_fit_is_deterministic_and_keeps_the_total():
    keyed = _rows(hours=2000).with_columns(bucket_start=pl.int_range(pl.len()).cast(pl.Int64))
    sampled = replace(PARAMS, zero_sample_rate=0.3)
    model = LightGBMDemandModel(sampled).fit(keyed)
    assert np.array_equal(
        model.predict_mean(keyed), LightGBMDemandModel(sampled).fit(keyed).predict_mean(keyed)
    )
    # zeros weighted 1 / rate: the fitted means still add up to the incidents (Poisson's first moment)
    assert model.predict_mean(keyed).sum() == pytest.approx(keyed[TARGET].sum(), rel=0.03)
    logged = {k: str(v) for k, v in flat_params(sampled, 336, 3).items()}
    assert ModelParameters.from_logged(logged).zero_sample_rate == 0.3
