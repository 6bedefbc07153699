"""The planner's report for one agency: one self-contained HTML page (inline CSS and SVG charts).

``render_report`` turns published frames into an HTML string and touches nothing else;
``write_report`` puts that string on disk atomically. The page loads nothing from the network.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import polars as pl
from matplotlib.figure import Figure

from features.areas import AREA_SCHEMA
from features.joint_summary import JOINT_DAYS, JOINT_SUMMARY_SCHEMA
from planning.areamap import area_shapes, hotspot_svg
from planning.page_kit import (
    ACTUAL,
    BAND,
    CSS,
    MEAN,
    SHIFT_COLOURS,
    html_table,
    local_time,
    style_axes,
    svg_figure,
)  # fmt: skip
from planning.publication import JOINT_OUTLOOK_SCHEMA
from planning.shift_totals import shift_totals
from planning.staffing import BASIS_FLOOR

logger = logging.getLogger(__name__)

TOP_AREAS = 10
AREAMAP_COLUMNS = ("agency_id", "area_id", "name", "centroid_lat", "centroid_lon", "geometry")
ACTUAL_DAYS = 14
"""Days of actuals the report shows before the forecast (publish reads just these)."""
AREA_COLUMNS = {column: dtype for column, dtype in AREA_SCHEMA.items() if column in AREAMAP_COLUMNS}
"""What the map reads of forecast.areas."""


@dataclass(frozen=True)
class AgencyReport:
    """One agency's published numbers. Datetimes are UTC; the page shows them in ``timezone`` (IANA)."""

    agency_id: str
    agency_name: str
    timezone: str
    publication: dict[str, object]  # publication_id, published_at, model_name, model_version, mlflow_run_id,
    # data_as_of, data_stale, stale_hours; model_baseline: what the forecast is when the model is a baseline
    agency_hourly: pl.DataFrame  # bucket_start, mean, p10, p50, p90 of the agency's total per hour
    actuals: pl.DataFrame  # bucket_start, incidents: the agency's total per hour before the forecast
    staffing: pl.DataFrame  # the agency's forecast.staffing rows, one per area and shift (staffing_basis too)
    areas: pl.DataFrame  # area_id, expected_incidents (next 7 days), peak_hour_mean, drivers
    overrides: pl.DataFrame  # active ones: override_id, area_id (null: all), starts_at, ends_at, factor,
    # reason, created_by
    area_shapes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=AREA_COLUMNS))
    """forecast.areas rows of the agency: area_id, name, centroid_lat, centroid_lon, geometry (WKT)."""
    joint_events: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=JOINT_SUMMARY_SCHEMA))
    """forecast.joint_summary rows of the agency."""
    joint_outlook: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=JOINT_OUTLOOK_SCHEMA))
    """planning.publication.joint_outlook rows of the incident types the agency leads or supports."""
    bbox: tuple[float, float, float, float] | None = None  # the agency's configured bbox, if any
    kpis: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    """The agency's rows of the kpi.* tables by name (warehouse.kpi_store); empty before any KPIs."""


def render_report(report: AgencyReport, days: int = 7) -> str:
    """The whole page for the first ``days`` days of the forecast (the chart also shows the actuals)."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    from planning.kpi_page import kpi_section  # it draws with this module's chart helpers

    zone = ZoneInfo(report.timezone)
    staffing = _first_dates(report.staffing, days)
    sections = [
        _header(report, zone),
        "<h2>1. Expected incidents per hour, whole agency</h2>",
        _forecast_section(report, zone, days),
        f"<h2>2. Units on duty per shift, next {days} days</h2>",
        _staffing_section(staffing),
        "<h2>3. Hot spots, coming shift</h2>",
        _map_section(report, zone),
        f"<h2>4. Busiest areas, next 7 days (top {TOP_AREAS})</h2>",
        _areas_section(report.areas),
        "<h2>5. Active planner overrides</h2>",
        _overrides_section(report.overrides, zone),
        f"<h2>6. Joint events, last {JOINT_DAYS} days</h2>",
        _joint_section(report.joint_events, report.agency_id, zone),
        _joint_outlook_section(report.joint_outlook, report.agency_id),
        "<h2>7. Joint-operations KPIs</h2>",
        kpi_section(report.kpis, report.agency_id),
        _footer(report),
    ]
    title = escape(f"{report.agency_name}: demand and staffing forecast")
    publication_id = escape(str(report.publication.get("publication_id", "")))  # which one (flows.publish)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="jointcast-publication" content="{publication_id}">\n'
        f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


def _header(report: AgencyReport, zone: ZoneInfo) -> str:
    publication = report.publication
    model = f"{publication.get('model_name', '?')} v{publication.get('model_version', '?')}"
    html = (
        f"<header><h1>{escape(report.agency_name)}</h1>\n<div class='meta'>Demand and staffing forecast"
        f" · agency <code>{escape(report.agency_id)}</code> · times in {escape(report.timezone)}</div>\n"
        f"<div class='meta'>Published <b>{local_time(publication.get('published_at'), zone)}</b>"
        f" · data as of <b>{local_time(publication.get('data_as_of'), zone)}</b> · model"
        f" <b>{escape(model)}</b>"
        f" · MLflow run <code>{escape(str(publication.get('mlflow_run_id', '?')))}</code>"
        f" · publication <code>{escape(str(publication.get('publication_id', '?')))}</code></div>\n"
        f"<div class='meta'>How past forecasts turned out: <a class='accuracy-link' "
        f"href='{quote(report.agency_id)}_accuracy.html'>accuracy against actuals</a> (written by "
        "<code>jointcast monitor</code>) · what-if plans: <a class='scenario-link' "
        f"href='{quote(report.agency_id)}_scenarios.html'>scenarios</a> (written by "
        "<code>jointcast scenario run</code>)</div>\n"
    )
    if baseline := publication.get("model_baseline"):
        html += (
            f"<div class='meta baseline-note'>The forecast is {escape(str(baseline))} because no trained "
            "model beat it on the backtest.</div>\n"
        )
    if publication.get("data_stale"):
        hours = publication.get("stale_hours")
        age = f"{float(hours):.0f} hours old" if hours is not None else "older than expected"
        html += (
            "<div class='banner stale-banner' role='alert'>Warning: stale data. The newest incidents in the"
            f" warehouse are {escape(age)} (data as of"
            f" {local_time(publication.get('data_as_of'), zone)}). The"
            " forecast may miss recent changes: check the feeds before relying on it.</div>\n"
        )
    return html + "</header>"


def _forecast_section(report: AgencyReport, zone: ZoneInfo, days: int) -> str:
    forecast = report.agency_hourly.sort("bucket_start")
    if forecast.is_empty():
        return "<p>No forecast was published.</p>"
    start = forecast["bucket_start"].min()
    forecast = forecast.filter(pl.col("bucket_start") < start + timedelta(days=days))
    actuals = report.actuals.filter(
        pl.col("bucket_start").is_between(start - timedelta(days=ACTUAL_DAYS), start, closed="left")
    ).sort("bucket_start")
    fig = Figure(figsize=(11, 3.8))
    ax = fig.subplots()
    x = forecast["bucket_start"].to_list()
    ax.fill_between(x, forecast["p10"].clip(0).to_list(), forecast["p90"].to_list(), color=BAND,
                    lw=0, label="likely range (p10 to p90)")  # fmt: skip
    observed = actuals["incidents"].fill_null(float("nan")).to_list()  # a feed outage: a gap, not zeros
    ax.plot(actuals["bucket_start"].to_list(), observed, color=ACTUAL, lw=0.9,
            label="actual incidents")  # fmt: skip
    ax.plot(x, forecast["mean"].to_list(), color=MEAN, lw=1.6, label="forecast (mean)")
    ax.axvline(start, color="#777777", lw=1.0, ls=":", gid="line-forecast-start")
    ax.annotate("data end: forecast starts", (start, 1.0), xycoords=("data", "axes fraction"),
                xytext=(-5, -12), textcoords="offset points", ha="right", fontsize=8,
                color="#555555")  # fmt: skip
    now = report.publication.get("published_at")
    if isinstance(now, datetime):  # the publication time, hours after the data's end when a feed lags
        now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        ax.axvline(now, color="#333333", lw=1.2, ls="--", gid="line-now")
        ax.annotate(f"now: published {now.astimezone(zone):%a %H:%M}", (now, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(5, -12), textcoords="offset points",
                    fontsize=9, fontweight="bold", color="#333333")  # fmt: skip
    span = (forecast["bucket_start"].max() - (actuals["bucket_start"].min() or start)).days
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, span // 22 + 1), tz=zone))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a\n%d %b", tz=zone))
    ax.tick_params(axis="x", labelsize=8)
    ax.margins(x=0.01)
    style_axes(ax, "incidents per hour", columns=3)
    caption = (
        f"Incidents per hour for the whole agency: the last {len(actuals) // 24} days of"
        f" actuals, then the"
        f" forecast for {days} days from the end of the data, {local_time(start, zone)} (dotted"
        f" line); the dashed"
        f" line is the publication time; a gap in the actuals is a feed outage (quality.outages). Ticks at"
        f" local midnight ({escape(report.timezone)})."
    )
    return svg_figure("chart-forecast", fig, caption)


def _first_dates(staffing: pl.DataFrame, days: int) -> pl.DataFrame:
    """The staffing rows of the first ``days`` local dates."""
    if staffing.is_empty():
        return staffing
    dates = staffing["shift_date"].unique().sort().head(days)
    return staffing.filter(pl.col("shift_date").is_in(dates.implode()))


def _staffing_section(staffing: pl.DataFrame) -> str:
    if staffing.is_empty():
        return "<p>No staffing recommendations were published.</p>"
    shifts = (
        shift_totals(staffing)
        .with_columns(pl.col("shift_start_local").dt.time().min().over("shift_name").alias("order"))
        .sort("shift_date", "order")
    )
    names = shifts.sort("order")["shift_name"].unique(maintain_order=True).to_list()
    colours = {name: SHIFT_COLOURS[i % len(SHIFT_COLOURS)] for i, name in enumerate(names)}
    return _staffing_chart(shifts, colours) + _floor_note(staffing) + _staffing_table(shifts, colours)


def _floor_note(staffing: pl.DataFrame) -> str:
    """Says how many area-shifts the min_units floor staffs, where it staffs any."""
    floored = staffing.filter(pl.col("staffing_basis") == BASIS_FLOOR)
    if floored.is_empty():
        return ""
    floors = sorted({json.loads(text).get("min_units") for text in floored["assumptions"]} - {None})
    floor = " or ".join(str(value) for value in floors) or "min_units"
    return (
        f"<p class='note floor-note'><b>{floored.height} of {staffing.height} area-shifts are at the"
        f" min_units floor of {floor}</b>: demand alone would need fewer units there, so those areas' units"
        " follow the floor, not the forecast (the table's last column counts them per shift).</p>"
    )


def _staffing_chart(shifts: pl.DataFrame, colours: dict[str, str]) -> str:
    names = list(colours)
    dates = shifts["shift_date"].unique().sort().to_list()
    width = 0.8 / len(names)
    fig = Figure(figsize=(11, 3.2))
    ax = fig.subplots()
    for index, name in enumerate(names):
        rows = shifts.filter(pl.col("shift_name") == name)
        positions = [dates.index(day) + (index - (len(names) - 1) / 2) * width for day in rows["shift_date"]]
        bars = ax.bar(positions, rows["recommended_units"].to_list(), width * 0.92, label=name,
                      color=colours[name])  # fmt: skip
        ax.bar_label(bars, fontsize=8, padding=1)
    ax.set_xticks(range(len(dates)), [f"{day:%a %d %b}" for day in dates])
    style_axes(ax, "units on duty (all areas)", columns=len(names))
    caption = (
        "Recommended units on duty at once per shift, summed over areas; the table below has the totals."
    )
    return svg_figure("chart-staffing", fig, caption)


def _staffing_table(shifts: pl.DataFrame, colours: dict[str, str]) -> str:
    rows, previous = [], None
    for row in shifts.iter_rows(named=True):
        start, end = row["shift_start_local"], row["shift_end_local"]  # across a clock change: 7 or 9 hours
        day = f"{row['shift_date']:%a %d %b %Y}" if row["shift_date"] != previous else ""
        previous = row["shift_date"]
        swatch = f"<span class='swatch' style='background:{colours[row['shift_name']]}'></span>"
        rows.append(
            f"<tr{' class=day-start' if day else ''}><td>{day}</td>"
            f"<td>{swatch}{escape(str(row['shift_name']))}"
            f" <span class='note'>{start:%H:%M}-{end:%H:%M}</span></td>"
            f"<td class='num'>{row['expected_incidents']:.1f}</td><td class='num'>"
            f"{row['workload_hours_p90']:.0f}</td><td class='num'><b>{row['recommended_units']}</b></td>"
            f"<td class='num'>{row['fte']:.1f}</td>"
            f"<td class='num'>{row['areas_at_min_units']} of {row['area_count']}</td></tr>"
        )
    headers = [
        "Local date", "Shift", "Expected incidents", "Workload p90 (h)", "Units on duty", "FTE",
        "Areas at min_units",
    ]  # fmt: skip
    return html_table(headers, rows, range(2, 7))


def _areas_section(areas: pl.DataFrame) -> str:
    if areas.is_empty():
        return "<p>No area forecasts were published.</p>"
    top = areas.sort("expected_incidents", descending=True, nulls_last=True).head(TOP_AREAS)
    rows = []
    for row in top.iter_rows(named=True):
        drivers = [part.strip() for part in str(row["drivers"] or "").split(";") if part.strip()]
        chips = "".join(f"<span class='chip'>{escape(part)}</span>" for part in drivers) or "-"
        rows.append(
            f"<tr><td><b>{escape(str(row['area_id']))}</b></td><td class='num'>"
            f"{row['expected_incidents']:.0f}</td><td class='num'>{row['peak_hour_mean']:.1f}</td>"
            f"<td>{chips}</td></tr>"
        )
    return html_table(["Area", "Expected incidents", "Peak hour (mean)", "Why (main drivers)"], rows, (1, 2))


def _coming_shift(staffing: pl.DataFrame, published_at: object) -> pl.DataFrame:
    """The staffing rows of the shift in progress or next at publication time (else the first shift)."""
    upcoming = staffing
    if isinstance(published_at, datetime):
        now = published_at if published_at.tzinfo is not None else published_at.replace(tzinfo=UTC)
        upcoming = staffing.filter(pl.col("shift_end") > now)
    upcoming = upcoming if not upcoming.is_empty() else staffing
    return upcoming.filter(pl.col("shift_start") == upcoming["shift_start"].min())


def _map_section(report: AgencyReport, zone: ZoneInfo) -> str:
    """The agency's areas coloured by the coming shift's expected incidents, with a caption saying
    which shift, and a list of the areas that have no place to draw."""
    if report.staffing.is_empty() or report.area_shapes.is_empty():
        return "<p>No map: no staffing or no areas were published.</p>"
    shift = _coming_shift(report.staffing, report.publication.get("published_at"))
    values = dict(shift.group_by("area_id").agg(pl.col("expected_incidents").sum()).iter_rows())
    shapes = area_shapes(report.area_shapes, report.bbox)
    first = shift.row(0, named=True)
    when = f"{local_time(first['shift_start'], zone)} to {first['shift_end'].astimezone(zone):%H:%M}"
    name = escape(str(first.get("shift_name") or "coming"))
    caption = (
        f"Expected incidents per area in the {name} shift, {when} ({escape(report.timezone)}): the shift in"
        " progress or next at publication. North up; darker is busier; hover an area for its name and"
        " number."
    )
    if shapes.approximate:
        caption += (
            f" {len(shapes.approximate)} of {len(shapes.shapes)} areas have no published outline: each is"
            " drawn as the part of the map nearer its centre (the middle of its recent incidents) than any"
            " other area's, so those shapes are approximate."
        )
    svg = hotspot_svg(shapes, values, label=f"Hot-spot map: {caption}", unit="expected incidents")
    unplaced = ""
    if shapes.unplaced:
        listed = "; ".join(
            f"{escape(shapes.names.get(area, area))}, {values.get(area, 0.0):.1f} expected incidents"
            for area in shapes.unplaced
        )
        unplaced = f"<p class='note unmapped'>Not on the map (no outline or located incidents): {listed}.</p>"
    if not svg:
        return f"<p>No area has an outline or a located incident to draw.</p>{unplaced}"
    return f'<figure id="hotspot-map" class="map">{svg}<figcaption>{caption}</figcaption></figure>{unplaced}'


def _joint_section(joint: pl.DataFrame, agency_id: str, zone: ZoneInfo) -> str:
    """How many of the agency's incidents were joint events, by type: with whom and who led."""
    if joint.is_empty():
        return (
            f"<p>None: no incident of this agency in its last {JOINT_DAYS} days was linked to another"
            " agency's record of the same event.</p>"
        )
    first = joint.row(0, named=True)
    linked, total = joint["joint_records"].sum(), first["agency_incidents"]
    rows = []
    for row in joint.sort("joint_events", "incident_type", descending=[True, False]).iter_rows(named=True):
        lead = escape(str(row["lead_agency"]))
        partners = ", ".join(escape(str(p)) for p in row["partner_agencies"]) or "-"
        rows.append(
            f"<tr><td>{escape(str(row['incident_type']))}</td><td class='num'>{row['joint_events']}</td>"
            f"<td class='num'>{row['joint_records']} of {row['type_incidents']}</td><td>{partners}</td>"
            f"<td>{'<b>this agency</b>' if row['lead_agency'] == agency_id else lead}</td></tr>"
        )
    summary = (
        f"<p>{linked} of the agency's {total} counted incidents ({linked / total:.0%}) from"
        f" {local_time(first['window_start'], zone)} to {local_time(first['window_end'], zone)}"
        f" were joint events:"
        " the same real event recorded by other agencies too (same type, close in place and time). The lead"
        " is the agency [[roles]] names for the type when it took part, else the one that recorded it first."
        " Joint demand ahead is in <code>forecast.joint_demand</code>.</p>"
    )
    headers = ["Incident type", "Joint events", "Its records (of all of the type)", "With", "Led by"]
    return summary + html_table(headers, rows, (1, 2))


def _joint_outlook_section(outlook: pl.DataFrame, agency_id: str) -> str:
    """The joint demand ahead for the incident types the agency leads or supports ([[roles]])."""
    if outlook.is_empty():
        return ""
    rows = []
    for row in outlook.iter_rows(named=True):
        lead = "<b>this agency</b>" if row["lead_agency"] == agency_id else escape(str(row["lead_agency"]))
        supporting = ", ".join(escape(str(a)) for a in row["supporting_agencies"]) or "-"
        rows.append(
            f"<tr><td>{escape(str(row['incident_type']))}</td><td>{lead}</td><td>{supporting}</td>"
            f"<td class='num'>{row['expected_events']:.1f}</td>"
            f"<td class='num'>{row['expected_records']:.1f}</td></tr>"
        )
    note = (
        "<p class='note'>Joint demand ahead, next 7 days, for the incident types this agency leads or"
        " supports ([[roles]]): real events expected across every agency (a joint event counted once) and"
        " the records they make (one per agency that attends), from <code>forecast.joint_demand</code>.</p>"
    )
    headers = ["Incident type", "Lead", "Supporting", "Expected events", "Expected records"]
    return f"<div class='joint-outlook'>{note}{html_table(headers, rows, (3, 4))}</div>"


def _overrides_section(overrides: pl.DataFrame, zone: ZoneInfo) -> str:
    if overrides.is_empty():
        return "<p>None: the forecast is the model's, unadjusted.</p>"
    rows = []
    for row in overrides.sort("starts_at").iter_rows(named=True):
        area = escape(str(row["area_id"])) if row["area_id"] is not None else "<i>all areas</i>"
        rows.append(
            f"<tr><td>{area}</td><td>{local_time(row['starts_at'], zone)}</td>"
            f"<td>{local_time(row['ends_at'], zone)}"
            f"</td><td class='num'>{row['factor'] - 1:+.0%}</td><td>{escape(str(row['reason']))}</td>"
            f"<td>{escape(str(row['created_by']))}</td><td><code>{escape(str(row['override_id']))}</code></td></tr>"
        )
    return html_table(["Area", "From", "Until", "Demand", "Reason", "By", "Id"], rows, (3,))


def _plain(value: object) -> str:
    """A parameter as a planner reads it: 1.148176961639434 -> 1.15."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _footer(report: AgencyReport) -> str:
    agency = escape(report.agency_id)
    assumptions = ""
    if not report.staffing.is_empty():
        first = json.loads(report.staffing["assumptions"].drop_nulls().first() or "{}")
        skip = {"shift_name", "shift_hours"}  # they differ by shift; the table shows them
        items = [
            f"{key.replace('_', ' ')} {_plain(value)}"
            for key, value in sorted(first.items())
            if key not in skip and not isinstance(value, dict | list)
        ]
        assumptions = f"<li>Staffing assumptions: {escape('; '.join(items))}.</li>" if items else ""
    return (
        "<footer><h2>How to read this</h2><ul>"
        "<li><b>Mean</b> is the expected count. The shaded <b>p10 to p90</b> band is the likely range: in"
        " about 8 hours out of 10 the count falls inside it; 1 in 10 is above p90 and 1 in 10 below p10.</li>"
        "<li><b>Workload p90</b> is the time units spend on incidents in a busy (1-in-10) shift; the agency"
        " figure adds up the areas' p90s (each area staffed for its own busy shift), so it is above the"
        " p90 of the agency's total.</li>"
        "<li><b>Units on duty</b> are units working at the same time during that shift, sized so the p90"
        " workload fits while leaving time for proactive work. <b>FTE</b> is the people to roster to fill"
        " that shift every day of the year, allowing for leave, training and sickness (units x relief"
        f" factor).</li>{assumptions}"
        f"<li>Every number here is also in the DuckDB warehouse: <code>forecast.{agency}_demand</code>"
        f" (per area and hour) and <code>forecast.{agency}_staffing</code> (per area and shift).</li>"
        "</ul></footer>"
    )
