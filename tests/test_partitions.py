"""Stages built one part at a time give the rows of the one-frame build: model inputs per agency and
band, forecasts per agency, training's window read from the warehouse rather than every row."""

from datetime import datetime, timedelta

import duckdb
import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from features.model_inputs import FEATURES
from models.backtest import make_folds, training_rows
from models.forecasting import forecast_demand
from models.lightgbm_model import LightGBMDemandModel
from models.training import MIN_TRAIN, first_hour_read
from tests.test_demand_model import PARAMS, _rows
from warehouse.model_store import forecast_agencies, read_forecast_inputs, read_model_inputs

START = datetime(2026, 3, 2)


def test_model_inputs_built_per_agency_and_band_are_the_one_frame_build_s_rows(workspace):
    from features.build import FeatureParameters, build_features
    from tests.test_features_stage import core_incidents
    from warehouse.features_store import read_events

    settings, incidents = core_incidents(workspace / "jointcast.toml")
    built = build_features(
        incidents.lazy(), read_events(settings.events_path), FeatureParameters.from_settings(settings)
    )
    parts = [part.collect() for part in built.model_input_parts()]
    assert len(parts) == len(built.bands) * 4
    assert built.agencies == ("city_police", "county_fire", "ems", "transit_police")
    assert {part["agency_id"].n_unique() for part in parts} == {1}
    whole = pl.concat(built.model_inputs(band).collect() for band in built.bands)
    # the same rows in the same order, every value equal: cross-agency features included
    assert_frame_equal(pl.concat(parts), whole)
    assert whole["other_mean_168"].drop_nulls().sum() > 0


def _future(series: list[tuple[str, str]], ends: dict[str, datetime], hours: int = 48) -> pl.DataFrame:
    """Model-input rows after each agency's data end: every band's row of every hour ahead."""
    rng = np.random.default_rng(3)
    frames = []
    for band in (24, 168):
        for agency, area in series:
            stamps = [ends[agency] + timedelta(hours=h) for h in range(hours)]
            columns = {f: rng.gamma(2.0, 1.0, hours) for f in FEATURES[2:] if f not in ("hour", "min_lag")}
            frames.append(
                pl.DataFrame(
                    {
                        "agency_id": agency,
                        "area_id": area,
                        "bucket_start": stamps,
                        **columns,
                        "hour": [s.hour for s in stamps],
                        "min_lag": band,
                    }  # fmt: skip
                ).with_columns(pl.col("min_lag").cast(pl.Int16))
            )
    return pl.concat(frames, how="diagonal_relaxed")


def test_forecasts_made_one_agency_at_a_time_are_the_all_at_once_rows():
    model = LightGBMDemandModel(PARAMS).fit(_rows())
    series = [("pd", "A"), ("pd", "B"), ("fd", "A")]
    ends = {"pd": START, "fd": START - timedelta(hours=5)}  # a late feed starts its forecast earlier
    inputs = _future(series, ends)
    forecast = {"data_as_of": ends, "horizon_hours": 36, "bands": (24, 168), "hourly_alphas": {"pd": 0.1}}
    whole = forecast_demand(model, inputs, **forecast)
    parts = [
        forecast_demand(model, inputs.filter(pl.col("agency_id") == a), **forecast) for a in ("fd", "pd")
    ]
    per_agency = pl.concat([part.hourly for part in parts])
    assert per_agency.height == 3 * 36
    keys = ["agency_id", "area_id", "bucket_start"]
    assert_frame_equal(per_agency.sort(keys), whole.hourly.sort(keys))
    assert {k: v for part in parts for k, v in part.data_as_of.items()} == whole.data_as_of


def test_the_warehouse_gives_one_agency_s_hours_ahead_and_training_s_window_only():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA features")
    stamps = [START + timedelta(hours=h) for h in range(6)]
    rows = pl.DataFrame(
        {
            "agency_id": ["pd"] * 6 + ["fd"] * 6,
            "area_id": "A",
            "bucket_start": stamps * 2,
            "incidents": [1, 0, 2, None, None, None, 0, 1, None, None, None, 3],
            "outage": [False] * 10 + [True, False],
            "lag_day_1": list(range(12)),
        }
    )
    con.register("_rows", rows.to_arrow())
    con.execute("CREATE TABLE features.model_inputs AS SELECT * FROM _rows")
    con.execute("CREATE TABLE features.demand AS SELECT * EXCLUDE (outage, lag_day_1) FROM _rows")
    agencies, columns = forecast_agencies(con)
    assert agencies == ["fd", "pd"]
    assert columns == ["agency_id", "area_id", "bucket_start", "incidents", "lag_day_1"]
    everything, ends = read_forecast_inputs(con)
    fd, fd_ends = read_forecast_inputs(con, "fd")
    assert fd_ends == {"fd": ends["fd"]}
    # fd's hours to forecast: no target yet and not an outage hour
    assert fd["lag_day_1"].to_list() == [8, 9]
    assert_frame_equal(fd, everything.filter(pl.col("agency_id") == "fd"))
    assert read_model_inputs(con, since=stamps[4])["lag_day_1"].to_list() == [4, 5, 10, 11]


def test_training_reads_every_hour_a_fold_early_stopping_or_the_final_fit_trains_on_and_no_more():
    end = datetime(2026, 6, 1)
    for horizon, folds, train_days in ((336, 3, 182), (48, 1, 14), (336, 1, 10)):
        first = first_hour_read(end, horizon, folds, train_days)
        origins = [fold.origin for fold in make_folds(end, horizon, folds)] + [end]
        origins.append(origins[-2] - timedelta(hours=horizon))  # early stopping's fit ends a horizon earlier
        # the oldest training window starts there, and a fold is kept on the same history as before
        assert first == min(origins) - max(timedelta(days=train_days), MIN_TRAIN)
        hours = pl.DataFrame(
            {"bucket_start": pl.datetime_range(end - timedelta(days=400), end, "1h", eager=True)}
        ).with_columns(incidents=pl.lit(1))
        for origin in origins:
            needed = training_rows(hours, origin, train_days)
            assert needed["bucket_start"].min() >= first


def test_model_inputs_written_in_parts_may_start_with_an_empty_part(tmp_path):
    """A part with no rows (an agency with nothing in a band) still makes the table; the next adds to it."""
    from warehouse.db import open_warehouse
    from warehouse.features_store import write_features

    links = pl.DataFrame(schema={"incident_key": pl.String, "joint_event_id": pl.String})
    part = pl.DataFrame({"agency_id": ["fd", "fd"], "incidents": [1, 2]})
    with open_warehouse(tmp_path / "warehouse.duckdb") as con:
        counts = write_features(con, links, {}, [part.clear(), part], None, None)
        written = con.execute("SELECT agency_id, incidents FROM features.model_inputs").fetchall()
    assert counts["model_inputs"] == 2 and written == [("fd", 1), ("fd", 2)]
