"""The report's scenario page for one agency: the live plan against the scenario, shift by shift.

Three parts, from the scenario's rows (scenario.difference and scenario.mutual_aid) and the
agency's areas (forecast.areas): expected incidents and units on duty per shift, live and under
the scenario (the agency's areas added up); the mutual-aid rows where the agency is short or is
the partner named to cover; and the map of the areas the scenario changes, coloured by how
many incidents it adds or takes away. Each agency gets its own page
(``report/<agency_id>_scenario_<name>.html``), so a page holds that agency's numbers only, as its
main report does. Self-contained HTML with inline SVG, styled as the main report page
(planning.report).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

import polars as pl
from matplotlib.figure import Figure

from planning.areamap import area_shapes, hotspot_svg
from planning.page_kit import ACTUAL, CSS, MEAN, html_table, local_time, style_axes, svg_figure


@dataclass(frozen=True)
class ScenarioPage:
    agency_id: str
    agency_name: str
    timezone: str
    scenario: (
        dict  # the scenario.scenarios row: name, description, reason, created_by, baseline_publication_id
    )
    summary: list[str]  # one line per event, outage and factor of the scenario
    difference: pl.DataFrame  # the agency's scenario.difference rows
    mutual_aid: pl.DataFrame  # scenario.mutual_aid rows where the agency is short or the partner
    areas: pl.DataFrame  # the agency's forecast.areas rows
    bbox: tuple[float, float, float, float] | None = None


def render_scenario_page(page: ScenarioPage) -> str:
    zone = ZoneInfo(page.timezone)
    name = page.scenario["name"]
    heading = f"{page.agency_name}: scenario '{name}'"
    items = "".join(f"<li>{escape(line)}</li>" for line in page.summary)
    sections = [
        f"<h1>{escape(heading)}</h1>",
        f"<p class='meta'>{escape(_sentence(page.scenario.get('description')))}Added by"
        f" {escape(page.scenario['created_by'])}: {escape(page.scenario['reason'])}. Compared with live"
        f" publication {page.scenario.get('baseline_publication_id')}; nothing here changes the live"
        f" forecast.</p><ul id='scenario-items'>{items}</ul>",
        "<h2>1. Live plan and scenario per shift</h2>",
        _shift_chart(page, zone),
        "<h2>2. Mutual aid</h2>",
        _aid_section(page, zone),
        "<h2>3. Areas the scenario changes</h2>",
        _map_section(page),
        "<footer><h2>How to read this</h2><ul><li>Expected incidents and units add up the agency's"
        " areas per shift, as <code>forecast.shift_totals</code> does.</li><li>Every row is in the"
        f" warehouse: <code>scenario.difference</code>, <code>scenario.mutual_aid</code> (agency_id ="
        f" '{escape(page.agency_id)}').</li></ul></footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(heading)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


def _sentence(text: str | None) -> str:
    """``text`` as a sentence followed by a space, or nothing."""
    text = (text or "").strip()
    return "" if not text else text + ("" if text.endswith((".", "!", "?")) else ".") + " "


def _shifts(difference: pl.DataFrame) -> pl.DataFrame:
    return (
        difference.group_by("shift_start", "shift_name", "shift_date")
        .agg(pl.col("baseline_incidents", "scenario_incidents", "baseline_units", "scenario_units").sum())
        .sort("shift_start")
    )


def _shift_chart(page: ScenarioPage, zone: ZoneInfo) -> str:
    shifts = _shifts(page.difference)
    if shifts.is_empty():
        return '<p class="note">No shift of this agency in the forecast window.</p>'
    starts = shifts["shift_start"].dt.convert_time_zone(zone.key).dt.replace_time_zone(None)
    fig = Figure(figsize=(11, 5.2))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.step(starts, shifts["baseline_incidents"], where="post", color=MEAN, label="live plan")
    top.step(starts, shifts["scenario_incidents"], where="post", color=ACTUAL, label="scenario")
    style_axes(top, "expected incidents", 2)
    bottom.step(starts, shifts["baseline_units"], where="post", color=MEAN, label="live plan")
    bottom.step(starts, shifts["scenario_units"], where="post", color=ACTUAL, label="scenario")
    style_axes(bottom, "units on duty", 2)
    changed = shifts.filter(pl.col("scenario_units") != pl.col("baseline_units"))
    rows = [
        f"<tr><td>{local_time(start, zone)}</td><td>{escape(shift)}</td><td class=num>{live:.1f}</td>"
        f"<td class=num>{scenario:.1f}</td><td class=num>{live_units}</td><td class=num>{units}</td></tr>"
        for start, shift, live, scenario, live_units, units in changed.select(
            "shift_start", "shift_name", "baseline_incidents", "scenario_incidents", "baseline_units",
            "scenario_units",
        ).iter_rows()
    ]  # fmt: skip
    headers = ["shift start", "shift", "live incidents", "scenario incidents", "live units", "scenario units"]
    unchanged = '<p class="note">No shift changes its units.</p>'
    table = html_table(headers, rows, range(2, 6)) if rows else unchanged
    caption = escape(f"Expected incidents and units per shift, live and under the scenario ({zone.key} time)")
    return svg_figure("scenario-shifts", fig, caption) + table


def _aid_section(page: ScenarioPage, zone: ZoneInfo) -> str:
    if page.mutual_aid.is_empty():
        return '<p class="note" id="no-mutual-aid">No shortfall involves this agency.</p>'
    rows = [
        f"<tr class=alert><td>{escape(agency)}</td><td>{local_time(start, zone)}</td><td>{escape(shift)}</td>"
        f"<td class=num>{needed}</td><td class=num>{available}</td><td class=num>{short}</td>"
        f"<td>{escape(' '.join(areas))}</td><td>{escape(partner or 'none with spare units')}</td>"
        f"<td class=num>{covered}</td></tr>"
        for agency, start, shift, needed, available, short, areas, partner, covered in page.mutual_aid.select(
            "agency_id", "shift_start", "shift_name", "needed_units", "available_units", "short_units",
            "areas", "partner_agency", "covered_units",
        ).iter_rows()
    ]  # fmt: skip
    headers = [
        "short agency",
        "shift start",
        "shift",
        "needed",
        "available",
        "short",
        "where",
        "partner",
        "covers",
    ]
    return f'<div id="mutual-aid">{html_table(headers, rows, (3, 4, 5, 8))}</div>'


def _map_section(page: ScenarioPage) -> str:
    change = page.difference.group_by("area_id").agg(pl.col("incidents_change").sum())
    moved = change.filter(pl.col("incidents_change").abs() >= 0.05)
    if moved.is_empty():
        return '<p class="note">The scenario changes none of this agency\'s areas.</p>'
    svg = hotspot_svg(  # a sequential scale: how much each area changes, either way (the list gives the sign)
        area_shapes(page.areas, page.bbox),
        {area: abs(value) for area, value in change.iter_rows()},
        "incidents the scenario adds or takes away per area over the forecast window",
        "incidents changed",
    )
    ranked = sorted(moved.iter_rows(), key=lambda row: -abs(row[1]))[:10]
    listed = ", ".join(f"{area} {value:+.1f}" for area, value in ranked)
    return f'<div id="scenario-map" class="map">{svg}</div><p class="note">Most changed: {escape(listed)}</p>'


def scenario_summary(spec) -> list[str]:
    """One line per event, outage and factor of a scenario (planning.scenario_file.ScenarioSpec)."""
    lines = [
        f"{e.kind} '{e.name}': {e.expected_attendance:,} expected, {e.start:%a %d %b %H:%M} to {e.end:%H:%M}"
        + (
            f" in {', '.join(e.areas)}"
            if e.areas
            else f" within {e.radius_m:g} m of {e.point[1]}, {e.point[0]}"
        )
        for e in spec.events
    ]
    lines += [
        f"{o.agency}: " + ("dispatch down" if o.dispatch_down else "")
        + (" and " if o.dispatch_down and o.units is not None else "")
        + (f"{o.units} units on duty per shift" if o.units is not None else "")
        + f", {o.start:%a %d %b %H:%M} to {o.end:%a %d %b %H:%M}"
        for o in spec.outages
    ]  # fmt: skip
    lines += [f"{f.agency}: x{f.factor:g}, labelled '{f.label}'" for f in spec.factors]
    return lines


def scenario_pages(
    settings, scenario: dict, spec, tables: dict[str, pl.DataFrame], areas: pl.DataFrame
) -> dict:
    """Agency id -> its scenario page, for every agency the run has shifts of."""
    summary = scenario_summary(spec)
    aid = tables["mutual_aid"]
    pages = {}
    for agency in settings.agencies:
        mine = tables["difference"].filter(pl.col("agency_id") == agency.id)
        if mine.is_empty():
            continue
        involved = aid.filter((pl.col("agency_id") == agency.id) | (pl.col("partner_agency") == agency.id))
        page = ScenarioPage(
            agency.id, agency.name, agency.timezone, scenario, summary, mine, involved,
            areas.filter(pl.col("agency_id") == agency.id), agency.bbox,
        )  # fmt: skip
        pages[agency.id] = render_scenario_page(page)
    return pages


def scenario_index_name(agency_id: str) -> str:
    """The agency's list of scenario pages, beside its report; the report's header links to it."""
    return f"{agency_id}_scenarios.html"


def render_scenario_index(agency_id: str, agency_name: str, timezone: str, runs: pl.DataFrame) -> str:
    """The agency's scenario pages, newest run first: ``runs`` holds name, reason, created_by,
    last_run_at and page (the page's file name) of each scenario whose last run has the agency's rows."""
    zone = ZoneInfo(timezone)
    heading = f"{agency_name}: what-if scenarios"
    rows = [
        f"<tr><td><a href='{quote(page)}'>{escape(name)}</a></td><td>{escape(reason or '')}</td>"
        f"<td>{escape(who or '')}</td><td>{local_time(run_at, zone)}</td></tr>"
        for name, reason, who, run_at, page in runs.sort("last_run_at", descending=True)
        .select("name", "reason", "created_by", "last_run_at", "page")
        .iter_rows()
    ]
    listed = (
        html_table(["scenario", "why", "added by", "last run"], rows, ())
        if rows
        else "<p class='note' id='no-scenarios'>No scenario has been run for this agency yet: "
        "<code>jointcast scenario add FILE --reason TEXT</code>, then <code>jointcast scenario run NAME"
        "</code>.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(heading)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<style>{CSS}</style>\n</head>\n<body>\n<h1>{escape(heading)}</h1>\n"
        f"<p class='meta'>Each scenario compares a what-if with the live plan; none changes the live forecast"
        f" (agency <code>{escape(agency_id)}</code>, times in {escape(timezone)}).</p>\n"
        f"<div id='scenario-index'>{listed}</div>\n</body>\n</html>\n"
    )
