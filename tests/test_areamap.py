"""The hot-spot map: one shape per drawable area, from WKT outlines or Voronoi cells of centroids."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import polars as pl
import pytest
import shapely

from planning.areamap import NO_VALUE, area_shapes, hotspot_svg

COS_40 = math.cos(math.radians(40.0))


def _areas(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"area_id": pl.String, "name": pl.String, "centroid_lat": pl.Float64,
                "centroid_lon": pl.Float64, "geometry": pl.String},
        orient="row",
    )  # fmt: skip


class _Shapes(HTMLParser):
    """Per data-area: its fill, path data and title text; and the legend's texts."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: dict[str, dict[str, str]] = {}
        self.legend: list[str] = []
        self._area: str | None = None
        self._in_legend = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "path" and "data-area" in attributes:
            self._area = attributes["data-area"]
            self.shapes[self._area] = {"fill": attributes["fill"], "d": attributes["d"], "title": ""}
        elif tag == "g" and attributes.get("class") == "legend":
            self._in_legend = True

    def handle_endtag(self, tag):
        if tag == "path":
            self._area = None
        elif tag == "g":
            self._in_legend = False

    def handle_data(self, data):
        if self._area is not None:
            self.shapes[self._area]["title"] += data
        elif self._in_legend:
            self.legend.append(data)


def _parse(svg: str) -> _Shapes:
    parsed = _Shapes()
    parsed.feed(svg)
    return parsed


def _square(x: float, y: float, size: float = 0.01) -> str:
    return shapely.box(x, y, x + size, y + size).wkt


def test_wkt_polygons_are_drawn_one_shape_each_with_title_and_legend():
    areas = _areas([
        ("N1", "North beat", 40.015, -75.195, _square(-75.2, 40.01)),
        ("S1", "South & river", 40.005, -75.195, _square(-75.2, 40.0)),
        ("unknown", "unknown", None, None, None),
    ])  # fmt: skip
    shapes = area_shapes(areas)
    assert set(shapes.shapes) == {"N1", "S1"} and shapes.unplaced == ("unknown",) and not shapes.approximate
    svg = hotspot_svg(shapes, {"N1": 12.0, "S1": 3.0, "unknown": 1.0}, "map", "expected incidents")
    parsed = _parse(svg)
    assert set(parsed.shapes) == {"N1", "S1"}
    assert parsed.shapes["N1"]["title"] == "North beat: 12.0 expected incidents"
    assert parsed.shapes["S1"]["title"] == "South & river: 3.0 expected incidents"  # escaped in the source
    assert "South &amp; river" in svg
    assert parsed.shapes["N1"]["fill"] != parsed.shapes["S1"]["fill"]  # busier is another (darker) class
    numbers = [float(n) for text in parsed.legend for n in re.findall(r"\d+(?:\.\d+)?", text)]
    assert min(numbers) == 0 and max(numbers) >= 12  # the classes cover 0 to the busiest area
    # north up: N1 (higher latitude) is drawn above S1 (smaller SVG y)
    top = {
        area: min(float(y) for y in re.findall(r"[\d.]+ ([\d.]+)", s["d"]))
        for area, s in parsed.shapes.items()
    }
    assert top["N1"] < top["S1"]


def test_the_projection_keeps_a_square_kilometre_square():
    # 0.01 deg of latitude is as long as 0.01 / cos(40 deg) of longitude: the drawn shape is square
    side = 0.01
    wkt = shapely.box(-75.2, 40.0, -75.2 + side / COS_40, 40.0 + side).wkt
    shapes = area_shapes(_areas([("A", "A", 40.005, -75.19, wkt)]))
    minx, miny, maxx, maxy = shapes.shapes["A"].bounds
    assert (maxx - minx) / (maxy - miny) == pytest.approx(1.0, rel=0.01)
    svg = hotspot_svg(shapes, {"A": 1.0}, "map", "expected incidents")
    xs = [float(x) for x in re.findall(r"([\d.]+) [\d.]+", _parse(svg).shapes["A"]["d"])]
    ys = [float(y) for y in re.findall(r"[\d.]+ ([\d.]+)", _parse(svg).shapes["A"]["d"])]
    assert (max(xs) - min(xs)) == pytest.approx(max(ys) - min(ys), rel=0.01)


def test_a_multipolygon_is_one_shape_with_a_subpath_per_ring():
    parts = shapely.MultiPolygon(
        [shapely.box(-75.2, 40.0, -75.19, 40.01), shapely.box(-75.1, 40.0, -75.09, 40.01)]
    )
    holed = shapely.box(-75.3, 40.0, -75.25, 40.05).difference(shapely.box(-75.28, 40.02, -75.27, 40.03))
    shapes = area_shapes(
        _areas([("M", "Islands", 40.0, -75.15, parts.wkt), ("H", "Holed", 40.02, -75.27, holed.wkt)])
    )
    parsed = _parse(hotspot_svg(shapes, {"M": 5.0, "H": 2.0}, "map", "expected incidents"))
    assert set(parsed.shapes) == {"M", "H"}
    assert parsed.shapes["M"]["d"].count("M ") == 2 and parsed.shapes["M"]["d"].count(" Z") == 2
    assert parsed.shapes["H"]["d"].count("M ") == 2  # the outer ring and the hole (even-odd fill)


def test_centroids_without_outlines_get_voronoi_cells_that_tile_the_map():
    grid = [(f"A{i}{j}", 40.0 + 0.02 * i, -75.3 + 0.02 * j) for i in range(3) for j in range(4)]
    areas = _areas(
        [(area, area, lat, lon, None) for area, lat, lon in grid] + [("unknown", "unknown", None, None, None)]
    )
    shapes = area_shapes(areas)
    assert set(shapes.shapes) == {area for area, _, _ in grid} and shapes.unplaced == ("unknown",)
    assert shapes.approximate == frozenset(shapes.shapes)
    cells = list(shapes.shapes.values())
    scale = math.cos(math.radians(40.02))  # the projection's: cos of the centroids' mean latitude
    for (area, lat, lon), cell in zip(
        sorted(grid), [shapes.shapes[a] for a, _, _ in sorted(grid)], strict=True
    ):
        assert cell.contains(shapely.Point(lon * scale, lat)), area  # each cell holds its own centroid
    union = shapely.union_all(cells)
    assert sum(cell.area for cell in cells) == pytest.approx(union.area, rel=1e-6)  # no overlaps
    hull = shapely.MultiPoint([(lon * scale, lat) for _, lat, lon in grid]).convex_hull
    assert union.contains(hull)  # and no gaps between the centroids; the edge goes a little past them
    assert union.area < 2 * hull.area
    svg = hotspot_svg(shapes, {area: float(k) for k, (area, _, _) in enumerate(grid)}, "map", "incidents")
    parsed = _parse(svg)
    assert len(parsed.shapes) == len(grid)
    assert all(s["title"].endswith("(approximate shape)") for s in parsed.shapes.values())


def test_voronoi_cells_stay_inside_the_bbox_and_off_real_outlines():
    outline = shapely.box(-75.31, 39.99, -75.29, 40.01)
    areas = _areas([
        ("P", "Polygon", 40.0, -75.3, outline.wkt),
        ("C1", "C1", 40.0, -75.25, None), ("C2", "C2", 40.04, -75.25, None), ("C3", "C3", 40.02, -75.2, None),
    ])  # fmt: skip
    bbox = (-75.32, 39.99, -75.21, 40.05)
    shapes = area_shapes(areas, bbox)
    assert shapes.approximate == {"C1", "C2", "C3"}
    scale = math.cos(math.radians(sum([39.99, 40.01, 40.0, 40.04, 40.02]) / 5))
    projected = shapely.transform(outline, lambda xy: xy * [scale, 1.0])
    inside = shapely.box(bbox[0] * scale, bbox[1], bbox[2] * scale, bbox[3]).buffer(1e-9)
    for area in ("C1", "C2", "C3"):
        assert shapes.shapes[area].within(inside)
        assert shapes.shapes[area].intersection(projected).area == pytest.approx(0, abs=1e-12)


def test_one_or_two_centroids_still_get_shapes_and_missing_values_are_grey():
    lone = area_shapes(_areas([("A", "A", 40.0, -75.2, None)]))
    assert set(lone.shapes) == {"A"} and lone.shapes["A"].area > 0
    pair = area_shapes(_areas([("A", "A", 40.0, -75.2, None), ("B", "B", 40.0, -75.1, None)]))
    assert set(pair.shapes) == {"A", "B"} and pair.shapes["A"].intersection(pair.shapes["B"]).area < 1e-12
    parsed = _parse(hotspot_svg(pair, {"A": 4.0}, "map", "expected incidents"))
    assert parsed.shapes["B"]["fill"] == NO_VALUE and parsed.shapes["B"]["title"].startswith("B: no forecast")
    assert "no forecast" in parsed.legend


def test_nothing_to_draw_gives_no_svg():
    shapes = area_shapes(_areas([("unknown", "unknown", None, None, None)]))
    assert shapes.shapes == {} and shapes.unplaced == ("unknown",)
    assert hotspot_svg(shapes, {"unknown": 3.0}, "map", "expected incidents") == ""


def test_geometry_that_is_not_a_polygon_falls_back_to_the_centroid(caplog):
    areas = _areas([
        ("A", "A", 40.0, -75.2, "POINT (-75.2 40.0)"),
        ("B", "B", 40.0, -75.1, "not wkt at all"),
        ("C", "C", 40.05, -75.15, None),
    ])  # fmt: skip
    shapes = area_shapes(areas)
    assert set(shapes.shapes) == {"A", "B", "C"} and shapes.approximate == {"A", "B", "C"}
    assert "area A: geometry is not a WKT polygon" in caplog.text and "area B" in caplog.text
