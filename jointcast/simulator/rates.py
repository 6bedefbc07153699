"""True expected demand per agency x area x hour, and the truth table that records it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import numpy as np
import polars as pl

from jointcast.simulator.agencies import AgencySpec
from jointcast.simulator.outages import parse_dated
from jointcast.simulator.timeline import holiday_factor, temporal_factor
from jointcast.simulator.world import Geography


@dataclass(frozen=True)
class AgencyRates:
    """Expected incidents per area (rows) and hour (columns) by the process that makes them."""

    independent: np.ndarray
    """Counted calls that are not joint events, planned-event uplift included."""
    joint: np.ndarray
    officer: np.ndarray
    """Officer-initiated work: generated but not counted as demand."""

    @property
    def counted(self) -> np.ndarray:
        return self.independent + self.joint


def agency_rates(
    spec: AgencySpec,
    geography: Geography,
    hours: pl.DataFrame,
    joint: np.ndarray,
    uplift: np.ndarray,
) -> AgencyRates:
    """Base level x area weight x local-time profile x holiday effect, plus events and joint
    events. The base level is set so counted calls per day average ``spec.calls_per_day``."""
    days = len(hours) / 24
    joint_per_day = joint.sum() / days
    base_per_hour = max(spec.calls_per_day - joint_per_day, 0.0) / 24
    factor = temporal_factor(
        hours,
        spec.weekday_hours,
        spec.weekend_hours,
        spec.day_of_week,
        spec.season_amplitude,
        spec.season_peak_day,
    ) * holiday_factor(hours, spec.kind)
    independent = base_per_hour * np.outer(geography.area_weight, factor) + uplift
    officer_factor = temporal_factor(hours, spec.officer_hours, spec.officer_hours)
    officer = spec.officer_per_day / 24 * np.outer(geography.area_weight, officer_factor)
    return AgencyRates(independent, joint, officer)


def truth_frame(
    agency_id: str, geography: Geography, hours: pl.DataFrame, counted: np.ndarray
) -> pl.DataFrame:
    """Long truth table: agency_id, area_id, bucket_start (UTC), rate; every area x hour."""
    area_count, hour_count = counted.shape
    return pl.DataFrame(
        {
            "agency_id": pl.Series([agency_id] * (area_count * hour_count), dtype=pl.String),
            "area_id": pl.Series(geography.area_ids, dtype=pl.String).gather(
                np.repeat(np.arange(area_count), hour_count)
            ),
            "bucket_start": pl.concat([hours["bucket_start"]] * area_count),
            "rate": counted.reshape(-1).astype(np.float64),
        }
    )


YEAR_HOURS = 365.25 * 24


def drift_factor(hours: pl.DataFrame, end_micros: int, volume: float = 1.0, trend: float = 0.0) -> np.ndarray:
    """Per hour, the multiplier of an agency's rates: ``volume`` x (1 + ``trend``) ^ years from ``end``.

    The trend compounds smoothly (hour by hour) and is anchored at the end of the window, so the
    agency's level at the forecast origin is ``volume`` times its usual one whatever the trend:
    with ``trend = -0.15`` the level a year earlier was 1 / 0.85 of it.
    """
    micros = hours["bucket_start"].dt.epoch("us").to_numpy()
    years = (micros - end_micros) / (YEAR_HOURS * 3_600_000_000)
    return volume * (1.0 + trend) ** years


def step_factor(hours: pl.DataFrame, steps: Sequence[tuple[date, float]]) -> np.ndarray:
    """Per hour, the product of the ``steps`` (first UTC day, factor) in force: 1 before a step's day,
    its factor from that day's midnight UTC on."""
    micros = hours["bucket_start"].dt.epoch("us").to_numpy()
    factor = np.ones(micros.size)
    for day, size in steps:
        since = int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1_000_000)
        factor = np.where(micros >= since, factor * size, factor)
    return factor


def parse_step(text: str) -> tuple[str, date, float]:
    """``AGENCY:YYYY-MM-DD:FACTOR`` (the CLI's ``--step``) as (agency id, first day, factor)."""
    return parse_dated("step", text, float, "AGENCY:YYYY-MM-DD:FACTOR", "ems:2024-06-03:1.4")


def drifted(rates: AgencyRates, factor: np.ndarray) -> AgencyRates:
    """``rates`` scaled hour by hour by ``factor``; joint-event records only thinned (factor capped
    at 1), since an agency cannot attend more of the shared joint events than happen."""
    joint = rates.joint * np.minimum(factor, 1.0)
    return AgencyRates(rates.independent * factor, joint, rates.officer * factor)


def parse_agency_factor(option: str, text: str) -> tuple[str, float]:
    """``AGENCY:NUMBER`` (the CLI's ``--volume`` and ``--trend``) as (agency id, number)."""
    try:
        agency_id, number = text.split(":")
        return agency_id, float(number)
    except ValueError:
        raise ValueError(f"--{option} '{text}': expected AGENCY:NUMBER, e.g. city_police:0.1") from None
