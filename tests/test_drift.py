"""Low volume and drift: the simulator's volume and trend options, leakage-safe level features, and a
model fitted relative to each series' level."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features.cross import cross_agency_demand
from features.history import LEVEL_FEATURES
from features.model_inputs import model_features
from features.panel import demand_panel
from jointcast.simulator import simulate
from models.lightgbm_model import LightGBMDemandModel
from models.parameters import ModelParameters
from tests.test_features import CALENDARS, T0, _random_incidents

END = date(2024, 6, 3)


def _truth(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "truth" / "rates.parquet")


def _all_bytes(folder: Path) -> dict[str, bytes]:
    """Every file's bytes but the mart keys' (random: each workspace's own)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.parent.name != "keys"
    }


@pytest.fixture(scope="module")
def usual(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("usual")
    simulate(out, days=28, end=END, agencies=2)
    return out


@pytest.fixture(scope="module")
def drifting(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("drifting")
    simulate(out, days=28, end=END, agencies=2, volume={"city_police": 0.1}, trend={"city_police": -0.5})
    return out


def test_volume_and_trend_scale_the_agency_s_truth_smoothly_and_leave_others_alone(usual, drifting):
    both = _truth(usual).join(_truth(drifting), on=["agency_id", "area_id", "bucket_start"], suffix="_drift")
    other = both.filter(pl.col("agency_id") == "county_fire")
    assert other["rate"].equals(other["rate_drift"].alias("rate"))
    police = (
        both.filter(pl.col("agency_id") == "city_police")
        .group_by("bucket_start")
        .agg(pl.col("rate").sum(), pl.col("rate_drift").sum())
        .sort("bucket_start")
    )
    at_end = police.filter(pl.col("bucket_start") == datetime(2024, 6, 3, tzinfo=UTC))
    # joint-event records are only thinned, so the counted truth scales a little less than by 0.1
    assert (at_end["rate_drift"] / at_end["rate"]).item() == pytest.approx(0.1, rel=0.1)
    # -50% a year, 28 days earlier: the level was 0.5 ** (-28 / 365.25) times the one at the end
    first = police.head(24 * 7).select(pl.col("rate_drift").sum() / pl.col("rate").sum()).item()
    last = police.filter(pl.col("bucket_start") < datetime(2024, 6, 3, tzinfo=UTC)).tail(24 * 7)
    last_ratio = last.select(pl.col("rate_drift").sum() / pl.col("rate").sum()).item()
    assert first / last_ratio == pytest.approx(0.5 ** (-(28 - 7) / 365.25), rel=0.03)
    # no step anywhere: hour to hour the factor changes by far less than a percent
    ratio = (police["rate_drift"] / police["rate"]).to_numpy()
    assert np.all(np.abs(np.diff(np.log(ratio))) < 0.05)


def test_the_feed_holds_the_lower_volume(usual, drifting):
    def rows(out: Path) -> int:
        return sum(
            len(p.read_text().splitlines()) - 1 for p in (out / "feeds" / "city_police_cad").glob("*.csv")
        )

    assert rows(drifting) < 0.2 * rows(usual)


def test_drift_options_are_deterministic_and_the_defaults_change_nothing(tmp_path, usual):
    arguments = {"days": 28, "end": END, "agencies": 2}
    simulate(tmp_path / "a", volume={"county_fire": 2.0}, trend={"county_fire": 0.1}, **arguments)
    simulate(tmp_path / "b", volume={"county_fire": 2.0}, trend={"county_fire": 0.1}, **arguments)
    simulate(tmp_path / "c", volume={}, trend={"city_police": 0.0}, **arguments)
    assert _all_bytes(tmp_path / "a") == _all_bytes(tmp_path / "b")
    assert _all_bytes(tmp_path / "c") == _all_bytes(usual)


@pytest.mark.parametrize(
    "arguments",
    [{"volume": {"ems": 0.5}}, {"volume": {"city_police": 0.0}}, {"trend": {"city_police": -1.0}}],
)
def test_bad_drift_options_are_rejected_naming_the_agency(tmp_path, arguments):
    with pytest.raises(ValueError, match="volume|trend"):
        simulate(tmp_path, days=7, end=END, agencies=2, **arguments)


@pytest.mark.parametrize("band", [24, 168])
def test_level_features_at_an_origin_do_not_move_when_later_data_change(band):
    incidents = _random_incidents(days=120)
    origin = T0 + timedelta(days=100, hours=7)
    later = pl.col("received_at") >= origin
    doubled = pl.concat([incidents, incidents.filter(later).with_columns(pl.col("incident_key") + "x")])

    def at_origin(frame: pl.LazyFrame) -> pl.DataFrame:
        built = model_features(
            demand_panel(frame), cross_agency_demand(frame), CALENDARS, None, "America/New_York", band
        )
        targets = pl.col("bucket_start").is_between(origin, origin + timedelta(hours=band), closed="left")
        return built.filter(targets).select("agency_id", "area_id", "bucket_start", *LEVEL_FEATURES).collect()

    full, perturbed = at_origin(incidents), at_origin(doubled)
    assert full.sort("agency_id", "area_id", "bucket_start").equals(
        perturbed.sort("agency_id", "area_id", "bucket_start")
    )
    assert full.height == 5 * band
    assert full["level_ratio_13"].null_count() == 0  # 14 weeks of history: the 13-week ratio is known
    assert full["level_ratio_52"].null_count() == full.height  # under half a year: unknown, not guessed
    assert full["level_4w"].min() > 0


def test_a_level_scaled_model_follows_a_series_whose_level_fell():
    rng = np.random.default_rng(5)
    hours = 2000
    level = np.where(np.arange(hours) < 1000, 2.0, 0.5)  # the same hour profile at a quarter of the level
    profile = 1 + 0.5 * np.sin(np.arange(hours) / 24 * 2 * np.pi)
    rows = pl.DataFrame({
        "agency_id": "pd", "area_id": "A", "hour": np.arange(hours) % 24,
        "level_4w": level, "level_ratio_13": 1.0, "incidents": rng.poisson(level * profile),
    }).with_columns(level_ratio_52=pl.lit(None, pl.Float32))  # fmt: skip
    params = ModelParameters(num_boost_round=30, min_data_in_leaf=20, num_leaves=7, level_scaling=True)
    model = LightGBMDemandModel(params, features=("agency_id", "series_id", "hour")).fit(rows)
    assert model.level_scaled and set(LEVEL_FEATURES) <= set(model.features)
    later = rows.tail(500)
    assert later["incidents"].sum() == pytest.approx(model.predict_mean(later).sum(), rel=0.1)
    restored = LightGBMDemandModel.restore(model.fitted, model.categories, list(model.features))
    assert np.array_equal(restored.predict_mean(later), model.predict_mean(later))
