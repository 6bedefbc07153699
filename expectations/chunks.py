"""A batch validated in chunks: which expectations a chunk can decide, and one result from many.

Validating a batch chunk by chunk keeps memory flat with the file's size, but only an
expectation whose verdict on a row depends on that row alone gives the same answer on a
chunk as on the whole batch. Those are *chunk-local*:

- row-wise map expectations (a value in a set, between bounds, matching a pattern, one
  column after another in the same row), unless they carry ``mostly`` (a share of the
  whole batch);
- expectations on the frame's columns (a column present, the columns' set): they run once,
  on the batch's columns with no row;
- uniqueness of ``CHUNK_KEY``: the batch is cut so that rows sharing a key value always
  fall in one chunk (warehouse.staging), so each chunk sees every row its values could clash with.

Everything else (the row count, a column's max for freshness, uniqueness of other columns,
means, types, any expectation not known here) runs once on the whole batch, holding only
the columns it names; a chunk, too, holds only the columns its expectations name. Each
chunk-local expectation's results are merged into one: its counts summed, its failing rows
joined, its percentages computed again as Great Expectations computes them
(``_format_map_output``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import pandas as pd
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from warehouse.staging import CHUNK_KEY

ROW_WISE = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_between", "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex", "expect_column_values_to_match_regex_list",
    "expect_column_values_to_not_match_regex_list", "expect_column_values_to_match_like_pattern",
    "expect_column_values_to_not_match_like_pattern", "expect_column_values_to_match_like_pattern_list",
    "expect_column_values_to_not_match_like_pattern_list", "expect_column_value_lengths_to_equal",
    "expect_column_value_lengths_to_be_between", "expect_column_values_to_match_strftime_format",
    "expect_column_values_to_be_dateutil_parseable", "expect_column_values_to_be_json_parseable",
    "expect_column_values_to_match_json_schema", "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_pair_values_to_be_equal", "expect_column_pair_values_to_be_in_set",
    "expect_multicolumn_sum_to_equal", "expect_multicolumn_values_to_be_equal",
    "expect_select_column_values_to_be_unique_within_record",
})  # fmt: skip
SCHEMA = frozenset({
    "expect_column_to_exist", "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list", "expect_table_column_count_to_equal",
    "expect_table_column_count_to_be_between",
})  # fmt: skip
COUNTS = ("element_count", "missing_count", "unexpected_count")


class BatchFrames(Protocol):
    """One batch as frames indexed by row number."""

    def schema(self) -> pd.DataFrame:
        """Every column, no row."""

    def chunks(self, columns: list[str]) -> Iterable[pd.DataFrame]:
        """Every row, a chunk at a time, holding ``columns`` (those the batch has)."""

    def whole(self, columns: list[str]) -> pd.DataFrame:
        """Every row at once, holding ``columns`` (those the batch has)."""


def scope(config: ExpectationConfiguration) -> str:
    """Where the expectation's verdict is the whole batch's: ``schema`` (the columns alone),
    ``chunk`` (each chunk's verdict on its rows) or ``batch`` (every row of the columns it names)."""
    kwargs = config.kwargs
    if config.type in SCHEMA:
        return "schema"
    if kwargs.get("mostly", 1) != 1:
        return "batch"
    if config.type in ROW_WISE or (
        config.type == "expect_column_values_to_be_unique" and kwargs.get("column") == CHUNK_KEY
    ):
        return "chunk"
    return "batch"


def validation_order(expectations: list) -> list:
    """The expectations in the order Great Expectations reports their results: grouped by the
    column they name, columns in order of first appearance, those naming no single column one group too."""
    groups: dict[str | None, list] = {}
    for expectation in expectations:
        column = expectation.configuration.kwargs.get("column")
        groups.setdefault(column if isinstance(column, str) else None, []).append(expectation)
    return [expectation for group in groups.values() for expectation in group]


def named_columns(expectations) -> list[str]:
    """The frame columns the expectations name, in order, each once."""
    found: list[str] = []
    for expectation in expectations:
        kwargs = expectation.configuration.kwargs
        named = [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")]
        named += list(kwargs.get("column_list") or ())
        found += [c for c in named if isinstance(c, str) and c not in found]
    return found


def merge_results(results: list[ExpectationValidationResult]) -> ExpectationValidationResult:
    """One expectation's result over the whole batch from its results on each chunk."""
    first = results[0]
    if len(results) == 1:
        return first
    for item in results:  # an expectation that could not run on a chunk could not run on the batch
        if (item.exception_info or {}).get("raised_exception") or _nested_error(item.exception_info):
            return item
    merged = dict(first.result)
    if "element_count" in merged:
        for count in COUNTS:
            if count in merged:
                merged[count] = sum(item.result.get(count) or 0 for item in results)
        merged.update(_percentages(merged))
    if "unexpected_index_list" in merged:
        rows = [row for item in results for row in item.result.get("unexpected_index_list") or []]
        merged["unexpected_index_list"] = rows
        merged["partial_unexpected_index_list"] = rows[:PARTIAL_COUNT]
    return ExpectationValidationResult(
        success=all(item.success for item in results),
        expectation_config=first.expectation_config,
        result=merged,
        meta=first.meta,
        exception_info=first.exception_info,
    )


PARTIAL_COUNT = 20  # Great Expectations' default partial_unexpected_count


def _nested_error(info: dict | None) -> bool:
    return any(isinstance(e, dict) and e.get("raised_exception") for e in (info or {}).values())


def _percentages(result: dict) -> dict:
    """Great Expectations' percentages of a map expectation from its counts."""
    elements, unexpected = result["element_count"], result.get("unexpected_count")
    if unexpected is None or elements == 0:
        total = nonmissing = missing_share = None
    else:
        total = unexpected / elements * 100
        nonmissing, missing_share = total, None
        if "missing_count" in result:
            missing_share = result["missing_count"] / elements * 100
            nonnull = elements - result["missing_count"]
            nonmissing = unexpected / nonnull * 100 if nonnull > 0 else None
    found = {"unexpected_percent": nonmissing}
    if "missing_count" in result:
        found |= {"missing_percent": missing_share, "unexpected_percent_total": total,
                  "unexpected_percent_nonmissing": nonmissing}  # fmt: skip
    return found


def suite_statistics(results: list[ExpectationValidationResult]) -> dict:
    """The suite result's statistics, as Great Expectations counts them."""
    evaluated = len(results)
    successful = sum(1 for item in results if item.success)
    return {
        "evaluated_expectations": evaluated,
        "successful_expectations": successful,
        "unsuccessful_expectations": evaluated - successful,
        "success_percent": successful / evaluated * 100 if evaluated else None,
    }
