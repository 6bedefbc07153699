"""Surges a joint exercise rehearses: a large event, a storm day, a mass-casualty incident.

A surge happens in the hours after the simulated window (the days ``simulate(advance=...)`` delivers),
in a place (cells within a radius of a point, the cells of named areas, or the whole jurisdiction), and
adds demand by the simulator's own mechanisms, so its truth is exact:

- ``attendance``: a large event's uplift, ``jointcast.simulator.events.event_uplift`` (each agency's
  incidents per 10,000 attendees). A *planned* surge is also a row of the events file the pipeline
  reads (``planned_rows``), as a parade or a game is known in advance; an unplanned one is not.
- ``factor``: the agencies' own demand times the factor in the place and hours (a storm).
- ``incidents``: a count of extra incidents per agency, spread over the place and hours.
- ``joint_events``: a count of joint events per joint type (``jointcast.simulator.joint``), placed in
  the surge's place and hours; each agency records them with its usual responder probability.

``surge_rates`` gives what each surge adds to an agency's true rates; the simulator adds it to the
rates it samples from and writes it beside them (``truth/surges.parquet``: rates with and without).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.area_ids import named_area
from jointcast.simulator import events as planned
from jointcast.simulator.feeds import NEW_YORK
from jointcast.simulator.joint import EVENT_MINUTES, JOINT_TYPES
from jointcast.simulator.rates import AgencyRates
from jointcast.simulator.timeline import MICROSECONDS_PER_HOUR, MICROSECONDS_PER_MINUTE
from jointcast.simulator.world import Geography, World, points_in_cells

SURGE_KINDS = ("large_event", "storm", "mass_casualty")
SURGE_TRUTH_FILE = "surges.parquet"


@dataclass(frozen=True)
class Surge:
    """One described surge; times are local wall-clock times of the simulated agencies' zone."""

    surge_id: str
    name: str
    kind: str
    planned: bool
    start_local: datetime
    hours: float
    point: tuple[float, float] | None = None
    """(lat, lon) of its centre, with ``radius_m``."""
    radius_m: float | None = None
    areas: tuple[str, ...] = ()
    """``agency_id:area_id`` of the areas it covers (instead of a point)."""
    factor: float = 1.0
    incidents: Mapping[str, int] = field(default_factory=dict)
    attendance: int = 0
    joint_events: Mapping[str, int] = field(default_factory=dict)

    @property
    def end_local(self) -> datetime:
        return self.start_local + timedelta(hours=self.hours)

    def event_frame(self) -> pl.DataFrame:
        """The surge as a row of the events file (the simulator's planned-events columns)."""
        lat, lon = self.point if self.point is not None else (None, None)
        return pl.DataFrame(
            {
                "event_id": [f"EX-{self.surge_id}"],
                "name": [self.name],
                "start_local": [self.start_local],
                "end_local": [self.end_local],
                "lat": [lat],
                "lon": [lon],
                "radius_m": [int(self.radius_m or 0)],
                "expected_attendance": [self.attendance],
            },
            schema_overrides={"lat": pl.Float64, "lon": pl.Float64, "start_local": pl.Datetime("us")},
        ).with_columns(pl.col("end_local").cast(pl.Datetime("us")))


@dataclass(frozen=True)
class PlacedSurge:
    """A surge with the cells it covers (None: every cell) and its sampled joint events."""

    surge: Surge
    cells: np.ndarray | None
    joint_events: pl.DataFrame | None = None


def check_surges(surges: Sequence[Surge], first_local: datetime, last_local: datetime) -> None:
    """Each surge inside the delivered hours after the window, with something to add; else ValueError."""
    known = {kind.name for kind in JOINT_TYPES}
    for surge in surges:
        where = f"surge '{surge.surge_id}'"
        if surge.kind not in SURGE_KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(SURGE_KINDS)}, got '{surge.kind}'")
        if not (first_local <= surge.start_local and surge.end_local <= last_local):
            raise ValueError(
                f"{where}: {surge.start_local:%Y-%m-%d %H:%M} to {surge.end_local:%Y-%m-%d %H:%M} must lie "
                f"in the days after the history, {first_local:%Y-%m-%d %H:%M} to {last_local:%Y-%m-%d %H:%M}"
            )  # fmt: skip
        unknown = sorted(set(surge.joint_events) - known)
        if unknown:
            raise ValueError(
                f"{where}: unknown joint type {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        if surge.planned and (surge.point is None or not surge.attendance):
            raise ValueError(f"{where}: a planned event needs a point, a radius and its attendance")
        adds = surge.factor != 1.0 or surge.attendance or any(surge.incidents.values())
        if not adds and not any(surge.joint_events.values()):
            raise ValueError(f"{where}: adds nothing (set factor, incidents, attendance or joint_events)")


def planned_rows(surges: Sequence[Surge]) -> pl.DataFrame | None:
    """The planned surges as rows of the events file, or None when there are none."""
    rows = [surge.event_frame() for surge in surges if surge.planned]
    return pl.concat(rows) if rows else None


def placed_cells(surge: Surge, world: World, geographies: Mapping[str, Geography]) -> np.ndarray | None:
    """The cells a surge covers: within its radius, of its areas, or every cell (None)."""
    if surge.point is not None:
        return planned.event_cells(world, surge.event_frame())[0]
    if not surge.areas:
        return None
    chosen = []
    for name in surge.areas:
        agency_id, _, area_id = name.partition(":")
        geography = geographies.get(agency_id)
        area_id = named_area(area_id, geography.area_ids) if geography is not None else None  # up to case
        if area_id is None:
            raise ValueError(f"surge '{surge.surge_id}': unknown area {name} (write it agency_id:area_id)")
        chosen.append(np.flatnonzero(geography.cell_area == geography.area_ids.index(area_id)))
    return np.unique(np.concatenate(chosen))


def utc_span(surge: Surge) -> tuple[int, int]:
    """The surge's start and end, UTC microseconds (its local start read as the events file's are)."""
    local = pl.Series([surge.start_local], dtype=pl.Datetime("us"))
    utc = local.dt.replace_time_zone(NEW_YORK, ambiguous="earliest", non_existent="null")
    start = utc.dt.convert_time_zone("UTC").dt.epoch("us")[0]
    if start is None:
        raise ValueError(
            f"surge '{surge.surge_id}': {surge.start_local} does not exist in {NEW_YORK} (a DST gap)"
        )
    return int(start), int(start + surge.hours * MICROSECONDS_PER_HOUR)


def hour_overlap(surge: Surge, bucket_micros: np.ndarray) -> np.ndarray:
    """Share of each hourly bucket that lies inside the surge's hours."""
    start, stop = utc_span(surge)
    covered = np.minimum(bucket_micros + MICROSECONDS_PER_HOUR, stop) - np.maximum(bucket_micros, start)
    return np.clip(covered, 0, None) / MICROSECONDS_PER_HOUR


def _cell_mask(world: World, cells: np.ndarray | None) -> np.ndarray:
    mask = np.zeros(world.cells)
    mask[slice(None) if cells is None else cells] = 1.0
    return mask


def _spread(geography: Geography, weight: np.ndarray) -> np.ndarray:
    """Per area, its share of a cell weight (all areas alike when the weight is nowhere)."""
    per_area = geography.area_sum(weight)
    total = per_area.sum()
    return per_area / total if total > 0 else np.full(per_area.size, 1 / per_area.size)


def sample_joint_events(
    placed: PlacedSurge, world: World, joint_cells: Mapping[str, np.ndarray], bucket_micros: np.ndarray,
    first_id: int, rng: np.random.Generator,
) -> pl.DataFrame:  # fmt: skip
    """The surge's joint events (exact counts) in its place and hours, in the columns of
    ``joint.sample_joint_events``, ids from ``first_id``."""
    surge, frames = placed.surge, []
    overlap = hour_overlap(surge, bucket_micros)
    mask = _cell_mask(world, placed.cells)
    for kind, count in sorted(surge.joint_events.items()):
        if count <= 0:
            continue
        hours = rng.choice(bucket_micros.size, size=count, p=overlap / overlap.sum())
        at = bucket_micros[hours] + (rng.random(count) * EVENT_MINUTES * MICROSECONDS_PER_MINUTE).astype(
            np.int64
        )
        weight = joint_cells[kind] * mask
        weight = weight / weight.sum() if weight.sum() > 0 else mask / mask.sum()
        cells = rng.choice(world.cells, size=count, p=weight)
        lon, lat = points_in_cells(world, cells, rng)
        frames.append(pl.DataFrame({"incident_type": kind, "at": at, "cell": cells, "lon": lon, "lat": lat}))
    if not frames:
        return pl.DataFrame(schema={"joint_event_id": pl.Int64, "incident_type": pl.String, "at": pl.Int64,
                                    "cell": pl.Int64, "lon": pl.Float64, "lat": pl.Float64})  # fmt: skip
    joined = pl.concat(frames).sort("at", "incident_type").with_columns(pl.col("cell").cast(pl.Int64))
    return joined.with_row_index("joint_event_id", offset=first_id).with_columns(
        pl.col("joint_event_id").cast(pl.Int64)
    )


def surge_rates(
    placed: PlacedSurge, agency_id: str, event_uplift: float, world: World, geography: Geography,
    joint_cells: Mapping[str, np.ndarray], bucket_micros: np.ndarray, rates: AgencyRates,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """What the surge adds to one agency's expected incidents per area (rows) and hour (columns):
    (independent calls to add to its rates, joint-event records to add, the planned event's uplift,
    which the simulator's planned-events path already puts in its rates)."""
    surge = placed.surge
    overlap = hour_overlap(surge, bucket_micros)
    mask = _cell_mask(world, placed.cells)
    areas = len(geography.area_ids)
    added = np.zeros((areas, bucket_micros.size))
    if surge.factor != 1.0:
        inside = geography.area_sum(geography.cell_weight * mask) / np.maximum(geography.area_weight, 1e-12)
        added += (surge.factor - 1.0) * rates.independent * np.outer(inside, overlap)
    count = surge.incidents.get(agency_id, 0)
    if count:
        added += count * np.outer(
            _spread(geography, geography.cell_weight * mask + 1e-12 * mask), overlap / overlap.sum()
        )
    uplift = np.zeros_like(added)
    if surge.attendance and placed.cells is not None:
        frame = surge.event_frame()
        uplift = planned.event_uplift(frame, [placed.cells], geography, bucket_micros, event_uplift)
        if not surge.planned:
            added += uplift
            uplift = np.zeros_like(added)
    joint = np.zeros_like(added)
    for kind in JOINT_TYPES:
        count = surge.joint_events.get(kind.name, 0)
        probability = kind.responders.get(agency_id, 0.0)
        if count and probability:
            share = _spread(geography, joint_cells[kind.name] * mask)
            joint += count * probability * np.outer(share, overlap / overlap.sum())
    return added, joint, uplift


def surge_truth(
    surge_id: str, agency_id: str, geography: Geography, hours: pl.DataFrame, rate: np.ndarray,
    surge: np.ndarray,
) -> pl.DataFrame:  # fmt: skip
    """The area-hours a surge touches: agency_id, area_id, bucket_start, surge_id, rate (with every
    surge), baseline (without this one)."""
    area, hour = np.nonzero(surge > 1e-12)
    return pl.DataFrame(
        {
            "surge_id": pl.Series([surge_id] * area.size, dtype=pl.String),
            "agency_id": pl.Series([agency_id] * area.size, dtype=pl.String),
            "area_id": pl.Series(geography.area_ids, dtype=pl.String).gather(area),
            "bucket_start": hours["bucket_start"].gather(hour),
            "rate": rate[area, hour].astype(np.float64),
            "baseline": (rate - surge)[area, hour].astype(np.float64),
        }
    )
