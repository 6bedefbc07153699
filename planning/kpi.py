"""Joint-operations KPIs per agency and period: demand, response times and joint events.

Pure polars: frames in, frames out. Every KPI row belongs to one agency (or feed) and one
*period*: the local calendar month (``period = 'month'``) or ISO week (``'week'``, Monday
to Sunday, kept for the latest ``weeks`` weeks of each agency's data) of the moment it is
counted at, in the agency's time zone. ``period_start`` is the period's first local date,
``period_end`` the first date after it.

Percentiles are linear-interpolation quantiles (polars ``interpolation="linear"``, the
same as DuckDB's ``quantile_cont`` and numpy's default): p50 and p90 of a group's values.

Response times count calls for service: officer-initiated records (call_source
'officer') start on scene and are left out; a record counts as *timed* for a measure when
it has both timestamps and the later is not before received_at. A record whose timestamp
is earlier than received_at is counted in ``out_of_order``, so calls = timed + untimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import polars as pl

from features.joint_summary import joint_event_leads

WEEKS = 8
"""ISO weeks of weekly KPIs kept per agency: the latest ones, up to the agency's newest data."""
PERIOD_KEYS = ("period", "period_start", "period_end")
RESPONSE_MEASURES = {"dispatch": "dispatched_at", "on_scene": "on_scene_at"}
"""Measure name -> the timestamp it runs to from received_at."""
_MINUTE_US = 60_000_000

DEMAND_SCHEMA = {
    "agency_id": pl.String, "period": pl.String, "period_start": pl.Date, "period_end": pl.Date,
    "incident_type": pl.String, "call_source": pl.String, "incidents": pl.Int64,
}  # fmt: skip
RESPONSE_SCHEMA = {
    "agency_id": pl.String, "period": pl.String, "period_start": pl.Date, "period_end": pl.Date,
    "priority": pl.Int32, "measure": pl.String, "calls": pl.Int64, "timed": pl.Int64,
    "out_of_order": pl.Int64, "p50_minutes": pl.Float64, "p90_minutes": pl.Float64,
}  # fmt: skip
JOINT_SCHEMA = {
    "agency_id": pl.String, "period": pl.String, "period_start": pl.Date, "period_end": pl.Date,
    "lead_agency": pl.String, "joint_events": pl.Int64, "joint_records": pl.Int64,
    "partner_agencies": pl.List(pl.String), "arrivals_known": pl.Int64, "lead_first_arrivals": pl.Int64,
    "lead_first_arrival_share": pl.Float64,
}  # fmt: skip


def local_day(frame: pl.DataFrame, at: str, by: str, zones: Mapping[str, str]) -> pl.DataFrame:
    """``frame`` with ``_day``: the local date of column ``at`` in the time zone of its ``by`` key
    (``zones``; UTC for a key without one, so no row is lost)."""
    if frame.is_empty():
        return frame.with_columns(_day=pl.lit(None, dtype=pl.Date))
    parts = [
        frame.filter(pl.col(by) == key).with_columns(
            _day=pl.col(at).dt.convert_time_zone(zones.get(key, "UTC")).dt.date()
        )
        for key in frame[by].unique().sort()
    ]
    return pl.concat(parts)


def in_periods(frame: pl.DataFrame, by: str, weeks: int = WEEKS) -> pl.DataFrame:
    """Each row of ``frame`` (with ``_day``) once in its month and, when its ISO week is one of the
    latest ``weeks`` of its ``by`` key, once more in that week; ``_day`` is replaced by the period."""
    month = pl.col("_day").dt.truncate("1mo")
    week = pl.col("_day").dt.truncate("1w")  # Monday
    months = frame.with_columns(
        period=pl.lit("month"), period_start=month, period_end=month.dt.offset_by("1mo")
    )
    latest = pl.col("period_start").max().over(by) - timedelta(days=7 * (weeks - 1))
    weekly = frame.with_columns(
        period=pl.lit("week"), period_start=week, period_end=week + timedelta(days=7)
    ).filter(pl.col("period_start") >= latest)
    return pl.concat([months, weekly]).drop("_day")


def as_schema(frame: pl.DataFrame, schema: Mapping[str, pl.DataType], *order: str) -> pl.DataFrame:
    """``frame``'s columns of ``schema``, cast to it and sorted by ``order`` (nulls last)."""
    if frame.is_empty():
        return pl.DataFrame(schema=dict(schema))
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items()).sort(
        *order, nulls_last=True
    )


def demand_kpis(incidents: pl.DataFrame, zones: Mapping[str, str], weeks: int = WEEKS) -> pl.DataFrame:
    """Incidents per agency, period, incident type and call source (every record of core.incidents)."""
    dated = in_periods(local_day(incidents, "received_at", "agency_id", zones), "agency_id", weeks)
    counted = dated.group_by("agency_id", *PERIOD_KEYS, "incident_type", "call_source").agg(
        incidents=pl.len()
    )
    return as_schema(
        counted, DEMAND_SCHEMA, "agency_id", "period", "period_start", "incident_type", "call_source"
    )


def response_kpis(incidents: pl.DataFrame, zones: Mapping[str, str], weeks: int = WEEKS) -> pl.DataFrame:
    """Received -> dispatched and received -> on scene, p50 and p90 minutes, per agency, period and
    priority; a group without timestamps has null percentiles."""
    calls = incidents.filter(pl.col("call_source").ne_missing("officer"))
    dated = in_periods(local_day(calls, "received_at", "agency_id", zones), "agency_id", weeks)
    parts = []
    for measure, column in RESPONSE_MEASURES.items():
        minutes = (pl.col(column) - pl.col("received_at")).dt.total_microseconds() / _MINUTE_US
        timed = minutes.filter(minutes >= 0)
        parts.append(
            dated.group_by("agency_id", *PERIOD_KEYS, "priority").agg(
                measure=pl.lit(measure),
                calls=pl.len(),
                timed=(minutes >= 0).sum(),
                out_of_order=(minutes < 0).sum(),
                p50_minutes=timed.quantile(0.5, interpolation="linear"),
                p90_minutes=timed.quantile(0.9, interpolation="linear"),
            )
        )
    order = ("agency_id", "period", "period_start", "priority", "measure")
    return as_schema(pl.concat(parts) if parts else pl.DataFrame(), RESPONSE_SCHEMA, *order)


def joint_kpis(
    incidents: pl.DataFrame,
    roles: Mapping[str, tuple[str, tuple[str, ...]]],
    zones: Mapping[str, str],
    weeks: int = WEEKS,
) -> pl.DataFrame:
    """Each agency's joint events per period and lead agency, with the lead's first arrivals.

    An event counts for every agency with a record in it, in the period of the event's first
    received_at (in that agency's time zone). The lead follows ``joint_event_leads`` (the
    [[roles]] lead when it took part). The lead *arrived first* when its earliest on_scene_at
    equals the event's earliest (a tie counts for the lead); ``arrivals_known`` counts the events
    with any on_scene_at, the denominator of ``lead_first_arrival_share``.
    """
    linked = incidents.filter(pl.col("joint_event_id").is_not_null())
    if linked.is_empty():
        return pl.DataFrame(schema=JOINT_SCHEMA)
    events = (
        linked.join(joint_event_leads(linked, dict(roles)), on="joint_event_id")
        .group_by("joint_event_id")
        .agg(
            pl.col("agencies").first(),
            pl.col("lead_agency").first(),
            started_at=pl.col("received_at").min(),
            first_on_scene=pl.col("on_scene_at").min(),
            lead_on_scene=pl.col("on_scene_at").filter(pl.col("agency_id") == pl.col("lead_agency")).min(),
        )
        .with_columns(
            arrival_known=pl.col("first_on_scene").is_not_null(),
            lead_first=(pl.col("lead_on_scene") == pl.col("first_on_scene")).fill_null(False),
        )
    )
    records = (
        linked.group_by("agency_id", "joint_event_id").agg(records=pl.len()).join(events, on="joint_event_id")
    )
    dated = in_periods(local_day(records, "started_at", "agency_id", zones), "agency_id", weeks)
    summary = (
        dated.group_by("agency_id", *PERIOD_KEYS, "lead_agency")
        .agg(
            joint_events=pl.len(),
            joint_records=pl.col("records").sum(),
            partner_agencies=pl.col("agencies").explode().unique().sort(),
            arrivals_known=pl.col("arrival_known").sum(),
            lead_first_arrivals=pl.col("lead_first").sum(),
        )
        .with_columns(
            pl.col("partner_agencies").list.set_difference(pl.concat_list("agency_id")).list.sort(),
            lead_first_arrival_share=pl.when(pl.col("arrivals_known") > 0).then(
                pl.col("lead_first_arrivals") / pl.col("arrivals_known")
            ),
        )
    )
    return as_schema(summary, JOINT_SCHEMA, "agency_id", "period", "period_start", "lead_agency")
