"""What-if scenarios: the scenario file, the pure maths on tiny frames, and runs on the published demo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from planning.event_response import event_hours, event_response, event_uplift
from planning.scenario import event_areas, mutual_aid, with_outages
from planning.scenario_file import ScenarioError, parse_scenario

NY = "America/New_York"
UTC_HOUR = pl.Datetime("us", "UTC")


def test_a_scenario_file_names_the_key_it_cannot_take():
    with pytest.raises(ScenarioError, match=r"events\[0\]\.crowd: unknown key"):
        parse_scenario(
            'name = "x"\n[[events]]\nname = "p"\nstart = 2026-12-05T10:00:00\nend = 2026-12-05T12:00:00\n'
            'expected_attendance = 100\nareas = ["pd:A1"]\ncrowd = 3\n',
            "parade.toml",
        )
    with pytest.raises(ScenarioError, match="either areas"):
        parse_scenario(
            'name = "x"\n[[events]]\nname = "p"\nstart = 2026-12-05T10:00:00\nend = 2026-12-05T12:00:00\n'
            "expected_attendance = 100\n",
            "parade.toml",
        )
    with pytest.raises(ScenarioError, match=r"outages\[0\]: an outage needs units"):
        parse_scenario(
            'name = "x"\n[[outages]]\nagency = "pd"\nstart = 2026-12-05T10:00:00\nend = 2026-12-05T12:00:00\n',
            "down.toml",
        )
    with pytest.raises(ScenarioError, match="at least one"):
        parse_scenario('name = "x"\n', "empty.toml")


def _hours(first: datetime, count: int) -> list[datetime]:
    return [first + timedelta(hours=h) for h in range(count)]


def test_the_learned_event_response_is_incidents_per_ten_thousand_per_event_hour():
    """Two quiet areas at 1 incident an hour; an event of 20,000 for two hours adds 3 an hour."""
    first = datetime(2026, 6, 1, tzinfo=UTC)
    hours = _hours(first, 24 * 7 * 3)
    panel = pl.DataFrame(
        {
            "agency_id": ["pd"] * len(hours) * 2,
            "area_id": ["A1"] * len(hours) + ["A2"] * len(hours),
            "bucket_start": hours * 2,
            "incidents": [1] * len(hours) * 2,
            "observed": [True] * len(hours) * 2,
        },
        schema_overrides={"bucket_start": UTC_HOUR},
    )
    event_start = datetime(2026, 6, 10, 18, tzinfo=UTC)  # 14:00 in New York
    busy = (pl.col("bucket_start").is_in([event_start, event_start + timedelta(hours=1)])) & (
        pl.col("area_id") == "A1"
    )
    panel = panel.with_columns(incidents=pl.when(busy).then(4).otherwise("incidents"))
    events = pl.DataFrame(
        {
            "event_id": ["E1"], "name": ["Parade"], "start_local": ["2026-06-10T14:00:00"],
            "end_local": ["2026-06-10T16:00:00"], "lat": [""], "lon": [""], "radius_m": ["500"],
            "expected_attendance": ["20000"], "areas": ["pd:A1|pd:A2"],
        }
    )  # fmt: skip
    response = event_response(panel, event_hours(events, {"pd": NY}), {"pd": NY})
    fitted = response.row(0, named=True)
    assert fitted["during_per_10k"] == pytest.approx(1.5) and fitted["after_per_10k"] == pytest.approx(0.0)
    assert (fitted["event_hours"], fitted["excess"]) == (3, 6.0)  # two hours on, and the hour after
    # a 10,000 crowd from 14:30 to 15:00: half an hour, shared by the two areas it lists
    planned = events.with_columns(
        start_local=pl.lit("2026-06-17T14:30:00"), end_local=pl.lit("2026-06-17T15:00:00"),
        expected_attendance=pl.lit("10000"),
    )  # fmt: skip
    uplift = event_uplift(event_hours(planned, {"pd": NY}), response).sort("bucket_start", "area_id")
    assert uplift["event_uplift"].to_list() == pytest.approx([0.375, 0.375, 0.0, 0.0])


def _areas() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "agency_id": ["pd", "pd", "fd", "fd", "ems"],
            "area_id": ["A1", "A2", "F1", "F2", "E1"],
            "centroid_lat": [40.0, 40.1, 40.01, 40.09, 40.05],
            "centroid_lon": [-75.0, -75.0, -75.0, -75.0, -75.0],
            "geometry": [None] * 5,
        }
    )


def test_an_agency_whose_dispatch_is_down_hands_the_types_it_leads_to_its_supporting_agencies():
    outage = parse_scenario(
        'name = "x"\n[[outages]]\nagency = "pd"\nstart = 2026-12-05T10:00:00\nend = 2026-12-05T12:00:00\n'
        "dispatch_down = true\n",
        "down.toml",
    ).outages
    first = datetime(2026, 12, 5, 14, tzinfo=UTC)  # 09:00 in New York: one hour before the outage
    hours = _hours(first, 4)
    keys = [(a, area) for a, area in _areas().select("agency_id", "area_id").iter_rows()]
    demand = pl.DataFrame(
        [(a, area, h, 2.0) for a, area in keys for h in hours],
        schema={"agency_id": pl.String, "area_id": pl.String, "bucket_start": UTC_HOUR, "mean": pl.Float64},
        orient="row",
    )
    shares = pl.DataFrame(
        {
            "agency_id": ["pd"],
            "incident_type": ["traffic_collision"],
            "supporting": [["fd", "ems"]],
            "share": [0.25],
        }
    )
    zones = dict.fromkeys(["pd", "fd", "ems"], NY)
    moved = with_outages(demand, outage, shares, _areas(), zones)
    at = {(r["agency_id"], r["area_id"], r["bucket_start"].hour): r for r in moved.iter_rows(named=True)}
    assert at["pd", "A1", 14]["mean"] == 2.0  # before the outage
    assert at["pd", "A1", 15]["mean"] == 1.5 and at["pd", "A1", 15]["moved_out"] == 0.5
    # each supporting agency takes half of the lead's share, in its area nearest the lead's
    assert at["fd", "F1", 15]["moved_in"] == 0.25 and at["fd", "F2", 15]["moved_in"] == 0.25
    assert at["ems", "E1", 15]["moved_in"] == 0.5 and at["ems", "E1", 17]["moved_in"] == 0.0
    assert moved["mean"].sum() == pytest.approx(demand["mean"].sum())  # nothing lost, nothing made


def _shift_rows(agency: str, areas: int, units: int, start: datetime) -> list[dict]:
    return [
        {
            "agency_id": agency, "area_id": f"{agency}{i}", "shift_name": "day", "shift_date": start.date(),
            "shift_start": start, "shift_end": start + timedelta(hours=8), "shift_start_local": start.replace(tzinfo=None),
            "recommended_units": units,
        }
        for i in range(areas)
    ]  # fmt: skip


def test_mutual_aid_names_the_short_agency_its_shift_units_and_a_partner_with_spare_units():
    start = datetime(2026, 12, 5, 12, tzinfo=UTC)
    staffing = pl.DataFrame(
        _shift_rows("pd", 5, 2, start) + _shift_rows("fd", 3, 1, start) + _shift_rows("ems", 2, 1, start)
    ).with_columns(pl.col("recommended_units").cast(pl.Int32))
    difference = staffing.select(
        "agency_id", "area_id", "shift_name", "shift_start", units_change=pl.lit(0, pl.Int32)
    ).with_columns(units_change=pl.when(pl.col("area_id") == "pd3").then(1).otherwise("units_change"))
    roles = {"traffic_collision": ("pd", ("fd", "ems")), "cardiac": ("ems", ("fd",))}
    available = {"pd": 8, "fd": 6, "ems": 9}
    aid = mutual_aid(staffing, difference, (), available, dict.fromkeys(available, NY), roles)
    assert aid.height == 1
    row = aid.row(0, named=True)
    assert (row["agency_id"], row["shift_name"], row["needed_units"], row["available_units"]) == (
        "pd",
        "day",
        10,
        8,
    )
    assert row["short_units"] == 2 and row["areas"] == ["pd3"]
    assert (row["partner_agency"], row["partner_spare_units"], row["covered_units"]) == ("ems", 7, 2)
    # ems's dispatch down: fd, with 3 spare, is the partner; an outage's units cut fd to 2
    down = parse_scenario(
        'name = "x"\n[[outages]]\nagency = "ems"\nstart = 2026-12-05T00:00:00\nend = 2026-12-06T00:00:00\n'
        'dispatch_down = true\n[[outages]]\nagency = "fd"\nstart = 2026-12-05T00:00:00\n'
        "end = 2026-12-06T00:00:00\nunits = 5\n",
        "down.toml",
    ).outages
    aid = mutual_aid(staffing, difference, down, available, dict.fromkeys(available, NY), roles)
    row = aid.row(0, named=True)
    assert (row["partner_agency"], row["partner_spare_units"], row["covered_units"], row["uncovered_units"]) == (
        "fd", 2, 2, 0,
    )  # fmt: skip


def test_an_event_placed_by_a_point_touches_the_areas_its_circle_meets():
    square = "POLYGON (({0} 40, {1} 40, {1} 40.01, {0} 40.01, {0} 40))"
    areas = pl.DataFrame(
        {
            "agency_id": ["fd", "fd", "fd"],
            "area_id": ["W", "E", "FAR"],
            "name": ["W", "E", "FAR"],
            "centroid_lat": [40.005] * 3,
            "centroid_lon": [-75.005, -74.995, -74.9],
            "geometry": [
                square.format(-75.01, -75.0),
                square.format(-75.0, -74.99),
                square.format(-74.91, -74.89),
            ],
        }
    )
    event = 'name = "x"\n[[events]]\nname = "p"\nstart = 2026-12-05T10:00:00\nend = 2026-12-05T12:00:00\n'
    event += "expected_attendance = 100\npoint = [-75.001, 40.005]\nradius_m = {}\n"
    small = parse_scenario(event.format(50), "e.toml").events[0]
    large = parse_scenario(event.format(300), "e.toml").events[0]
    assert event_areas(small, areas, {}) == ["fd:W"]
    assert event_areas(large, areas, {}) == ["fd:E", "fd:W"]


# --- runs on the published demo workspace (simulate(days=120, seed=5), trained and published) ------------

SEED, AGENCIES = 5, 4  # those of tests.conftest's trained_workspace


def _settings(root):
    from jointcast.config import load_settings

    return load_settings(str(root / "jointcast.toml"))


def _live_checksums(settings) -> dict[str, tuple]:
    """Rows and SHA-256 of every forecast.* table and view, and the publication log."""
    from warehouse.db import open_warehouse

    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'forecast' UNION ALL "
                "SELECT view_name FROM duckdb_views() WHERE schema_name = 'forecast' ORDER BY 1"
            ).fetchall()
        ] + ["meta.publications"]
        sums = {}
        for table in tables:
            name = table if "." in table else f"forecast.{table}"
            sums[name] = con.execute(
                f"SELECT count(*), sha256(coalesce(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR)),"
                f" '')) FROM {name} t"
            ).fetchone()
    return sums


def _store(settings, text: str) -> str:
    from planning.scenario_file import parse_scenario
    from warehouse.db import open_warehouse
    from warehouse.scenarios import add_scenario

    spec = parse_scenario(text, "test")
    with open_warehouse(settings.warehouse_path) as con:
        add_scenario(
            con, name=spec.name, description=spec.description, spec_json=spec.model_dump_json(),
            source_file="test", reason="test", created_by="test",
        )  # fmt: skip
    return spec.name


def _run(settings, name: str) -> dict[str, pl.DataFrame]:
    from flows.scenario import scenario_flow
    from warehouse.db import open_warehouse
    from warehouse.scenarios import OUTPUTS, read_scenario, read_scenario_table

    result = scenario_flow(settings=settings, name=name)
    assert isinstance(result, dict), result
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        scenario_id = read_scenario(con, name)["scenario_id"]
        return {table: read_scenario_table(con, table, scenario_id) for table in OUTPUTS}


def _data_end_local(settings) -> datetime:
    from warehouse.db import open_warehouse

    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        end = con.execute("SELECT min(data_as_of) FROM forecast.demand").fetchone()[0]
    return end.astimezone(UTC).replace(tzinfo=None) - timedelta(
        hours=5
    )  # New York, standard time: a date is enough


@pytest.mark.integration
@pytest.mark.slow
def test_a_planned_event_raises_the_forecast_toward_the_truth_and_the_live_tables_stay(published, prefect):
    """A stadium game of 30,000 five days ahead, in the areas the simulator says it touches: the
    scenario raises the live forecast there and then (and in the hour after, the crowd leaving)
    toward the simulator's true rates with the same event injected, leaves every other hour as it
    was, and the live tables' checksums do not move.

    This workspace's history holds three or four events, so the response learned from it is only
    as good as their counts (the realised incidents of today's fixture fall 15-25% below the true
    rates in EMS's and transit's event hours): the 15% criterion is tested on a year of history in
    ``test_a_year_of_history_learns_the_event_response_within_15_percent``; here within 35%."""
    from jointcast.simulator.events import planned_event
    from jointcast.simulator.simulation import injected_event_truth
    from warehouse.model_store import read_truth

    settings = _settings(published)
    before = _live_checksums(settings)
    day = _data_end_local(settings).date() + timedelta(days=5)
    start = datetime(day.year, day.month, day.day, 13)
    game = planned_event(
        "Game at Riverside Stadium", start, start + timedelta(hours=3.5), -75.165, 40.055, 900, 30_000
    )
    truth = read_truth(published)
    uplift = injected_event_truth(game, truth["bucket_start"].unique().sort(), seed=SEED, agencies=AGENCIES)
    areas = uplift["areas"][0].split("|")
    name = _store(
        settings,
        f'name = "stadium"\n[[events]]\nname = "Game at Riverside Stadium"\nkind = "sports"\n'
        f"start = {start.isoformat()}\nend = {(start + timedelta(hours=3.5)).isoformat()}\n"
        f"expected_attendance = 30000\nareas = {areas!r}\n".replace("'", '"'),
    )
    tables = _run(settings, name)
    during = tables["demand"].filter(pl.col("event_attendance") > 0)
    assert sorted(
        f"{a}:{b}" for a, b in during.select("agency_id", "area_id").unique().iter_rows()
    ) == sorted(areas)
    assert set(during["event_basis"]) == {"history"}
    reached = tables["demand"].filter(pl.col("event_uplift").is_not_null())
    assert reached["bucket_start"].max() > during["bucket_start"].max()  # the hour after: the crowd leaving
    keys = ["agency_id", "area_id", "bucket_start"]
    true = (
        truth.join(during.select(keys), on=keys)
        .join(uplift.select(*keys, "uplift"), on=keys, how="left")
        .select((pl.col("rate") + pl.col("uplift").fill_null(0.0)).sum())
        .item()
    )
    expected = during["mean"].sum()
    assert abs(expected / true - 1) <= 0.35, (expected, true, during["model_mean"].sum())
    assert during["mean"].sum() > 2 * during["baseline_mean"].sum()  # the game matters
    untouched = tables["demand"].filter(pl.col("event_uplift").is_null())
    assert (untouched["mean"] == untouched["baseline_mean"]).all()
    assert _live_checksums(settings) == before


@pytest.mark.integration
@pytest.mark.slow
def test_an_outage_hands_the_lead_agencys_types_to_its_partners_and_mutual_aid_names_the_gap(
    published, prefect
):
    """EMS dispatch down for a day: each supporting agency's demand rises by EMS's share of the
    types EMS leads; the next day EMS has 3 units fewer than its busiest shift needs (hand-set), and
    the mutual-aid table names EMS, those shifts, the units short and city police (hand-set to have
    units to spare) as the partner."""
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_frame

    config = published / "jointcast.toml"
    text = config.read_text(encoding="utf-8")
    for agency, units in (("city_police", 200), ("ems", 60)):
        text = text.replace(f'id = "{agency}"\n', f'id = "{agency}"\navailable_units = {units}\n', 1)
    config.write_text(text, encoding="utf-8")
    settings = _settings(published)
    day = _data_end_local(settings).date() + timedelta(days=3)
    down_from = datetime(day.year, day.month, day.day, 7)
    short_from, short_to = down_from + timedelta(days=1), down_from + timedelta(days=2)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        live = read_frame(con, "SELECT * FROM forecast.shift_totals WHERE agency_id = 'ems'")
        profile = read_frame(con, "SELECT * FROM features.service_profile WHERE agency_id = 'ems'")
    zone_start = pl.lit(short_from).dt.replace_time_zone(NY).dt.convert_time_zone("UTC")
    zone_end = pl.lit(short_to).dt.replace_time_zone(NY).dt.convert_time_zone("UTC")
    overlapping = live.filter(pl.col("shift_start") < zone_end, pl.col("shift_end") > zone_start)
    units = int(overlapping["recommended_units"].min()) - 3
    name = _store(
        settings,
        f'name = "ems-down"\n[[outages]]\nagency = "ems"\nstart = {down_from.isoformat()}\n'
        f"end = {short_from.isoformat()}\ndispatch_down = true\n"
        f'[[outages]]\nagency = "ems"\nstart = {short_from.isoformat()}\nend = {short_to.isoformat()}\n'
        f"units = {units}\n",
    )
    tables = _run(settings, name)
    demand = tables["demand"]
    share = {
        t: n / profile["incidents"].sum() for t, n in profile.select("incident_type", "incidents").iter_rows()
    }
    window = pl.col("bucket_start").is_between(
        pl.lit(down_from).dt.replace_time_zone(NY).dt.convert_time_zone("UTC"),
        pl.lit(short_from).dt.replace_time_zone(NY).dt.convert_time_zone("UTC"),
        closed="left",
    )
    ems_in_window = demand.filter(window, pl.col("agency_id") == "ems")["baseline_mean"].sum()
    expected_in: dict[str, float] = {}
    for incident_type, (lead, supporting) in settings.role_map.items():
        if lead == "ems" and supporting and incident_type in share:
            for partner in supporting:
                expected_in[partner] = expected_in.get(partner, 0.0) + share[incident_type] / len(supporting)
    assert expected_in  # EMS leads types with partners in the demo's roles
    moved_in = demand.filter(window).group_by("agency_id").agg(pl.col("moved_in").sum())
    for partner, fraction in expected_in.items():
        got = moved_in.filter(pl.col("agency_id") == partner)["moved_in"].item()
        assert got == pytest.approx(fraction * ems_in_window, rel=1e-6)
    moved_out = demand.filter(window, pl.col("agency_id") == "ems")["moved_out"].sum()
    assert moved_out == pytest.approx(sum(expected_in.values()) * ems_in_window, rel=1e-6)
    assert demand.filter(~window)["moved_in"].sum() == 0.0
    aid = tables["mutual_aid"]
    assert set(aid["agency_id"]) == {"ems"}
    assert aid.height == overlapping.height and (aid["available_units"] == units).all()
    assert (aid["short_units"] == aid["needed_units"] - units).all() and (aid["short_units"] >= 3).all()
    assert set(aid["partner_agency"]) == {"city_police"} and (aid["uncovered_units"] == 0).all()
    assert all(len(areas) > 0 for areas in aid["areas"])
    _check_marts(settings, aid)
    _check_index_pages(settings, config, name)


def _check_index_pages(settings, config, name: str) -> None:
    """Each agency's report links its scenario list, which links the scenario's page; `scenario drop`
    takes the page away and the list says there is none."""
    from typer.testing import CliRunner

    from jointcast.cli import app

    report = (settings.report_root / "ems.html").read_text(encoding="utf-8")
    assert "href='ems_scenarios.html'" in report
    index = settings.report_root / "ems_scenarios.html"
    assert f"href='ems_scenario_{name}.html'" in index.read_text(encoding="utf-8")
    assert (settings.report_root / f"ems_scenario_{name}.html").exists()
    result = CliRunner().invoke(app, ["scenario", "drop", name, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert not (settings.report_root / f"ems_scenario_{name}.html").exists()
    assert "id='no-scenarios'" in index.read_text(encoding="utf-8")


def _check_marts(settings, aid: pl.DataFrame) -> None:
    """Each agency's mart holds its own scenario rows only: EMS's holds its shortfalls, the others none."""
    from warehouse.agency_keys import require_key
    from warehouse.marts import open_mart

    for agency in settings.agency_ids:
        with open_mart(settings.mart_path(agency), require_key(settings, agency), agency) as con:
            for table in ("demand", "staffing", "difference", "mutual_aid"):
                agencies = {
                    a for (a,) in con.execute(f"SELECT DISTINCT agency_id FROM scenario.{table}").fetchall()
                }
                assert agencies == (
                    {agency} if table != "mutual_aid" else {agency} & set(aid["agency_id"])
                ), table
            assert "spec" not in con.execute("SELECT * FROM scenario.scenarios").pl().columns


@pytest.fixture(scope="module")
def year_of_events(tmp_path_factory, prefect):
    """The demo's simulation (a year, seed 7, four agencies), ingested and featured (no model):
    some twenty planned events, as a deployment has after a year."""
    from flows.features import features_flow
    from jointcast.simulator import simulate
    from tests.test_ingest import _ingest

    root = tmp_path_factory.mktemp("year") / "workspace"
    simulate(root, days=365, seed=7)
    _ingest(root / "jointcast.toml")
    features_flow(settings=_settings(root))
    return root


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(
    ("venue", "lon", "lat", "radius", "attendance", "hour", "hours"),
    [
        ("Riverside Stadium", -75.165, 40.055, 900, 30_000, 13, 3.5),
        ("Downtown Arena", -75.215, 40.125, 500, 15_000, 19, 3.0),
        ("Main Street", -75.222, 40.12, 1_200, 40_000, 11, 4.0),
    ],
)
def test_a_year_of_history_learns_the_event_response_within_15_percent(
    year_of_events, venue, lon, lat, radius, attendance, hour, hours
):
    """An event the simulator injects into its true rates, a few days after the data ends: the
    incidents the learned response adds in the areas the simulator says it touches, while it runs
    and in the hour after, are within 15% of those the simulator adds."""
    from jointcast.simulator.events import planned_event
    from jointcast.simulator.simulation import injected_event_truth
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_events, read_frame
    from warehouse.model_store import read_truth

    settings = _settings(year_of_events)
    zones = {a.id: a.timezone for a in settings.agencies}
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        panel = read_frame(
            con, "SELECT agency_id, area_id, bucket_start, incidents, observed FROM features.demand"
        )
    history = read_events(settings.events_path)
    response = event_response(panel, event_hours(history, zones), zones)
    assert history.height >= 15 and set(response["agency_id"]) == set(zones)
    day = panel["bucket_start"].max().astimezone(UTC).date() + timedelta(days=4)
    start = datetime(day.year, day.month, day.day, hour)
    event = planned_event(
        f"Event at {venue}", start, start + timedelta(hours=hours), lon, lat, radius, attendance
    )
    truth = injected_event_truth(
        event, read_truth(year_of_events)["bucket_start"].unique().sort(), seed=7, agencies=len(zones)
    )
    rows = pl.DataFrame(
        {
            "event_id": ["E"], "name": ["e"], "start_local": [start.isoformat()],
            "end_local": [(start + timedelta(hours=hours)).isoformat()], "lat": [str(lat)], "lon": [str(lon)],
            "radius_m": [str(radius)], "expected_attendance": [str(attendance)], "areas": [truth["areas"][0]],
        }
    )  # fmt: skip
    learned = event_uplift(event_hours(rows, zones), response)["event_uplift"].sum()
    true = truth["uplift"].sum()
    assert abs(learned / true - 1) <= 0.15, (learned, true, response.to_dicts())


def test_the_scenario_page_shows_the_shifts_the_mutual_aid_and_the_changed_areas():
    from planning.scenario_page import ScenarioPage, render_scenario_page

    start = datetime(2026, 12, 5, 12, tzinfo=UTC)
    difference = pl.DataFrame(
        {
            "agency_id": ["fd", "fd"], "area_id": ["W", "E"], "shift_name": ["day", "day"],
            "shift_date": [start.date()] * 2, "shift_start": [start] * 2,
            "baseline_incidents": [2.0, 1.0], "scenario_incidents": [6.0, 1.0], "incidents_change": [4.0, 0.0],
            "baseline_units": [1, 1], "scenario_units": [3, 1], "units_change": [2, 0],
        }
    )  # fmt: skip
    aid = pl.DataFrame(
        [{"agency_id": "fd", "shift_name": "day", "shift_start": start, "needed_units": 4, "available_units": 3,
          "short_units": 1, "areas": ["W"], "partner_agency": "pd", "covered_units": 1}]
    )  # fmt: skip
    square = "POLYGON (({0} 40, {1} 40, {1} 40.01, {0} 40.01, {0} 40))"
    areas = pl.DataFrame(
        {
            "area_id": ["W", "E"], "name": ["West", "East"], "centroid_lat": [40.005] * 2,
            "centroid_lon": [-75.005, -74.995], "geometry": [square.format(-75.01, -75.0), square.format(-75.0, -74.99)],
        }
    )  # fmt: skip
    scenario = {"name": "game", "description": "Home opener.", "reason": "plan it", "created_by": "ana",
                "baseline_publication_id": 7}  # fmt: skip
    html = render_scenario_page(
        ScenarioPage("fd", "Fire", NY, scenario, ["sports 'Game': 30,000 expected"], difference, aid, areas)
    )
    assert 'id="scenario-shifts"' in html and "live publication 7" in html
    assert "<td>pd</td>" in html and 'id="mutual-aid"' in html
    assert 'data-area="W"' in html and "W +4.0" in html and "E +0.0" not in html  # only what changed
