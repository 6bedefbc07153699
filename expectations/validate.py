"""The validation step: run each received batch through its feed's suite, then load or quarantine.

Row-level failures quarantine the row with every reason found; a batch-level failure
(a mapped column absent, a row count outside the feed's usual band) rejects the whole
batch: nothing of it reaches core and its rows are quarantined as ``batch_rejected``.
A stale feed (newest record older than the agency's ``max_lag_hours``) is a warning:
its data still loads, and downstream stages flag it.

A run's ``success`` (in ``quality.validation_runs`` and on its Data Docs result) is whether
the batch was loaded; the outcome says how: "passed", "passed with N rows quarantined" or
"rejected: <check>".
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from expectations.runner import SuiteOutcome, Validator, run_name, validation_frame
from expectations.settings import check_digest, expectation_folders
from expectations.suites import (
    EARLIEST,
    FUTURE_SLACK,
    IN_JURISDICTION,
    BatchBounds,
    build_suite,
    in_jurisdiction,
    now_utc,
    row_count_bounds,
)  # fmt: skip
from jointcast.config import AgencySettings, FeedSettings, Settings
from jointcast.faults import reach
from warehouse.db import transaction
from warehouse.ingest import read_digest
from warehouse.staging import (
    MissingRawBatch,
    PendingBatch,
    ReasonsFound,
    StagedBatch,
    absent_columns,
    add_row_reasons,
    earlier_delivery,
    expected_rows,
    finish_batch,
    header_matched,
    moved_ids,
    pending_batches,
    promote_batch,
    reasons_found,
    record_span,
    reject_batch,
    reset_rejected,
    reused_ids,
    stage_batch,
    staged_chunks,
    staged_frame,
    staging_memory,
)

log = logging.getLogger(__name__)
CHUNK_ROWS = 250_000
"""Rows of a batch the suite checks at a time: memory stays flat with the file's size."""


@dataclass(frozen=True)
class BatchValidation:
    feed_id: str
    batch_id: int
    source_uri: str
    success: bool
    rows_loaded: int
    rows_quarantined: int
    problem: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass
class FeedValidation:
    feed_id: str
    batches: list[BatchValidation] = field(default_factory=list)

    again: int = 0
    """Batches rejected before and validated again: the settings they are checked with changed."""

    @property
    def problems(self) -> list[str]:
        return [b.problem for b in self.batches if b.problem]

    def again_said(self) -> str | None:
        """Why batches already validated were validated again, in one line; None when none were."""
        if not self.again:
            return None
        batches, are = ("batch", "is") if self.again == 1 else ("batches", "are")
        return (
            f"validate: {self.again} rejected {batches} of feed {self.feed_id} {are} validated again: "
            "its config changed"
        )


def validate_feed(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    feed: FeedSettings,
    validator: Validator,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> FeedValidation:
    """Validate every pending batch of one feed, oldest first; the newest is checked for age.

    Pending are the batches received and not yet validated, and the batches rejected under other
    settings than the feed's now (``check_digest``) whose files were read with the current ones.
    """
    check = check_digest(settings, feed)
    pending = pending_batches(con, feed.id, read_digest(feed), check)
    result = FeedValidation(feed.id, again=sum(b.again for b in pending))
    with staging_memory(con):
        for batch in pending:
            newest = batch is pending[-1]
            result.batches.append(
                validate_batch(
                    con,
                    settings,
                    feed,
                    batch,
                    validator,
                    newest=newest,
                    chunk_rows=chunk_rows,
                    checked_with=check,
                )
            )
    return result


def validate_batch(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    feed: FeedSettings,
    batch: PendingBatch,
    validator: Validator,
    *,
    newest: bool,
    chunk_rows: int = CHUNK_ROWS,
    checked_with: str | None = None,
) -> BatchValidation:
    """Validate one batch and record its outcome in one transaction; a batch rejected before
    (``batch.again``) has its rejection undone in that same transaction. ``checked_with`` is the
    feed's ``check_digest``, recorded on the batch (computed when not given)."""
    check = check_digest(settings, feed) if checked_with is None else checked_with
    agencies = [settings.agency(agency_id) for agency_id in feed.agency_ids]
    agency = agencies[0] if len(agencies) == 1 else tuple(agencies)
    feed, matched = header_matched(feed, batch.columns)
    for key, column in matched.items():
        log.warning("feed %s: file %s: %s is read from the header's %r (the same name up to case and "
                    "spacing)", feed.id, batch.source_uri, key, column)  # fmt: skip
    try:
        staged = stage_batch(con, feed, batch, settings.raw_root)
    except MissingRawBatch as exc:
        problem = f"feed {feed.id}: file {batch.source_uri}: {exc}; it is received again next run"
        with transaction(con):
            finish_batch(con, batch, loaded=0, quarantined=0, status="failed", message=problem,
                         record_span=(None, None))  # fmt: skip
        log.error(problem)
        return BatchValidation(feed.id, batch.batch_id, batch.source_uri, False, 0, 0, problem)
    # fresh enough for every agency the feed serves: the smallest max_lag_hours
    now = now_utc()
    span = record_span(con, staged, EARLIEST, now + FUTURE_SLACK)
    bounds = _bounds(con, feed, now, span, newest, lag_hours=min(a.max_lag_hours for a in agencies))

    extra = expectation_folders(settings)
    outcome = validator.validate(
        build_suite(feed, agency, bounds, extra),
        StagedFrames(con, staged, chunk_rows, agencies),
        run_name(feed.id, batch.batch_id, batch.source_uri),
    )
    mapped = not absent_columns(feed, batch.columns)
    if mapped:
        add_row_reasons(con, outcome.row_failures)
    if outcome.batch_failures:
        failed_check = outcome.batch_failures[0]
    elif not mapped:
        failed_check = "mapped columns present"
    else:
        found = reasons_found(con)
        failed_check = _too_many_quarantined(feed, found, staged.rows)
    if failed_check is not None and not mapped:  # what the header does hold, to map from
        shown = ", ".join(repr(c) for c in batch.columns[:40]) + (", ..." if len(batch.columns) > 40 else "")
        failed_check += f"; the file's columns: {shown}"
    reach("validate.before_commit")
    with transaction(con):
        if batch.again:
            reset_rejected(con, batch)
        if failed_check is not None:
            quarantined = reject_batch(con, feed, batch, failed_check, staged=mapped)
            problem = f"feed {feed.id}: file {batch.source_uri}: expectation failed: {failed_check}"
            finish_batch(con, batch, loaded=0, quarantined=quarantined, status="rejected",
                         message=problem, record_span=span, check_digest=check)  # fmt: skip
            loaded = 0
            log.error(problem)
        else:
            loaded, quarantined = promote_batch(con, feed, batch)
            flags = (_fields_set_aside(feed, found, staged.rows), reused_ids(con), moved_ids(con, feed))
            for flagged in flags:
                if flagged:
                    outcome.warnings.append(flagged)
            problem = None
            finish_batch(con, batch, loaded=loaded, quarantined=quarantined, status="loaded",
                         message=None, record_span=span, check_digest=check)  # fmt: skip
        _record_run(con, feed, batch, outcome, loaded=problem is None, rows_checked=staged.rows)
    reach("validate.after_commit")
    validator.record_outcome(
        outcome,
        loaded=problem is None,
        batch_outcome=batch_outcome(feed.id, batch, loaded, quarantined, failed_check, outcome.warnings),
    )
    for warning in outcome.warnings:
        log.warning("feed %s: file %s: %s", feed.id, batch.source_uri, warning)
    log.debug("feed %s: batch %s: %d loaded, %d quarantined", feed.id, batch.batch_id, loaded, quarantined)
    return BatchValidation(
        feed.id, batch.batch_id, batch.source_uri, problem is None, loaded, quarantined,
        problem, tuple(outcome.warnings),
    )  # fmt: skip


@dataclass(frozen=True)
class StagedFrames:
    """The staged batch as the suite's frames (expectations.chunks.BatchFrames); a shared feed's
    frames get ``in_jurisdiction``, derived from each row's agency and point."""

    con: duckdb.DuckDBPyConnection
    staged: StagedBatch
    chunk_rows: int
    agencies: list[AgencySettings]

    def schema(self) -> pd.DataFrame:
        return self._checked(staged_frame(self.con, self.staged, None, "false"))

    def chunks(self, columns: list[str]) -> Iterator[pd.DataFrame]:
        for frame in staged_chunks(self.con, self.staged, self.chunk_rows, self._sources(columns)):
            yield self._checked(frame)

    def whole(self, columns: list[str]) -> pd.DataFrame:
        return self._checked(staged_frame(self.con, self.staged, self._sources(columns)))

    def _sources(self, columns: list[str]) -> list[str]:
        return [*columns, "agency_id", "lat", "lon"] if IN_JURISDICTION in columns else columns

    def _checked(self, frame: pd.DataFrame) -> pd.DataFrame:
        if len(self.agencies) > 1:
            frame = frame.assign(**{IN_JURISDICTION: in_jurisdiction(frame, self.agencies)})
        return validation_frame(frame)


def _too_many_quarantined(feed: FeedSettings, found: ReasonsFound, rows: int) -> str | None:
    """The check a batch fails when more than ``max_quarantined_share`` of its rows would be
    quarantined (a wrong mapping or a broken export, not bad luck), naming the most common
    reasons; None when it is within. ``found``: warehouse.staging.reasons_found. Rows loaded with
    a field set aside do not count: their incidents are demand (``_fields_set_aside`` flags a file
    where most rows have one)."""
    quarantined = found.quarantined
    if not rows or quarantined / rows <= feed.max_quarantined_share:
        return None
    limit = feed.max_quarantined_share
    return (
        f"quarantined share {quarantined / rows:.0%} of {rows} rows is above max_quarantined_share "
        f"{limit:.0%} ({_most(found.common_quarantined)})"
    )


def _fields_set_aside(feed: FeedSettings, found: ReasonsFound, rows: int) -> str | None:
    """A warning when more than ``max_quarantined_share`` of the rows load with a field set aside:
    likely a mapping to correct (the wrong coordinate columns, a priority scale), not bad rows."""
    set_aside = found.set_aside
    if not rows or set_aside / rows <= feed.max_quarantined_share:
        return None
    common = _most(found.common_set_aside)
    return f"fields set aside in {set_aside / rows:.0%} of {rows} rows ({common}): loaded without them"


def _most(common: list[tuple[str, int]]) -> str:
    return ", ".join(f"{reason} {n:,}" for reason, n in common)


def batch_outcome(
    feed_id: str, batch: PendingBatch, loaded: int, quarantined: int, check: str | None, warnings
) -> dict:
    """What became of the batch, in words for Data Docs and as figures."""
    if check is not None:
        status, summary = "rejected", f"rejected: {check}"
        detail = f"Nothing loaded; {_rows(quarantined)} went to quality.quarantine as batch_rejected."
    elif quarantined:
        status, summary = "passed_with_quarantine", f"passed with {_rows(quarantined)} quarantined"
        detail = f"{_rows(loaded)} loaded into core.incidents, {_rows(quarantined)} into quality.quarantine."
    else:
        status, summary = "passed", "passed"
        detail = f"{_rows(loaded)} loaded into core.incidents, none quarantined."
    if warnings:
        detail += " Flagged: " + "; ".join(warnings) + " (loaded)."
    return {
        "status": status, "summary": summary, "detail": detail, "feed_id": feed_id,
        "batch_id": batch.batch_id, "source_uri": batch.source_uri, "rows_loaded": loaded,
        "rows_quarantined": quarantined, "failed_check": check, "warnings": list(warnings),
    }  # fmt: skip


def _rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"


def _bounds(
    con, feed: FeedSettings, now: datetime, span: tuple, newest: bool, lag_hours: float
) -> BatchBounds:
    """What the batch's size and age are checked against: ``span`` is its oldest and newest
    plausible received time (defective stamps left out). Where the feed's loaded files already
    delivered the span's first hours, the rows usual for the hours after them are expected, plus
    the batch's own rows of those earlier hours (warehouse.staging.earlier_delivery)."""
    bounds = BatchBounds(now=now, fresh_after=now - timedelta(hours=lag_hours) if newest else None)
    oldest, latest = span
    if oldest is None:
        return bounds
    until, earlier = earlier_delivery(con, feed.id, oldest, latest, EARLIEST)
    expected = expected_rows(con, feed.id, until or oldest, latest)
    if expected is None:
        return bounds
    fewest, most = row_count_bounds(expected, feed.expected_rows_band)
    return replace(bounds, min_rows=fewest + earlier, max_rows=most + earlier, expected_rows=expected,
                   earlier_rows=earlier)  # fmt: skip


def _record_run(
    con, feed: FeedSettings, batch: PendingBatch, outcome: SuiteOutcome, loaded: bool, rows_checked: int
) -> None:
    """One row per suite run; ``success`` is whether the batch was loaded."""
    con.execute(
        """
        INSERT INTO quality.validation_runs (run_id, feed_id, batch_id, suite, success, statistics,
            failed_checks, warnings, rows_checked, rows_failed, docs_uri, validated_at, run_name)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, now(), ?)
        """,
        [
            str(uuid.uuid4()), feed.id, batch.batch_id, outcome.suite, loaded,
            json.dumps(outcome.statistics, default=float), outcome.batch_failures, outcome.warnings,
            rows_checked, len(outcome.row_failures), outcome.run_name,
        ],
    )  # fmt: skip


def record_docs(con: duckdb.DuckDBPyConnection, docs: Path) -> None:
    """Store where the Data Docs are on the runs that do not have it yet."""
    con.execute("UPDATE quality.validation_runs SET docs_uri = ? WHERE docs_uri IS NULL", [docs.as_uri()])
