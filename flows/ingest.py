"""The ingest stage: every configured feed into raw, core and quarantine."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.common import StageFailed, done, exclusive, failed, logger, run_name, warehouse
from jointcast.config import Settings
from warehouse.ingest import FeedOutcome, ingest_feed


@task(name="ingest-feed", cache_policy=NONE, persist_result=False)
def ingest_feed_task(con, settings, feed_id: str) -> FeedOutcome:
    feed = settings.feed(feed_id)
    outcome = ingest_feed(con, settings, feed)
    if outcome.error and feed.is_remote:
        # A remote feed that cannot be listed may be a passing network fault: retry.
        raise StageFailed("ingest", [outcome.error])
    return outcome


@flow(name="ingest", flow_run_name=run_name("ingest"), log_prints=False, persist_result=False)
@exclusive("ingest")
def ingest_flow(settings: Settings):
    """Load every feed's new files; a failing feed never stops the others."""
    log = logger()
    outcomes: list[FeedOutcome] = []
    options = settings.orchestration
    with warehouse(settings) as con:
        for feed in settings.feeds:
            attempt = ingest_feed_task.with_options(
                name=f"ingest-{feed.id}",
                retries=options.retries,
                retry_delay_seconds=options.retry_delay_seconds,
            )
            try:
                outcome = attempt(con, settings, feed.id)
            except StageFailed as exc:
                outcome = FeedOutcome(feed.id, error=str(exc))
            outcomes.append(outcome)
            if outcome.again_said():
                log.info("  %s", outcome.again_said())
            log.info("  %s", _said(outcome))
    problems = [problem for outcome in outcomes for problem in outcome.errors]
    summaries = [_summary(o) for o in outcomes]
    new = sum(s["new_files"] for s in summaries)
    done("ingest", f"{len(outcomes)} feeds, {new} new files, {sum(s['rows_read'] for s in summaries):,} rows "
                   f"received" + (f", {len(problems)} problems" if problems else ""))  # fmt: skip
    if problems:
        return failed("ingest", problems)
    return summaries


def _said(outcome: FeedOutcome) -> str:
    """One feed's line: what came in (validation, next, loads it into core)."""
    new = [b for b in outcome.batches if b.status == "received"]
    if not new and not outcome.errors:
        return f"{outcome.feed_id}: no new files ({len(outcome.batches)} known)"
    unreadable = sum(b.rows_quarantined for b in new)
    said = f"{outcome.feed_id}: {len(new)} new files, {sum(b.rows_read for b in new):,} rows received"
    said += f" ({unreadable:,} unreadable, quarantined)" if unreadable else ""
    return said + (f", {len(outcome.errors)} failed" if outcome.errors else "")


def _summary(outcome: FeedOutcome) -> dict:
    return {
        "feed_id": outcome.feed_id,
        "files": len(outcome.batches),
        "new_files": sum(b.status == "received" for b in outcome.batches),
        "rows_read": outcome.total("rows_read"),
        "rows_loaded": outcome.total("rows_loaded"),
        "rows_quarantined": outcome.total("rows_quarantined"),
    }
