"""The report's KPI page: one agency's joint-operations KPIs as inline SVG charts and tables.

``kpi_section`` turns the agency's rows of the kpi.* tables (warehouse.kpi_store's views) into
HTML and touches nothing else: response-time percentiles per month, joint events per month by
lead agency, and each feed's latency, freshness and quarantine, then staffing against the
configured available units (and forecast accuracy once scored).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

import polars as pl
from matplotlib.figure import Figure

from planning.page_kit import SHIFT_COLOURS, html_table, style_axes, svg_figure

MEASURES = {"dispatch": "received to dispatched", "on_scene": "received to on scene"}
COLOURS = ("#1f4e79", "#c0392b", "#e6a532", "#7a9a3a", "#8e5ea2", "#3b7dbf", "#24345a", "#777777")


def kpi_section(kpis: Mapping[str, pl.DataFrame], agency_id: str) -> str:
    """The KPI page's HTML for the agency's kpi rows (table name -> frame); says so when there are none."""
    if not any(frame.height for frame in kpis.values()):
        return (
            "<div id='kpi-page'><p class='note kpi-none'>No joint-operations KPIs have been computed for this"
            " warehouse yet: they appear here after the KPI stage has run (tables <code>kpi.*</code>).</p>"
            "</div>"
        )
    months = {name: frame.filter(pl.col("period") == "month") for name, frame in kpis.items() if frame.height}
    empty = pl.DataFrame(schema={"period": pl.String})
    parts = [
        "<h3>Response times</h3>",
        _response(months.get("response", empty)),
        "<h3>Joint events by lead agency</h3>",
        _joint(months.get("joint", empty), agency_id),
        "<h3>Information sharing: feed latency, freshness and quarantine</h3>",
        _sharing(months.get("sharing", empty)),
        "<h3>Staffing against available units</h3>",
        _planning(months.get("planning", empty)),
    ]
    note = (
        "<p class='note'>Per local calendar month (the latest ISO weeks are in the same tables, period ="
        " 'week'). Every number is in the warehouse: <code>kpi.{0}_response</code>, <code>kpi.{0}_joint"
        "</code>, <code>kpi.{0}_sharing</code>, <code>kpi.{0}_planning</code>, <code>kpi.{0}_demand</code>."
        " Percentiles interpolate linearly between records (DuckDB quantile_cont).</p>"
    ).format(escape(agency_id))
    return "<div id='kpi-page'>" + note + "".join(parts) + "</div>"


def _response(response: pl.DataFrame) -> str:
    timed = response.filter(pl.col("timed") > 0) if response.height else response
    if timed.is_empty():
        return "<p>No call has received and dispatch or arrival times: the feeds do not carry them.</p>"
    fig = Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, 2)
    priorities = timed["priority"].unique().sort(nulls_last=True).to_list()
    for ax, (measure, title) in zip(axes, MEASURES.items(), strict=True):
        rows = timed.filter(pl.col("measure") == measure)
        for index, priority in enumerate(priorities):
            mine = rows.filter(pl.col("priority").eq_missing(priority)).sort("period_start")
            colour = COLOURS[index % len(COLOURS)]
            label = f"priority {'?' if priority is None else priority}"
            x = [f"{day:%b %Y}" for day in mine["period_start"]]
            ax.plot(x, mine["p90_minutes"].to_list(), color=colour, marker="o", lw=1.6, label=f"{label} p90")
            ax.plot(x, mine["p50_minutes"].to_list(), color=colour, marker=".", lw=1, ls="--",
                    label=f"{label} p50")  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("minutes")
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.05)
        ax.grid(axis="y", color="#e3e8ee")
        ax.spines[["top", "right"]].set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    caption = (
        "Minutes from the call's receipt to dispatch (left) and to the first unit on scene (right) per month"
        " and priority: p90 solid (9 calls in 10 are faster), p50 dashed. Officer-initiated records are left"
        " out."
    )
    latest = timed.filter(pl.col("period_start") == pl.col("period_start").max())
    rows = [
        f"<tr><td>{'?' if row['priority'] is None else row['priority']}</td><td>{MEASURES[row['measure']]}"
        f"</td><td class='num'>{row['calls']}</td><td class='num'>{row['timed']}</td>"
        f"<td class='num'>{_minutes(row['p50_minutes'])}</td>"
        f"<td class='num'>{_minutes(row['p90_minutes'])}</td></tr>"
        for row in latest.sort("priority", "measure", nulls_last=True).iter_rows(named=True)
    ]
    heading = f"<p class='note'>Latest month, {latest['period_start'][0]:%B %Y}:</p>"
    table = html_table(["Priority", "Measure", "Calls", "Timed", "p50", "p90"], rows, (2, 3, 4, 5))
    return svg_figure("chart-kpi-response", fig, caption) + heading + table


def _joint(joint: pl.DataFrame, agency_id: str) -> str:
    if joint.is_empty():
        return (
            "<p>None: no record of this agency was linked to another agency's record of the same event.</p>"
        )
    months = joint["period_start"].unique().sort().to_list()
    leads = (
        joint.group_by("lead_agency").agg(pl.col("joint_events").sum()).sort("joint_events", descending=True)
    )
    fig = Figure(figsize=(11, 3.0))
    ax = fig.subplots()
    bottom = [0] * len(months)
    for index, lead in enumerate(leads["lead_agency"]):
        counts = dict(
            joint.filter(pl.col("lead_agency") == lead).select("period_start", "joint_events").iter_rows()
        )
        heights = [counts.get(month, 0) for month in months]
        label = f"{lead} (this agency)" if lead == agency_id else lead
        ax.bar([f"{m:%b %Y}" for m in months], heights, 0.6, bottom=bottom, label=label,
               color=SHIFT_COLOURS[index % len(SHIFT_COLOURS)])  # fmt: skip
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    style_axes(ax, "joint events", columns=max(1, leads.height))
    caption = (
        "Joint events this agency took part in per month (by the month of the event's first call), coloured"
        " by the agency that led: the incident type's [[roles]] lead when it took part, else the first to"
        " record it."
    )
    rows = [
        f"<tr><td>{row['period_start']:%b %Y}</td><td>{escape(str(row['lead_agency']))}</td>"
        f"<td class='num'>{row['joint_events']}</td>"
        f"<td>{escape(', '.join(row['partner_agencies']) or '-')}</td>"
        f"<td class='num'>{_share(row['lead_first_arrival_share'])} of {row['arrivals_known']}</td></tr>"
        for row in joint.sort("period_start", "joint_events", descending=[True, True]).iter_rows(named=True)
    ]
    headers = ["Month", "Lead agency", "Joint events", "With", "Lead first on scene"]
    return svg_figure("chart-kpi-joint", fig, caption) + html_table(headers, rows, (2, 4))


def _sharing(sharing: pl.DataFrame) -> str:
    if sharing.is_empty():
        return "<p>No batch of this agency's feeds has been loaded.</p>"
    latest = sharing.filter(pl.col("period_start") == pl.col("period_start").max().over("feed_id")).sort(
        "feed_id"
    )
    fig = Figure(figsize=(11, 0.9 + 0.5 * latest.height))
    ax = fig.subplots()
    feeds = latest["feed_id"].to_list()
    positions = list(range(len(feeds)))
    p50 = [(v or 0) / 60 for v in latest["latency_p50_minutes"]]
    p90 = [(v or 0) / 60 for v in latest["latency_p90_minutes"]]
    ax.barh([p + 0.2 for p in positions], p90, 0.4, color=COLOURS[1], label="p90")
    ax.barh([p - 0.2 for p in positions], p50, 0.4, color=COLOURS[0], label="p50")
    ax.set_yticks(positions, feeds)
    ax.set_xlabel("hours from a record's receipt to its load into the warehouse")
    ax.set_xlim(left=0)
    ax.grid(axis="x", color="#e3e8ee")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower right", fontsize=9, frameon=False)
    fig.tight_layout()
    caption = (
        f"Latency of each feed's records loaded in {latest['period_start'][0]:%B %Y}: p50 and p90, in hours."
    )
    rows = []
    for row in latest.iter_rows(named=True):
        reasons = ", ".join(f"{escape(str(r['reason']))} ({r['rows']})" for r in row["top_reasons"]) or "-"
        fresh = row.get("freshness_hours")
        rows.append(
            f"<tr><td>{escape(row['feed_id'])}</td><td class='num'>{row['records']}</td>"
            f"<td class='num'>{_minutes(row['latency_p50_minutes'])}</td>"
            f"<td class='num'>{_minutes(row['latency_p90_minutes'])}</td>"
            f"<td class='num'>{'-' if fresh is None else f'{fresh:.1f} h'}</td>"
            f"<td class='num'>{_share(row['quarantined_share'])}</td><td>{reasons}</td>"
            f"<td class='num'>{row['failed_batches']} of {row['batches']}</td></tr>"
        )
    headers = ["Feed", "Records", "Latency p50", "Latency p90", "Freshness", "Quarantined", "Top reasons",
               "Failed batches"]  # fmt: skip
    note = "<p class='note'>Freshness: hours from the feed's newest record to the report's publication.</p>"
    table = html_table(headers, rows, (1, 2, 3, 4, 5, 7))
    return svg_figure("chart-kpi-latency", fig, caption) + table + note


def _planning(planning: pl.DataFrame) -> str:
    if planning.is_empty():
        return "<p>No staffing has been published and no forecast has been scored yet.</p>"
    rows = []
    for row in planning.sort("period_start").iter_rows(named=True):
        available = row["available_units"]
        over = "-" if available is None else f"{row['shifts_over_available']} of {row['shifts']}"
        mean = "-" if row["recommended_units_mean"] is None else f"{row['recommended_units_mean']:.1f}"
        rows.append(
            f"<tr><td>{row['period_start']:%b %Y}</td><td class='num'>{row['shifts']}</td>"
            f"<td class='num'>{mean}</td><td class='num'>{row['recommended_units_max'] or '-'}</td>"
            f"<td class='num'>{'not configured' if available is None else available}</td>"
            f"<td class='num'>{over}</td>"
            f"<td class='num'>{_share(row['wape'])}</td>"
            f"<td class='num'>{_share(row['bias'], signed=True)}</td>"
            f"<td class='num'>{_share(row['coverage_80'])}</td></tr>"
        )
    headers = ["Month", "Shifts", "Units (mean)", "Units (max)", "Available units", "Shifts over",
               "WAPE", "Bias", "Inside p10-p90"]  # fmt: skip
    note = (
        "<p class='note'>Units: recommended units on duty per published shift, summed over areas, against"
        " the agency's <code>available_units</code>. Accuracy (WAPE, bias, share inside the p10-p90 band)"
        " fills in as published forecasts are scored against what happened.</p>"
    )
    return html_table(headers, rows, range(1, 9)) + note


def _minutes(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} min" if value < 120 else f"{value / 60:.1f} h"


def _share(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.0%}" if signed else f"{value:.0%}"
