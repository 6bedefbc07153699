"""Joint events: one real event (a collision, a fire, an overdose) recorded by several agencies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from jointcast.simulator.timeline import MICROSECONDS_PER_MINUTE, temporal_factor
from jointcast.simulator.world import Geography, World, jitter, points_in_cells

# fmt: off
_COMMUTE = (0.35, 0.25, 0.2, 0.2, 0.3, 0.6, 1.1, 1.7, 1.6, 1.1, 1.0, 1.05,
            1.15, 1.15, 1.25, 1.5, 1.8, 1.8, 1.4, 1.1, 0.9, 0.7, 0.55, 0.45)
_LEISURE = (0.7, 0.6, 0.45, 0.35, 0.3, 0.3, 0.4, 0.6, 0.8, 1.0, 1.1, 1.2,
            1.3, 1.3, 1.3, 1.3, 1.3, 1.35, 1.35, 1.3, 1.2, 1.1, 1.0, 0.85)
_EVENING = (0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.6, 0.8, 0.9, 1.0, 1.0, 1.05,
            1.1, 1.1, 1.1, 1.15, 1.2, 1.3, 1.4, 1.4, 1.35, 1.25, 1.1, 1.0)
_NIGHT = (1.2, 1.1, 1.0, 0.8, 0.6, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
          1.0, 1.1, 1.1, 1.2, 1.3, 1.4, 1.4, 1.45, 1.45, 1.4, 1.35, 1.3)
# fmt: on

EVENT_MINUTES = 56.0
"""Joint events start in the first 56 minutes of an hour, so each record (a few minutes later)
falls in the same hour as the event and the truth per hour stays exact."""
RECORD_DELAY_MINUTES = (0.5, 4.0)
RECORD_METRES = 100.0


@dataclass(frozen=True)
class JointType:
    name: str
    events_per_day: float
    weekday_hours: tuple[float, ...]
    weekend_hours: tuple[float, ...]
    season_amplitude: float
    season_peak_day: int
    cell_mix: tuple[tuple[str, float], ...]
    responders: dict[str, float]
    """Agency id -> probability that the agency makes a record of the event."""


JOINT_TYPES: tuple[JointType, ...] = (
    JointType(
        "traffic_collision",
        25.0,
        _COMMUTE,
        _LEISURE,
        0.08,
        15,
        (("highway", 1.0), ("downtown", 0.4), ("flat", 0.15)),
        {"city_police": 1.0, "county_fire": 0.5, "ems": 0.8},
    ),
    JointType(
        "structure_fire",
        2.0,
        _EVENING,
        _EVENING,
        0.15,
        15,
        (("residential", 0.6), ("general", 0.4)),
        {"county_fire": 1.0, "ems": 0.5, "city_police": 0.6},
    ),
    JointType(
        "overdose",
        5.0,
        _NIGHT,
        _NIGHT,
        0.05,
        200,
        (("downtown", 1.0), ("bumps", 1.0), ("flat", 0.05)),
        {"ems": 1.0, "city_police": 0.4},
    ),
)


def joint_hourly(hours: pl.DataFrame) -> dict[str, np.ndarray]:
    """Expected joint events per hour over the whole jurisdiction, per joint type."""
    return {
        kind.name: kind.events_per_day
        / 24
        * temporal_factor(
            hours,
            kind.weekday_hours,
            kind.weekend_hours,
            season_amplitude=kind.season_amplitude,
            season_peak_day=kind.season_peak_day,
        )
        for kind in JOINT_TYPES
    }


def joint_cell_weights(world: World) -> dict[str, np.ndarray]:
    return {kind.name: world.mix(**dict(kind.cell_mix)) for kind in JOINT_TYPES}


def expected_joint_records(
    agency_id: str,
    geography: Geography,
    hourly: dict[str, np.ndarray],
    cell_weights: dict[str, np.ndarray],
) -> np.ndarray:
    """The agency's expected joint records per area (rows) and hour (columns)."""
    total = np.zeros((len(geography.area_ids), next(iter(hourly.values())).size))
    for kind in JOINT_TYPES:
        probability = kind.responders.get(agency_id, 0.0)
        if probability:
            share = geography.area_sum(cell_weights[kind.name])
            total += probability * np.outer(share, hourly[kind.name])
    return total


def sample_joint_events(
    world: World,
    hourly: dict[str, np.ndarray],
    bucket_micros: np.ndarray,
    cell_weights: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Joint events in the given hours: joint_event_id, incident_type, at (us), lon, lat, cell."""
    frames = []
    for kind in JOINT_TYPES:
        counts = rng.poisson(hourly[kind.name][: bucket_micros.size])
        hour_index = np.repeat(np.arange(bucket_micros.size), counts)
        at = bucket_micros[hour_index] + (
            rng.random(hour_index.size) * EVENT_MINUTES * MICROSECONDS_PER_MINUTE
        ).astype(np.int64)
        cells = rng.choice(world.cells, size=hour_index.size, p=cell_weights[kind.name])
        lon, lat = points_in_cells(world, cells, rng)
        frames.append(
            pl.DataFrame({"incident_type": kind.name, "at": at, "cell": cells, "lon": lon, "lat": lat})
        )
    events = pl.concat(frames).sort("at", "incident_type")
    return events.with_row_index("joint_event_id", offset=1).with_columns(
        pl.col("joint_event_id").cast(pl.Int64)
    )


def joint_records(
    events: pl.DataFrame, agency_id: str, geography: Geography, rng: np.random.Generator
) -> pl.DataFrame:
    """The agency's records of joint events: near the event in place and a few minutes later."""
    probability = (
        events["incident_type"]
        .replace_strict({k.name: k.responders.get(agency_id, 0.0) for k in JOINT_TYPES})
        .to_numpy()
    )
    taken = events.filter(pl.Series(rng.random(len(events)) < probability))
    delay = rng.uniform(*RECORD_DELAY_MINUTES, len(taken)) * MICROSECONDS_PER_MINUTE
    lon, lat = jitter(taken["lon"].to_numpy(), taken["lat"].to_numpy(), RECORD_METRES, rng)
    cells = taken["cell"].to_numpy()
    return pl.DataFrame(
        {
            "received": taken["at"].to_numpy() + delay.astype(np.int64),
            "area": geography.cell_area[cells].astype(np.int64),
            "lon": lon,
            "lat": lat,
            "incident_type": taken["incident_type"],
            "channel": pl.Series(["911"] * len(taken), dtype=pl.String),  # typed even when none is taken
            "joint_event_id": taken["joint_event_id"],
        }
    )
