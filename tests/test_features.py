"""Features: a complete panel, history that never looks past the origin, cross-agency demand."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features.cross import cross_agency_demand
from features.history import band_for, horizon_bands
from features.model_inputs import FEATURES, AgencyCalendar, model_features
from features.panel import counted_incidents, demand_panel, service_hours

T0 = datetime(2024, 3, 1, tzinfo=UTC)
CALENDARS = [
    AgencyCalendar("pd", "America/New_York", "US", "PA"),
    AgencyCalendar("fd", "America/New_York", "US", "PA"),
]


def _incidents(rows: list[tuple]) -> pl.LazyFrame:
    return pl.LazyFrame(
        rows,
        schema={
            "incident_key": pl.String, "agency_id": pl.String, "area_id": pl.String,
            "call_source": pl.String, "received_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    ).with_columns(
        incident_type=pl.lit("theft"), dispatched_at=pl.lit(None, pl.Datetime("us", "UTC")),
        on_scene_at=pl.col("received_at"),
        cleared_at=pl.col("received_at") + pl.duration(minutes=30), lat=pl.lit(40.0), lon=pl.lit(-75.0),
    )  # fmt: skip


def _random_incidents(days: int = 70, seed: int = 1) -> pl.LazyFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for agency, areas in (("pd", ("B1", "B2", "B3")), ("fd", ("F1", "F2"))):
        for i in range(days * 30):
            when = T0 + timedelta(minutes=int(rng.integers(0, days * 24 * 60)))
            rows.append((f"{agency}:{i}", agency, str(rng.choice(areas)), "citizen", when))
    return _incidents(rows)


def test_the_panel_is_a_complete_grid_that_sums_to_the_incidents_counted():
    incidents = _incidents([
        ("pd:1", "pd", "B1", "citizen", T0),
        ("pd:2", "pd", "B1", "citizen", T0 + timedelta(minutes=10)),
        ("pd:3", "pd", None, "citizen", T0 + timedelta(hours=5, minutes=3)),
        ("pd:4", "pd", "B2", "officer", T0 + timedelta(hours=2)),  # self-initiated: not demand
        ("fd:1", "fd", "F1", "alarm", T0 + timedelta(hours=1)),
    ])  # fmt: skip
    counted = counted_incidents(incidents, {"pd": ("citizen", "alarm", "other"), "fd": ("citizen", "alarm")})
    panel = demand_panel(counted).collect()
    pd_rows = panel.filter(pl.col("agency_id") == "pd")
    assert set(pd_rows["area_id"]) == {"B1", "unknown"}  # areas with counted incidents
    assert pd_rows.height == 2 * 6  # two areas x hours 0..5, zeros included
    assert panel.filter(pl.col("agency_id") == "fd").height == 1
    assert panel["incidents"].sum() == 4
    assert pd_rows.filter(pl.col("area_id") == "B1", pl.col("bucket_start") == T0)["incidents"].item() == 2
    assert panel.select(pl.struct("agency_id", "area_id", "bucket_start").is_unique().all()).item()


def test_service_time_is_observed_where_the_feed_has_it_and_estimated_where_not():
    frame = _incidents([(f"pd:{i}", "pd", "B1", "citizen", T0) for i in range(3)]).with_columns(
        cleared_at=pl.Series([T0 + timedelta(hours=1), T0 + timedelta(hours=3), None])
    )
    hours = service_hours(frame).collect().sort("incident_key")
    assert hours["service_hours"].to_list() == [1.0, 3.0, 2.0]  # the third: the type's mean
    assert hours["service_estimated"].to_list() == [False, False, True]


@pytest.mark.parametrize("band", [24, 168, 336])
def test_no_feature_at_an_origin_changes_when_data_after_it_changes(band):
    incidents = _random_incidents()
    origin = T0 + timedelta(days=50, hours=7)  # data before it is known; its hour is the first target
    later = pl.col("received_at") >= origin
    shuffled = incidents.with_columns(
        received_at=pl.when(later)
        .then(pl.col("received_at") + pl.duration(hours=3))
        .otherwise("received_at"),
        area_id=pl.when(later & (pl.col("agency_id") == "pd")).then(pl.lit("B1")).otherwise("area_id"),
    )

    def features_at_origin(frame: pl.LazyFrame) -> pl.DataFrame:
        # built from ALL the data, later hours included: nothing after the origin may leak in
        panel = demand_panel(frame)
        built = model_features(panel, cross_agency_demand(frame), CALENDARS, None, "America/New_York", band)
        targets = (pl.col("bucket_start") >= origin) & (
            pl.col("bucket_start") < origin + timedelta(hours=band)
        )
        return (
            built.collect()
            .filter(targets)
            .select(*FEATURES, "bucket_start")
            .sort("agency_id", "area_id", "bucket_start")
        )

    full = features_at_origin(incidents)
    perturbed = features_at_origin(shuffled)
    assert full.height == perturbed.height == 5 * band
    assert full.equals(perturbed)
    # the perturbation is real: the demand itself after the origin did change
    assert not demand_panel(incidents).collect().equals(demand_panel(shuffled).collect())
    # and the history is really there: weekly lags of the targets are known at the origin
    assert full["lag_week_1"].null_count() == 0


def test_horizons_use_the_freshest_band_that_covers_them():
    bands = horizon_bands(336)
    assert bands == (24, 168, 336)
    assert [band_for(h, bands) for h in (1, 24, 25, 168, 169, 336)] == [24, 24, 168, 168, 336, 336]


def test_other_agencies_demand_counts_in_the_nearest_area_of_each_agency():
    near_b1, near_b2 = (40.000, -75.000), (40.050, -75.050)
    rows = []
    for i in range(5):
        rows.append((f"pd:a{i}", "pd", "B1", "citizen", T0, *near_b1))
        rows.append((f"pd:b{i}", "pd", "B2", "citizen", T0, *near_b2))
    rows.append(("fd:1", "fd", "F1", "citizen", T0 + timedelta(minutes=5), 40.001, -75.001))
    frame = pl.LazyFrame(
        rows, orient="row",
        schema={"incident_key": pl.String, "agency_id": pl.String, "area_id": pl.String, "call_source": pl.String,
                "received_at": pl.Datetime("us", "UTC"), "lat": pl.Float64, "lon": pl.Float64},
    )  # fmt: skip
    cross = cross_agency_demand(frame).collect()
    police = cross.filter(pl.col("agency_id") == "pd")
    assert police.select("area_id", "other_incidents").rows() == [("B1", 1)]
    assert cross.filter(pl.col("agency_id") == "fd")["other_incidents"].sum() == 10
