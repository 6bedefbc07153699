"""What each record says: priority, timings, caller, id, in the common (typed, UTC) schema."""

from __future__ import annotations

import numpy as np
import polars as pl

from jointcast.simulator.agencies import AgencySpec
from jointcast.simulator.feeds import NEW_YORK, FeedSpec
from jointcast.simulator.timeline import MICROSECONDS_PER_MINUTE, wall_clock_ordered

CANCELLED_SHARE = 0.05
MICROSECONDS_PER_SECOND = 1_000_000

_FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Carlos", "Maria", "Wei", "Aisha", "Kevin", "Nicole", "Luis", "Tanya", "Andre", "Keisha",
    "Brian", "Megan",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Nguyen", "Hill", "Flores", "Green",
)  # fmt: skip

ID_STYLES = {
    "police": "police",
    "fire": "fire",
    "ems": "ems",
    "transit_police": "transit",
}
"""Agency kind -> how its feed numbers incidents."""


def _lognormal_minutes(median: np.ndarray, sigma: float, low: float, high: float, rng) -> np.ndarray:
    minutes = median * np.exp(sigma * rng.standard_normal(median.size))
    return (np.clip(minutes, low, high) * MICROSECONDS_PER_MINUTE).astype(np.int64)


def _priorities(spec: AgencySpec, feed: FeedSpec, type_index: np.ndarray, rng) -> np.ndarray:
    catalog = spec.catalog
    table = np.array([t.priorities for t in catalog], dtype=float)
    cumulative = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)[type_index]
    rank = (rng.random(type_index.size)[:, None] >= cumulative).sum(axis=1)
    return feed.priority_range[0] + np.minimum(rank, table.shape[1] - 1)


def _timings(
    spec: AgencySpec, records: pl.DataFrame, rank: np.ndarray, levels: int, end_micros: int, rng
) -> dict[str, np.ndarray]:
    """received, dispatched, on_scene, cleared in whole seconds (us); -1 where absent."""
    catalog = spec.catalog
    service_median = np.array([t.service_minutes for t in catalog])[records["type_index"].to_numpy()]
    officer = (records["channel"] == "officer").to_numpy()
    received = records["received"].to_numpy()
    dispatch = _lognormal_minutes(np.linspace(1.2, 6.0, levels)[rank], 0.45, 0.3, 45, rng)
    travel_median = spec.travel_minutes * np.where(rank == 0, 0.75, 1.0 + 0.1 * rank)
    travel = _lognormal_minutes(travel_median, 0.4, 1.0, 60, rng)
    service = _lognormal_minutes(service_median, 0.5, 3.0, 600, rng)
    cancelled = (rng.random(received.size) < CANCELLED_SHARE) & ~officer
    dispatched = np.where(officer, received, received + dispatch)
    on_scene = np.where(officer, received, dispatched + travel)
    cleared = np.where(
        cancelled,
        dispatched + (rng.uniform(1, 10, received.size) * MICROSECONDS_PER_MINUTE).astype(np.int64),
        on_scene + service,
    )
    on_scene = np.where(cancelled, -1, on_scene)
    second = MICROSECONDS_PER_SECOND
    # times are non-decreasing, and what had not happened by the end is still open in the export
    return {
        name: np.where((value < 0) | (value >= end_micros), -1, value // second * second)
        for name, value in (
            ("received_at", received),
            ("dispatched_at", dispatched),
            ("on_scene_at", on_scene),
            ("cleared_at", cleared),
        )
    }


def _pick(values: tuple[str, ...] | list[str], size: int, rng: np.random.Generator) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(rng.integers(len(values), size=size))


def _people(size: int, rng: np.random.Generator) -> tuple[pl.Series, pl.Series]:
    """Random caller / patient names and phone numbers."""
    first, last = _pick(_FIRST_NAMES, size, rng), _pick(_LAST_NAMES, size, rng)
    area_code = _pick(("215", "267", "610", "484"), size, rng)
    exchange = pl.Series(rng.integers(200, 1000, size=size)).cast(pl.String)
    line = pl.Series(rng.integers(0, 10_000, size=size)).cast(pl.String).str.zfill(4)
    return first + " " + last, area_code + "-" + exchange + "-" + line


def _with_ids(style: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Ids unique per agency, numbered in order received within each local year (or day)."""
    local = pl.col("received_at").dt.convert_time_zone(NEW_YORK)
    frame = frame.with_columns(year=local.dt.strftime("%y"), day=local.dt.strftime("%Y%m%d"))
    group = "day" if style == "ems" else "year"
    sequence = (pl.int_range(pl.len()).over(group) + 1).cast(pl.String)
    ids = {
        "police": pl.concat_str(pl.lit("CP"), "year", pl.lit("-"), sequence.str.zfill(7)),
        "fire": pl.concat_str("year", sequence.str.zfill(6)),
        "ems": pl.concat_str(pl.lit("PCR-"), "day", pl.lit("-"), sequence.str.zfill(4)),
        "transit": pl.concat_str(pl.lit("TP"), "year", sequence.str.zfill(6)),
    }[style]
    return frame.with_columns(source_incident_id=ids).drop("year", "day")


def completed_records(
    spec: AgencySpec,
    feed: FeedSpec,
    geography_area_ids: tuple[str, ...],
    records: pl.DataFrame,
    end_micros: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Records in the common schema, sorted by received time: source_incident_id, incident_type,
    channel, priority, received_at .. cleared_at (UTC), area_id, lat, lon, person_name, phone,
    counted, joint_event_id."""
    records = records.sort("received", "type_index", "area", maintain_order=True)
    type_index = records["type_index"].to_numpy()
    priority = _priorities(spec, feed, type_index, rng)
    levels = feed.priority_range[1] - feed.priority_range[0] + 1
    times = _timings(spec, records, priority - feed.priority_range[0], levels, end_micros, rng)
    names, phones = _people(len(records), rng)
    frame = pl.DataFrame(
        {
            "incident_type": records["incident_type"],
            "channel": records["channel"],
            "priority": priority.astype(np.int64),
            **{name: pl.Series(value, dtype=pl.Int64) for name, value in times.items()},
            "area_id": pl.Series(geography_area_ids, dtype=pl.String).gather(records["area"]),
            "lat": records["lat"].round(6),
            "lon": records["lon"].round(6),
            "names": names,
            "phones": phones,
            "named": rng.random(len(records)) < (0.95 if spec.kind == "ems" else 0.85),
            "joint_event_id": records["joint_event_id"],
        }
    )
    caller = pl.col("named")
    if spec.kind != "ems":
        caller = caller & pl.col("channel").is_in(["911", "phone", "other"])
    frame = frame.with_columns(
        *(
            pl.when(pl.col(name) >= 0)
            .then(pl.col(name).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
            .alias(name)
            for name in times
        ),
        person_name=pl.when(caller).then("names"),
        phone=pl.when(caller & (pl.col("channel") != "other")).then("phones"),
        counted=pl.col("channel") != "officer",
    ).drop("names", "phones", "named")
    if feed.local_wall_clock:
        frame = wall_clock_ordered(frame, feed.timezone)
    return _with_ids(ID_STYLES[spec.kind], frame)


def renumbered(spec: AgencySpec, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame``'s ids numbered afresh in its row order (records of several draws put together: the
    first draw's rows keep the ids they had alone)."""
    return _with_ids(ID_STYLES[spec.kind], frame.drop("source_incident_id"))
