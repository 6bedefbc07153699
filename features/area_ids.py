"""Area ids as feeds and people write them: one area per id up to case and spacing.

Pure: frames and strings in, frames and strings out.

Hand-keyed CAD exports write one beat as ``J2``, ``j2`` or ``b03 ``: two area values are the same
area when they are equal up to case and runs of white space (``fold``: trimmed, each run of white
space one space, upper case), so ``B 01`` and ``b  01`` are one area and ``B01`` another. An agency's
area is named by its commonest spelling in the records (the first in sort order on a tie), and a
value that reads ``unknown`` is ``features.panel.UNKNOWN_AREA``, where incidents without an area
count (``canonical_area_ids``). So an agency's area ids never differ only in case, and a name a
person writes (an events file, a scenario, an override) is the area equal to it, else the one
equal to it up to case and spacing (``named_areas``, ``named_area``).
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from features.panel import SERIES, UNKNOWN_AREA


def fold(text: str) -> str:
    """``text`` as area ids are compared: trimmed, runs of white space one space, upper case."""
    return " ".join(text.split()).upper()


def folded(column: str | pl.Expr) -> pl.Expr:
    """``fold`` of a String column or expression (null stays null)."""
    column = pl.col(column) if isinstance(column, str) else column
    return column.str.strip_chars().str.replace_all(r"\s+", " ").str.to_uppercase()


def canonical_area_ids(incidents: pl.DataFrame) -> pl.DataFrame:
    """``incidents`` (agency_id, area_id, ...) with each area_id the agency's name for its area.

    Values equal up to case and spacing are one area, named by the spelling the agency's records
    use most (of equally common ones, the first in sort order: ``J2`` in 66 records and ``j2`` in 1
    are ``J2``); a value equal to ``unknown`` so is ``UNKNOWN_AREA``. Rows, their order and every
    other column are kept; a null area stays null.
    """
    spellings = (
        incidents.lazy()
        .filter(pl.col("area_id").is_not_null())
        .group_by(SERIES)
        .agg(_records=pl.len())
        .with_columns(_fold=folded("area_id"))
        .sort("_records", "area_id", descending=[True, False])
        .with_columns(_name=pl.col("area_id").first().over("agency_id", "_fold"))
        .with_columns(
            _name=pl.when(pl.col("_fold") == fold(UNKNOWN_AREA)).then(pl.lit(UNKNOWN_AREA)).otherwise("_name")
        )
        .filter(pl.col("_name") != pl.col("area_id"))
        .select(*SERIES, "_name")
        .collect()
    )
    if spellings.is_empty():  # every value is its area's name already: nothing to rewrite
        return incidents
    return (
        incidents.join(spellings, on=SERIES, how="left", maintain_order="left")
        .with_columns(area_id=pl.coalesce("_name", "area_id"))
        .drop("_name")
    )


def named_areas(named: pl.LazyFrame, known: pl.LazyFrame) -> pl.LazyFrame:
    """``named`` (agency_id, area_id as a person wrote it, ...) with each area_id the area of ``known``
    (agency_id, area_id) it names: the one written the same, else the first (in sort order) equal to
    it up to case and spacing. A name ``known`` lacks stays as written; rows and their order are kept.
    """
    areas = known.select(SERIES).unique()
    exact = areas.with_columns(_exact=pl.col("area_id"))
    by_fold = (
        areas.with_columns(_fold=folded("area_id"))
        .group_by("agency_id", "_fold")
        .agg(_near=pl.col("area_id").min())
    )
    return (
        named.with_columns(_fold=folded("area_id"))
        .join(exact, on=SERIES, how="left", maintain_order="left")
        .join(by_fold, on=["agency_id", "_fold"], how="left", maintain_order="left")
        .with_columns(area_id=pl.coalesce("_exact", "_near", "area_id"))
        .drop("_fold", "_exact", "_near")
    )


def named_area(area_id: str, known: Iterable[str]) -> str | None:
    """The area of one agency's ``known`` areas that ``area_id`` names (``named_areas``'s rule), else
    None."""
    known = sorted(set(known))
    if area_id in known:
        return area_id
    return next((area for area in known if fold(area) == fold(area_id)), None)
