"""Places: which of an agency's areas each incident is in, by its coordinates.

Pure: frames and plain data in, frames out; no files. An agency's areas come from one of
three schemes (``AreaScheme.method``):

- ``column``: the feed's own area field, its spellings of one area made one
  (``features.area_ids``; nothing to place);
- ``h3``: the H3 cell (v4, ``latlng_to_cell``) of the incident at ``resolution``. Where
  ``min_incidents`` > 0, a cell with fewer counted incidents over the training window rolls
  up to its parent, level by level, no coarser than ``coarsest_resolution``; the cells that
  rolled up into one parent are one area, named by that parent (its geometry the parent
  less its finer areas). A place with no history is placed by the same walk, so any point
  lands in exactly one area;
- ``polygons``: the polygon (a beat, a district) that contains the point, through a shapely
  STRtree; a point on a shared edge goes to the first such area in id order, so every point
  lands in at most one area.

Incidents without coordinates, and points in no polygon, go to ``UNKNOWN_AREA``. An
``AreaIndex`` is fitted once per agency and also places *other* agencies' incidents in this
agency's areas (cross-agency features, the joint crosswalk): real geometry, not centroids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import h3
import h3.api.basic_int as h3_int
import numpy as np
import polars as pl
import shapely
import shapely.geometry

from features.areas import AREA_SCHEMA
from features.panel import UNKNOWN_AREA

METHODS = ("column", "h3", "polygons")
DESCRIPTION_SCHEMA = {column: dtype for column, dtype in AREA_SCHEMA.items() if column != "located_incidents"}
_DESCRIBED = {
    key: DESCRIPTION_SCHEMA[key] for key in ("area_id", "name", "centroid_lat", "centroid_lon", "geometry")
}
WKT_DIGITS = 6
"""Decimal places of WKT coordinates: about 0.1 m."""


@dataclass(frozen=True)
class AreaShapes:
    """An agency's polygons as data: ids, human names and WKT geometries, in one order."""

    area_ids: tuple[str, ...]
    names: tuple[str, ...]
    wkt: tuple[str, ...]


@dataclass(frozen=True)
class AreaScheme:
    """How one agency's areas are made (``jointcast.toml`` ``[agencies.areas]`` as plain data)."""

    method: str = "column"
    resolution: int = 8
    min_incidents: int = 0
    coarsest_resolution: int = 0
    shapes: AreaShapes | None = field(default=None, repr=False)


class PolygonAreas:
    """Point-in-polygon over an agency's polygons (an STRtree, one query for all points)."""

    method = "polygons"

    def __init__(self, shapes: AreaShapes):
        order = np.argsort(np.asarray(shapes.area_ids, dtype=object), kind="stable")
        self.area_ids = np.asarray(shapes.area_ids, dtype=object)[order]
        self.names = np.asarray(shapes.names, dtype=object)[order]
        self.geometries = shapely.from_wkt(np.asarray(shapes.wkt, dtype=object)[order])
        self.tree = shapely.STRtree(self.geometries)

    def place(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The area id containing each point (edges included: the first area in id order), else None."""
        placed = np.full(len(lat), None, dtype=object)
        located = ~(np.isnan(lat) | np.isnan(lon))
        points = shapely.points(lon[located], lat[located])
        point_index, area_index = self.tree.query(points, predicate="intersects")
        if point_index.size:
            # the smallest area index per point: areas are in id order, so ties break by id
            order = np.lexsort((area_index, point_index))
            point_index, area_index = point_index[order], area_index[order]
            first = np.r_[True, point_index[1:] != point_index[:-1]]
            placed_located = np.full(points.size, None, dtype=object)
            placed_located[point_index[first]] = self.area_ids[area_index[first]]
            placed[located] = placed_located
        return placed

    def describe(self, area_ids: list[str]) -> pl.DataFrame:
        """name, centroid and WKT of the given areas (those this index has)."""
        wanted = np.isin(self.area_ids, np.asarray(area_ids, dtype=object))
        geometries = self.geometries[wanted]
        centroids = shapely.centroid(geometries)
        return pl.DataFrame(
            {
                "area_id": self.area_ids[wanted].tolist(),
                "name": self.names[wanted].tolist(),
                "centroid_lat": shapely.get_y(centroids),
                "centroid_lon": shapely.get_x(centroids),
                "geometry": shapely.to_wkt(geometries, rounding_precision=WKT_DIGITS).tolist(),
            },
            schema=_DESCRIBED,
        )


class H3Areas:
    """H3 cells at ``resolution``, sparse ones rolled up to their parents (see the module doc)."""

    method = "h3"

    def __init__(self, scheme: AreaScheme, lat: np.ndarray, lon: np.ndarray):
        """Fit on the counted incidents of the training window (their coordinates)."""
        self.resolution = scheme.resolution
        self.coarsest = scheme.resolution if scheme.min_incidents <= 0 else scheme.coarsest_resolution
        self.areas: set[int] = set()
        cells, counts = np.unique(self._cells(lat, lon), return_counts=True)
        active = dict(zip(cells[cells > 0].tolist(), counts[cells > 0].tolist(), strict=True))
        for level in range(self.resolution, self.coarsest - 1, -1):
            if level == self.coarsest:
                self.areas |= set(active)
                break
            rolled: dict[int, int] = {}
            for cell, count in active.items():
                if count >= scheme.min_incidents:
                    self.areas.add(cell)
                else:
                    parent = h3_int.cell_to_parent(cell, level - 1)
                    rolled[parent] = rolled.get(parent, 0) + count
            active = rolled

    def _cells(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The finest cell of each point as an integer (0 without coordinates); h3 runs once per
        distinct point, which real feeds (rounded or geocoded to addresses) repeat a lot."""
        located = ~(np.isnan(lat) | np.isnan(lon))
        cells = np.zeros(len(lat), dtype=np.uint64)
        if located.any():
            points = np.column_stack([lat[located], lon[located]])
            unique, inverse = np.unique(points, axis=0, return_inverse=True)
            found = np.fromiter(
                (h3_int.latlng_to_cell(y, x, self.resolution) for y, x in unique),
                dtype=np.uint64,
                count=len(unique),
            )
            cells[located] = found[inverse.ravel()]
        return cells

    def place(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The area (cell id, as h3's string) of each point, None without coordinates."""
        cells = self._cells(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float))
        unique, inverse = np.unique(cells, return_inverse=True)
        named = np.array([self._area_of(int(cell)) for cell in unique.tolist()], dtype=object)
        return named[inverse.ravel()]

    def _area_of(self, cell: int) -> str | None:
        """The finest area holding ``cell``, else its ancestor at the coarsest level."""
        if cell == 0:
            return None
        for level in range(self.resolution, self.coarsest - 1, -1):
            ancestor = cell if level == self.resolution else h3_int.cell_to_parent(cell, level)
            if ancestor in self.areas:
                return h3.int_to_str(ancestor)
        return h3.int_to_str(ancestor)

    def _holding_finer(self) -> set[int]:
        """Every cell that has a finer area inside it."""
        return {
            h3_int.cell_to_parent(area, level)
            for area in self.areas
            for level in range(self.coarsest, h3_int.get_resolution(area))
        }

    def _members(self, cell: int, level: int, holding_finer: set[int]) -> list[int]:
        """The cells at ``resolution`` under ``cell`` that no finer area takes."""
        if cell not in holding_finer:
            return h3_int.cell_to_children(cell, self.resolution) if level < self.resolution else [cell]
        members = []
        for child in h3_int.cell_to_children(cell, level + 1):
            if child not in self.areas:
                members += self._members(child, level + 1, holding_finer)
        return members

    def describe(self, area_ids: list[str]) -> pl.DataFrame:
        """name (the cell id), centroid and WKT of the given areas.

        An area's shape is the union of the cells at ``resolution`` that ``place`` puts in it:
        its descendants less those of finer areas (an H3 parent's outline is only close to
        its children's, so the parent's own hexagon would not be exact).
        """
        rows, holding_finer = [], self._holding_finer()
        for area_id in area_ids:
            if area_id == UNKNOWN_AREA or not h3.is_valid_cell(area_id):
                continue
            cell = h3.str_to_int(area_id)
            members = self._members(cell, h3_int.get_resolution(cell), holding_finer)
            shape = shapely.geometry.shape(h3_int.cells_to_geo(members))
            centroid = shape.centroid
            rows.append((area_id, area_id, centroid.y, centroid.x, shapely.to_wkt(shape, WKT_DIGITS)))
        return pl.DataFrame(rows, schema=_DESCRIBED, orient="row")


AreaIndex = PolygonAreas | H3Areas


def _array(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame[column].cast(pl.Float64).fill_null(np.nan).to_numpy()


def area_indexes(
    incidents: pl.DataFrame, schemes: dict[str, AreaScheme], counted: pl.Expr, train_days: int
) -> dict[str, AreaIndex]:
    """The fitted index of each agency whose areas come from coordinates.

    Args:
        incidents: agency_id, received_at, lat, lon and what ``counted`` reads.
        schemes: agency id -> scheme; ``column`` agencies get no index.
        counted: true for the incidents an agency counts as demand (H3 cells roll up by them).
        train_days: the training window before each agency's newest record (H3 roll-ups).
    """
    indexes: dict[str, AreaIndex] = {}
    for agency, scheme in sorted(schemes.items()):
        if scheme.method == "polygons":
            assert scheme.shapes is not None, f"agency {agency}: polygons without shapes"
            indexes[agency] = PolygonAreas(scheme.shapes)
        elif scheme.method == "h3":
            own = incidents.filter(pl.col("agency_id") == agency)
            since = own["received_at"].max() - timedelta(days=train_days) if own.height else None
            window = own.filter(counted, pl.col("received_at") >= since) if own.height else own
            indexes[agency] = H3Areas(scheme, _array(window, "lat"), _array(window, "lon"))
    return indexes


def placed_incidents(incidents: pl.DataFrame, indexes: dict[str, AreaIndex]) -> pl.DataFrame:
    """``incidents`` with area_id replaced by the containing area for agencies with an index
    (``UNKNOWN_AREA`` where no area holds the point or it has no coordinates); row order kept."""
    if not indexes:
        return incidents
    area = incidents["area_id"].to_numpy().astype(object)
    agency = incidents["agency_id"].to_numpy()
    lat, lon = _array(incidents, "lat"), _array(incidents, "lon")
    for agency_id, index in indexes.items():
        mine = agency == agency_id
        found = index.place(lat[mine], lon[mine])
        area[mine] = np.where(found == None, UNKNOWN_AREA, found)  # noqa: E711 (elementwise)
    return incidents.with_columns(area_id=pl.Series("area_id", area, dtype=pl.String))


def placed_in_others(incidents: pl.DataFrame, indexes: dict[str, AreaIndex]) -> pl.DataFrame:
    """Each located incident of another agency placed in each indexed agency's areas.

    Returns:
        incident_key, target_agency, target_area_id: one row per incident x indexed agency
        whose areas hold the point (a point outside them is in none of that agency's areas).
    """
    parts = []
    located = incidents.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
    for agency_id, index in sorted(indexes.items()):
        others = located.filter(pl.col("agency_id") != agency_id)
        found = index.place(_array(others, "lat"), _array(others, "lon"))
        parts.append(
            others.select("incident_key")
            .with_columns(target_agency=pl.lit(agency_id), target_area_id=pl.Series(found, dtype=pl.String))
            .filter(pl.col("target_area_id").is_not_null())
        )
    schema = {
        "incident_key": incidents.schema["incident_key"],
        "target_agency": pl.String,
        "target_area_id": pl.String,
    }
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def area_descriptions(areas: pl.DataFrame, indexes: dict[str, AreaIndex]) -> pl.DataFrame:
    """Name, centroid, WKT and method of each (agency_id, area_id) of ``areas`` whose agency has
    an index (``DESCRIPTION_SCHEMA``); its ``unknown`` area has no geometry."""
    parts = [pl.DataFrame(schema=DESCRIPTION_SCHEMA)]
    for agency_id, index in sorted(indexes.items()):
        ids = areas.filter(pl.col("agency_id") == agency_id)["area_id"].unique().sort().to_list()
        described = index.describe(ids)
        present = pl.DataFrame({"area_id": ids}, schema={"area_id": pl.String})
        parts.append(
            present.join(described, on="area_id", how="left").select(
                agency_id=pl.lit(agency_id),
                area_id="area_id",
                name=pl.coalesce("name", "area_id"),
                centroid_lat="centroid_lat",
                centroid_lon="centroid_lon",
                geometry="geometry",
                derived_from=pl.lit(index.method),
            )
        )
    return pl.concat(parts, how="vertical_relaxed")
