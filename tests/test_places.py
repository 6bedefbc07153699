"""Areas from coordinates: H3 cells rolled up where sparse, polygons by containment, the config."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import numpy as np
import polars as pl
import pytest
import shapely

from features.panel import UNKNOWN_AREA, demand_panel
from features.places import (
    AreaScheme,
    AreaShapes,
    H3Areas,
    PolygonAreas,
    area_descriptions,
    area_indexes,
    placed_in_others,
    placed_incidents,
)
from jointcast.config import ConfigError, load_settings
from tests.conftest import POLICE_FEED

START = datetime(2026, 1, 5, tzinfo=UTC)


def _incidents(agency: str, lat: np.ndarray, lon: np.ndarray, first_key: int = 0) -> pl.DataFrame:
    n = len(lat)
    return pl.DataFrame(
        {
            "incident_key": [f"{agency}-{first_key + i}" for i in range(n)],
            "agency_id": [agency] * n,
            "area_id": ["feed_area"] * n,
            "call_source": ["citizen"] * n,
            "received_at": [START + timedelta(hours=i % 500) for i in range(n)],
            "lat": lat,
            "lon": lon,
        },
        schema_overrides={"received_at": pl.Datetime("us", "UTC")},
    )


def _city(n: int = 4000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A dense centre and a sparse outskirt: some cells are busy, many see a handful."""
    rng = np.random.default_rng(seed)
    return 40.1 + rng.normal(0, 0.03, n), -75.2 + rng.normal(0, 0.04, n)


def test_h3_cells_roll_up_until_busy_and_every_located_incident_is_in_one_area():
    lat, lon = _city()
    lat[:5], lon[:5] = np.nan, np.nan  # no coordinates: unknown
    incidents = _incidents("pd", lat, lon)
    scheme = AreaScheme("h3", resolution=8, min_incidents=30, coarsest_resolution=6)
    indexes = area_indexes(incidents, {"pd": scheme}, pl.lit(True), train_days=365)
    placed = placed_incidents(incidents, indexes)
    counts = placed.group_by("area_id").len()
    assert counts["len"].sum() == incidents.height
    assert counts.filter(area_id=UNKNOWN_AREA)["len"].to_list() == [5]
    cells = counts.filter(pl.col("area_id") != UNKNOWN_AREA)
    resolutions = {h3.get_resolution(cell) for cell in cells["area_id"]}
    assert resolutions <= {6, 7, 8} and len(resolutions) > 1
    # an area finer than the coarsest resolution holds at least min_incidents
    finer = cells.filter(pl.col("area_id").map_elements(h3.get_resolution, pl.Int64) > 6)
    assert finer["len"].min() >= 30
    # each located incident is in the one area whose geometry contains it
    described = area_descriptions(placed.select("agency_id", "area_id").unique(), indexes)
    shapes = dict(zip(described["area_id"], shapely.from_wkt(described["geometry"].to_list()), strict=True))
    located = placed.filter(pl.col("area_id") != UNKNOWN_AREA)
    points = shapely.points(located["lon"].to_numpy(), located["lat"].to_numpy())
    containing = sum(shapely.contains(shape, points) for shape in shapes.values())
    assert (containing == 1).all()
    assert all(shapes[a].contains(p) for a, p in zip(located["area_id"], points, strict=True))
    assert set(described["derived_from"]) == {"h3"}
    assert described.filter(area_id=UNKNOWN_AREA)["geometry"].to_list() == [None]
    # the panel counts every incident in exactly one series
    timed = placed.with_columns(
        pl.lit(None, pl.Datetime("us", "UTC")).alias(name)
        for name in ("dispatched_at", "on_scene_at", "cleared_at")
    ).with_columns(incident_type=pl.lit("theft"))
    panel = demand_panel(timed.lazy()).collect()
    assert panel["incidents"].sum() == incidents.height


def test_h3_without_a_minimum_keeps_every_cell_at_the_resolution():
    lat, lon = _city(500)
    index = H3Areas(AreaScheme("h3", resolution=9), lat, lon)
    placed = index.place(lat, lon)
    expected = [h3.latlng_to_cell(y, x, 9) for y, x in zip(lat, lon, strict=True)]
    assert placed.tolist() == expected


def test_h3_places_points_never_seen_in_training_in_one_area():
    lat, lon = _city(2000)
    index = H3Areas(AreaScheme("h3", resolution=8, min_incidents=30, coarsest_resolution=6), lat, lon)
    new_lat, new_lon = _city(2000, seed=9)
    placed = index.place(np.r_[new_lat, 41.5], np.r_[new_lon, -74.0])
    assert all(isinstance(area, str) and h3.is_valid_cell(area) for area in placed)
    assert h3.get_resolution(placed[-1]) == 6  # far from every area: its coarsest cell


def _square(x0: float, y0: float, size: float = 1.0) -> str:
    return shapely.box(x0, y0, x0 + size, y0 + size).wkt


SHAPES = AreaShapes(("B2", "B1"), ("North", "South"), (_square(0, 1), _square(0, 0)))


def test_polygons_place_by_containment_a_shared_edge_once_and_outside_as_unknown():
    index = PolygonAreas(SHAPES)
    lat = np.array([0.5, 1.5, 1.0, 5.0, np.nan])  # south, north, the shared edge, outside, none
    lon = np.array([0.5, 0.5, 0.5, 0.5, np.nan])
    assert index.place(lat, lon).tolist() == ["B1", "B2", "B1", None, None]
    incidents = _incidents("fd", lat, lon)
    placed = placed_incidents(incidents, {"fd": index})
    assert placed["area_id"].to_list() == ["B1", "B2", "B1", UNKNOWN_AREA, UNKNOWN_AREA]
    described = area_descriptions(placed.select("agency_id", "area_id").unique(), {"fd": index})
    south = described.filter(area_id="B1").row(0, named=True)
    assert south["name"] == "South" and south["derived_from"] == "polygons"
    assert (south["centroid_lat"], south["centroid_lon"]) == (pytest.approx(0.5), pytest.approx(0.5))
    assert shapely.from_wkt(south["geometry"]).equals(shapely.box(0, 0, 1, 1))


def test_other_agencies_are_placed_in_the_area_that_contains_them():
    police = _incidents("pd", np.array([0.5, 1.5, 9.0]), np.array([0.5, 0.5, 9.0]))
    fire = _incidents("fd", np.array([0.2]), np.array([0.2]))
    placed = placed_in_others(pl.concat([police, fire]), {"fd": PolygonAreas(SHAPES)})
    assert placed.sort("incident_key").rows() == [("pd-0", "fd", "B1"), ("pd-1", "fd", "B2")]


def _geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def _feature(beat: str, x0: float, y0: float) -> dict:
    geometry = json.loads(shapely.to_geojson(shapely.box(x0, y0, x0 + 0.1, y0 + 0.1)))
    return {"type": "Feature", "properties": {"beat": beat, "label": f"Beat {beat}"}, "geometry": geometry}


def _config(tmp_path: Path, areas: str) -> Path:
    text = POLICE_FEED.format(extra="").replace(
        "bbox = [-75.5, 39.9, -75.0, 40.3]\n",
        f"bbox = [-75.5, 39.9, -75.0, 40.3]\n[agencies.areas]\n{areas}\n",
    )
    path = tmp_path / "jointcast.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_polygon_config_reads_its_file_relative_to_the_config(tmp_path):
    (tmp_path / "areas").mkdir()
    _geojson(tmp_path / "areas" / "pd.geojson", [_feature("B1", -75.2, 40.0), _feature("B2", -75.1, 40.0)])
    areas = 'method = "polygons"\nfile = "areas/pd.geojson"\nid_property = "beat"\nname_property = "label"'
    settings = load_settings(_config(tmp_path, areas))
    assert settings.area_file(settings.agencies[0]) == tmp_path / "areas" / "pd.geojson"
    from warehouse.area_files import area_shapes

    shapes = area_shapes(settings)["pd"]
    assert shapes.area_ids == ("B1", "B2") and shapes.names == ("Beat B1", "Beat B2")


def test_polygon_ids_equal_up_to_case_and_spacing_are_one_id_twice(tmp_path):
    """``B1`` and ``b1`` would be one area wherever a planner names it, so a file may not hold both."""
    (tmp_path / "areas").mkdir()
    _geojson(tmp_path / "areas" / "pd.geojson", [_feature("B 1", -75.2, 40.0), _feature("b  1", -75.1, 40.0)])
    areas = 'method = "polygons"\nfile = "areas/pd.geojson"\nid_property = "beat"'
    with pytest.raises(ConfigError, match="feature 1: area id 'b  1' is 'B 1' up to case and spacing"):
        load_settings(_config(tmp_path, areas))


@pytest.mark.parametrize(
    ("areas", "message"),
    [
        ('method = "hexagons"', "agencies[0].areas.method: Input should be"),
        (
            'method = "polygons"\nid_property = "beat"',
            "agencies[0].areas: file: required by method 'polygons'",
        ),
        ('method = "polygons"\nfile = "areas/pd.geojson"', "id_property: required by method 'polygons'"),
        (
            'method = "polygons"\nfile = "nope.geojson"\nid_property = "beat"',
            "agencies[0].areas.file: no such file",
        ),
        ('method = "polygons"\nfile = "bad.geojson"\nid_property = "beat"', "agencies[0].areas.file: "),
        ('method = "polygons"\nfile = "areas/pd.geojson"\nid_property = "ward"', "has no property 'ward'"),
        ('method = "h3"\nresolution = 7\ncoarsest_resolution = 8', "coarsest_resolution: 8 is finer"),
        ('method = "h3"\nresolution = 16', "agencies[0].areas.resolution"),
        ('method = "h3"\nfile = "areas/pd.geojson"', "file: not a key of method 'h3'"),
        ('method = "column"\nresolution = 8', "resolution: not a key of method 'column'"),
        ('method = "h3"\ncolour = "red"', "agencies[0].areas.colour: unknown key"),
    ],
)
def test_a_bad_areas_config_is_one_line_naming_the_key(tmp_path, areas, message):
    (tmp_path / "areas").mkdir()
    _geojson(tmp_path / "areas" / "pd.geojson", [_feature("B1", -75.2, 40.0)])
    (tmp_path / "bad.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(_config(tmp_path, areas))
    line = str(error.value)
    assert "\n" not in line
    assert message in line


def _located(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "incident_key": pl.String, "agency_id": pl.String, "area_id": pl.String,
            "incident_type": pl.String, "received_at": pl.Datetime("us", "UTC"),
            "lat": pl.Float64, "lon": pl.Float64, "joint_event_id": pl.String,
        },
    )  # fmt: skip


def test_cross_agency_demand_and_the_crosswalk_use_the_containing_polygon_not_the_centroid():
    from features.cross import cross_agency_demand
    from features.crosswalk import joint_crosswalk

    # fd's own incidents sit far south in B1, so B1's median centroid is nearer to the police
    # incident at (0.9, 0.5) than B2's, though that incident lies inside B1 (y < 1)
    frame = _located(
        [
            ("fd-1", "fd", "B1", "fire", START, 0.05, 0.5, None),
            ("fd-2", "fd", "B2", "fire", START, 1.05, 0.5, None),
            ("pd-1", "pd", "P1", "fire", START, 0.9, 0.5, None),
        ]
    )
    index = {"fd": PolygonAreas(SHAPES)}
    placed = placed_in_others(frame, index)
    cross = cross_agency_demand(frame.lazy(), placed.lazy(), ("fd",)).collect()
    assert cross.filter(agency_id="fd").select("area_id", "other_incidents").rows() == [("B1", 1)]
    by_centroid = cross_agency_demand(frame.lazy()).collect()
    assert by_centroid.filter(agency_id="fd")["area_id"].to_list() == ["B2"]
    crosswalk = joint_crosswalk(frame, {"fire": ("fd", ())}, placed)
    assert crosswalk.filter(agency_id="pd")["lead_area_id"].to_list() == ["B1"]
