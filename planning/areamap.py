"""The hot-spot map: an agency's areas as inline SVG shapes, coloured by a value per area.

Pure: a frame of areas (forecast.areas: area_id, name, centroid_lat, centroid_lon, geometry)
and a value per area in, an SVG string out; no tiles, no network, no script. An area is
drawn from its WKT geometry (POLYGON or MULTIPOLYGON, lon lat, WGS84) when it has one. An
area with a centroid but no geometry gets its Voronoi cell among the other such centroids
(``shapely.voronoi_polygons``), clipped to the convex hull of those centroids grown by half
the median distance between neighbouring centroids (and to the agency's bbox when one is
given), minus any real polygons: every point is drawn in the area whose centroid is nearest,
so the shapes are approximate. An area with neither is not drawn; the caller lists it.

Projection: north-up equirectangular, x = longitude x cos(mean latitude), y = latitude, so
at city scale a kilometre is as long east-west as north-south (Snyder, *Map Projections: A
Working Manual*, 1987, ch. 12). The Voronoi cells are cut in that plane, where distances are
true, not in degrees.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from html import escape

import numpy as np
import polars as pl
import shapely
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.ticker import MaxNLocator
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

logger = logging.getLogger(__name__)

WIDTH = 640
"""Width of the map's drawing area in SVG units; the height follows the area's shape."""
LEGEND_HEIGHT = 44
CLASSES = 5
"""At most this many colour classes, with round bounds (matplotlib's MaxNLocator)."""
NO_VALUE = "#d5d9de"
COLOURMAP = "YlOrRd"
FALLBACK_RADIUS_DEGREES = 0.01
"""Half-width (about 1 km) of a lone centroid's cell: with one centroid there is no spacing to go by."""


@dataclass(frozen=True)
class AreaShapes:
    """Each drawable area's shape in the projected plane, and what could not be drawn."""

    shapes: dict[str, BaseGeometry]  # area_id -> polygon or multipolygon (x = lon x cos(lat0), y = lat)
    names: dict[str, str]  # area_id -> name
    approximate: frozenset[str]  # area ids drawn as Voronoi cells of their centroids
    unplaced: tuple[str, ...]  # area ids with neither geometry nor centroid
    scale: float = 1.0  # x = longitude x scale in the projected plane (the cosine of the mean latitude)


def area_shapes(areas: pl.DataFrame, bbox: tuple[float, float, float, float] | None = None) -> AreaShapes:
    """The shapes of ``areas`` (area_id, name, centroid_lat, centroid_lon, geometry WKT or null).

    Args:
        areas: one row per area of one agency.
        bbox: the agency's [min_lon, min_lat, max_lon, max_lat], or None; Voronoi cells are
            kept inside it.
    """
    rows = areas.sort("area_id").to_dicts()
    names = {row["area_id"]: row.get("name") or row["area_id"] for row in rows}
    drawn = {row["area_id"]: _outline(row["area_id"], row.get("geometry")) for row in rows}
    drawn = {area: shape for area, shape in drawn.items() if shape is not None}
    centroids = {
        row["area_id"]: (row["centroid_lon"], row["centroid_lat"])
        for row in rows
        if row["area_id"] not in drawn and _finite(row.get("centroid_lon"), row.get("centroid_lat"))
    }
    latitudes = [y for shape in drawn.values() for y in shape.bounds[1::2]]
    latitudes += [lat for _, lat in centroids.values()]
    scale = math.cos(math.radians(float(np.mean(latitudes)))) if latitudes else 1.0
    shapes = {area: _project(shape, scale) for area, shape in drawn.items()}
    region = _project(shapely.box(*bbox), scale) if bbox else None
    cells = _voronoi_cells(centroids, scale, region, shapely.union_all(list(shapes.values())))
    shapes |= cells
    unplaced = tuple(row["area_id"] for row in rows if row["area_id"] not in shapes)
    return AreaShapes(shapes, names, frozenset(cells), unplaced, scale)


def hotspot_svg(shapes: AreaShapes, values: dict[str, float], label: str, unit: str) -> str:
    """The map as one ``<svg>``: a ``<path data-area=...>`` per shape with a ``<title>`` (name and
    value), filled by a sequential colour class of ``values``, and a legend of those classes.

    Args:
        shapes: ``area_shapes``' result.
        values: area_id -> value (an area without one is drawn grey, "no forecast").
        label: the accessible name of the map (e.g. what the colours show, and when).
        unit: what a value counts, for the titles and the legend (e.g. "expected incidents").
    """
    if not shapes.shapes:
        return ""
    bounds = _classes([values[a] for a in shapes.shapes if a in values])
    colours = _colours(len(bounds) - 1)
    min_x, min_y, max_x, max_y = shapely.total_bounds(list(shapes.shapes.values()))
    span = max(max_x - min_x, max_y - min_y, 1e-9)
    ratio = WIDTH / (max_x - min_x) if max_x > min_x else WIDTH / span
    height = max(1.0, (max_y - min_y) * ratio)

    def point(x: float, y: float) -> str:  # north up: SVG's y grows downwards
        return f"{(x - min_x) * ratio:.1f} {(max_y - y) * ratio:.1f}"

    paths = []
    for area, shape in sorted(shapes.shapes.items()):
        value = values.get(area)
        fill = NO_VALUE if value is None else colours[_class_of(value, bounds)]
        told = "no forecast" if value is None else f"{value:.1f} {unit}"
        approximate = " (approximate shape)" if area in shapes.approximate else ""
        title = escape(f"{shapes.names.get(area, area)}: {told}{approximate}")
        paths.append(
            f'<path data-area="{escape(area)}" d="{_path(shape, point)}" fill="{fill}" fill-rule="evenodd"'
            f' stroke="#ffffff" stroke-width="1"><title>{title}</title></path>'
        )
    legend = _legend(bounds, colours, unit, any(a not in values for a in shapes.shapes), height + 12)
    total = height + 12 + LEGEND_HEIGHT
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="-2 -2 {WIDTH + 4} {total + 4:.0f}"'
        f' role="img" aria-label="{escape(label)}"><g class="areas">{"".join(paths)}</g>{legend}</svg>'
    )


def _outline(area_id: str, wkt: str | None) -> BaseGeometry | None:
    """The area's polygons from its WKT; None (drawn from its centroid instead) when it has none,
    or when the text is not WKT or holds no surface (a point, a line)."""
    if not wkt:
        return None
    shape = shapely.from_wkt(wkt, on_invalid="ignore")
    if shape is None or shape.area <= 0:
        logger.warning("area %s: geometry is not a WKT polygon (%.60s): drawn at its centroid", area_id, wkt)
        return None
    return shape if shape.is_valid else shapely.make_valid(shape)


def _finite(*numbers: object) -> bool:
    return all(isinstance(n, int | float) and math.isfinite(n) for n in numbers)


def _project(shape: BaseGeometry, scale: float) -> BaseGeometry:
    return shapely.transform(shape, lambda xy: xy * np.array([scale, 1.0]))


def _voronoi_cells(
    centroids: dict[str, tuple[float, float]],
    scale: float,
    region: BaseGeometry | None,
    taken: BaseGeometry,
) -> dict[str, BaseGeometry]:
    """Each centroid's Voronoi cell, clipped to the grown hull of the centroids (and ``region``),
    less what real polygons (``taken``) already cover."""
    if not centroids:
        return {}
    areas = list(centroids)
    points = shapely.points([(lon * scale, lat) for lon, lat in centroids.values()])
    unique = shapely.multipoints(points)
    hull = shapely.convex_hull(unique).buffer(_spacing(points) / 2)
    clip = hull if region is None or not hull.intersects(region) else hull.intersection(region)
    cells = shapely.get_parts(shapely.voronoi_polygons(unique, extend_to=clip)) if len(areas) > 1 else None
    found = {}
    for area, point in zip(areas, points, strict=True):
        # the cell holding the point (two areas at one centroid share it)
        cell = clip if cells is None else cells[shapely.covers(cells, point)][0]
        shape = cell.intersection(clip).difference(taken) if not taken.is_empty else cell.intersection(clip)
        if shape.area > 0:
            found[area] = shape
    return found


def _spacing(points: np.ndarray) -> float:
    """The median distance from each centroid to its nearest other one (a cell's typical width)."""
    distinct = np.unique(shapely.get_coordinates(points), axis=0)
    if len(distinct) < 2:
        return 2 * FALLBACK_RADIUS_DEGREES
    gaps = np.hypot(*(distinct[:, None, :] - distinct[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(gaps, np.inf)
    return float(np.median(gaps.min(axis=1)))


def _classes(values: list[float]) -> list[float]:
    """Class bounds from 0 to at least the largest value, round numbers, at most ``CLASSES`` classes."""
    top = max(values, default=0.0)
    if top <= 0:
        return [0.0, 1.0]
    ticks = MaxNLocator(nbins=CLASSES, steps=[1, 2, 2.5, 5, 10]).tick_values(0, top)
    bounds = [float(t) for t in ticks if t >= 0]
    while bounds[-1] < top:
        bounds.append(bounds[-1] + (bounds[1] - bounds[0]))
    return bounds


def _class_of(value: float, bounds: list[float]) -> int:
    """The class of ``value``: bounds[i] <= value < bounds[i + 1]; the top class includes its top."""
    return int(min(max(np.searchsorted(bounds, value, side="right") - 1, 0), len(bounds) - 2))


def _colours(count: int) -> list[str]:
    """``count`` colours of a sequential scale, light to dark (the palest shade left out, for contrast
    with the page)."""
    scale = colormaps[COLOURMAP]
    return [to_hex(scale(0.12 + 0.88 * (i + 0.5) / count)) for i in range(count)]


def _path(shape: BaseGeometry, point) -> str:
    """SVG path data of a polygon or multipolygon: one closed subpath per ring."""
    rings = []
    for polygon in shapely.get_parts(shape):
        if not isinstance(polygon, Polygon):  # a clipped cell can leave a line or point: nothing to fill
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            coordinates = [point(x, y) for x, y in ring.coords[:-1]]
            rings.append("M " + " L ".join(coordinates) + " Z")
    return " ".join(rings)


def _legend(bounds: list[float], colours: list[str], unit: str, no_value: bool, top: float) -> str:
    """Swatches of the colour classes, left to right, each with its range; grey for no forecast."""
    width = min(96, WIDTH // (len(colours) + 2))
    digits = 0 if all(float(b).is_integer() for b in bounds) else 1
    items = []
    for i, colour in enumerate(colours):
        x = i * width
        text = f"{bounds[i]:.{digits}f}-{bounds[i + 1]:.{digits}f}"
        items.append(
            f'<rect x="{x}" y="{top + 16:.0f}" width="{width - 2}" height="12" fill="{colour}"/>'
            f'<text x="{x}" y="{top + 42:.0f}" font-size="12">{text}</text>'
        )
    if no_value:
        x = len(colours) * width + 12
        items.append(
            f'<rect x="{x}" y="{top + 16:.0f}" width="{width - 2}" height="12" fill="{NO_VALUE}"/>'
            f'<text x="{x}" y="{top + 42:.0f}" font-size="12">no forecast</text>'
        )
    caption = f'<text x="0" y="{top + 10:.0f}" font-size="12" font-weight="600">{escape(unit)}</text>'
    return f'<g class="legend">{caption}{"".join(items)}</g>'
