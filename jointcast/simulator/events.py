"""Planned special events (concerts, games, parades, festivals) and the demand they add."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from jointcast.simulator.feeds import NEW_YORK
from jointcast.simulator.timeline import MICROSECONDS_PER_HOUR
from jointcast.simulator.world import Geography, World, kilometres

EGRESS_HOURS = 1.0
"""Demand stays raised for this long after an event ends (crowds leaving)."""


@dataclass(frozen=True)
class Venue:
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class EventKind:
    label: str
    venues: tuple[Venue, ...]
    start_hours: tuple[float, ...]
    duration_hours: float
    attendance: tuple[int, int]
    radius_m: tuple[int, int]
    weekend_only: bool = False
    months: tuple[int, ...] = tuple(range(1, 13))


_STADIUM = Venue("Riverside Stadium", -75.165, 40.055)
_ARENA = Venue("Downtown Arena", -75.215, 40.125)
_AMPHITHEATER = Venue("Park Amphitheater", -75.33, 40.19)
_MAIN_STREET = Venue("Main Street", -75.222, 40.12)
_FAIRGROUNDS = Venue("County Fairgrounds", -75.10, 40.22)

EVENT_KINDS: tuple[EventKind, ...] = (
    EventKind("Concert", (_ARENA, _AMPHITHEATER), (19.5, 20.0), 3.5, (5_000, 18_000), (400, 800)),
    EventKind(
        "Baseball game",
        (_STADIUM,),
        (13.0, 19.0),
        3.5,
        (15_000, 42_000),
        (600, 1_000),
        months=(4, 5, 6, 7, 8, 9),
    ),
    EventKind(
        "Hockey game",
        (_ARENA,),
        (19.0,),
        3.0,
        (12_000, 19_000),
        (400, 700),
        months=(1, 2, 3, 4, 10, 11, 12),
    ),
    EventKind("Parade", (_MAIN_STREET,), (10.0, 11.0), 4.0, (20_000, 60_000), (1_000, 1_600), True),
    EventKind(
        "Festival",
        (_FAIRGROUNDS,),
        (11.0,),
        10.0,
        (8_000, 25_000),
        (700, 1_200),
        True,
        months=(5, 6, 7, 8, 9),
    ),
)


def planned_events(start: date, stop: date, rng: np.random.Generator) -> pl.DataFrame:
    """One to three events a month starting in [start, stop): event_id, name, start_local,
    end_local (naive America/New_York), lat, lon, radius_m, expected_attendance."""
    rows = []
    month = date(start.year, start.month, 1)
    while month < stop:
        following = (month + timedelta(days=32)).replace(day=1)
        days = (following - month).days
        in_season = [kind for kind in EVENT_KINDS if month.month in kind.months]
        for _ in range(int(rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25]))):
            kind = in_season[rng.integers(len(in_season))]
            venue = kind.venues[rng.integers(len(kind.venues))]
            day = month + timedelta(days=int(rng.integers(days)))
            if kind.weekend_only:
                day += timedelta(days=(5 - day.weekday()) % 7)
            begins = datetime(day.year, day.month, day.day) + timedelta(
                hours=float(kind.start_hours[rng.integers(len(kind.start_hours))])
            )
            rows.append(
                {
                    "name": f"{kind.label} at {venue.name}",
                    "start_local": begins,
                    "end_local": begins + timedelta(hours=kind.duration_hours),
                    "lat": round(venue.lat, 5),
                    "lon": round(venue.lon, 5),
                    "radius_m": int(rng.integers(*kind.radius_m)),
                    "expected_attendance": int(rng.integers(*kind.attendance) // 100 * 100),
                }
            )
        month = following
    first = datetime(start.year, start.month, start.day)
    last = datetime(stop.year, stop.month, stop.day)
    events = pl.DataFrame(rows).sort("start_local", "name", maintain_order=True)
    month_of = pl.col("start_local").dt.strftime("%Y%m")
    number = (pl.int_range(pl.len()).over(month_of) + 1).cast(pl.String)
    event_id = pl.concat_str(pl.lit("EV"), month_of, pl.lit("-"), number).alias("event_id")
    return events.select(event_id, *events.columns).filter(
        pl.col("start_local").is_between(first, last, closed="left")
    )


def event_cells(world: World, events: pl.DataFrame) -> list[np.ndarray]:
    """Cells each event touches: cell centres within its radius, and the cell it is in."""
    touched = []
    for lon, lat, radius in events.select("lon", "lat", "radius_m").iter_rows():
        distance = kilometres(world.lon, world.lat, (lon, lat))
        within = distance <= max(radius / 1000, 0.5 * world.cell_lat_size * 110.57)
        within[np.argmin(distance)] = True
        touched.append(np.flatnonzero(within))
    return touched


def _utc_micros(local: pl.Series) -> np.ndarray:
    utc = local.dt.replace_time_zone(NEW_YORK, ambiguous="earliest", non_existent="null")
    return utc.dt.convert_time_zone("UTC").dt.epoch("us").to_numpy()


def event_uplift(
    events: pl.DataFrame,
    touched: list[np.ndarray],
    geography: Geography,
    bucket_micros: np.ndarray,
    per_ten_thousand: float,
) -> np.ndarray:
    """Extra expected incidents per area (rows) and hour (columns) from planned events, spread
    over the areas an event touches in proportion to the cells it touches in each."""
    uplift = np.zeros((len(geography.area_ids), bucket_micros.size))
    if events.is_empty() or not per_ten_thousand:
        return uplift
    starts = _utc_micros(events["start_local"])
    stops = _utc_micros(events["end_local"]) + int(EGRESS_HOURS * MICROSECONDS_PER_HOUR)
    first_bucket = bucket_micros[0]
    for start, stop, attendance, cells in zip(
        starts, stops, events["expected_attendance"].to_numpy(), touched, strict=True
    ):
        lo = max(int((start - first_bucket) // MICROSECONDS_PER_HOUR), 0)
        hi = min(int((stop - first_bucket) // MICROSECONDS_PER_HOUR) + 1, bucket_micros.size)
        if hi <= lo:
            continue
        bucket = bucket_micros[lo:hi]
        overlap = (
            np.clip(
                np.minimum(bucket + MICROSECONDS_PER_HOUR, stop) - np.maximum(bucket, start),
                0,
                None,
            )
            / MICROSECONDS_PER_HOUR
        )
        share = np.bincount(geography.cell_area[cells], minlength=len(geography.area_ids))
        share = share / share.sum()
        uplift[:, lo:hi] += np.outer(share, overlap) * per_ten_thousand * attendance / 10_000
    return uplift


def events_table(
    events: pl.DataFrame, touched: list[np.ndarray], geographies: dict[str, Geography]
) -> pl.DataFrame:
    """The events file: the planned events with the '|'-separated agency_id:area_id they touch."""
    areas = []
    for cells in touched:
        names = [
            f"{agency_id}:{geography.area_ids[area]}"
            for agency_id, geography in geographies.items()
            for area in np.unique(geography.cell_area[cells])
        ]
        areas.append("|".join(names))
    return events.with_columns(
        pl.col("start_local").dt.strftime("%Y-%m-%dT%H:%M:%S"),
        pl.col("end_local").dt.strftime("%Y-%m-%dT%H:%M:%S"),
        areas=pl.Series(areas, dtype=pl.String),
    )


def planned_event(
    name: str,
    start_local: datetime,
    end_local: datetime,
    lon: float,
    lat: float,
    radius_m: int,
    expected_attendance: int,
    event_id: str = "EV-SCENARIO",
) -> pl.DataFrame:
    """One planned event as ``planned_events`` makes them (naive America/New_York times), to inject
    an event the simulator did not draw: ``event_cells`` and ``event_uplift`` place and size it."""
    return pl.DataFrame(
        [
            {
                "event_id": event_id,
                "name": name,
                "start_local": start_local,
                "end_local": end_local,
                "lat": lat,
                "lon": lon,
                "radius_m": radius_m,
                "expected_attendance": expected_attendance,
            }
        ]
    )


def event_truth(
    events: pl.DataFrame,
    world: World,
    geographies: dict[str, Geography],
    uplift_per_ten_thousand: dict[str, float],
    hours: pl.Series,
) -> pl.DataFrame:
    """The true extra expected incidents ``events`` add, per agency x area x UTC hour of ``hours``
    (non-zero rows only: agency_id, area_id, bucket_start, uplift), spread as a simulation spreads
    them (``event_uplift``, the egress hour included), with the areas it touches in ``areas``
    ('|'-separated agency_id:area_id, as the events file writes them)."""
    touched = event_cells(world, events)
    micros = hours.dt.epoch("us").to_numpy()
    parts = []
    for agency_id, geography in geographies.items():
        uplift = event_uplift(events, touched, geography, micros, uplift_per_ten_thousand[agency_id])
        area, hour = np.nonzero(uplift)
        parts.append(
            pl.DataFrame(
                {
                    "agency_id": [agency_id] * area.size,
                    "area_id": pl.Series(geography.area_ids, dtype=pl.String).gather(area),
                    "bucket_start": hours.gather(hour),
                    "uplift": uplift[area, hour],
                },
                schema_overrides={"agency_id": pl.String},
            )
        )
    areas = events_table(events, touched, geographies)["areas"]
    return pl.concat(parts).with_columns(areas=pl.lit("|".join(areas.to_list())))
