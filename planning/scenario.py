"""What-if scenarios: the live forecast changed by planned events, outages and labelled factors.

Pure: frames in, frames out. The order of a run (flows/scenario.py) is:

1. ``events_file_rows``: the scenario's planned events as rows of the events file (one per event,
   the areas it touches as 'agency_id:area_id'); a point with a radius touches every area whose
   shape (its polygon, else its centroid's Voronoi cell, as the report's map draws it,
   planning.areamap) meets the circle.
2. ``with_events``: the model inputs of the hours ahead with those events added to their
   ``event_active`` / ``event_attendance`` features. The champion predicts both and ``event_ratio``
   is the model's answer (kept as ``model_mean``); the size used is the agency's learned event
   response (planning.event_response), the model's answer only for an agency without past events.
   Hours no event reaches keep the live numbers exactly.
3. ``with_factors``: labelled per-agency factors (a planner's judgement, named as such).
4. ``with_outages``: an agency whose dispatch is down hands the incident types it leads
   (``[[roles]]``) to their supporting agencies: its share of those types (from its recent
   history, features.service_profile) of each hour's mean, split evenly among the supporting
   agencies, each into its area nearest the lead's area (centroids).
5. Staffing as published (planning.staffing), then ``staffing_difference`` against the live
   staffing and ``mutual_aid``: per agency and shift, units needed against units available
   (``[[agencies]] available_units``, or an outage's ``units``), and a partner by roles with
   spare units in the same hours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

import numpy as np
import polars as pl
import shapely

from features.area_ids import named_areas
from features.calendar import event_features
from planning.areamap import area_shapes
from planning.scenario_file import Outage, PlannedEvent, ScenarioError, ScenarioSpec

METRES_PER_DEGREE_LAT = 111_320.0
AREA_KEYS = ("agency_id", "area_id")


def event_areas(event: PlannedEvent, areas: pl.DataFrame, bboxes: Mapping[str, tuple | None]) -> list[str]:
    """'agency_id:area_id' of every area ``event`` touches: the areas it names (as published: one
    named up to case and spacing is written as ``areas`` writes it), or those whose shape meets the
    circle of ``radius_m`` around its ``point`` (``areas``: forecast.areas)."""
    if event.point is None:
        named = pl.DataFrame(
            [area.partition(":")[::2] for area in event.areas],
            schema={"agency_id": pl.String, "area_id": pl.String},
            orient="row",
        )
        published = named_areas(named.lazy(), areas.lazy()).collect()
        return [f"{agency_id}:{area_id}" for agency_id, area_id in published.iter_rows()]
    lon, lat = event.point
    touched = []
    for agency_id in sorted(areas["agency_id"].unique().to_list()):
        shapes = area_shapes(areas.filter(pl.col("agency_id") == agency_id), bboxes.get(agency_id))
        circle = shapely.Point(lon * shapes.scale, lat).buffer(event.radius_m / METRES_PER_DEGREE_LAT)
        touched += [
            f"{agency_id}:{area}" for area, shape in sorted(shapes.shapes.items()) if shape.intersects(circle)
        ]
    return touched


def events_file_rows(
    spec: ScenarioSpec, areas: pl.DataFrame, bboxes: Mapping[str, tuple | None]
) -> pl.DataFrame:
    """The scenario's events as rows of the events file (features.calendar.EVENT_SCHEMA)."""
    rows = []
    for i, event in enumerate(spec.events):
        touched = event_areas(event, areas, bboxes)
        if not touched:
            raise ScenarioError(f"scenario {spec.name}: events[{i}] ({event.name}) touches no published area")
        lon, lat = event.point or (None, None)
        rows.append(
            {
                "event_id": f"{spec.name}-{i + 1}", "name": event.name, "start_local": event.start,
                "end_local": event.end, "lat": lat, "lon": lon, "radius_m": int(event.radius_m),
                "expected_attendance": event.expected_attendance, "areas": "|".join(touched),
            }
        )  # fmt: skip
    schema = {"event_id": pl.String, "name": pl.String, "start_local": pl.Datetime("us"),
              "end_local": pl.Datetime("us"), "lat": pl.Float64, "lon": pl.Float64, "radius_m": pl.Int32,
              "expected_attendance": pl.Int32, "areas": pl.String}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def with_events(inputs: pl.DataFrame, events: pl.DataFrame, timezones: Mapping[str, str]) -> pl.DataFrame:
    """``inputs`` (model-input rows) with the scenario's ``events`` added to their event features, and
    ``scenario_attendance`` (the scenario's own attendance in that area and hour, else 0)."""
    if events.is_empty():
        return inputs.with_columns(scenario_attendance=pl.lit(0, pl.Int32))
    keys = inputs.select("agency_id", "area_id", "bucket_start").lazy()
    added = event_features(keys, events, timezone=dict(timezones)).collect()
    return inputs.with_columns(
        event_active=pl.col("event_active") | added["event_active"],
        event_attendance=pl.col("event_attendance") + added["event_attendance"],
        scenario_attendance=added["event_attendance"],
    )


def event_ratio(keys: pl.DataFrame, without: np.ndarray, with_events: np.ndarray) -> pl.DataFrame:
    """Per agency x area x hour, the model's mean with the scenario's events over its mean without."""
    ratio = np.divide(with_events, without, out=np.ones_like(with_events), where=without > 0)
    return keys.select(*AREA_KEYS, "bucket_start").with_columns(
        event_ratio=pl.Series(ratio, dtype=pl.Float64)
    )


def _local_window(start: datetime | None, end: datetime | None, timezone: str) -> pl.Expr:
    local = pl.col("bucket_start").dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    inside = pl.lit(True)
    if start is not None:
        inside &= local >= start
    if end is not None:
        inside &= local < end
    return inside


def with_factors(demand: pl.DataFrame, spec: ScenarioSpec, timezones: Mapping[str, str]) -> pl.DataFrame:
    """``demand`` (agency_id, bucket_start, mean) with ``factor`` and ``factor_labels`` applied."""
    demand = demand.with_columns(factor=pl.lit(1.0), factor_labels=pl.lit(None, pl.String))
    for f in spec.factors:
        hit = (pl.col("agency_id") == f.agency) & _local_window(f.start, f.end, timezones[f.agency])
        label = pl.concat_str(pl.col("factor_labels"), pl.lit(f"{f.label} x{f.factor:g}"), separator="; ")
        demand = demand.with_columns(
            factor=pl.when(hit).then(pl.col("factor") * f.factor).otherwise("factor"),
            factor_labels=pl.when(hit)
            .then(label.fill_null(pl.lit(f"{f.label} x{f.factor:g}")))
            .otherwise("factor_labels"),
        )
    return demand.with_columns(mean=pl.col("mean") * pl.col("factor"))


def led_shares(
    service_profile: pl.DataFrame, roles: Mapping[str, tuple[str, tuple[str, ...]]]
) -> pl.DataFrame:
    """Per lead agency and incident type it leads: ``share`` of its recent incidents of that type
    (features.service_profile) and the ``supporting`` agencies the type goes to."""
    totals = service_profile.group_by("agency_id").agg(total=pl.col("incidents").sum())
    led = pl.DataFrame(
        [(t, lead, list(supporting)) for t, (lead, supporting) in roles.items()],
        schema={"incident_type": pl.String, "agency_id": pl.String, "supporting": pl.List(pl.String)},
        orient="row",
    )
    return (
        service_profile.select("agency_id", "incident_type", "incidents")
        .join(led, on=["agency_id", "incident_type"])
        .join(totals, on="agency_id")
        .select("agency_id", "incident_type", "supporting", share=pl.col("incidents") / pl.col("total"))
        .filter(pl.col("share") > 0)
        .sort("agency_id", "incident_type")
    )


def nearest_areas(areas: pl.DataFrame, source: str, target: str) -> dict[str, str]:
    """Each area of agency ``source`` with a centroid -> the area of ``target`` nearest to it."""
    placed = areas.filter(pl.col("centroid_lat").is_not_null() & pl.col("centroid_lon").is_not_null())
    mine, theirs = placed.filter(pl.col("agency_id") == source), placed.filter(pl.col("agency_id") == target)
    if mine.is_empty() or theirs.is_empty():
        return {}
    scale = math.cos(math.radians(float(placed["centroid_lat"].mean())))
    x, y = theirs["centroid_lon"].to_numpy() * scale, theirs["centroid_lat"].to_numpy()
    nearest = {}
    for area, lon, lat in mine.select("area_id", "centroid_lon", "centroid_lat").iter_rows():
        nearest[area] = theirs["area_id"][int(np.argmin(np.hypot(x - lon * scale, y - lat)))]
    return nearest


def with_outages(
    demand: pl.DataFrame,
    outages: tuple[Outage, ...],
    shares: pl.DataFrame,
    areas: pl.DataFrame,
    timezones: Mapping[str, str],
) -> pl.DataFrame:
    """``demand`` (agency_id, area_id, bucket_start, mean) with the led types of every agency whose
    dispatch is down moved to their supporting agencies: ``moved_out`` (taken from the lead's mean)
    and ``moved_in`` (added to a supporting agency's mean, in its area nearest the lead's area, else
    spread over its areas in proportion to their mean that hour)."""
    keys = [*AREA_KEYS, "bucket_start"]
    demand = demand.with_columns(moved_in=pl.lit(0.0), moved_out=pl.lit(0.0))
    down = {o.agency for o in outages if o.dispatch_down}
    for outage in (o for o in outages if o.dispatch_down):
        lead = outage.agency
        window = (pl.col("agency_id") == lead) & _local_window(outage.start, outage.end, timezones[lead])
        hours = demand.filter(window).select(*keys, "mean")
        moved_out, moved_in = [], []
        for supporting, share in (
            shares.filter(pl.col("agency_id") == lead).select("supporting", "share").iter_rows()
        ):
            partners = [s for s in supporting if s not in down and s in timezones]
            if not partners:
                continue
            moved_out.append(hours.select(*keys, moved=pl.col("mean") * share))
            for partner in partners:
                handed = hours.select("area_id", "bucket_start", moved=pl.col("mean") * share / len(partners))
                moved_in.append(
                    _received(handed, demand.filter(pl.col("agency_id") == partner), partner, lead, areas)
                )
        if not moved_out:
            continue
        out = pl.concat(moved_out).group_by(keys).agg(pl.col("moved").sum())
        got = pl.concat(moved_in).group_by(keys).agg(pl.col("moved").sum())
        demand = (
            demand.join(out.rename({"moved": "_out"}), on=keys, how="left")
            .join(got.rename({"moved": "_in"}), on=keys, how="left")
            .with_columns(
                moved_out=pl.col("moved_out") + pl.col("_out").fill_null(0.0),
                moved_in=pl.col("moved_in") + pl.col("_in").fill_null(0.0),
            )
            .drop("_out", "_in")
        )
    return demand.with_columns(mean=pl.col("mean") - pl.col("moved_out") + pl.col("moved_in"))


def _received(
    handed: pl.DataFrame, partner: pl.DataFrame, partner_id: str, lead: str, areas: pl.DataFrame
) -> pl.DataFrame:
    """The ``handed`` incidents (lead's area_id, bucket_start, moved) in the partner's areas."""
    nearest = nearest_areas(areas, lead, partner_id)
    mapped = handed.with_columns(target=pl.col("area_id").replace_strict(nearest, default=None))
    placed = (
        mapped.filter(pl.col("target").is_not_null())
        .group_by(area_id="target", bucket_start="bucket_start")
        .agg(pl.col("moved").sum())
    )
    loose = mapped.filter(pl.col("target").is_null()).group_by("bucket_start").agg(pl.col("moved").sum())
    weights = partner.select("area_id", "bucket_start", "mean").with_columns(
        weight=pl.col("mean") / pl.col("mean").sum().over("bucket_start")
    )
    spread = loose.join(weights, on="bucket_start").select(
        "area_id", "bucket_start", moved=pl.col("moved") * pl.col("weight").fill_nan(0.0)
    )
    return pl.concat([placed.select("area_id", "bucket_start", "moved"), spread]).with_columns(
        agency_id=pl.lit(partner_id)
    )


def staffing_difference(baseline: pl.DataFrame, scenario: pl.DataFrame) -> pl.DataFrame:
    """Per agency x area x shift: incidents and units, live and under the scenario, and the change."""
    keys = [*AREA_KEYS, "shift_name", "shift_start"]
    live = baseline.select(*keys, baseline_incidents="expected_incidents", baseline_units="recommended_units")
    return (
        scenario.select(*keys, "shift_date", "shift_start_local", scenario_incidents="expected_incidents",
                        scenario_units="recommended_units")  # fmt: skip
        .join(live, on=keys, how="inner")
        .with_columns(
            incidents_change=pl.col("scenario_incidents") - pl.col("baseline_incidents"),
            units_change=(pl.col("scenario_units") - pl.col("baseline_units")).cast(pl.Int32),
        )
        .select(*AREA_KEYS, "shift_name", "shift_date", "shift_start", "shift_start_local",
                "baseline_incidents", "scenario_incidents", "incidents_change", "baseline_units",
                "scenario_units", "units_change")
        .sort(*AREA_KEYS, "shift_start")
    )  # fmt: skip


MUTUAL_AID_SCHEMA = {
    "agency_id": pl.String, "shift_name": pl.String, "shift_date": pl.Date,
    "shift_start": pl.Datetime("us", "UTC"), "shift_end": pl.Datetime("us", "UTC"),
    "shift_start_local": pl.Datetime("us"), "needed_units": pl.Int32, "available_units": pl.Int32,
    "short_units": pl.Int32, "areas": pl.List(pl.String), "partner_agency": pl.String,
    "partner_spare_units": pl.Int32, "covered_units": pl.Int32, "uncovered_units": pl.Int32,
}  # fmt: skip


def units_available(
    totals: pl.DataFrame,
    outages: tuple[Outage, ...],
    available: Mapping[str, int | None],
    timezones: Mapping[str, str],
) -> pl.DataFrame:
    """``totals`` (agency_id, shift_start, shift_end, needed_units) with ``available_units``: the
    configured units, or the fewest units of an outage overlapping the shift (null: not configured)."""
    totals = totals.with_columns(
        available_units=pl.col("agency_id").replace_strict(
            dict(available), default=None, return_dtype=pl.Int32
        )
    )
    for outage in (o for o in outages if o.units is not None):
        zone = timezones[outage.agency]
        start = _instant(outage.start, zone)
        end = _instant(outage.end, zone)
        overlaps = (
            (pl.col("agency_id") == outage.agency)
            & (pl.col("shift_start") < end)
            & (pl.col("shift_end") > start)
        )
        reduced = pl.min_horizontal(pl.col("available_units"), pl.lit(outage.units, pl.Int32))
        totals = totals.with_columns(
            available_units=pl.when(overlaps).then(reduced).otherwise("available_units")
        )
    return totals


def _instant(local: datetime, zone: str) -> pl.Expr:
    """A naive local wall-clock time in ``zone`` as a UTC instant (a repeated hour: the later one)."""
    zoned = pl.lit(local, pl.Datetime("us")).dt.replace_time_zone(
        zone, ambiguous="latest", non_existent="null"
    )
    return zoned.dt.convert_time_zone("UTC")


def role_partners(roles: Mapping[str, tuple[str, tuple[str, ...]]]) -> dict[str, set[str]]:
    """Agency -> the agencies it shares a [[roles]] entry with (lead and supporting, both ways)."""
    partners: dict[str, set[str]] = {}
    for lead, supporting in roles.values():
        for agency in (lead, *supporting):
            partners.setdefault(agency, set()).update(a for a in (lead, *supporting) if a != agency)
    return partners


def mutual_aid(
    staffing: pl.DataFrame,
    difference: pl.DataFrame,
    outages: tuple[Outage, ...],
    available: Mapping[str, int | None],
    timezones: Mapping[str, str],
    roles: Mapping[str, tuple[str, tuple[str, ...]]],
    top_areas: int = 3,
) -> pl.DataFrame:
    """One row per agency and shift that needs more units than it has under the scenario: how many
    short, where (the areas the scenario adds most units to, else its busiest), and the partner by
    roles with the most spare units over the same hours (an agency whose dispatch is down is none)."""
    shift = ("agency_id", "shift_name", "shift_date", "shift_start", "shift_end", "shift_start_local")
    totals = units_available(
        staffing.group_by(*shift)
        .agg(needed_units=pl.col("recommended_units").sum().cast(pl.Int32)),
        outages, available, timezones,
    ).with_columns(spare=pl.col("available_units") - pl.col("needed_units"))  # fmt: skip
    short = totals.filter(pl.col("spare") < 0).sort("agency_id", "shift_start")
    down = {o.agency for o in outages if o.dispatch_down}
    partners = role_partners(roles)
    rows = []
    for row in short.iter_rows(named=True):
        overlapping = totals.filter(
            pl.col("agency_id").is_in(sorted(partners.get(row["agency_id"], set()) - down)),
            pl.col("shift_start") < row["shift_end"], pl.col("shift_end") > row["shift_start"],
            pl.col("spare").is_not_null(),
        ).group_by("agency_id").agg(pl.col("spare").min()).filter(pl.col("spare") > 0).sort(
            ["spare", "agency_id"], descending=[True, False]
        )  # fmt: skip
        partner = overlapping.row(0, named=True) if overlapping.height else None
        needed = -row["spare"]
        covered = min(needed, partner["spare"]) if partner else 0
        rows.append({
            **{k: row[k] for k in ("agency_id", "shift_name", "shift_date", "shift_start", "shift_end",
                                   "shift_start_local", "needed_units", "available_units")},
            "short_units": needed, "areas": _where(staffing, difference, row, top_areas),
            "partner_agency": partner["agency_id"] if partner else None,
            "partner_spare_units": partner["spare"] if partner else None,
            "covered_units": covered, "uncovered_units": needed - covered,
        })  # fmt: skip
    return pl.DataFrame(rows, schema=MUTUAL_AID_SCHEMA)


def _where(staffing: pl.DataFrame, difference: pl.DataFrame, shift: dict, top: int) -> list[str]:
    """The areas of the shift the scenario adds units to, most first; else its busiest areas."""
    mine = (pl.col("agency_id") == shift["agency_id"]) & (pl.col("shift_start") == shift["shift_start"])
    mine &= pl.col("shift_name") == shift["shift_name"]
    added = difference.filter(mine, pl.col("units_change") > 0).sort(
        ["units_change", "area_id"], descending=[True, False]
    )
    if added.height:
        return added["area_id"].head(top).to_list()
    busiest = staffing.filter(mine).sort(["recommended_units", "area_id"], descending=[True, False])
    return busiest["area_id"].head(top).to_list()
