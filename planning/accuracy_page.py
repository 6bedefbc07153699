"""The planner report's accuracy page for one agency: how the last weeks' forecasts turned out.

Three parts, from forecast.accuracy and quality.alerts: each shift's actual incidents against the
published range (the agency's areas added up, from the forecast made closest before the shift),
shift WAPE per week beside the champion's backtest WAPE, and the alerts the monitor raised.
Self-contained HTML with inline SVG, styled as the main report page (planning.report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from zoneinfo import ZoneInfo

import polars as pl
from matplotlib.figure import Figure

from planning.accuracy import weekly_summary
from planning.page_kit import ACTUAL, BAND, CSS, MEAN, html_table, local_time, style_axes, svg_figure


@dataclass(frozen=True)
class AccuracyPage:
    agency_id: str
    agency_name: str
    timezone: str
    accuracy: pl.DataFrame  # the agency's forecast.accuracy rows of the last weeks
    alerts: pl.DataFrame  # the agency's quality.alerts rows of the last weeks
    backtest: dict = field(default_factory=dict)  # the champion's wape, bias, coverage_80
    live: dict = field(default_factory=dict)  # the recent window's wape, bias, coverage_80, shifts
    weeks: int = 4


def closest_forecasts(accuracy: pl.DataFrame) -> pl.DataFrame:
    """Per shift instance: the agency's areas added up, from the vintage made closest before it."""
    nearest = accuracy.filter(
        pl.col("horizon") == pl.col("horizon").min().over("shift_start", "shift_name")
    ).filter(pl.col("vintage") == pl.col("vintage").max().over("shift_start", "shift_name"))
    return (
        nearest.group_by("shift_start", "shift_name")
        .agg(pl.col("actual", "forecast", "p10", "p90").sum(), pl.col("horizon", "shift_end").first())
        .sort("shift_start")
    )


def render_accuracy_page(page: AccuracyPage) -> str:
    zone = ZoneInfo(page.timezone)
    sections = [
        f"<h1>{escape(page.agency_name)}: forecast accuracy</h1>",
        _headline(page),
        f"<h2>1. Actual incidents per shift against the forecast range, last {page.weeks} weeks</h2>",
        _shift_chart(page, zone),
        "<h2>2. Shift WAPE per week</h2>",
        _weekly_section(page),
        "<h2>3. Alerts</h2>",
        _alerts_section(page.alerts, zone),
        "<footer><h2>How to read this</h2><ul>"
        "<li><b>WAPE</b> is the forecast's absolute error summed over areas and shifts, divided by the"
        " incidents that happened; <b>bias</b> is the signed error over the same total (positive: more"
        " was forecast than happened); <b>coverage 80</b> is the share of area-shifts whose count fell"
        " inside the p10 to p90 range, which should be close to 80%.</li>"
        "<li>Hours in which a feed delivered nothing (an outage) are left out of both sides.</li>"
        f"<li>Every row is in the warehouse: <code>forecast.accuracy</code> and <code>quality.alerts</code>"
        f" (agency_id = '{escape(page.agency_id)}').</li></ul></footer>",
    ]
    title = escape(f"{page.agency_name}: forecast accuracy")
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


def _figure_text(value: object, form: str) -> str:
    return "—" if value is None else format(value, form)


def _headline(page: AccuracyPage) -> str:
    live, backtest = page.live, page.backtest
    return (
        f'<p class="meta" id="headline">Last {page.weeks} weeks scored; recent window: live shift WAPE '
        f"<b>{_figure_text(live.get('wape'), '.3f')}</b>"
        f" (backtest {_figure_text(backtest.get('wape'), '.3f')}),"
        f" bias <b>{_figure_text(live.get('bias'), '+.1%')}</b>, coverage 80"
        f" <b>{_figure_text(live.get('coverage_80'), '.0%')}</b>"
        f" (backtest {_figure_text(backtest.get('coverage_80'), '.0%')}) over"
        f" {live.get('shifts', 0)} area-shifts.</p>"
    )


def _shift_chart(page: AccuracyPage, zone: ZoneInfo) -> str:
    shifts = closest_forecasts(page.accuracy)
    if shifts.is_empty():
        return '<p class="note" id="no-accuracy">No published shift has come to pass yet.</p>'

    def local(column: str | pl.Expr) -> pl.Series:
        return (
            shifts.select(pl.col(column) if isinstance(column, str) else column)
            .to_series()
            .dt.convert_time_zone(str(zone))
            .dt.replace_time_zone(None)
        )

    # steps drawn from each shift's start, the last one closed at its end; the actual at mid-shift
    edges = pl.concat([local("shift_start"), local("shift_end").tail(1)])
    closed = pl.concat([shifts, shifts.tail(1)])
    middle = local(pl.col("shift_start") + (pl.col("shift_end") - pl.col("shift_start")) / 2)
    fig = Figure(figsize=(11, 3.6))
    ax = fig.add_subplot()
    ax.fill_between(edges, closed["p10"], closed["p90"], step="post", color=BAND, label="p10 to p90")
    ax.step(edges, closed["forecast"], where="post", color=MEAN, linewidth=1.2, label="forecast")
    ax.plot(middle, shifts["actual"], "o", color=ACTUAL, markersize=3, label="actual")
    style_axes(ax, "incidents per shift", 3)
    caption = escape(
        f"Each shift's incidents (dots) against the forecast made closest before it ({zone.key} time);"
        " the range adds up the areas' p10s and p90s."
    )
    return svg_figure("accuracy-shifts", fig, caption)


def _weekly_section(page: AccuracyPage) -> str:
    weekly = weekly_summary(page.accuracy)
    if weekly.is_empty():
        return '<p class="note">No week scored yet.</p>'
    fig = Figure(figsize=(11, 2.8))
    ax = fig.add_subplot()
    ax.plot(weekly["week"], weekly["wape"], "o-", color=MEAN, label="live shift WAPE")
    if page.backtest.get("wape") is not None:
        ax.axhline(page.backtest["wape"], color=ACTUAL, linestyle="--", linewidth=1, label="backtest WAPE")
    style_axes(ax, "WAPE", 2)
    rows = [
        f"<tr><td>{week:%d %b %Y}</td><td class=num>{shifts:,}</td><td class=num>{actual:,.0f}</td>"
        f"<td class=num>{_figure_text(wape, '.3f')}</td><td class=num>{_figure_text(bias, '+.1%')}</td>"
        f"<td class=num>{_figure_text(coverage, '.0%')}</td></tr>"
        for week, shifts, actual, wape, bias, coverage in weekly.select(
            "week", "shifts", "actual", "wape", "bias", "coverage_80"
        ).iter_rows()
    ]
    headers = ["week of", "area-shifts", "incidents", "WAPE", "bias", "coverage 80"]
    table = html_table(headers, rows, range(1, 6))
    return svg_figure("accuracy-weekly", fig, "Shift WAPE per week (every vintage that forecast it)") + table


def _alerts_section(alerts: pl.DataFrame, zone: ZoneInfo) -> str:
    if alerts.is_empty():
        return '<p class="note" id="no-alerts">No alert in these weeks.</p>'
    rows = [
        f"<tr class=alert><td>{local_time(raised, zone)}</td><td>{escape(measure)}</td>"
        f"<td class=num>{size:.3f}</td><td class=num>{threshold:.3f}</td><td>{escape(detail)}</td>"
        f"<td>{escape(action)}</td></tr>"
        for raised, measure, size, threshold, detail, action in alerts.select(
            "raised_at", "measure", "size", "threshold", "detail", "action"
        ).iter_rows()
    ]
    table = html_table(["raised", "measure", "size", "limit", "what", "action"], rows, (2, 3))
    return f'<div id="alerts">{table}</div>'
