"""Areas on small hand-made frames: centroids, areas without coordinates, the series to describe."""

import polars as pl
import pytest

from features.areas import AREA_SCHEMA, areas


def _incidents(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"agency_id": pl.String, "area_id": pl.String, "lat": pl.Float64, "lon": pl.Float64},
        orient="row",
    )


INCIDENTS = _incidents(
    [
        ("pd", "B01", 40.0, -75.0),
        ("pd", "B01", 40.2, -75.2),
        ("pd", "B01", 40.1, -75.1),
        ("pd", "B01", None, None),  # no coordinates: counted for the area, not for its centre
        ("pd", "B02", None, None),  # an area none of whose incidents is located
        ("pd", None, 40.5, -75.5),  # no area: the panel's "unknown"
        ("fd", "B01", 39.0, -76.0),  # another agency's area of the same name
    ]
)


def test_each_area_gets_the_median_of_its_located_incidents():
    frame = areas(INCIDENTS.lazy()).collect()
    assert frame.schema == pl.Schema(AREA_SCHEMA)
    assert frame.select("agency_id", "area_id").rows() == [
        ("fd", "B01"), ("pd", "B01"), ("pd", "B02"), ("pd", "unknown"),
    ]  # fmt: skip
    b01 = frame.filter(agency_id="pd", area_id="B01").row(0, named=True)
    assert (b01["centroid_lat"], b01["centroid_lon"]) == (pytest.approx(40.1), pytest.approx(-75.1))
    assert b01["located_incidents"] == 3
    assert frame.filter(agency_id="fd")["centroid_lat"].to_list() == [39.0]


def test_areas_without_coordinates_get_null_centroids():
    frame = areas(INCIDENTS.lazy()).collect()
    for area in ("B02", "unknown"):  # "unknown" gathers incidents from anywhere: no one centre
        row = frame.filter(agency_id="pd", area_id=area).row(0, named=True)
        assert row["centroid_lat"] is None and row["centroid_lon"] is None
    assert frame.filter(agency_id="pd", area_id="B02")["located_incidents"].to_list() == [0]


def test_an_area_is_named_by_its_id_and_derived_from_the_area_column():
    frame = areas(INCIDENTS.lazy()).collect()
    assert (frame["name"] == frame["area_id"]).all()
    assert set(frame["derived_from"]) == {"column"}
    assert frame["geometry"].is_null().all()


def test_a_series_list_sets_which_areas_appear():
    series = pl.DataFrame({"agency_id": ["pd", "pd", "pd"], "area_id": ["B01", "B03", "B01"]})
    frame = areas(INCIDENTS.lazy(), series.lazy()).collect()
    assert frame.select("agency_id", "area_id").rows() == [("pd", "B01"), ("pd", "B03")]
    b03 = frame.filter(area_id="B03").row(0, named=True)  # forecast, but no recent incidents
    assert (b03["name"], b03["centroid_lat"], b03["located_incidents"], b03["derived_from"]) == (
        "B03", None, 0, "column",
    )  # fmt: skip


def test_the_input_is_left_alone():
    before = INCIDENTS.clone()
    areas(INCIDENTS.lazy()).collect()
    assert INCIDENTS.equals(before)
    empty = areas(INCIDENTS.clear().lazy()).collect()
    assert empty.is_empty() and empty.schema == pl.Schema(AREA_SCHEMA)
