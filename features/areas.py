"""Areas: one row per agency x area, with a name, a centroid and how the area is defined.

Pure polars: LazyFrame in, LazyFrame out; the caller collects once.

Today an area is a value of the feed's area column (a police beat, a fire district, an
EMS zone), so ``derived_from`` is ``column`` and there is no geometry. Its centroid is
the median location of its own incidents (``features.cross.area_centroids``, the rule the
cross-agency features place areas by), null where none of them has coordinates.
Incidents without an area count in ``features.panel.UNKNOWN_AREA``, as in the demand
panel, which gets no centroid: its incidents are not one place. Areas cut from an H3 grid
or from polygons (``features.places``) come ``described``: their name, the centroid and WKT
of their cell or polygon, and ``derived_from`` ``h3`` or ``polygons``.
"""

from __future__ import annotations

import polars as pl

from features.cross import area_centroids
from features.panel import SERIES, UNKNOWN_AREA

DERIVED_FROM_COLUMN = "column"
AREA_SCHEMA = {
    "agency_id": pl.String,
    "area_id": pl.String,
    "name": pl.String,
    "centroid_lat": pl.Float64,
    "centroid_lon": pl.Float64,
    "located_incidents": pl.Int64,
    "geometry": pl.String,  # WKT; null for areas taken from a column
    "derived_from": pl.String,
}


def areas(
    incidents: pl.LazyFrame, series: pl.LazyFrame | None = None, described: pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """The areas of ``incidents`` (agency_id, area_id, lat, lon), or exactly those of ``series``.

    Args:
        incidents: Incidents of any window; their coordinates place the centroids.
        series: Optional agency_id, area_id pairs to describe (e.g. a forecast's series):
            every pair appears once, with a null centroid and 0 located incidents where
            ``incidents`` has none of it; areas outside ``series`` are left out.
        described: Areas with real geometry (``features.places.DESCRIPTION_SCHEMA``): they
            appear even without incidents here, with their own name, centroid and geometry.

    Returns:
        One row per agency x area (``AREA_SCHEMA``), sorted by agency and area. ``name``
        is the area id (no feed names its areas yet).
    """
    located = pl.col("lat").is_not_null() & pl.col("lon").is_not_null()
    seen = (
        incidents.with_columns(pl.col("area_id").fill_null(UNKNOWN_AREA))
        .group_by(SERIES)
        .agg(located_incidents=located.sum().cast(pl.Int64))
    )
    medians = area_centroids(incidents).filter(pl.col("area_id") != UNKNOWN_AREA)
    centroids = medians.rename({"area_lat": "centroid_lat", "area_lon": "centroid_lon"})
    found = seen.join(centroids, on=SERIES, how="left").with_columns(
        name=pl.col("area_id"), geometry=pl.lit(None, pl.String), derived_from=pl.lit(DERIVED_FROM_COLUMN)
    )
    if described is not None:
        found = (
            found.select(*SERIES, "located_incidents")
            .join(described, on=SERIES, how="full", coalesce=True)
            .join(medians, on=SERIES, how="left")
            .select(
                *SERIES,
                pl.coalesce("name", "area_id").alias("name"),
                pl.coalesce("centroid_lat", "area_lat").alias("centroid_lat"),
                pl.coalesce("centroid_lon", "area_lon").alias("centroid_lon"),
                pl.col("located_incidents").fill_null(0),
                "geometry",
                pl.coalesce("derived_from", pl.lit(DERIVED_FROM_COLUMN)).alias("derived_from"),
            )
        )
        series = series if series is not None else found.select(SERIES)
    return described_areas(found, seen.select(SERIES) if series is None else series)


def described_areas(areas: pl.LazyFrame, series: pl.LazyFrame) -> pl.LazyFrame:
    """Exactly the areas of ``series`` (agency_id, area_id pairs), as ``areas`` describes them;
    a pair ``areas`` lacks is named by its id, with no centroid and 0 located incidents."""
    return (
        series.select(SERIES)
        .unique()
        .join(areas, on=SERIES, how="left")
        .with_columns(
            pl.col("located_incidents").fill_null(0),
            name=pl.coalesce("name", "area_id"),
            derived_from=pl.coalesce("derived_from", pl.lit(DERIVED_FROM_COLUMN)),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in AREA_SCHEMA.items())
        .sort(SERIES)
    )
