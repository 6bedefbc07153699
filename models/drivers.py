"""Why this number: each forecast's top reasons, from the model's own feature contributions.

The demand model's ``explain`` splits each prediction into one contribution per feature
plus the model's baseline, exactly (LightGBM's ``pred_contrib``: TreeSHAP). Its Poisson
objective works on the log of the mean, so a contribution c multiplies the forecast by
exp(c): a planner reads it as a percentage of a typical hour ("same hour last week +35%").
Related features (the hour of day and of the week, say) are one reason, summed before
ranking.

What sets an area's usual level (which area and agency it is, its share of the agency,
the last four weeks) says that a quiet area is quiet; planners know that. Those are left
out of the ranking, so the drivers say why this hour differs from the area's usual.
"""

from __future__ import annotations

import numpy as np
import polars as pl

LEVEL = "area's usual level"
REASONS = {
    "agency_id": LEVEL,
    "series_id": LEVEL,
    "min_lag": "how far ahead",
    "lag_recent": "latest known hour",
    "lag_week_1": "same hour last week",
    "lag_week_2": "same hour 2 weeks ago",
    "how_mean_4": "same hour, 4-week average",
    "how_mean_8": "same hour, 8-week average",
    "mean_24": "last 24 hours",
    "mean_168": "last 7 days",
    "mean_672": LEVEL,
    "std_168": "last week's ups and downs",
    "workload_mean_168": "last week's workload",
    "agency_how_mean_4": "agency-wide, same hour 4-week average",
    "agency_mean_168": "agency-wide, last 7 days",
    "agency_mean_672": LEVEL,
    "area_share": LEVEL,
    "other_mean_24": "other agencies here, last 24 hours",
    "other_mean_168": "other agencies here, last 7 days",
    "other_how_mean_4": "other agencies here, same hour",
    "hour": "time of day",
    "hour_of_week": "time of day",
    "day_of_week": "day of week",
    "is_weekend": "day of week",
    "week_of_year": "time of year",
    "month": "time of year",
    "day_of_year": "time of year",
    "is_holiday": "holiday",
    "is_day_before_holiday": "day before a holiday",
    "is_day_after_holiday": "day after a holiday",
    "event_active": "planned event",
    "event_attendance": "planned event",
}


def reason(feature: str) -> str:
    return REASONS.get(feature, feature.replace("_", " "))


def by_reason(contributions: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """Log-scale contributions per reason (columns, in first-seen feature order) for each row.

    ``contributions`` is a DemandModel's ``explain``: one column per feature.
    """
    raw = contributions.to_numpy()
    names: list[str] = []
    index = []
    for feature in contributions.columns:
        label = reason(feature)
        if label not in names:
            names.append(label)
        index.append(names.index(label))
    grouped = np.zeros((raw.shape[0], len(names)))
    np.add.at(grouped.T, np.array(index), raw.T)
    return names, grouped


def top_drivers(names: list[str], grouped: np.ndarray, top: int = 3) -> list[str]:
    """Per row, the ``top`` reasons by size of effect, as "reason +35%" joined by "; "."""
    size = np.abs(grouped)
    if LEVEL in names:
        size[:, names.index(LEVEL)] = -1.0
    order = np.argsort(-size, axis=1)[:, :top]
    effects = np.expm1(np.take_along_axis(grouped, order, axis=1)) * 100
    return [
        "; ".join(f"{names[j]} {effect:+.0f}%" for j, effect in zip(row, row_effects, strict=True))
        for row, row_effects in zip(order, effects, strict=True)
    ]


def drivers(contributions: pl.DataFrame, top: int = 3) -> list[str]:
    """Per row of a DemandModel's ``explain``, its ``top`` reasons (see ``top_drivers``)."""
    return top_drivers(*by_reason(contributions), top)
