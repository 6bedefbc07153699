"""Each simulated agency's areas as a GeoJSON file: the polygons a real agency would publish.

An area is the union of the grid cells the simulator gives it, so a point drawn in one of
its cells is inside its polygon: a config that takes the areas from these polygons places
the simulated incidents in the areas the truth counts them in (but for the few joint
records a jitter moves across an edge).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely

from jointcast.simulator.world import LAT_RANGE, LON_RANGE, Geography, World

AREAS_FOLDER = "areas"
ID_PROPERTY = "area"
NAME_PROPERTY = "name"
DIGITS = 6


def area_polygons(world: World, geography: Geography) -> list[shapely.Geometry]:
    """One (multi)polygon per area of ``geography``, in area order: the union of its cells.

    The cells on the grid's rim reach out to the agencies' configured bbox, so a record a
    jitter moved just past the grid is still in its area rather than in none.
    """
    half_lon, half_lat = world.cell_lon_size / 2, world.cell_lat_size / 2
    west, south, east, north = world.bbox
    edge = 1e-9
    cells = shapely.box(
        np.where(world.lon - half_lon <= LON_RANGE[0] + edge, west, world.lon - half_lon),
        np.where(world.lat - half_lat <= LAT_RANGE[0] + edge, south, world.lat - half_lat),
        np.where(world.lon + half_lon >= LON_RANGE[1] - edge, east, world.lon + half_lon),
        np.where(world.lat + half_lat >= LAT_RANGE[1] - edge, north, world.lat + half_lat),
    )
    # cells are snapped to a fine grid first, so neighbours share their edges exactly
    cells = shapely.set_precision(cells, 10.0**-DIGITS)
    return [
        shapely.union_all(cells[geography.cell_area == index], grid_size=10.0**-DIGITS)
        for index in range(len(geography.area_ids))
    ]


def area_collection(world: World, geography: Geography, agency_name: str) -> dict:
    """The GeoJSON FeatureCollection of an agency's areas (id and a human name per feature)."""
    features = []
    for area_id, polygon in zip(geography.area_ids, area_polygons(world, geography), strict=True):
        geometry = json.loads(shapely.to_geojson(polygon))
        features.append(
            {
                "type": "Feature",
                "properties": {ID_PROPERTY: area_id, NAME_PROPERTY: f"{agency_name} {area_id}"},
                "geometry": geometry,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def write_area_file(out: Path, agency_id: str, collection: dict) -> Path:
    """``out/areas/<agency_id>.geojson``; the same collection gives the same bytes."""
    folder = out / AREAS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{agency_id}.geojson"
    path.write_text(json.dumps(collection, separators=(",", ":")) + "\n", encoding="utf-8")
    return path
