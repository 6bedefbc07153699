"""Injected data defects: each defective row has exactly one defect, and the counts are exact."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from jointcast.simulator.feeds import TIMESTAMP_FIELDS, FeedSpec
from jointcast.simulator.timeline import (
    MICROSECONDS_PER_MINUTE,
    near_clock_change,
    wall_clock_ordered,
)

DEFECT_KINDS = (
    "duplicate_row",
    "missing_timestamp",
    "unparseable_timestamp",
    "future_timestamp",
    "unknown_type_code",
    "out_of_jurisdiction",
    "negative_duration",
    "blank_id",
)
FUTURE_DAYS = (30, 400)
MICROSECONDS_PER_DAY = 86_400_000_000


def applicable_kinds(feed: FeedSpec) -> tuple[str, ...]:
    """Typed (parquet) timestamps cannot hold an unparseable string."""
    if feed.unparseable_values:
        return DEFECT_KINDS
    return tuple(kind for kind in DEFECT_KINDS if kind != "unparseable_timestamp")


def _split(total: int, kinds: tuple[str, ...], rng: np.random.Generator) -> dict[str, int]:
    """``total`` spread as evenly as possible over ``kinds``, the remainder to random kinds."""
    counts = np.full(len(kinds), total // len(kinds))
    counts[rng.choice(len(kinds), size=total % len(kinds), replace=False)] += 1
    return dict(zip(kinds, counts.tolist(), strict=True))


def _assign(
    feed: FeedSpec, rows: pl.DataFrame, counts: dict[str, int], rng: np.random.Generator
) -> np.ndarray:
    """Kind index per row (-1 = clean): distinct rows, never a re-sent one; negative durations
    only where dispatched and cleared are both present and, on a local wall clock, not near a
    DST change (where the fall-back hour could hide the inversion)."""
    eligible = ~rows["resent"].to_numpy()
    timed = (
        rows.select(
            pl.col("dispatched_at").is_not_null()
            & pl.col("cleared_at").is_not_null()
            & ~near_clock_change(pl.col("dispatched_at"), feed.timezone).fill_null(False)
        )
        .to_series()
        .to_numpy()
    )
    kind = np.full(len(rows), -1)
    negative = DEFECT_KINDS.index("negative_duration")
    candidates = np.flatnonzero(eligible & timed)
    wanted = min(counts.get("negative_duration", 0), candidates.size)
    kind[rng.choice(candidates, size=wanted, replace=False)] = negative
    others = [(DEFECT_KINDS.index(k), n) for k, n in counts.items() if k != "negative_duration"]
    candidates = np.flatnonzero(eligible & (kind < 0))
    wanted = min(sum(n for _, n in others), candidates.size)
    picked = rng.choice(candidates, size=wanted, replace=False)
    labels = np.repeat([k for k, _ in others], [n for _, n in others])[: picked.size]
    kind[picked] = labels
    return kind


def _recount(kind: np.ndarray, kinds: tuple[str, ...]) -> dict[str, int]:
    found = np.bincount(kind[kind >= 0], minlength=len(DEFECT_KINDS))
    return {name: int(found[i]) if name in kinds else 0 for i, name in enumerate(DEFECT_KINDS)}


def _choice(values: tuple[str, ...], size: int, rng: np.random.Generator) -> pl.Series:
    values = values or ("",)
    return pl.Series(values, dtype=pl.String).gather(rng.integers(len(values), size=size))


def _seconds(micros: np.ndarray) -> pl.Series:
    return pl.Series(micros // 1_000_000 * 1_000_000).cast(pl.Duration("us"))


def _is(kind: str) -> pl.Expr:
    return pl.col("_kind") == kind


def with_defects(
    feed: FeedSpec, rows: pl.DataFrame, rate: float, end: datetime, rng: np.random.Generator
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Rows (in file order) with about ``rate`` x rows defective, and the exact count per kind.

    Adds ``received_text`` (a raw value written instead of the received timestamp) and
    ``received_absent`` (the key is left out of a JSON line); a duplicate follows its original
    at a random later place in the same file."""
    size = len(rows)
    kinds = applicable_kinds(feed)
    counts = _split(round(rate * size), kinds, rng) if rate > 0 else dict.fromkeys(kinds, 0)
    kind = _assign(feed, rows, counts, rng)
    end_micros = int(end.timestamp() * 1_000_000)
    received = rows["received_at"].dt.epoch("us").to_numpy()
    future = end_micros + (rng.uniform(*FUTURE_DAYS, size) * MICROSECONDS_PER_DAY).astype(np.int64)
    blanks = ("",) if feed.format == "jsonl" else ("", " ", "  ")
    marked = rows.with_columns(
        _kind=pl.Series([*DEFECT_KINDS, ""]).gather(np.where(kind < 0, len(DEFECT_KINDS), kind)),
        _shift=_seconds(future - received),
        _back=_seconds((rng.uniform(1, 30, size) * MICROSECONDS_PER_MINUTE).astype(np.int64)),
        _swap=pl.Series(rng.random(size) < 0.5),
        _absent=pl.Series(rng.random(size) < 0.5),
        _unknown=_choice(feed.unknown_codes, size, rng),
        _unparseable=_choice(feed.unparseable_values, size, rng),
        _blank=_choice(blanks, size, rng),
        _position=pl.Series(np.arange(size, dtype=np.float64)),
        _later=pl.Series(rng.random(size)),
    ).with_columns(_last=pl.col("_position").max().over("file_month"))
    future = marked.filter(_is("future_timestamp")).with_columns(
        pl.col(t) + pl.col("_shift") for t in TIMESTAMP_FIELDS
    )
    if feed.local_wall_clock:
        future = wall_clock_ordered(future, feed.timezone)
    shifted = pl.concat([marked.filter(~_is("future_timestamp")), future]).sort("_position")
    outside = _is("out_of_jurisdiction")
    defective = shifted.with_columns(
        received_at=pl.when(_is("missing_timestamp") | _is("unparseable_timestamp"))
        .then(None)
        .otherwise("received_at"),
        received_text=pl.when(_is("unparseable_timestamp")).then("_unparseable"),
        received_absent=_is("missing_timestamp") & pl.col("_absent") & (feed.format == "jsonl"),
        source_type=pl.when(_is("unknown_type_code")).then("_unknown").otherwise("source_type"),
        # swapped, or ten degrees north (another state): a point, but outside the agency's bbox
        lat=pl.when(outside & pl.col("_swap"))
        .then("lon")
        .when(outside)
        .then(pl.col("lat") + 10.0)
        .otherwise("lat"),
        lon=pl.when(outside & pl.col("_swap")).then("lat").otherwise("lon"),
        cleared_at=pl.when(_is("negative_duration"))
        .then(pl.col("dispatched_at") - pl.col("_back"))
        .otherwise("cleared_at"),
        source_incident_id=pl.when(_is("blank_id")).then("_blank").otherwise("source_incident_id"),
    )
    duplicates = defective.filter(_is("duplicate_row")).with_columns(
        _position=pl.col("_position") + 0.5 + pl.col("_later") * (pl.col("_last") - pl.col("_position"))
    )
    result = pl.concat([defective, duplicates]).sort("_position", maintain_order=True)
    private = [c for c in result.columns if c.startswith("_")]
    return result.drop(private), _recount(kind, kinds)
