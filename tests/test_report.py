"""The planner report: self-contained, escaped, honest about stale data, and drawn in a real browser.

The frames come from the simulator's true rates (the forecast) and Poisson draws from them (the
actuals); the staffing rows are built here by hand, shift by shift, as the publisher would.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image
from scipy.stats import poisson

from features.joint_summary import JOINT_SUMMARY_SCHEMA
from planning.publication import JOINT_OUTLOOK_SCHEMA
from planning.report import ACTUAL, AREA_COLUMNS, BAND, MEAN, SHIFT_COLOURS, AgencyReport, render_report
from tests.browser import dump_dom, screenshot
from warehouse.pages import write_report

END = date(2026, 3, 2)  # the forecast's first week crosses the start of US daylight saving time (8 March)
TIMEZONE = "America/New_York"
SHIFTS = {"day": 7, "evening": 15, "night": 23}  # local start hour; each runs 8 hours
SERVICE_HOURS, UTILISATION, RELIEF, MIN_UNITS = 0.75, 0.6, 1.65, 2


def _quantiles(frame: pl.DataFrame, mean: str) -> pl.DataFrame:
    values = frame[mean].to_numpy()
    return frame.with_columns(
        **{name: poisson.ppf(q, values) for name, q in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9))}
    )


def _staffing(rates: pl.DataFrame) -> pl.DataFrame:
    """Per area and local 8-hour shift: expected incidents, workload, units and FTE (shift_instances-like)."""
    local = pl.col("bucket_start").dt.convert_time_zone(TIMEZONE).dt.replace_time_zone(None)
    anchored = local - timedelta(hours=SHIFTS["day"])  # the day shift starts at 00:00 of the anchored clock
    shifts = (
        rates.with_columns(
            shift_date=anchored.dt.date(),
            shift_name=pl.when(anchored.dt.hour() < 8)
            .then(pl.lit("day"))
            .when(anchored.dt.hour() < 16)
            .then(pl.lit("evening"))
            .otherwise(pl.lit("night")),
            local=local,
        )
        .group_by("agency_id", "area_id", "shift_date", "shift_name")
        .agg(
            shift_start=pl.col("bucket_start").min(),
            shift_end=pl.col("bucket_start").max() + timedelta(hours=1),
            shift_start_local=pl.col("local").min(),
            shift_hours=pl.len().cast(pl.Float64),
            expected_incidents=pl.col("rate").sum(),
        )
        .filter(pl.col("shift_hours") >= 7)  # whole shifts only (7 or 9 hours across a clock change)
        .with_columns(
            shift_end_local=pl.col("shift_end").dt.convert_time_zone(TIMEZONE).dt.replace_time_zone(None)
        )
    )
    mean = shifts["expected_incidents"].to_numpy()
    p90 = poisson.ppf(0.9, mean)
    needed = np.ceil(p90 * SERVICE_HOURS / (shifts["shift_hours"].to_numpy() * UTILISATION))
    units = np.maximum(MIN_UNITS, needed)
    assumptions = json.dumps(
        {"service_hours": SERVICE_HOURS, "target_utilisation": UTILISATION, "relief_factor": RELIEF,
         "min_units": MIN_UNITS}
    )  # fmt: skip
    return shifts.with_columns(
        incidents_p50=poisson.ppf(0.5, mean),
        incidents_p90=p90,
        workload_hours_p50=poisson.ppf(0.5, mean) * SERVICE_HOURS,
        workload_hours_p90=p90 * SERVICE_HOURS,
        recommended_units=pl.Series(units.astype(np.int64)),
        staffing_basis=pl.Series(np.where(needed < MIN_UNITS, "min_units", "demand")),
        fte=pl.Series(units * RELIEF),
        data_stale=pl.lit(False),
        assumptions=pl.lit(assumptions),
    ).sort("shift_start", "area_id")


def _area_shapes(area_ids: list[str]) -> pl.DataFrame:
    """The areas on a grid of centres 2 km apart, the first with its own square outline, and an
    ``unknown`` area with neither outline nor centre (it cannot be drawn)."""
    columns = math.ceil(math.sqrt(len(area_ids)))
    rows = []
    for index, area in enumerate(area_ids):
        lat, lon = 40.0 + 0.018 * (index // columns), -75.3 + 0.0235 * (index % columns)
        outline = (
            f"POLYGON (({lon - 0.01} {lat - 0.008}, {lon + 0.01} {lat - 0.008}, {lon + 0.01} {lat + 0.008}, "
        )
        outline += f"{lon - 0.01} {lat + 0.008}, {lon - 0.01} {lat - 0.008}))"
        rows.append(("city_police", area, f"Beat {area}", lat, lon, outline if index == 0 else None))
    rows.append(("city_police", "unknown", "unknown", None, None, None))
    return pl.DataFrame(rows, schema=AREA_COLUMNS, orient="row")


def _joint_events(start: datetime) -> pl.DataFrame:
    """Two incident types of joint events, one led by the agency itself."""
    window = {"window_start": start - timedelta(days=28), "window_end": start - timedelta(minutes=20)}
    rows = [
        {"incident_type": "vehicle_accident", "lead_agency": "city_police", "joint_events": 41,
         "joint_records": 41, "partner_agencies": ["county_fire", "ems"], "type_incidents": 180},
        {"incident_type": "structure_fire", "lead_agency": "county_fire", "joint_events": 6,
         "joint_records": 7, "partner_agencies": ["county_fire"], "type_incidents": 9},
    ]  # fmt: skip
    return pl.DataFrame(
        [{"agency_id": "city_police", **row, "agency_incidents": 2400, **window} for row in rows],
        schema=JOINT_SUMMARY_SCHEMA,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> AgencyReport:
    from jointcast.simulator import simulate

    out = tmp_path_factory.mktemp("report-sim")
    simulate(out, days=35, seed=3, agencies=1, end=END)
    rates = pl.read_parquet(out / "truth" / "rates.parquet")
    start = datetime(END.year, END.month, END.day, tzinfo=UTC)
    future = rates.filter(pl.col("bucket_start") >= start)
    hourly = future.group_by("bucket_start").agg(mean=pl.col("rate").sum()).sort("bucket_start")
    past = (
        rates.filter(pl.col("bucket_start").is_between(start - timedelta(days=21), start, closed="left"))
        .group_by("bucket_start")
        .agg(pl.col("rate").sum())
        .sort("bucket_start")
    )
    draws = np.random.default_rng(3).poisson(past["rate"].to_numpy())
    week = future.filter(pl.col("bucket_start") < start + timedelta(days=7))
    areas = (
        week.group_by("area_id")
        .agg(expected_incidents=pl.col("rate").sum(), peak_hour_mean=pl.col("rate").max())
        .with_columns(drivers=pl.lit("same hour last week +35%; time of day +20%; holiday -10%"))
    )
    overrides = pl.DataFrame(
        {
            "override_id": ["ovr-7", "ovr-8"],
            "area_id": ["B03", None],
            "starts_at": [start + timedelta(days=2, hours=22), start + timedelta(days=5)],
            "ends_at": [start + timedelta(days=3, hours=4), start + timedelta(days=6)],
            "factor": [1.4, 1.1],
            "reason": ["Stadium concert & fireworks", "Storm warning"],
            "created_by": ["j.doe", "ops-lead"],
        }
    )
    return AgencyReport(
        area_shapes=_area_shapes(sorted(week["area_id"].unique())),
        joint_events=_joint_events(start),
        joint_outlook=pl.DataFrame(
            [
                ("vehicle_accident", "city_police", ["ems"], 30.26, 47.5),
                ("medical", "ems", ["city_police"], 12.0, 13.1),
            ],
            schema=JOINT_OUTLOOK_SCHEMA,
            orient="row",
        ),
        agency_id="city_police",
        agency_name="City Police Department",
        timezone=TIMEZONE,
        publication={
            "publication_id": "pub-20260302-0600",
            "published_at": start + timedelta(hours=11),
            "model_name": "jointcast-demand",
            "model_version": 4,
            "mlflow_run_id": "3f9c2a7be1d04c55a1f0e2d9c8b7a6f5",
            "data_as_of": start - timedelta(minutes=20),
            "data_stale": False,
            "stale_hours": None,
        },
        agency_hourly=_quantiles(hourly, "mean"),
        actuals=past.select("bucket_start", incidents=pl.Series(draws)),
        staffing=_staffing(future),
        areas=areas,
        overrides=overrides,
    )


@pytest.fixture(scope="module")
def page(report, tmp_path_factory) -> Path:
    return write_report(render_report(report), tmp_path_factory.mktemp("report") / "city_police.html")


def test_the_page_needs_no_network(page):
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(
        r"<script|<link|<iframe|<img|@import|url\(\s*['\"]?(https?:)?//", html, re.IGNORECASE
    )
    assert html.count("<svg") == 3  # two charts and the map


def test_the_page_says_what_planners_need(report, page):
    html = page.read_text(encoding="utf-8")
    assert "City Police Department" in html
    assert "jointcast-demand v4" in html and "3f9c2a7be1d04c55a1f0e2d9c8b7a6f5" in html
    assert "Mon 02 Mar 2026 06:00 EST" in html  # published at 11:00 UTC, shown in local time
    assert "forecast.city_police_demand" in html and "forecast.city_police_staffing" in html
    staffing = html.split("<h2>2.")[1].split("<h2>3.")[0]
    # agency totals, one row per shift of the first 7 local dates: the first is Sunday's night shift only,
    # the first that starts after the forecast does (at midnight UTC, 19:00 local)
    assert staffing.count("<tr") == 1 + 1 + 6 * len(SHIFTS)
    assert "Sun 01 Mar 2026" in staffing and "Sat 07 Mar 2026" in staffing and "08 Mar" not in staffing
    units = report.staffing.filter(pl.col("shift_date") == date(2026, 3, 2), pl.col("shift_name") == "day")
    assert f"<b>{units['recommended_units'].sum()}</b>" in staffing
    areas = html.split("<h2>4.")[1].split("<h2>5.")[0]
    assert areas.count("<tr") == 1 + 10
    assert "Stadium concert &amp; fireworks" in html and "all areas" in html
    assert "stale" not in html.split("</header>")[0].lower()
    assert "href='city_police_accuracy.html'" in html  # the monitor's accuracy page, beside this one


def test_the_staffing_note_says_where_the_min_units_floor_sets_the_units(report):
    html = render_report(report)
    staffing = html.split("<h2>2.")[1].split("<h2>3.")[0]
    shown = report.staffing.filter(pl.col("shift_date") <= date(2026, 3, 7))  # the first 7 local dates
    floored = shown.filter(pl.col("staffing_basis") == "min_units").height
    assert 0 < floored < shown.height
    assert f"{floored} of {shown.height} area-shifts are at the min_units floor of {MIN_UNITS}" in staffing
    assert "demand alone would need fewer" in staffing
    by_demand = report.staffing.with_columns(staffing_basis=pl.lit("demand"))
    assert "floor-note" not in render_report(replace(report, staffing=by_demand))


def _line_x(svg: str, gid: str) -> float:
    """The x of a vertical line matplotlib drew with ``gid``."""
    return float(re.search(rf'<g id="{gid}">\s*<path d="M ([\d.]+) ', svg).group(1))


def test_the_now_line_is_at_the_publication_time_not_the_forecast_start(report):
    html = render_report(report)
    chart = html.split('id="chart-forecast"')[1].split("</figure>")[0]
    assert "now: published Mon 06:00" in chart and "data end: forecast starts" in chart
    now, start = _line_x(chart, "line-now"), _line_x(chart, "line-forecast-start")
    # the mean line runs hourly from the forecast's start to its 168th hour; published 11 hours in
    means = [d for d, style in re.findall(r'<path d="([^"]+)"[^>]*style="([^"]+)"', chart) if MEAN in style]
    xs = [float(x) for x in re.findall(r"[ML] (-?[\d.]+) ", max(means, key=len))]
    assert xs[0] == pytest.approx(start, abs=0.01)
    assert (now - start) / (xs[-1] - start) == pytest.approx(11 / 167, abs=0.002)


def test_the_map_colours_each_area_by_the_coming_shift(report):
    html = render_report(report)
    section = html.split("<h2>3.")[1].split("<h2>4.")[0]
    drawn = re.findall(r'<path data-area="([^"]+)"[^>]*><title>([^<]+)</title>', section)
    areas = sorted(report.staffing["area_id"].unique())
    assert sorted(area for area, _ in drawn) == areas  # one shape per area with a place; not `unknown`
    # published 06:00 local on Monday 2 March: the night shift (23:00-07:00) is in progress
    caption = section.split("<figcaption>")[1]
    assert "night shift, Sun 01 Mar 2026 23:00 EST to 07:00 (America/New_York)" in caption
    night = report.staffing.filter(pl.col("shift_start") == datetime(2026, 3, 2, 4, tzinfo=UTC))
    expected = dict(night.select("area_id", "expected_incidents").iter_rows())
    titles = dict(drawn)
    assert titles[areas[0]] == f"Beat {areas[0]}: {expected[areas[0]]:.1f} expected incidents"  # its outline
    assert (
        titles[areas[1]]
        == f"Beat {areas[1]}: {expected[areas[1]]:.1f} expected incidents (approximate shape)"
    )
    assert f"{len(areas) - 1} of {len(areas)} areas have no published outline" in caption
    assert "Not on the map" in section and "unknown, 0.0 expected incidents" in section
    legend = section.split('class="legend"')[1]
    assert legend.count("<rect") >= 3 and re.search(r">0-\d", legend)


def test_the_joint_events_table_says_how_many_with_whom_and_who_led(report):
    section = render_report(report).split("<h2>6.")[1].split("<footer")[0]
    assert "Joint events, last 28 days" in section
    assert "48 of the agency's 2400 counted incidents (2%)" in section
    past = section.split("joint-outlook")[0]
    assert past.count("<tr") == 1 + 2
    rows = past.split("<tbody>")[1].split("</tr>")
    assert "vehicle_accident" in rows[0] and "county_fire, ems" in rows[0] and "<b>this agency</b>" in rows[0]
    assert "7 of 9" in rows[1] and "county_fire" in rows[1]
    ahead = section.split("joint-outlook")[1]
    assert "Joint demand ahead, next 7 days" in ahead and ahead.count("<tr") == 1 + 2
    assert (
        "<td>vehicle_accident</td><td><b>this agency</b></td><td>ems</td><td class='num'>30.3</td>" in ahead
    )
    empty = render_report(replace(report, joint_events=report.joint_events.clear()))
    assert "<p>None: no incident of this agency" in empty.split("<h2>6.")[1]


def test_no_overrides_reads_none(report):
    html = render_report(replace(report, overrides=report.overrides.clear()))
    assert "<p>None" in html.split("<h2>5.")[1]


def test_text_is_escaped(report):
    hostile = "<script>alert('x')</script>"
    html = render_report(
        replace(
            report,
            agency_name=f"Police {hostile}",
            areas=report.areas.with_columns(
                area_id=pl.when(pl.col("area_id") == "B01").then(pl.lit(hostile)).otherwise("area_id"),
                drivers=pl.lit(f"time of day +20%; {hostile}"),
                expected_incidents=pl.when(pl.col("area_id") == "B01")
                .then(10_000.0)
                .otherwise("expected_incidents"),
            ),
            overrides=report.overrides.with_columns(reason=pl.lit(hostile), created_by=pl.lit('"><b>x')),
        )
    )
    assert "<script" not in html and '"><b>x' not in html
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert html.count(escaped) >= 5  # title, h1, area, drivers, reasons: shown as text


@pytest.mark.parametrize("stale", [False, True])
def test_the_stale_banner_shows_only_when_data_is_stale(report, stale):
    publication = {**report.publication, "data_stale": stale, "stale_hours": 30.4 if stale else None}
    html = render_report(replace(report, publication=publication))
    assert ("stale-banner" in html) is stale
    assert ("30 hours old" in html) is stale


def test_a_baseline_forecast_is_named_as_one_under_the_model(report):
    assert "no trained model beat it" not in render_report(report)
    publication = {**report.publication, "model_baseline": "the hour-of-week mean of the last 4 weeks"}
    html = render_report(replace(report, publication=publication))
    assert (
        "The forecast is the hour-of-week mean of the last 4 weeks because no trained model beat it on the "
        "backtest." in html
    )


def test_write_report_replaces_the_file_whole(tmp_path):
    target = tmp_path / "out" / "report.html"
    write_report("<p>old</p>", target)
    assert write_report("<p>new</p>", target) == target
    assert target.read_text(encoding="utf-8") == "<p>new</p>"
    assert [path.name for path in target.parent.iterdir()] == ["report.html"]  # no temporary file left


class _Charts(HTMLParser):
    """Per chart figure id: the (d, style) of every shape drawn in its svg.

    A shape is a ``<path>``, or a ``<use>`` of a path defined once under ``<defs>`` (how matplotlib
    writes a filled area); the pair then holds the referenced path's ``d`` and the ``<use>``'s style.
    """

    def __init__(self) -> None:
        super().__init__()
        self.shapes: dict[str, list[tuple[str, str]]] = {}
        self._defined: dict[str, str] = {}
        self._uses: list[tuple[str, str, str]] = []
        self._chart: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "figure" and attributes.get("id", "").startswith("chart-"):
            self._chart = attributes["id"]
            self.shapes[self._chart] = []
        elif tag == "path" and self._chart:
            self._defined[attributes.get("id", "")] = attributes.get("d", "")
            self.shapes[self._chart].append((attributes.get("d", ""), attributes.get("style", "")))
        elif tag == "use" and self._chart:
            target = attributes.get("xlink:href") or attributes.get("href", "")
            self._uses.append((self._chart, target.removeprefix("#"), attributes.get("style", "")))

    def handle_endtag(self, tag):
        if tag == "figure":
            self._chart = None

    def close(self) -> None:
        super().close()
        for chart, target, style in self._uses:
            self.shapes[chart].append((self._defined.get(target, ""), style))


def _vertices(d: str) -> int:
    return len(re.findall(r"-?\d+(?:\.\d+)?\s+-?\d+(?:\.\d+)?", d))


@pytest.mark.browser
def test_chromium_draws_the_charts_and_the_map(report, page):
    dom = dump_dom(page)
    assert "<script" not in dom
    charts = _Charts()
    charts.feed(dom)
    charts.close()
    assert set(charts.shapes) == {"chart-forecast", "chart-staffing"}
    forecast = charts.shapes["chart-forecast"]
    band = [_vertices(d) for d, style in forecast if f"fill: {BAND}" in style]  # the legend's patch too
    # hourly for 7 days ahead and 14 days back (matplotlib drops a few collinear vertices)
    assert max(band) > 7 * 24  # the p10-p90 polygon: along the p10s and back along the p90s
    assert any(_vertices(d) > 100 and f"stroke: {MEAN}" in style for d, style in forecast)
    assert any(_vertices(d) > 200 and f"stroke: {ACTUAL}" in style for d, style in forecast)
    bars = [d for d, style in charts.shapes["chart-staffing"] if any(c in style for c in SHIFT_COLOURS)]
    assert len(bars) == 1 + 6 * len(SHIFTS) + len(SHIFTS)  # the bars, and the legend swatches
    # the map: one shape per area with a place (not `unknown`), each with its hover title, laid out
    drawn = re.findall(r'<path data-area="([^"]+)" d="M [^"]+"[^>]*><title>Beat ', dom)
    assert sorted(drawn) == sorted(report.staffing["area_id"].unique())


def _share(pixels: np.ndarray, colour: str, tolerance: int = 8) -> float:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return float((np.abs(pixels.astype(int) - rgb).max(axis=-1) <= tolerance).mean())


@pytest.mark.browser
def test_the_screenshot_shows_the_charts(page, tmp_path):
    png = screenshot(page, tmp_path / "report.png")
    pixels = np.asarray(Image.open(png).convert("RGB"))
    assert pixels.shape == (2400, 1280, 3)
    coloured = pixels.max(axis=-1).astype(int) - pixels.min(axis=-1) > 40
    rows = np.flatnonzero(coloured.mean(axis=1) > 0.02)  # rows crossing a chart's drawn area
    assert len(rows) > 300
    assert _share(pixels, BAND) > 0.005  # the forecast band is visibly painted
    assert _share(pixels, MEAN, 30) > 0.0003 and _share(pixels, ACTUAL, 30) > 0.0003
    for colour in SHIFT_COLOURS[: len(SHIFTS)]:
        assert _share(pixels, colour) > 0.001, colour  # each shift's bars
    assert math.isclose(pixels[5, 5].mean(), 255, abs_tol=1)  # white page, not an error screen


def _actual_path_points(html: str) -> int:
    """Vertices of the chart's actuals line (matplotlib's SVG: one path per unbroken run)."""
    colour = ACTUAL.lower()
    paths = re.findall(r'<path d="([^"]+)"[^>]*?stroke: ?' + colour, html)
    return sum(len(re.findall(r"[ML]", d)) for d in paths)


def test_an_outage_in_the_actuals_is_a_gap_in_the_line_not_zeros(report):
    start = report.actuals["bucket_start"].max() - timedelta(days=3)
    hole = pl.col("bucket_start").is_between(start, start + timedelta(hours=30), closed="left")
    gapped = report.actuals.with_columns(incidents=pl.when(hole.not_()).then(pl.col("incidents")))
    html = render_report(replace(report, actuals=gapped))
    assert "feed outage" in html
    whole = _actual_path_points(render_report(report))
    assert 0 < _actual_path_points(html) < whole
