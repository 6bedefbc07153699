"""Cross-agency demand: what the other agencies see in each agency's areas.

Agencies cut the map into their own areas (police beats, fire districts, EMS zones), so
"the same area" is found by place: each agency's area has a centroid (the median
location of its own incidents), and another agency's incident counts in the area whose
centroid is nearest. Lookups go through a grid of small cells, so the cost grows with the
number of cells, not incidents x areas.
"""

from __future__ import annotations

import polars as pl

CELL_DEGREES = 0.002  # about 200 m


def area_centroids(incidents: pl.LazyFrame) -> pl.LazyFrame:
    """Median location of each agency x area's own incidents (areas without locations drop out)."""
    return (
        incidents.filter(
            pl.col("lat").is_not_null() & pl.col("lon").is_not_null() & pl.col("area_id").is_not_null()
        )
        .group_by("agency_id", "area_id")
        .agg(pl.col("lat").median().alias("area_lat"), pl.col("lon").median().alias("area_lon"))
    )


def _cells(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(
        cell_y=(pl.col("lat") / CELL_DEGREES).floor().cast(pl.Int32),
        cell_x=(pl.col("lon") / CELL_DEGREES).floor().cast(pl.Int32),
    )


def cross_agency_demand(incidents: pl.LazyFrame) -> pl.LazyFrame:
    """Per agency x area x hour: incidents of *other* agencies located in that area.

    Only hours with any appear; the caller aligns it with the panel and fills zeros.
    """
    located = _cells(incidents.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null()))
    centroids = area_centroids(incidents).rename({"agency_id": "target_agency", "area_id": "target_area"})
    cells = located.select("cell_y", "cell_x").unique()
    cos_lat = 0.77  # cos(40 deg); distances only rank centroids within one city
    nearest = (
        cells.join(centroids, how="cross")
        .with_columns(
            distance=(((pl.col("cell_y") + 0.5) * CELL_DEGREES - pl.col("area_lat")) ** 2)
            + (((pl.col("cell_x") + 0.5) * CELL_DEGREES - pl.col("area_lon")) * cos_lat) ** 2
        )
        .sort("distance", "target_area")
        .group_by("cell_y", "cell_x", "target_agency")
        .agg(pl.col("target_area").first())
    )
    return (
        located.join(nearest, on=["cell_y", "cell_x"])
        .filter(pl.col("target_agency") != pl.col("agency_id"))
        .with_columns(bucket_start=pl.col("received_at").dt.truncate("1h"))
        .group_by("target_agency", "target_area", "bucket_start")
        .agg(other_incidents=pl.len().cast(pl.Int32))
        .rename({"target_agency": "agency_id", "target_area": "area_id"})
    )
