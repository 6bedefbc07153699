"""Cross-agency demand: what the other agencies see in each agency's areas.

Agencies cut the map into their own areas (police beats, fire districts, EMS zones), so
"the same area" is found by place: each agency's area has a centroid (the median
location of its own incidents), and another agency's incident counts in the area whose
centroid is nearest. Lookups go through a grid of small cells, so the cost grows with the
number of cells, not incidents x areas.
"""

from __future__ import annotations

import polars as pl

from features.panel import hour_key

CELL_DEGREES = 0.002  # about 200 m
COS_LAT = 0.77  # cos(40 deg): east-west degrees are shorter; distances only rank nearby centroids


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
    cell_y = (pl.col("lat") / CELL_DEGREES).floor().cast(pl.Int32)
    cell_x = (pl.col("lon") / CELL_DEGREES).floor().cast(pl.Int32)
    return frame.with_columns(cell_y=cell_y, cell_x=cell_x, _cell=cell_y.cast(pl.Int64) * 2**32 + cell_x)


def cross_agency_demand(incidents: pl.LazyFrame) -> pl.LazyFrame:
    """Per agency x area x hour: incidents of *other* agencies located in that area.

    Only hours with any appear; the caller aligns it with the panel and fills zeros.
    Areas are numbered (``_target``, in agency and area order) and cells packed into one
    integer, so the large join and count run on integer keys.
    """
    located = _cells(incidents.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null()))
    centroids = (
        area_centroids(incidents)
        .sort("agency_id", "area_id")
        .with_row_index("_target")
        .with_columns(_target_agency=pl.col("agency_id").rank("dense"))
    )
    cells = located.group_by("_cell").agg(pl.col("cell_y", "cell_x").first())
    distance = (((pl.col("cell_y") + 0.5) * CELL_DEGREES - pl.col("area_lat")) ** 2) + (
        ((pl.col("cell_x") + 0.5) * CELL_DEGREES - pl.col("area_lon")) * COS_LAT
    ) ** 2
    nearest = (
        cells.join(centroids, how="cross")
        .with_columns(distance=distance)
        .group_by("_cell", "_target_agency")
        # the nearest centroid; of equally near ones the first area in name order
        .agg(pl.col("_target").filter(pl.col("distance") == pl.col("distance").min()).min())
    )
    agencies = centroids.select("agency_id", "_target_agency").unique()
    return (
        located.select("_cell", "agency_id", bucket_start=pl.col("received_at").dt.truncate("1h"))
        .join(agencies, on="agency_id", how="left")
        .join(nearest, on="_cell", suffix="_nearest")
        .filter(pl.col("_target_agency_nearest").ne_missing(pl.col("_target_agency")))
        .with_columns(_key=hour_key("_target"))
        # sorted first: a group-by that keeps order then runs along the sorted key, no hashing
        .sort("_key")
        .group_by("_key", maintain_order=True)
        .agg(pl.col("_target", "bucket_start").first(), other_incidents=pl.len().cast(pl.Int32))
        .join(centroids.select("_target", "agency_id", "area_id"), on="_target")
        .select("agency_id", "area_id", "bucket_start", "other_incidents")
    )
