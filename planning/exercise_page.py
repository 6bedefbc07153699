"""The exercise report: one self-contained HTML page of what the pipeline did about each surge.

A scorecard (exercise.scores), then per surge a chart of the hours around it in the areas it touched
(the true rate with and without it, the forecast published before it, the incidents that arrived, the
first surge record and the alert), and the deliveries with the alerts each monitor run raised.
Styled as the planner report (planning.report); charts are inline SVG.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

import polars as pl
from matplotlib.figure import Figure

from planning.page_kit import ACTUAL, BAND, CSS, MEAN, html_table, local_time, style_axes, svg_figure

BASELINE = "#7f8c8d"
ALERT = "#b03a2e"
_MEASURES = {
    "forecast_vs_truth": ("forecast ÷ true incidents", "{:.2f}"),
    "uplift_captured": ("share of the true uplift forecast", "{:.0%}"),
    "staffing_covered": ("area-shifts whose units cover the true p90", "{:.0%}"),
    "units_short": ("units short of the true p90", "{:.0f}"),
    "alert_raised": ("monitor alert raised", "{:.0f}"),
    "alert_delay_hours": ("hours from the first surge record to the alert", "{:.1f}"),
    "alerts_before": ("alerts already raised before the surge", "{:.0f}"),
}


@dataclass(frozen=True)
class ExercisePage:
    name: str
    description: str
    run: dict  # the exercise.runs row
    surges: pl.DataFrame  # exercise.surges
    scores: pl.DataFrame  # exercise.scores
    deliveries: pl.DataFrame  # exercise.deliveries
    alerts: pl.DataFrame  # per delivery, the alerts raised (planning.exercise.ALERT_SCHEMA)
    series: dict[str, pl.DataFrame] = field(default_factory=dict)  # per surge, planning.exercise.surge_series
    staffing: dict[str, pl.DataFrame] = field(
        default_factory=dict
    )  # per surge, planning.exercise.surge_staffing
    timezone: str = "America/New_York"


def render_exercise_page(page: ExercisePage) -> str:
    zone = ZoneInfo(page.timezone)
    run = page.run
    sections = [
        f"<h1>Joint exercise: {escape(page.name)}</h1>",
        f"<p class=meta>{escape(page.description)}</p>" if page.description else "",
        f"<p class=meta>Simulated history {run['history_start']} to {run['history_end']} (exclusive), "
        f"{run['agencies']} agencies, seed {run['seed']}; then {run['surge_days']} surge day(s) delivered in "
        f"{page.deliveries.height} part(s), each ingested, validated and monitored. Forecast and staffing "
        f"published before the surge days by model version {escape(str(run['model_version']))}.</p>",
        "<h2>Scorecard</h2>",
        _scorecard(page.scores, page.surges),
    ]
    for surge in page.surges.iter_rows(named=True):
        sections.append(_surge_section(surge, page, zone))
    sections += ["<h2>Deliveries and the monitor's alerts</h2>", _deliveries(page, zone), _footer()]
    body = "\n".join(s for s in sections if s)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>Joint exercise: {escape(page.name)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>"
    )


def _value(measure: str, value: float | None) -> str:
    if value is None:
        return "—"
    form = _MEASURES.get(measure, ("", "{:.3f}"))[1]
    return form.format(value)


def _scorecard(scores: pl.DataFrame, surges: pl.DataFrame) -> str:
    names = dict(surges.select("surge_id", "name").iter_rows())
    rows = []
    for record in scores.iter_rows(named=True):
        met = {True: "✔ met", False: "✘ not met", None: "—"}[record["met"]]
        label = _MEASURES.get(record["measure"], (record["measure"], ""))[0]
        rows.append(
            f'<tr class="score {"met" if record["met"] else "missed" if record["met"] is False else "info"}">'
            f"<td>{escape(names.get(record['surge_id'], record['surge_id']))}</td>"
            f"<td>{escape(record['agency_id'])}</td><td>{escape(label)}</td>"
            f"<td class=num>{_value(record['measure'], record['value'])}</td>"
            f"<td>{escape(record['target'])}</td><td>{met}</td>"
            f"<td class=note>{escape(record['detail'])}</td></tr>"
        )
    headers = ["surge", "agency", "measure", "value", "target", "", "how"]
    return html_table(headers, rows, [3])


def _surge_section(surge: dict, page: ExercisePage, zone: ZoneInfo) -> str:
    kind = "planned (in the events file)" if surge["planned"] else "unplanned"
    first = surge["first_record_at"]
    head = (
        f'<h2 id="surge-{escape(surge["surge_id"])}">{escape(surge["name"])}</h2>'
        f"<p class=meta>{escape(surge['kind'].replace('_', ' '))}, {kind}:"
        f" {local_time(surge['starts_at'], zone)}"
        f" to {local_time(surge['ends_at'], zone)}; agencies {escape(surge['agencies'].replace(',', ', '))};"
        f" true incidents over its {surge['area_hours']:,} area-hours {surge['true_incidents']:.1f}, of which"
        f" {surge['true_incidents'] - surge['true_baseline']:.1f} from the surge; first record "
        f"{local_time(first, zone) if first is not None else 'none arrived'}.</p>"
    )
    series = page.series.get(surge["surge_id"])
    if series is None or series.is_empty():
        return head
    delay = page.scores.filter(surge_id=surge["surge_id"], measure="alert_delay_hours")["value"]
    alert_at = (
        first + timedelta(hours=delay[0])
        if first is not None and len(delay) and delay[0] is not None
        else None
    )
    staffing = page.staffing.get(surge["surge_id"])
    chart = _staffing_chart(surge, staffing, zone) if staffing is not None and staffing.height else ""
    return head + _surge_chart(surge, series, first, alert_at, zone) + chart


MAX_SHIFT_BARS = 24


def _staffing_chart(surge: dict, staffing: pl.DataFrame, zone: ZoneInfo) -> str:
    """Per agency and shift overlapping the surge: units recommended against units the true p90 needs
    (the surge's areas added up; the busiest shifts when there are many)."""
    shifts = (
        staffing.group_by("agency_id", "shift_start", "shift_name")
        .agg(pl.col("recommended_units", "needed_units").sum())
        .sort("needed_units", descending=True)
        .head(MAX_SHIFT_BARS)
        .sort("shift_start", "agency_id")
    )
    labels = [
        f"{agency}\n{start.astimezone(zone):%a %H:%M}"
        for agency, start in shifts.select("agency_id", "shift_start").iter_rows()
    ]
    width = 0.38
    fig = Figure(figsize=(11, 3.2))
    ax = fig.subplots()
    x = list(range(shifts.height))
    ax.bar(
        [i - width / 2 for i in x], shifts["recommended_units"], width, color=MEAN, label="units recommended"
    )
    ax.bar([i + width / 2 for i in x], shifts["needed_units"], width, color=ACTUAL,
           label="units the true p90 needs")  # fmt: skip
    ax.set_xticks(x, labels, fontsize=8)
    style_axes(ax, "units on duty", 2)
    caption = (f"{surge['name']}: units recommended before it and units its true p90 needs, per agency and"
               " shift (local start), its areas added up")  # fmt: skip
    return svg_figure(f"staffing-chart-{surge['surge_id']}", fig, escape(caption))


def _surge_chart(surge: dict, series: pl.DataFrame, first: datetime | None, alert_at, zone: ZoneInfo) -> str:
    local = series.with_columns(
        pl.col("bucket_start").dt.convert_time_zone(str(zone)).dt.replace_time_zone(None)
    )
    hours = local["bucket_start"].to_list()
    fig = Figure(figsize=(11, 3.4))
    ax = fig.subplots()
    ax.fill_between(hours, local["true_baseline"], local["true_rate"], step="post", color=BAND,
                    label="true uplift (the surge)")  # fmt: skip
    ax.step(hours, local["true_rate"], where="post", color=MEAN, linewidth=1.2, label="true rate")
    ax.step(hours, local["true_baseline"], where="post", color=BASELINE, linewidth=1, linestyle="--",
            label="true rate without the surge")  # fmt: skip
    if local["forecast"].null_count() < local.height:
        ax.step(
            hours, local["forecast"], where="post", color="#e6a532", linewidth=1.4, label="published forecast"
        )
    if local["actual"].null_count() < local.height:
        ax.step(hours, local["actual"], where="post", color=ACTUAL, linewidth=0.9, alpha=0.8,
                label="incidents that arrived")  # fmt: skip
    for moment, text, colour in ((first, "first record", ACTUAL), (alert_at, "alert", ALERT)):
        if moment is not None:
            ax.axvline(
                moment.astimezone(zone).replace(tzinfo=None), color=colour, linestyle=":", linewidth=1.5
            )
            ax.annotate(text, (moment.astimezone(zone).replace(tzinfo=None), 0), xytext=(3, 3),
                        textcoords="offset points", color=colour, fontsize=8)  # fmt: skip
    style_axes(ax, "incidents per hour", 5)
    caption = (f"{surge['name']}: incidents per hour over the areas it touched (local time), the true rate "
               "with and without it, the forecast published before it and what arrived")  # fmt: skip
    return svg_figure(f"surge-chart-{surge['surge_id']}", fig, escape(caption))


def _deliveries(page: ExercisePage, zone: ZoneInfo) -> str:
    rows = []
    for record in page.deliveries.iter_rows(named=True):
        raised = page.alerts.filter(pl.col("delivered_until") == record["delivered_until"])
        said = "".join(
            f"<span class=chip>{escape(a)}: {escape(m)} {s:+.3f} (limit {t:.3f})</span>"
            for a, m, s, t in raised.select("agency_id", "measure", "size", "threshold").iter_rows()
        )
        problems = "; ".join(record["problems"] or [])
        rows.append(
            f"<tr class=delivery><td>{local_time(record['delivered_until'], zone)}</td>"
            f"<td class=num>{record['incidents']:,}</td><td class=num>{record['new_alerts']}</td>"
            f"<td>{said or '—'}</td><td>{escape(problems) or '—'}</td></tr>"
        )
    return html_table(
        ["feeds delivered up to", "incidents in core", "new alerts", "alerts", "problems"], rows, [1, 2]
    )


def _footer() -> str:
    return (
        "<footer><h2>How to read this</h2><ul>"
        "<li>The <b>truth</b> is the simulator's: the expected incidents per agency, area and hour it drew"
        " the feeds from, with and without each surge (<code>truth/surges.parquet</code>).</li>"
        "<li><b>forecast ÷ true</b> compares the forecast published before the surge days with the true"
        " incidents over the area-hours a planned surge touches; within ±15% meets the target."
        " <b>Share of the true uplift forecast</b> is what the forecast put above the true rate without the"
        " surge, over what the surge really added.</li>"
        "<li><b>Staffing</b>: an area-shift is covered when its recommended units can work the p90 of the"
        " shift's true incidents, with the agency's own service time and utilisation.</li>"
        "<li><b>Alerts</b>: the monitor runs after each delivery; an unplanned surge's alert is the first"
        " one on arriving demand (not a lagged model input's PSI, nor an over-forecast) for an agency it"
        " touched whose window holds its first record, unless that agency and measure were already firing"
        " at the delivery before the record. The delay is simulated time, from that record to"
        " the end of the delivery whose monitor run raised it: it includes the wait for the delivery, so"
        " it is measured to the delivery interval of the exercise file.</li>"
        "<li>Tables: <code>exercise.runs</code>, <code>exercise.surges</code>,"
        " <code>exercise.deliveries</code>, <code>exercise.scores</code> in this exercise's warehouse.</li>"
        "</ul></footer>"
    )
