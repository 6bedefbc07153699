"""Areas from coordinates in the features stage, on a simulated workspace: one agency on the
simulator's polygons, one switched to H3 cells."""

from pathlib import Path

import h3
import polars as pl
import pytest
import shapely

from flows.pending import features_inputs
from jointcast.config import load_settings
from tests.test_ingest import _ingest, _query
from warehouse.db import open_warehouse

H3_AREAS = '[agencies.areas]\nmethod = "h3"\nresolution = {resolution}\nmin_incidents = 20\ncoarsest_resolution = 6\n'


def _with_police_on_h3(workspace: Path, resolution: int = 8) -> Path:
    """The simulated config with city_police's areas cut from H3 cells (its feed's beats unused)."""
    config = workspace / "jointcast.toml"
    text = config.read_text(encoding="utf-8")
    police = text.index('id = "city_police"')
    staffing = text.index("[agencies.staffing]", police)
    config.write_text(text[:staffing] + H3_AREAS.format(resolution=resolution) + "\n" + text[staffing:])
    return config


def _digest(config: Path) -> str:
    settings = load_settings(config)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        return features_inputs(con, settings)


@pytest.mark.integration
def test_the_features_stage_cuts_h3_and_polygon_areas_with_geometry(prefect, small_workspace):
    from flows.features import features_flow

    config = _with_police_on_h3(small_workspace)
    _ingest(config)
    features_flow(settings=load_settings(config))
    areas = pl.DataFrame(
        _query(config, "SELECT agency_id, area_id, name, geometry, derived_from FROM features.areas"),
        schema=["agency_id", "area_id", "name", "geometry", "derived_from"],
        orient="row",
    )
    police, fire = areas.filter(agency_id="city_police"), areas.filter(agency_id="county_fire")
    assert set(police["derived_from"]) == {"h3"} and set(fire["derived_from"]) == {"polygons"}
    assert all(h3.is_valid_cell(cell) for cell in police["area_id"] if cell != "unknown")
    assert fire.filter(pl.col("area_id") != "unknown")["name"].str.starts_with("County Fire").all()
    for geometry in areas.filter(pl.col("area_id") != "unknown")["geometry"]:
        assert shapely.from_wkt(geometry).geom_type in ("Polygon", "MultiPolygon")
    # the panel counts every counted incident in exactly one area
    [(panel, counted)] = _query(
        config,
        """SELECT (SELECT sum(incidents) FROM features.demand),
                  (SELECT count(*) FROM core.incidents WHERE NOT (agency_id = 'city_police' AND call_source = 'officer'))""",
    )
    assert panel == counted
    # the polygons give the fire districts the simulator drew (but for a few jittered joint records)
    [(moved, total)] = _query(
        config,
        """WITH placed AS (SELECT area_id, sum(incidents) AS n FROM features.demand
                           WHERE agency_id = 'county_fire' GROUP BY 1),
                drawn AS (SELECT area_id, count(*) AS n FROM core.incidents
                          WHERE agency_id = 'county_fire' GROUP BY 1)
           SELECT sum(abs(coalesce(placed.n, 0) - coalesce(drawn.n, 0))), sum(drawn.n)
           FROM placed FULL JOIN drawn USING (area_id)""",
    )
    assert moved <= 0.01 * total
    # other settings: the digest changes and a rerun recomputes
    before = _digest(config)
    config.write_text(config.read_text().replace("resolution = 8", "resolution = 7"))
    assert _digest(config) != before
    features_flow(settings=load_settings(config))
    cells = [
        cell
        for (cell,) in _query(config, "SELECT area_id FROM features.areas WHERE agency_id = 'city_police'")
    ]
    assert {h3.get_resolution(cell) for cell in cells if cell != "unknown"} <= {6, 7}


def test_the_polygon_file_bytes_are_a_features_input(small_workspace):
    config = small_workspace / "jointcast.toml"
    _ingest(config)
    before = _digest(config)
    polygons = small_workspace / "areas" / "county_fire.geojson"
    polygons.write_text(polygons.read_text().replace("County Fire & Rescue FD01", "Riverside"))
    assert _digest(config) != before
