"""Cross-agency demand: what the other agencies see in each agency's areas.

Agencies cut the map into their own areas (police beats, fire districts, EMS zones), so
"the same area" is found by place: each agency's area has a centroid (the median
location of its own incidents), and another agency's incident counts in the area whose
centroid is nearest. Lookups go through a grid of small cells, so the cost grows with the
number of cells, not incidents x areas. An agency whose areas have real geometry (H3 cells,
polygons: ``features.places``) instead counts another agency's incident in the area that
contains its location (``placed``).
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


def cross_agency_demand(
    incidents: pl.LazyFrame, placed: pl.LazyFrame | None = None, placed_agencies: tuple[str, ...] = ()
) -> pl.LazyFrame:
    """Per agency x area x hour: incidents of *other* agencies located in that area.

    Only hours with any appear; the caller aligns it with the panel and fills zeros.
    Areas are numbered (``_target``, in agency and area order) and cells packed into one
    integer, so the large join and count run on integer keys.

    Args:
        incidents: incident_key, agency_id, area_id, received_at, lat, lon.
        placed: incident_key, target_agency, target_area_id: other agencies' incidents in the
            areas of ``placed_agencies`` (``features.places.placed_in_others``); those agencies'
            areas are found by containment, every other agency's by nearest centroid.
    """
    by_centroid = _nearest_centroid_demand(incidents, skipped=placed_agencies)
    if placed is None or not placed_agencies:
        return by_centroid
    by_place = (
        incidents.select("incident_key", bucket_start=pl.col("received_at").dt.truncate("1h"))
        .join(placed, on="incident_key")
        .group_by(agency_id="target_agency", area_id="target_area_id", bucket_start="bucket_start")
        .agg(other_incidents=pl.len().cast(pl.Int32))
    )
    return pl.concat([by_centroid, by_place.select(by_centroid.collect_schema().names())])


def _nearest_centroid_demand(incidents: pl.LazyFrame, skipped: tuple[str, ...] = ()) -> pl.LazyFrame:
    """``cross_agency_demand`` in the areas of every agency but ``skipped``, by nearest centroid."""
    located = _cells(incidents.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null()))
    centroids = (
        area_centroids(incidents)
        .filter(~pl.col("agency_id").is_in(list(skipped)))
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
