"""Where and when incidents happen: Poisson counts per area and hour, placed in space and time."""

from __future__ import annotations

import numpy as np
import polars as pl

from jointcast.simulator.agencies import AgencySpec, IncidentType
from jointcast.simulator.timeline import MICROSECONDS_PER_HOUR
from jointcast.simulator.world import Geography, World, points_in_cells, sample_cells

RECORD_COLUMNS = (
    "received",
    "area",
    "lon",
    "lat",
    "incident_type",
    "type_index",
    "channel",
    "joint_event_id",
)
NIGHT_HOURS = frozenset({*range(19, 24), *range(0, 7)})


def _occurrences(
    rates: np.ndarray, bucket_micros: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson counts per area x hour, expanded to (area, hour index, received us) per incident."""
    hour_count = bucket_micros.size
    counts = rng.poisson(rates[:, :hour_count]).ravel()
    flat = np.repeat(np.arange(counts.size), counts)
    area, hour = np.divmod(flat, hour_count)
    received = bucket_micros[hour] + (rng.random(flat.size) * MICROSECONDS_PER_HOUR).astype(np.int64)
    return area, hour, received


def _choose_types(types: tuple[IncidentType, ...], night: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index of each record's type: day or night mix by the local hour."""
    day = np.array([t.day_share for t in types])
    dark = np.array([t.night_share for t in types])
    cumulative = np.where(
        night[:, None], np.cumsum(dark / dark.sum())[None, :], np.cumsum(day / day.sum())[None, :]
    )
    picked = (rng.random(night.size)[:, None] >= cumulative).sum(axis=1)
    return np.minimum(picked, len(types) - 1)


CHANNELS = ("911", "phone", "officer", "alarm", "other")


def _channels(spec: AgencySpec, alarm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index into CHANNELS of how each call came in: alarm types by alarm, else other, phone
    or 911."""
    code = {name: index for index, name in enumerate(CHANNELS)}
    draw = rng.random(alarm.size)
    phone_cut = spec.other_share + (1 - spec.other_share) * spec.phone_share
    channel = np.where(draw < phone_cut, code["phone"], code["911"])
    channel = np.where(draw < spec.other_share, code["other"], channel)
    return np.where(alarm, code["alarm"], channel)


def _placed(
    world: World,
    geography: Geography,
    area: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    cells = sample_cells(geography, area, geography.cell_weight, rng)
    return points_in_cells(world, cells, rng)


def sampled_records(
    spec: AgencySpec,
    world: World,
    geography: Geography,
    rates: np.ndarray,
    bucket_micros: np.ndarray,
    local_hour: np.ndarray,
    rng: np.random.Generator,
    *,
    officer: bool = False,
) -> pl.DataFrame:
    """Counted calls (or, with ``officer``, officer-initiated work) drawn from hourly rates:
    received (us), area, lon, lat, incident_type, type_index, channel, joint_event_id (null)."""
    types = spec.officer_types if officer else spec.types
    area, hour, received = _occurrences(rates, bucket_micros, rng)
    lon, lat = _placed(world, geography, area, rng)
    night = np.isin(local_hour[hour], list(NIGHT_HOURS))
    type_index = _choose_types(types, night, rng)
    if officer:
        channel = np.full(area.size, CHANNELS.index("officer"))
        type_index = type_index + len(spec.types) + len(spec.joint_types)
    else:
        alarm = np.array([t.alarm for t in types])[type_index]
        channel = _channels(spec, alarm, rng)
    catalog = spec.catalog
    return pl.DataFrame(
        {
            "received": received,
            "area": area.astype(np.int64),
            "lon": lon,
            "lat": lat,
            "incident_type": pl.Series([t.name for t in catalog]).gather(type_index),
            "type_index": type_index.astype(np.int64),
            "channel": pl.Series(CHANNELS, dtype=pl.String).gather(channel),
        }
    ).with_columns(joint_event_id=pl.lit(None, dtype=pl.Int64))


def with_joint_index(spec: AgencySpec, joint: pl.DataFrame) -> pl.DataFrame:
    """Joint records with the catalog index of their type, in the same columns as sampled ones."""
    index = {t.name: len(spec.types) + i for i, t in enumerate(spec.joint_types)}
    if index:
        type_index = pl.col("incident_type").replace_strict(index, return_dtype=pl.Int64)
    else:  # no joint type, no joint record (polars would type an empty mapping's column as text)
        type_index = pl.lit(None, dtype=pl.Int64)
    return joint.with_columns(type_index=type_index).select(RECORD_COLUMNS)
