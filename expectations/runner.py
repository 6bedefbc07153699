"""Great Expectations, for real: a file-backed context in the workspace, one validation
definition per feed, results kept for Data Docs.

The frames' index holds each row's ``_row_number`` so a failed expectation's
``unexpected_index_list`` is the list of failing rows, complete (result format COMPLETE). A
batch is seen in chunks; each expectation runs where its verdict is the whole batch's and the
results are merged into the batch's one result (see chunks.py).
Each run is named after its feed, batch and file (GX's ``RunIdentifier``), and its stored
result gets the batch's outcome once the warehouse has committed it (see data_docs.py).
"""

from __future__ import annotations

import copy
import logging
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import great_expectations as gx
import pandas as pd
from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.execution_engine import pandas_execution_engine

from expectations.chunks import (
    BatchFrames,
    merge_results,
    named_columns,
    scope,
    suite_statistics,
    validation_order,
)
from expectations.data_docs import OUTCOME, SITE, set_up_site

log = logging.getLogger(__name__)

DATASOURCE = "jointcast"
ASSET = "batch"
BATCH_DEFINITION = "whole_batch"
RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "return_unexpected_index_query": False,
    "exclude_unexpected_values": True,
}
KEEP_RESULTS = 10  # per suite, for the Data Docs; older results are pruned

# GX fingerprints every frame it is given below this many bytes (a batch marker, an md5 over a hash
# of every value, that nothing here reads): on a chunk of text columns that costs as much as the
# checks themselves. Frames are always above a threshold of 0, so none is fingerprinted.
pandas_execution_engine.HASH_THRESHOLD = 0


@dataclass
class SuiteOutcome:
    """What one batch's suite found; ``result`` is GX's, stored under ``key`` in the context."""

    suite: str
    run_name: str
    statistics: dict
    result: ExpectationSuiteValidationResult
    key: ValidationResultIdentifier
    row_failures: dict[int, list[str]] = field(default_factory=dict)  # row -> reasons
    batch_failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_name(feed_id: str, batch_id: int, source_uri: str) -> str:
    """``<feed> batch <id> <file name>``: what a Data Docs reader looks for ("/" cannot be in it)."""
    name = re.split(r"[/\\]", source_uri.rstrip("/\\"))[-1] or "-"
    return f"{feed_id} batch {batch_id} {name}"


class Validator:
    """The workspace's GX context (``<workspace>/gx``), created on first use."""

    def __init__(self, workspace: Path):
        self.root = workspace
        self.context = gx.get_context(mode="file", project_root_dir=str(workspace))
        progress = self.context.variables.progress_bars
        if not progress or progress.get("globally", True):
            self.context.variables.progress_bars = ProgressBarsConfig(
                globally=False, metric_calculations=False
            )
            self.context.variables.save()
        set_up_site(self.context)
        source = self.context.data_sources.add_or_update_pandas(name=DATASOURCE)
        try:
            asset = source.get_asset(ASSET)
        except LookupError:
            asset = source.add_dataframe_asset(name=ASSET)
        try:
            self.batch_definition = asset.get_batch_definition(BATCH_DEFINITION)
        except KeyError:
            self.batch_definition = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)

    def validate(self, suite: gx.ExpectationSuite, batch: BatchFrames, run_name: str) -> SuiteOutcome:
        """Run ``suite`` on one batch, seen through ``batch``'s frames (indexed by row number), and
        sort out what failed.

        Each expectation runs where its verdict is the whole batch's (see chunks.py): on the
        columns alone, on each chunk (its results merged), or once on every row of the columns it
        names. The merged result is the suite's one result, stored and shown as one.
        """
        suite = self.context.suites.add_or_update(suite)
        self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.name, data=self.batch_definition, suite=suite)
        )
        scoped: dict[str, list] = {"schema": [], "chunk": [], "batch": []}
        for expectation in suite.expectations:
            scoped[scope(expectation.configuration)].append(expectation)
        found: dict[str, list] = {}  # expectation id -> its result on each frame it ran on
        metas = []

        def run(expectations: list, frame: pd.DataFrame) -> None:
            result = self._run(suite.name, expectations, frame)
            metas.append(result.meta)
            for item in result.results:
                found.setdefault(item.expectation_config.id, []).append(item)

        if scoped["schema"]:
            run(scoped["schema"], batch.schema())
        if scoped["chunk"]:
            for frame in batch.chunks(named_columns(scoped["chunk"])):
                run(scoped["chunk"], frame)
        if scoped["batch"]:
            run(scoped["batch"], batch.whole(named_columns(scoped["batch"])))
        meta = metas[0] if metas else {}
        results = [merge_results(found[e.id]) for e in validation_order(suite.expectations)]
        run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
        result = ExpectationSuiteValidationResult(
            success=all(item.success for item in results),
            results=results,
            suite_name=suite.name,
            statistics=suite_statistics(results),
            meta={**meta, "run_id": run_id, "validation_time": run_id.run_time},
        )
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
            run_id=run_id,
            batch_identifier=result.batch_id,
        )
        outcome = SuiteOutcome(suite.name, run_name, dict(result.statistics), result, key)
        unrunnable = []  # a failed batch check (a column absent) explains these: then left out
        for item in result.results:
            if item.success:
                continue
            meta = item.expectation_config.meta or {}
            level, reason = meta.get("level", "row"), meta.get("reason", item.expectation_config.type)
            error = exception_message(item.exception_info)
            if error and level != "batch":
                column = item.expectation_config.kwargs.get("column", "")
                unrunnable.append(
                    f"{item.expectation_config.type}({column}) could not run: {error.splitlines()[0]}"
                )
            elif level == "batch":
                outcome.batch_failures.append(meta.get("check", reason))
            elif level == "warning":
                outcome.warnings.append(_with_observed(meta.get("check", reason), meta, item.result))
            else:
                rows = item.result.get("unexpected_index_list") or []
                for row in rows:
                    reasons = outcome.row_failures.setdefault(int(row), [])
                    if reason not in reasons:
                        reasons.append(reason)
        outcome.batch_failures = outcome.batch_failures or unrunnable
        return outcome

    def _run(self, name: str, expectations: list, frame: pd.DataFrame) -> ExpectationSuiteValidationResult:
        """GX's own validation of ``expectations`` on one frame (nothing stored: the merged result is)."""
        part = gx.ExpectationSuite(name=name, expectations=[copy.copy(e) for e in expectations])
        for mine, theirs in zip(part.expectations, expectations, strict=True):
            mine.id = theirs.id  # results name the suite's own expectations, as Data Docs link them
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(part, result_format=RESULT_FORMAT)

    def record_outcome(self, outcome: SuiteOutcome, loaded: bool, batch_outcome: dict) -> None:
        """Store the batch's outcome on its result: ``success`` = loaded, and how, in its meta."""
        outcome.result.success = loaded
        outcome.result.meta[OUTCOME] = batch_outcome
        self.context.validation_results_store.set(outcome.key, outcome.result)

    def build_docs(self) -> Path:
        """Prune old results, rebuild the Data Docs site; returns its index.html."""
        prune_results(self.root / "gx" / "uncommitted", KEEP_RESULTS)
        sites = self.context.build_data_docs(site_names=[SITE])
        uri = next(iter(sites.values()))
        return Path(uri.removeprefix("file://"))


def prune_results(uncommitted: Path, keep: int) -> None:
    """Keep each suite's ``keep`` newest results by run time (whatever their run names), and
    their Data Docs pages; results sit in ``validations/<suite>/<run name>/<run time>/``."""
    validations = uncommitted / "validations"
    if not validations.is_dir():
        return
    pages = uncommitted / "data_docs" / SITE / "validations"
    for suite_dir in (p for p in validations.iterdir() if p.is_dir()):
        runs = sorted((p for p in suite_dir.glob("*/*") if p.is_dir()), key=lambda p: (p.name, p.parent.name))
        for old in runs[:-keep]:
            for folder in (old, pages / old.relative_to(validations)):
                shutil.rmtree(folder, ignore_errors=True)
                if folder.parent.is_dir() and not any(folder.parent.iterdir()):
                    folder.parent.rmdir()


def exception_message(info: dict | None) -> str | None:
    """Why an expectation could not run, or None if it ran.

    GX reports an error either flat (``{"raised_exception": True, "exception_message": ...}``)
    or, for an error inside a metric (a column missing, values that cannot be compared
    with the bounds), as one such entry per metric. A row-level expectation that did not
    run has no failing rows to report, so missing the nested form would pass it silently.
    """
    if not info:
        return None
    entries = [info] if "raised_exception" in info else [e for e in info.values() if isinstance(e, dict)]
    for entry in entries:
        if entry.get("raised_exception"):
            return entry.get("exception_message") or "unknown error"
    return None


def validation_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Index by row number and give datetimes nanosecond precision (GX vectorises those)."""
    frame = frame.set_index("_row_number", drop=False)
    frame.index.name = None
    for column in frame.columns:
        dtype = frame[column].dtype
        if dtype.kind == "M":
            tz = getattr(dtype, "tz", None)
            frame[column] = frame[column].astype(f"datetime64[ns, {tz}]" if tz else "datetime64[ns]")
    return frame


def _with_observed(check: str, meta: dict, result: dict) -> str:
    """A warning's check, and the value it found where the expectation names one (``meta["observed"]``)."""
    value = result.get("observed_value")
    if not meta.get("observed") or value is None or pd.isna(value):  # no rows: nothing found
        return check
    if isinstance(value, str):
        value = pd.Timestamp(value) if value[:4].isdigit() else value
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    shown = f"{value:%Y-%m-%d %H:%M} UTC" if isinstance(value, datetime) else str(value)
    return f"{check}; {meta['observed']}: {shown}"
