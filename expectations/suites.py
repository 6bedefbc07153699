"""Expectation suites per feed, derived from the config, plus hand-written additions.

A feed's suite guards one batch, seen as a frame with one row per source row: the mapped
source columns as received, and the typed common fields the staging step derived from
them. Every row-level expectation carries, in its ``meta``, the quarantine reason a
failing row gets; batch-level expectations (columns present, too few rows) carry
``"level": "batch"``, and the ones that only flag a file (too many rows, stale) ``"level": "warning"``.

Hand-written additions live beside this module as ``<feed_id>.json`` (or in the
workspace's ``expectations/`` folder): a JSON list of ``{"type": ..., "kwargs": ...,
"meta": {"reason": ...}}`` objects in Great Expectations' own format.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from jointcast.config import AgencySettings, FeedSettings
from warehouse.mapping import EARLIEST, OTHER_CODES

FUTURE_SLACK = timedelta(hours=1)
SUITE_SUFFIX = "suite"
SUITE_NOTES = [
    "Row-level expectations (meta `level: row`) quarantine the rows that fail them, with "
    "`meta.reason` as the reason; the rest of the batch loads. Batch-level ones (`level: batch`) "
    "reject the whole file. Warnings (`level: warning`: a file far larger than usual, stale data) "
    "only flag it.",
    "A validation result's status is the batch's: *Succeeded* means the batch was loaded "
    "(its outcome line says how many rows were quarantined); *Failed* means it was rejected.",
]


@dataclass(frozen=True)
class BatchBounds:
    """What a batch is checked against besides the config: its expected size and age.

    ``expected_rows``: what a file over the same hours usually holds; ``min_rows`` fewer rejects
    the file, more than ``max_rows`` flags it (a surge is demand, never a reason to refuse it).
    """

    now: datetime
    min_rows: int | None = None
    max_rows: int | None = None
    fresh_after: datetime | None = None
    expected_rows: float | None = None
    earlier_rows: int = 0
    """The batch's rows of hours the feed's earlier files delivered (re-sent or updated records): the
    row-count bounds hold them besides the band around ``expected_rows`` for the hours after."""


IMPROBABLE_COUNT = 1e-6
"""A file's row count this improbable under a Poisson count at its usual level is not chance."""


def row_count_bounds(expected: float, band: float) -> tuple[int, int]:
    """(fewest, most) rows for a file that usually holds ``expected``: fewer than ``fewest`` is both
    more than ``band`` below it and improbable (P < ``IMPROBABLE_COUNT``) under Poisson(expected), so
    a quiet hour of a small feed is never refused while a big feed's half-empty file is; more than
    ``most`` is as far above, and improbable, the other way."""
    from scipy.stats import poisson

    below = poisson.ppf(IMPROBABLE_COUNT, expected)  # P(X < below) < IMPROBABLE_COUNT
    above = poisson.isf(IMPROBABLE_COUNT, expected)  # P(X > above) <= IMPROBABLE_COUNT
    fewest = min(int(below), math.ceil(expected * (1 - band)))
    most = max(int(above), math.floor(expected * (1 + band)))
    return fewest, most


def suite_name(feed: FeedSettings) -> str:
    return f"{feed.id}_{SUITE_SUFFIX}"


def _row(expectation, reason: str):
    expectation.meta = {"reason": reason, "level": "row"}
    expectation.notes = [f"A row failing this is quarantined as `{reason}`; the rest of the batch loads."]
    return expectation


def _batch(expectation, check: str):
    expectation.meta = {"reason": f"batch_rejected: {check}", "level": "batch", "check": check}
    expectation.notes = ["Failing this rejects the whole file: nothing of it loads."]
    return expectation


def batch_expectations(feed: FeedSettings, bounds: BatchBounds) -> list:
    """Columns present, row count within the band, newest record fresh enough."""
    found = [
        _batch(gxe.ExpectColumnToExist(column=column), f"mapped column '{column}' ({key}) present")
        for key, column in _mapped_source_columns(feed).items()
    ]
    usual = "no history" if bounds.expected_rows is None else f"about {bounds.expected_rows:,.0f} usual"
    if bounds.earlier_rows:
        usual += (f" for its hours after the feed's earlier files, plus its {bounds.earlier_rows:,} rows"
                  " of hours they delivered")  # fmt: skip
    else:
        usual += " for the hours it covers"
    if bounds.min_rows:
        found.append(
            _batch(
                gxe.ExpectTableRowCountToBeBetween(min_value=bounds.min_rows),
                f"row count at least {bounds.min_rows:,} ({usual})",
            )
        )
    if bounds.max_rows is not None:
        surge = f"row count above {bounds.max_rows:,} ({usual})"
        found.append(
            _warning(
                gxe.ExpectTableRowCountToBeBetween(max_value=bounds.max_rows),
                "surge", surge, "a surge (or a re-sent span) still loads",
            )
        )  # fmt: skip
    if bounds.fresh_after is not None:
        stale = f"stale: no record after {bounds.fresh_after:%Y-%m-%d %H:%M} UTC (max_lag_hours before now)"
        newest = gxe.ExpectColumnMaxToBeBetween(
            column="received_at", min_value=bounds.fresh_after, strict_min=False
        )
        found.append(_warning(newest, "stale", stale, "stale data still loads", observed="the newest"))
    return found


def _warning(expectation, reason: str, check: str, why: str, observed: str | None = None):
    """A batch-level expectation that flags the file but never stops it loading; with ``observed``, its
    warning ends with the value the check found, so named (``...; the newest: 2020-11-01 08:00 UTC``)."""
    expectation.meta = {"reason": reason, "level": "warning", "check": check}
    if observed is not None:
        expectation.meta["observed"] = observed
    expectation.notes = [f"A warning only: {why}, flagged."]
    return expectation


IN_JURISDICTION = "in_jurisdiction"
"""A shared feed's derived column: the row's point inside its own agency's bbox (null: no point)."""


def in_jurisdiction(frame: pd.DataFrame, agencies: Sequence[AgencySettings]) -> pd.Series:
    """For a feed shared by several agencies: is each row's point inside its agency's bbox?

    Null where the row has no point or its agency has no bbox (nothing to check).
    """
    result = pd.Series(pd.NA, index=frame.index, dtype="boolean")
    if "agency_id" not in frame or "lat" not in frame or "lon" not in frame:
        return result
    for agency in agencies:
        if agency.bbox is None:
            continue
        min_lon, min_lat, max_lon, max_lat = agency.bbox
        mine = (frame["agency_id"] == agency.id) & frame["lat"].notna() & frame["lon"].notna()
        inside = frame["lat"].between(min_lat, max_lat) & frame["lon"].between(min_lon, max_lon)
        result[mine] = inside[mine]
    return result


def row_expectations(
    feed: FeedSettings, agency: AgencySettings | Sequence[AgencySettings], bounds: BatchBounds
) -> list:
    """One expectation per row-level rule; the reason is what a failing row is quarantined for."""
    found = [
        _row(gxe.ExpectColumnValuesToNotBeNull(column="source_incident_id"), "blank_id"),
        _row(gxe.ExpectColumnValuesToBeUnique(column="incident_key"), "duplicate_id"),
        _row(gxe.ExpectColumnValuesToNotBeNull(column="received_at_text"), "missing_timestamp"),
        _row(gxe.ExpectColumnValuesToBeInSet(column="received_at_parsed", value_set=[True]),
             "unparseable_timestamp"),
        _row(gxe.ExpectColumnValuesToBeBetween(column="received_at", min_value=EARLIEST),
             "timestamp_before_2000"),
        _row(gxe.ExpectColumnValuesToBeBetween(column="received_at", max_value=bounds.now + FUTURE_SLACK),
             "future_timestamp"),
        _row(gxe.ExpectColumnValuesToBeBetween(
            column="priority", min_value=feed.priority_range[0], max_value=feed.priority_range[1]),
            "priority_out_of_range"),
    ]  # fmt: skip
    if feed.type_codes and OTHER_CODES not in feed.type_codes:  # "*": every other code has a type
        found.append(
            _row(gxe.ExpectColumnValuesToBeInSet(column="code", value_set=sorted(feed.type_codes)),
                 "unknown_type_code")
        )  # fmt: skip
    if isinstance(agency, tuple | list):  # a shared feed: each row against its own agency's bbox
        if any(a.bbox is not None for a in agency):
            found.append(
                _row(gxe.ExpectColumnValuesToBeInSet(column=IN_JURISDICTION, value_set=[True]),
                     "out_of_jurisdiction")
            )  # fmt: skip
    elif agency.bbox is not None:
        min_lon, min_lat, max_lon, max_lat = agency.bbox
        found += [
            _row(gxe.ExpectColumnValuesToBeBetween(column="lat", min_value=min_lat, max_value=max_lat),
                 "out_of_jurisdiction"),
            _row(gxe.ExpectColumnValuesToBeBetween(column="lon", min_value=min_lon, max_value=max_lon),
                 "out_of_jurisdiction"),
        ]  # fmt: skip
    for earlier, later in (("dispatched_at", "on_scene_at"), ("on_scene_at", "cleared_at"),
                           ("dispatched_at", "cleared_at")):  # fmt: skip
        found.append(
            _row(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=later, column_B=earlier, or_equal=True,
                    ignore_row_if="either_value_is_missing",
                ),
                "negative_duration",
            )
        )  # fmt: skip
    return found


def hand_written(feed: FeedSettings, folders: list[Path]) -> list[ExpectationConfiguration]:
    """Additions kept as ``<feed_id>.json`` files in the given folders."""
    found = []
    for folder in folders:
        path = folder / f"{feed.id}.json"
        if path.is_file():
            for item in json.loads(path.read_text(encoding="utf-8")):
                meta = {"level": "row", "reason": item.get("meta", {}).get("reason", item["type"])}
                notes = [f"From {path.name}: a row failing this is quarantined as `{meta['reason']}`."]
                found.append(
                    ExpectationConfiguration(type=item["type"], kwargs=item["kwargs"], meta=meta, notes=notes)
                )
    return found


def build_suite(
    feed: FeedSettings,
    agency: AgencySettings | Sequence[AgencySettings],
    bounds: BatchBounds,
    extra_folders: list[Path],
) -> gx.ExpectationSuite:
    """The feed's suite: ``agency`` is its agency, or the agencies of a shared feed (each row's
    coordinates are then checked against its own agency's bbox, through ``in_jurisdiction``)."""
    expectations = batch_expectations(feed, bounds) + row_expectations(feed, agency, bounds)
    expectations += [c.to_domain_obj() for c in hand_written(feed, extra_folders)]
    return gx.ExpectationSuite(name=suite_name(feed), expectations=expectations, notes=SUITE_NOTES)


def _mapped_source_columns(feed: FeedSettings) -> dict[str, str]:
    mapped = {f"columns.{key}": column for key, column in feed.columns.mapped().items()}
    if feed.agency_from is not None:
        mapped["agency_from.column"] = feed.agency_from.column
    return mapped


def now_utc() -> datetime:
    return datetime.now(UTC)
