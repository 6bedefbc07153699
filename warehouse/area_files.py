"""An agency's area polygons, read from a GeoJSON FeatureCollection (beats, districts, wards).

The features stage gets the polygons as data (``features.places.AreaShapes``: ids, names,
WKT); this module is the only one that opens the file. A feature without the id property,
a geometry that is not a (multi)polygon or is invalid, or an id used twice is an error
naming the feature, raised when the config is loaded. Ids equal up to case and spacing (``B1``,
``b1``) are one id, as area ids are everywhere (``features.area_ids``): a planner's ``b1`` could
not tell which polygon it names.
"""

from __future__ import annotations

import json
from pathlib import Path

import shapely
from shapely.geometry import shape

from features.area_ids import fold
from features.places import AreaShapes
from jointcast.config import Settings


class AreaFileError(ValueError):
    """The polygon file is missing or unusable; the message says what and where."""


def read_area_shapes(path: Path, id_property: str | None, name_property: str | None = None) -> AreaShapes:
    """The polygons of a GeoJSON FeatureCollection, in file order, as ids, names and WKT.

    Raises:
        AreaFileError: one line naming the file (and the feature) that is wrong.
    """
    if id_property is None:
        raise AreaFileError("id_property is required with a polygon file")
    try:
        collection = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise AreaFileError(f"no such file: {path}") from None
    except (OSError, ValueError) as exc:
        raise AreaFileError(f"{path}: not valid GeoJSON: {exc}") from None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise AreaFileError(f"{path}: not a GeoJSON FeatureCollection")
    ids, names, wkt, folded = [], [], [], {}
    for number, feature in enumerate(collection.get("features") or []):
        properties = (feature or {}).get("properties") or {}
        if properties.get(id_property) in (None, ""):
            raise AreaFileError(f"{path}: feature {number} has no property '{id_property}'")
        area_id = str(properties[id_property])
        where = f"{path}: feature {number} ('{area_id}')"
        if area_id in ids:
            raise AreaFileError(f"{path}: feature {number}: area id '{area_id}' appears twice")
        if (same := folded.setdefault(fold(area_id), area_id)) != area_id:
            raise AreaFileError(
                f"{path}: feature {number}: area id '{area_id}' is '{same}' up to case and spacing"
            )
        try:
            geometry = shape(feature.get("geometry"))
        except (AttributeError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
            raise AreaFileError(f"{where}: unreadable geometry: {exc}") from None
        if geometry.geom_type not in ("Polygon", "MultiPolygon") or geometry.is_empty:
            raise AreaFileError(f"{where}: a {geometry.geom_type}, not a polygon")
        if not geometry.is_valid:
            geometry = shapely.make_valid(geometry)
        named = properties.get(name_property) if name_property else None
        ids.append(area_id)
        names.append(area_id if named in (None, "") else str(named))
        wkt.append(geometry.wkt)
    if not ids:
        raise AreaFileError(f"{path}: the collection has no features")
    return AreaShapes(tuple(ids), tuple(names), tuple(wkt))


def area_shapes(settings: Settings) -> dict[str, AreaShapes]:
    """The polygons of each agency whose areas are polygons, by agency id."""
    shapes = {}
    for agency in settings.agencies:
        path = settings.area_file(agency)
        if path is not None:
            shapes[agency.id] = read_area_shapes(path, agency.areas.id_property, agency.areas.name_property)
    return shapes
