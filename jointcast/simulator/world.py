"""The simulated jurisdiction: a cell grid, hot-spot weight layers and each agency's areas."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LON_RANGE = (-75.45, -75.05)
LAT_RANGE = (39.98, 40.28)
GRID_SIZE = 24
BBOX_MARGIN = 0.02
"""Degrees added on every side of the jurisdiction for each agency's configured bbox."""

KM_PER_DEGREE_LAT = 110.57
KM_PER_DEGREE_LON = 111.32 * float(np.cos(np.radians(40.13)))

DOWNTOWN = (-75.22, 40.125)
TRANSIT_HUB = (-75.16, 40.06)
HIGHWAY = ((-75.45, 40.03), (-75.05, 40.23))
TRANSIT_LINE = ((-75.40, 40.21), DOWNTOWN, TRANSIT_HUB, (-75.07, 40.00))


@dataclass(frozen=True)
class World:
    """The cell grid and its named weight layers (each a float array over cells, row-major)."""

    lon: np.ndarray
    lat: np.ndarray
    cell_lon_size: float
    cell_lat_size: float
    layers: dict[str, np.ndarray]

    @property
    def cells(self) -> int:
        return self.lon.size

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return (
            round(LON_RANGE[0] - BBOX_MARGIN, 4),
            round(LAT_RANGE[0] - BBOX_MARGIN, 4),
            round(LON_RANGE[1] + BBOX_MARGIN, 4),
            round(LAT_RANGE[1] + BBOX_MARGIN, 4),
        )

    def mix(self, **shares: float) -> np.ndarray:
        """A cell weight vector summing to one, from layers each scaled to sum to one."""
        total = sum(share * self.layers[name] / self.layers[name].sum() for name, share in shares.items())
        return total / total.sum()


@dataclass(frozen=True)
class Geography:
    """One agency's partition of the cells into areas, and where its incidents happen."""

    area_ids: tuple[str, ...]
    cell_area: np.ndarray
    cell_weight: np.ndarray
    centroid_cells: np.ndarray

    @property
    def area_weight(self) -> np.ndarray:
        return np.bincount(self.cell_area, weights=self.cell_weight, minlength=len(self.area_ids))

    def area_sum(self, cell_values: np.ndarray) -> np.ndarray:
        """Sum a per-cell quantity over each area."""
        return np.bincount(self.cell_area, weights=cell_values, minlength=len(self.area_ids))


def kilometres(lon: np.ndarray, lat: np.ndarray, point: tuple[float, float]) -> np.ndarray:
    """Approximate distance in km from each (lon, lat) to a point."""
    dx = (np.asarray(lon) - point[0]) * KM_PER_DEGREE_LON
    dy = (np.asarray(lat) - point[1]) * KM_PER_DEGREE_LAT
    return np.hypot(dx, dy)


def _segment_kilometres(lon, lat, start, stop) -> np.ndarray:
    x, y = lon * KM_PER_DEGREE_LON, lat * KM_PER_DEGREE_LAT
    x0, y0 = start[0] * KM_PER_DEGREE_LON, start[1] * KM_PER_DEGREE_LAT
    x1, y1 = stop[0] * KM_PER_DEGREE_LON, stop[1] * KM_PER_DEGREE_LAT
    dx, dy = x1 - x0, y1 - y0
    along = np.clip(((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(x - (x0 + along * dx), y - (y0 + along * dy))


def _polyline_kilometres(lon, lat, points) -> np.ndarray:
    return np.min(
        [_segment_kilometres(lon, lat, a, b) for a, b in zip(points[:-1], points[1:], strict=True)],
        axis=0,
    )


def _bump(lon, lat, centre, sigma_km: float) -> np.ndarray:
    return np.exp(-0.5 * (kilometres(lon, lat, centre) / sigma_km) ** 2)


def build_world(rng: np.random.Generator) -> World:
    """The grid with layers: flat, downtown, hub, highway, transit line, random bumps, general."""
    lon_size = (LON_RANGE[1] - LON_RANGE[0]) / GRID_SIZE
    lat_size = (LAT_RANGE[1] - LAT_RANGE[0]) / GRID_SIZE
    rows, cols = np.divmod(np.arange(GRID_SIZE * GRID_SIZE), GRID_SIZE)
    lon = LON_RANGE[0] + (cols + 0.5) * lon_size
    lat = LAT_RANGE[0] + (rows + 0.5) * lat_size

    bumps = np.zeros(lon.size)
    for _ in range(5):
        centre = (rng.uniform(*LON_RANGE), rng.uniform(*LAT_RANGE))
        bumps += rng.uniform(0.3, 0.8) * _bump(lon, lat, centre, rng.uniform(1.0, 2.0))
    layers = {
        "flat": np.ones(lon.size),
        "downtown": _bump(lon, lat, DOWNTOWN, 2.5),
        "hub": _bump(lon, lat, TRANSIT_HUB, 1.5),
        "highway": np.exp(-0.5 * (_segment_kilometres(lon, lat, *HIGHWAY) / 1.0) ** 2),
        "transit": np.exp(-0.5 * (_polyline_kilometres(lon, lat, TRANSIT_LINE) / 0.8) ** 2),
        "bumps": bumps + 1e-9,
        "residential": 0.6 + 0.4 * rng.random(lon.size),
    }
    layers["general"] = 0.15 + layers["downtown"] + 0.5 * layers["hub"] + 0.35 * layers["highway"] + bumps
    return World(lon, lat, lon_size, lat_size, layers)


def partition(
    world: World,
    cell_weight: np.ndarray,
    centroid_weight: np.ndarray,
    area_ids: tuple[str, ...],
    rng: np.random.Generator,
) -> Geography:
    """Areas as nearest-centroid cells, centroids being distinct random cells (so none is empty)."""
    probabilities = centroid_weight / centroid_weight.sum()
    centroids = rng.choice(world.cells, size=len(area_ids), replace=False, p=probabilities)
    x = world.lon * KM_PER_DEGREE_LON
    y = world.lat * KM_PER_DEGREE_LAT
    distance = np.hypot(x[:, None] - x[centroids][None, :], y[:, None] - y[centroids][None, :])
    cell_area = np.argmin(distance, axis=1)
    return Geography(area_ids, cell_area, cell_weight / cell_weight.sum(), centroids)


def sample_cells(
    geography: Geography, areas: np.ndarray, cell_weight: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One cell per entry of ``areas``, drawn within that area proportionally to ``cell_weight``."""
    area_count = len(geography.area_ids)
    order = np.lexsort((np.arange(cell_weight.size), geography.cell_area))
    sorted_area = geography.cell_area[order]
    weight = cell_weight[order] + 1e-12
    cumulative = np.cumsum(weight)
    area_total = np.bincount(sorted_area, weights=weight, minlength=area_count)
    area_offset = np.concatenate([[0.0], np.cumsum(area_total)[:-1]])
    within = (cumulative - area_offset[sorted_area]) / area_total[sorted_area]
    last = np.r_[sorted_area[1:] != sorted_area[:-1], True]
    within[last] = 1.0
    target = areas + rng.random(areas.size) * 0.999999
    index = np.searchsorted(sorted_area + within, target, side="right")
    return order[index]


def points_in_cells(
    world: World, cells: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random (lon, lat) inside each given cell."""
    lon = world.lon[cells] + (rng.random(cells.size) - 0.5) * world.cell_lon_size
    lat = world.lat[cells] + (rng.random(cells.size) - 0.5) * world.cell_lat_size
    return lon, lat


def jitter(
    lon: np.ndarray, lat: np.ndarray, metres: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Move each point uniformly within a disc of ``metres``."""
    radius = metres / 1000 * np.sqrt(rng.random(lon.size))
    angle = rng.uniform(0, 2 * np.pi, lon.size)
    return (
        lon + radius * np.cos(angle) / KM_PER_DEGREE_LON,
        lat + radius * np.sin(angle) / KM_PER_DEGREE_LAT,
    )
