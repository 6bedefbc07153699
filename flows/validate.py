"""The validate stage: every received batch through its feed's expectation suite."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.common import done, exclusive, failed, link_artifact, logger, run_name, warehouse
from jointcast.config import Settings
from jointcast.faults import reach


@task(name="validate-feed", cache_policy=NONE, persist_result=False)
def validate_feed_task(con, settings, feed_id: str, validator):
    from expectations.validate import validate_feed

    return validate_feed(con, settings, settings.feed(feed_id), validator)


@flow(name="validate", flow_run_name=run_name("validate"), persist_result=False)
@exclusive("validate")
def validate_flow(settings: Settings):
    """Validate what ingest received; rows that pass reach core, the rest are quarantined."""
    from expectations.runner import Validator
    from expectations.validate import record_docs

    log = logger()
    validator = Validator(settings.root)
    results = []
    with warehouse(settings) as con:
        for feed in settings.feeds:
            result = validate_feed_task.with_options(name=f"validate-{feed.id}")(
                con, settings, feed.id, validator
            )
            results.append(result)
            if result.again_said():
                log.info("  %s", result.again_said())
            log.info(
                "  %s: %d batches validated: %s rows loaded into core, %s quarantined, %d batches rejected",
                feed.id, len(result.batches), f"{sum(b.rows_loaded for b in result.batches):,}",
                f"{sum(b.rows_quarantined for b in result.batches):,}", len(result.problems),
            )  # fmt: skip
        reach("validate.before_docs")
        docs = validator.build_docs()
        record_docs(con, docs)
    problems = [problem for result in results for problem in result.problems]
    batches = sum(len(r.batches) for r in results)
    link_artifact(
        "data-docs", _as_uri(docs), "Data Docs", f"Great Expectations results ({batches} new batches)"
    )
    done("validate", f"{batches} batches, {len(problems)} rejected; Data Docs: {docs}")
    if problems:
        return failed("validate", problems)
    return {"docs": str(docs), "batches": batches}


def _as_uri(docs) -> str:
    text = str(docs)
    return text if "://" in text else Path(text).resolve().as_uri()
