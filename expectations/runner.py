"""Great Expectations, for real: a file-backed context in the workspace, one validation
definition per feed, results kept for Data Docs.

The frame's index holds each row's ``_row_number`` so a failed expectation's
``unexpected_index_list`` is the list of failing rows, complete (result format COMPLETE).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

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


@dataclass
class SuiteOutcome:
    suite: str
    success: bool
    statistics: dict
    row_failures: dict[int, list[str]] = field(default_factory=dict)  # row -> reasons
    batch_failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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
        source = self.context.data_sources.add_or_update_pandas(name=DATASOURCE)
        try:
            asset = source.get_asset(ASSET)
        except LookupError:
            asset = source.add_dataframe_asset(name=ASSET)
        try:
            self.batch_definition = asset.get_batch_definition(BATCH_DEFINITION)
        except KeyError:
            self.batch_definition = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)

    def validate(self, suite: gx.ExpectationSuite, frame: pd.DataFrame) -> SuiteOutcome:
        """Run ``suite`` on ``frame`` (indexed by row number) and sort out what failed."""
        suite = self.context.suites.add_or_update(suite)
        definition = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.name, data=self.batch_definition, suite=suite)
        )
        result = definition.run(batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT)
        outcome = SuiteOutcome(suite.name, True, dict(result.statistics))
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
            elif level == "freshness":
                outcome.warnings.append(meta.get("check", reason))
            else:
                rows = item.result.get("unexpected_index_list") or []
                for row in rows:
                    reasons = outcome.row_failures.setdefault(int(row), [])
                    if reason not in reasons:
                        reasons.append(reason)
        outcome.batch_failures = outcome.batch_failures or unrunnable
        outcome.success = not outcome.batch_failures
        return outcome

    def build_docs(self) -> Path:
        """Prune old results, rebuild the Data Docs site; returns its index.html."""
        self._prune()
        sites = self.context.build_data_docs()
        uri = next(iter(sites.values()))
        return Path(uri.removeprefix("file://"))

    def _prune(self) -> None:
        validations = self.root / "gx" / "uncommitted" / "validations"
        if not validations.is_dir():
            return
        for suite_dir in validations.iterdir():
            runs = sorted(p for p in suite_dir.glob("*/*") if p.is_dir())
            for old in runs[:-KEEP_RESULTS]:
                shutil.rmtree(old, ignore_errors=True)


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
