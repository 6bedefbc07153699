"""Forecast and publish: the tables planners query, overrides, atomic publications, exports."""

import html
import json
import re
from datetime import UTC, datetime, timedelta
from hashlib import sha256

import polars as pl
import pytest
from typer.testing import CliRunner

import warehouse.publish
from flows.forecast import forecast_flow
from flows.publish import publish_flow
from jointcast.cli import app
from jointcast.config import load_settings
from tests.test_ingest import _query
from warehouse.db import literal, open_warehouse
from warehouse.published import PUBLISHED

# every test here reads a workspace trained on the session's Prefect API (conftest.trained_workspace)
pytestmark = [pytest.mark.integration, pytest.mark.slow]
AGENCIES = ("city_police", "county_fire", "ems", "transit_police")
runner = CliRunner()


def _config(root):
    return root / "jointcast.toml"


def _frame(root, sql: str) -> pl.DataFrame:
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_frame

    with open_warehouse(load_settings(_config(root)).warehouse_path, read_only=True) as con:
        return read_frame(con, sql)


def _state(root) -> dict:
    """What planners can see: checksums of the published tables and the log's length."""
    return {
        "publications": _query(_config(root), "SELECT count(*) FROM meta.publications")[0][0],
        "history": _query(_config(root), "SELECT count(*) FROM forecast.history")[0][0],
        **{
            table.name: _query(_config(root), f"SELECT sha256(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY "
                                              f"{table.key})) FROM forecast.{table.name} t")[0][0]
            for table in PUBLISHED
        },
    }  # fmt: skip


def _edit_config(root, old: str, new: str) -> None:
    path = _config(root)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_forecast_publishes_every_agency_with_quantiles_drivers_and_its_lineage(published_workspace):
    demand = _frame(published_workspace, "SELECT * FROM forecast.demand")
    series = _frame(published_workspace, "SELECT DISTINCT agency_id, area_id FROM features.demand")
    assert demand.height == series.height * 336
    assert set(demand["agency_id"]) == set(AGENCIES)
    assert demand.filter(~((pl.col("p10") <= pl.col("p50")) & (pl.col("p50") <= pl.col("p90")))).is_empty()
    assert demand["p10"].min() >= 0 and demand["mean"].min() >= 0
    assert (demand["mean"] == demand["model_mean"]).all() and (demand["override_factor"] == 1).all()
    assert demand["drivers"].str.split("; ").list.len().eq(3).all()
    assert demand["drivers"].str.contains(r"[+-]\d+%").all()
    assert demand["horizon"].min() == 1 and demand["horizon"].max() == 336
    [log] = _frame(published_workspace, "SELECT * FROM meta.publications").to_dicts()
    assert log["trigger"] == "forecast" and log["model_name"] == "jointcast-demand"
    assert set(demand["model_version"]) == {log["model_version"]}
    assert set(demand["mlflow_run_id"]) == {log["mlflow_run_id"]}
    assert json.loads(log["row_counts"])["demand"] == demand.height
    assert json.loads(log["checksums"])["demand"] == _state(published_workspace)["demand"]
    history = _frame(published_workspace, "SELECT vintage, count(*) AS n FROM forecast.history GROUP BY 1")
    assert history.rows() == [(log["publication_id"], demand.height)]


def test_every_row_carries_the_configured_quantiles_beside_p10_p50_p90(published_workspace):
    configured = list(load_settings(_config(published_workspace)).forecast.quantiles)
    demand = _frame(published_workspace, "SELECT * FROM forecast.demand")
    assert all(list(levels) == configured for levels in demand["quantiles"])
    assert all(list(levels) == configured for levels in demand["model_quantiles"])
    for level, column in ((0.1, "p10"), (0.5, "p50"), (0.9, "p90")):
        if level in configured:
            assert [levels[level] for levels in demand["quantiles"]] == pytest.approx(
                demand[column].to_list()
            )
    one = _query(_config(published_workspace), "SELECT count(*) FILTER (quantiles[0.9] = p90), count(*)"
                                               " FROM forecast.city_police_demand")[0]  # fmt: skip
    assert one[0] == one[1] > 0
    assert _query(_config(published_workspace), "SELECT count(*) FROM forecast.history WHERE quantiles IS NULL"
                  )[0][0] == 0  # fmt: skip


def test_changing_the_configured_quantiles_publishes_them(published):
    _edit_config(published, "quantiles = [0.1, 0.5, 0.9]", "quantiles = [0.05, 0.5, 0.95]")
    result = forecast_flow(settings=load_settings(str(_config(published))))
    assert result["published"] is True
    demand = _frame(published, "SELECT quantiles, p10, p50, p90 FROM forecast.demand")
    assert all(list(levels) == [0.05, 0.5, 0.95] for levels in demand["quantiles"])
    assert [levels[0.5] for levels in demand["quantiles"]] == pytest.approx(demand["p50"].to_list())
    assert all(levels[0.05] <= p10 and levels[0.95] >= p90 for levels, p10, p90 in
               demand.select("quantiles", "p10", "p90").iter_rows())  # fmt: skip
    [log] = _frame(
        published, "SELECT * FROM meta.publications ORDER BY publication_id DESC LIMIT 1"
    ).to_dicts()
    assert json.loads(log["checksums"])["demand"] == _state(published)["demand"]


def test_staffing_follows_the_formula_on_each_agencys_own_shifts(published_workspace):
    staffing = _frame(published_workspace, "SELECT * FROM forecast.staffing")
    settings = load_settings(_config(published_workspace))
    for agency in settings.agencies:
        rows = staffing.filter(pl.col("agency_id") == agency.id)
        assert set(rows["shift_name"]) == {s.name for s in agency.staffing.shifts}
        target = 1 - agency.staffing.proactive_share
        expected = (rows["workload_hours_p90"] / (rows["shift_hours"] * target) - 1e-9).ceil()
        expected = expected.clip(lower_bound=agency.staffing.min_units).cast(pl.Int32)
        assert (rows["recommended_units"] == expected).all()
        assert (rows["fte"] - rows["recommended_units"] * agency.staffing.relief_factor).abs().max() < 1e-9
        assumptions = json.loads(rows["assumptions"][0])
        assert assumptions["method"] == "workload" and "estimated from" in assumptions["service_source"]
        assert assumptions["relief_factor"] == agency.staffing.relief_factor
        assert not rows["data_stale"].any()


def test_every_area_of_the_forecast_is_published_with_its_centroid(published_workspace):
    areas = _frame(published_workspace, "SELECT * FROM forecast.areas")
    series = _frame(published_workspace, "SELECT DISTINCT agency_id, area_id FROM forecast.demand")
    assert areas.height == series.height
    assert areas.select("agency_id", "area_id").sort(pl.all()).equals(series.sort(pl.all()))
    located = areas.filter(pl.col("area_id") != "unknown")
    assert located["centroid_lat"].is_not_null().all() and (located["located_incidents"] > 0).all()
    settings = load_settings(_config(published_workspace))
    for agency in settings.agencies:  # each centre lies inside the agency's jurisdiction
        lon0, lat0, lon1, lat1 = agency.bbox
        mine = located.filter(pl.col("agency_id") == agency.id)
        assert (
            mine["centroid_lat"].is_between(lat0, lat1).all()
            and mine["centroid_lon"].is_between(lon0, lon1).all()
        )
    # the simulator's county_fire takes its areas from polygons, the others from their feed's column
    fire = located.filter(agency_id="county_fire")
    others = areas.filter(pl.col("agency_id") != "county_fire")
    assert set(fire["derived_from"]) == {"polygons"} and fire["geometry"].str.contains("POLYGON").all()
    assert (fire["name"] == "County Fire & Rescue " + fire["area_id"]).all()
    assert set(others["derived_from"]) == {"column"} and others["geometry"].is_null().all()
    assert (others["name"] == others["area_id"]).all()
    # planners' views carry each area's name beside its id
    named = _frame(
        published_workspace, "SELECT DISTINCT area_id, area_name FROM forecast.county_fire_staffing"
    )
    assert named.join(fire, on="area_id")["area_name"].equals(
        named.join(fire, on="area_id")["name"], check_names=False
    )
    [log] = _frame(published_workspace, "SELECT * FROM meta.publications").to_dicts()
    assert set(json.loads(log["checksums"])) == {t.name for t in PUBLISHED} >= {"areas", "shift_totals"}
    assert json.loads(log["row_counts"])["areas"] == areas.height
    assert json.loads(log["checksums"])["areas"] == _state(published_workspace)["areas"]


def test_shift_totals_are_the_sums_over_areas_and_per_agency_views_show_them(published_workspace):
    sums = _frame(
        published_workspace,
        """
        SELECT agency_id, shift_name, shift_start, count(*) AS area_count, sum(expected_incidents) AS incidents,
               sum(workload_hours_p50) AS p50, sum(workload_hours_p90) AS p90,
               sum(recommended_units) AS units, sum(fte) AS fte,
               count(*) FILTER (WHERE staffing_basis = 'min_units') AS floored,
               any_value(shift_end_local) AS shift_end_local
        FROM forecast.staffing GROUP BY ALL
        """,
    )
    totals = _frame(published_workspace, "SELECT * FROM forecast.shift_totals")
    assert totals.height == sums.height
    joined = totals.join(sums, on=["agency_id", "shift_name", "shift_start"])
    assert joined.height == totals.height
    assert (joined["area_count"] == joined["area_count_right"]).all()
    assert (joined["recommended_units"] == joined["units"]).all()
    assert (joined["areas_at_min_units"] == joined["floored"]).all()
    assert (joined["shift_end_local"] == joined["shift_end_local_right"]).all()
    for total, summed in (("expected_incidents", "incidents"), ("workload_hours_p50", "p50"),
                          ("workload_hours_p90", "p90"), ("fte", "fte")):  # fmt: skip
        assert (joined[total] - joined[summed]).abs().max() < 1e-9
    for agency in AGENCIES:
        view = _frame(published_workspace, f"SELECT * FROM forecast.{agency}_shift_totals")
        assert view.equals(totals.filter(pl.col("agency_id") == agency).sort("shift_start", "shift_name"))
    everyone = _frame(published_workspace, "SELECT DISTINCT agency_id FROM forecast.shift_totals")
    assert set(everyone["agency_id"]) == set(AGENCIES)


def test_local_times_sit_beside_utc_in_each_agencys_zone(published_workspace):
    zones = {a.id: a.timezone for a in load_settings(_config(published_workspace)).agencies}
    cases = " ".join(f"WHEN {literal(a)} THEN {literal(z)}" for a, z in zones.items())
    wrong = _query(
        _config(published_workspace),
        f"""
        SELECT count(*) FILTER (WHERE d.bucket_start_local IS DISTINCT FROM timezone(z.zone, d.bucket_start))
        FROM forecast.demand d JOIN (SELECT agency_id, CASE agency_id {cases} END AS zone
                                     FROM (SELECT DISTINCT agency_id FROM forecast.demand)) z USING (agency_id)
        """,
    )
    assert wrong == [(0,)]
    columns = _frame(published_workspace, "DESCRIBE forecast.city_police_demand")["column_name"].to_list()
    assert columns.index("bucket_start_local") == columns.index("bucket_start") + 1
    staffing = _frame(published_workspace, "SELECT * FROM forecast.staffing")
    for agency, zone in zones.items():
        rows = staffing.filter(pl.col("agency_id") == agency)
        local_end = rows["shift_end"].dt.convert_time_zone(zone).dt.replace_time_zone(None)
        assert (rows["shift_end_local"] == local_end).all()
        assert (rows["shift_start_local"] < rows["shift_end_local"]).all()


def test_staffing_basis_says_whether_demand_or_the_min_units_floor_set_the_units(published_workspace):
    staffing = _frame(published_workspace, "SELECT * FROM forecast.staffing")
    assert set(staffing["staffing_basis"]) == {"demand", "min_units"}  # every agency staffs by workload here
    for agency in load_settings(_config(published_workspace)).agencies:
        rows = staffing.filter(pl.col("agency_id") == agency.id)
        target = 1 - agency.staffing.proactive_share
        work = rows["workload_hours_p90"] / (rows["shift_hours"] * target)  # units' worth, before rounding
        floored = rows["staffing_basis"] == "min_units"
        assert (floored == (work < agency.staffing.min_units - 1e-9)).all()
        assert (rows.filter(floored)["recommended_units"] == agency.staffing.min_units).all()
    ems = staffing.filter(pl.col("agency_id") == "ems")
    assert (ems["staffing_basis"] == "min_units").mean() > 0.5  # why EMS's totals are flat
    page = (published_workspace / "report" / "ems.html").read_text()
    assert "area-shifts are at the min_units floor of 1" in page and "demand alone would need fewer" in page


def test_every_published_table_and_view_documents_every_column(published_workspace):
    comments = _frame(
        published_workspace,
        """
        SELECT table_name, column_name, comment FROM duckdb_columns()
        WHERE schema_name = 'forecast' OR (schema_name = 'meta' AND table_name = 'publications')
        """,
    )
    assert comments.filter(pl.col("comment").fill_null("") == "").is_empty()
    relations = set(comments["table_name"])
    assert {"demand", "staffing", "areas", "shift_totals", "joint_demand", "ems_shift_totals"} <= relations
    for table in ("demand", "staffing"):
        columns = _frame(published_workspace, f"DESCRIBE forecast.{table}")["column_name"].to_list()
        documented = comments.filter(pl.col("table_name") == table)["column_name"].to_list()
        assert columns == documented
    [basis] = comments.filter(table_name="ems_staffing", column_name="staffing_basis")["comment"].to_list()
    assert "min_units" in basis and "demand" in basis


def test_views_per_agency_and_joint_demand_counts_joint_events_once(published_workspace):
    for agency in AGENCIES:
        for kind in ("demand", "staffing"):
            agencies = _query(
                _config(published_workspace), f"SELECT DISTINCT agency_id FROM forecast.{agency}_{kind}"
            )
            assert agencies == [(agency,)]
    joint = _frame(published_workspace, "SELECT * FROM forecast.joint_demand")
    roles = {r.incident_type: r.lead for r in load_settings(_config(published_workspace)).roles}
    assert set(joint["incident_type"]) <= set(roles)
    assert all(roles[t] == lead for t, lead in joint.select("incident_type", "lead_agency").unique().rows())
    assert (joint["expected_events"] <= joint["expected_records"] + 1e-12).all()
    collisions = joint.filter(pl.col("incident_type") == "traffic_collision")
    assert collisions["expected_events"].sum() < 0.9 * collisions["expected_records"].sum()


def test_rerunning_forecast_and_publish_on_the_same_inputs_changes_nothing(published):
    before = _state(published)
    forecast_flow(settings=load_settings(str(_config(published))))
    publish_flow(settings=load_settings(str(_config(published))))
    assert _state(published) == before


def test_a_publish_that_fails_midway_leaves_every_table_and_report_as_it_was(published, monkeypatch):
    before = _state(published)
    report = published / "report" / "ems.html"
    page = report.read_bytes()
    _edit_config(published, "proactive_share = 0.4", "proactive_share = 0.5")

    def broken(con, agencies):  # the views are refreshed after the tables were replaced
        raise OSError("disk full")

    monkeypatch.setattr(warehouse.publish, "refresh_views", broken)
    state = publish_flow(settings=load_settings(str(_config(published))), return_state=True)
    assert state.is_failed()
    assert _state(published) == before
    assert report.read_bytes() == page


def test_publish_copies_the_features_tables_and_refuses_features_built_without_them(published):
    for table in ("joint_crosswalk", "joint_summary"):
        copied = _frame(published, f"SELECT * FROM features.{table} ORDER BY ALL")
        assert _frame(published, f"SELECT * FROM forecast.{table} ORDER BY ALL").equals(copied), table
    with open_warehouse(load_settings(str(_config(published))).warehouse_path) as con:
        con.execute("DROP TABLE features.service_profile")
    before = _state(published)
    _edit_config(published, "proactive_share = 0.4", "proactive_share = 0.5")
    state = publish_flow(settings=load_settings(str(_config(published))), return_state=True)
    assert state.is_failed() and "run `jointcast features`" in state.message
    assert _state(published) == before


def test_an_override_is_applied_kept_beside_the_model_and_withdrawn(published):
    config = str(_config(published))
    first = _frame(published, "SELECT min(bucket_start) AS t FROM forecast.demand")["t"][0]
    start, end = first + timedelta(days=2), first + timedelta(days=3)
    added = runner.invoke(app, [
        "override", "add", "--agency", "ems", "--area", "Z01", "--from", start.isoformat(),
        "--to", end.isoformat(), "--factor", "2", "--reason", "stadium concert", "--config", config,
    ])  # fmt: skip
    assert added.exit_code == 0, added.output
    assert publish_flow(settings=load_settings(config))["published"] is True
    demand = _frame(published, "SELECT * FROM forecast.demand WHERE agency_id = 'ems' AND area_id = 'Z01'")
    inside = demand.filter(pl.col("bucket_start") >= start, pl.col("bucket_start") < end)
    assert inside.height == 24
    assert ((inside["mean"] - 2 * inside["model_mean"]).abs() < 1e-12).all()
    assert inside["override_ids"].to_list() == [[1]] * 24
    for levels, model_levels in inside.select("quantiles", "model_quantiles").iter_rows():
        assert list(levels) == list(model_levels)
        assert list(levels.values()) == pytest.approx([2 * v for v in model_levels.values()])
    outside = demand.filter((pl.col("bucket_start") < start) | (pl.col("bucket_start") >= end))
    assert (outside["mean"] == outside["model_mean"]).all()
    other = _frame(published, "SELECT * FROM forecast.demand WHERE agency_id = 'ems' AND area_id = 'Z02'")
    assert (other["override_factor"] == 1).all()
    [log] = _frame(
        published, "SELECT * FROM meta.publications ORDER BY publication_id DESC LIMIT 1"
    ).to_dicts()
    assert log["trigger"] == "publish" and log["overrides_applied"] == [1] and log["forecast_of"] == 1

    withdrawn = runner.invoke(app, ["override", "withdraw", "1", "--reason", "cancelled", "--config", config])
    assert withdrawn.exit_code == 0, withdrawn.output
    publish_flow(settings=load_settings(config))
    demand = _frame(published, "SELECT * FROM forecast.demand WHERE agency_id = 'ems'")
    assert (demand["mean"] == demand["model_mean"]).all()
    [audit] = _frame(published, "SELECT * FROM forecast.overrides").to_dicts()
    assert audit["reason"] == "stadium concert" and audit["withdrawn_reason"] == "cancelled"
    assert audit["created_by"] and audit["withdrawn_by"] and audit["withdrawn_at"] >= audit["created_at"]
    listed = runner.invoke(app, ["override", "list", "--all", "--config", config], env={"COLUMNS": "200"})
    assert "stadium concert" in listed.output and "withdrawn" in listed.output
    vintages = _query(_config(published), "SELECT count(DISTINCT vintage) FROM forecast.history")[0][0]
    assert vintages == 3  # forecast, with the override, without it: each one kept


def test_a_staffing_change_republishes_without_retraining_and_the_log_says_what_planners_saw(published):
    config = str(_config(published))
    before = _frame(published, "SELECT * FROM forecast.staffing WHERE agency_id = 'city_police'")
    moment = datetime.now(UTC)
    _edit_config(published, "proactive_share = 0.4", "proactive_share = 0.6")
    assert publish_flow(settings=load_settings(config))["published"] is True
    after = _frame(published, "SELECT * FROM forecast.staffing WHERE agency_id = 'city_police'")
    assert after["recommended_units"].sum() > before["recommended_units"].sum()
    assert json.loads(after["assumptions"][0])["proactive_share"] == 0.6
    log = _frame(published, "SELECT * FROM meta.publications ORDER BY publication_id")
    assert log["model_version"].n_unique() == 1 and log["forecast_of"].to_list() == [1, 1]
    from warehouse.db import open_warehouse

    with open_warehouse(load_settings(_config(published)).warehouse_path, read_only=True) as con:
        seen = warehouse.publish.publication_at(con, moment)
    assert seen["publication_id"] == 1
    then = _frame(
        published, "SELECT * FROM forecast.staffing_history WHERE vintage = 1 AND agency_id = 'city_police'"
    )
    assert then["recommended_units"].sum() == before["recommended_units"].sum()


def test_a_late_feed_is_still_published_and_flagged_stale(published):
    _edit_config(published, "max_lag_hours = 72", "max_lag_hours = 0.001")  # transit police
    publish_flow(settings=load_settings(str(_config(published))))
    demand = _frame(
        published, "SELECT agency_id, bool_and(data_stale) AS stale FROM forecast.demand GROUP BY 1"
    )
    assert dict(demand.rows()) == {a: a == "transit_police" for a in AGENCIES}
    staffing = _frame(published, "SELECT DISTINCT agency_id FROM forecast.staffing WHERE data_stale")
    assert staffing["agency_id"].to_list() == ["transit_police"]
    [stale] = _query(
        _config(published), "SELECT stale_agencies FROM meta.publications ORDER BY 1 DESC LIMIT 1"
    )
    assert stale == (["transit_police"],)
    assert "stale" in (published / "report" / "transit_police.html").read_text().lower()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_an_export_holds_one_agencys_rows_and_a_manifest_that_checks_out(published_workspace, tmp_path, fmt):
    out = tmp_path / "export"
    result = runner.invoke(app, [
        "export", "--agency", "ems", "--format", fmt, "--out", str(out), "--config", str(_config(published_workspace)),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["agency_id"] == "ems" and manifest["model_version"] and manifest["generated_at"]
    kpis = ("kpi_demand", "kpi_response", "kpi_joint", "kpi_sharing", "kpi_planning")
    scenarios = (
        "scenarios",
        "scenario_demand",
        "scenario_staffing",
        "scenario_difference",
        "scenario_mutual_aid",
    )
    assert set(manifest["files"]) == {
        f"{n}.{fmt}"
        for n in (
            "demand",
            "staffing",
            "shift_totals",
            "areas",
            "overrides",
            "joint_demand",
            *kpis,
            *scenarios,
        )
    }
    read = pl.read_parquet if fmt == "parquet" else pl.read_csv
    for name, info in manifest["files"].items():
        path = out / name
        assert sha256(path.read_bytes()).hexdigest() == info["sha256"]
        frame = read(path)
        assert frame.height == info["rows"]
        if "agency_id" in frame.columns:
            assert set(frame["agency_id"]) <= {"ems"}
    assert manifest["files"][f"demand.{fmt}"]["rows"] > 0
    assert (
        manifest["files"][f"shift_totals.{fmt}"]["rows"] > 0 and manifest["files"][f"areas.{fmt}"]["rows"] > 0
    )
    joint = read(out / f"joint_demand.{fmt}")
    assert not {"agency_id", "agencies", "incident_key"} & set(joint.columns)
    roles = [r for r in load_settings(_config(published_workspace)).roles if "ems" in (r.lead, *r.supporting)]
    assert set(joint["incident_type"]) <= {r.incident_type for r in roles}
    assert sorted(p.name for p in out.iterdir()) == sorted([*manifest["files"], "manifest.json"])


def test_show_staffing_prints_the_published_shift_totals(published_workspace):
    config = str(_config(published_workspace))
    result = runner.invoke(
        app, ["show", "staffing", "--agency", "ems", "--config", config], env={"COLUMNS": "160"}
    )
    assert result.exit_code == 0, result.output
    assert "coming shifts (all areas)" in result.output and "areas at min_units" in result.output
    totals = _frame(published_workspace, "SELECT * FROM forecast.ems_shift_totals ORDER BY shift_start")
    shown = [line for line in result.output.splitlines() if re.match(r"^\W*\d{4}-\d\d-\d\d", line)]
    assert shown
    for line in shown:
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line) if cell.strip()]
        day, shift, hours = cells[:3]
        [row] = totals.filter(
            (pl.col("shift_date").cast(pl.String) == day) & (pl.col("shift_name") == shift)
        ).to_dicts()
        assert hours == f"{row['shift_start_local']:%H:%M}-{row['shift_end_local']:%H:%M}"
        assert cells[5:] == [
            str(row["recommended_units"]),
            f"{row['fte']:.1f}",
            f"{row['areas_at_min_units']} of {row['area_count']}",
        ]


def test_show_staffing_prints_the_coming_shifts(published_workspace):
    shifts = _frame(
        published_workspace, "SELECT min(shift_date) AS d FROM forecast.staffing WHERE agency_id = 'ems'"
    )
    day = shifts["d"][0] + timedelta(days=1)
    result = runner.invoke(app, [
        "show", "staffing", "--agency", "ems", "--date", day.isoformat(), "--config", str(_config(published_workspace)),
    ], env={"COLUMNS": "160"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Z01" in result.output and "night" in result.output and "day" in result.output
    unknown = runner.invoke(
        app, ["show", "staffing", "--agency", "nope", "--config", str(_config(published_workspace))]
    )
    assert unknown.exit_code == 2 and "unknown agency 'nope'" in unknown.stderr


@pytest.mark.browser
def test_every_agency_gets_a_report_page_that_renders_in_a_browser(published_workspace):
    from tests.browser import dump_dom

    settings = load_settings(_config(published_workspace))
    [publication] = _query(_config(published_workspace), "SELECT max(publication_id) FROM meta.publications")[
        0
    ]
    for agency in settings.agencies:
        page = published_workspace / "report" / f"{agency.id}.html"
        assert html.escape(agency.name) in page.read_text()
    dom = dump_dom(published_workspace / "report" / "ems.html")
    assert 'id="chart-forecast"' in dom and 'id="chart-staffing"' in dom and "<path" in dom
    assert "Regional EMS" in dom and f"publication <code>{publication}</code>" in dom
    areas = _frame(published_workspace, "SELECT * FROM forecast.areas WHERE agency_id = 'ems'")
    placed = areas.filter(pl.col("centroid_lat").is_not_null() | pl.col("geometry").is_not_null())
    drawn = re.findall(r'<path data-area="([^"]+)" d="M [^"]+"[^>]*><title>', dom)
    assert sorted(drawn) == sorted(placed["area_id"]) and len(drawn) > 1


def test_a_call_taking_centre_can_be_staffed_by_erlang_c(published):
    # EMS's staffing block is the third one; its relief factor 1.65 follows county fire's 1.7
    text = _config(published).read_text()
    ems = text.index('id = "ems"')
    block = text.index('service_minutes = "estimate"', ems)
    _config(published).write_text(
        text[:block] + 'method = "erlang_c"\nanswer_seconds = 15\nservice_level_target = 0.9\n' + text[block:]
    )
    assert publish_flow(settings=load_settings(str(_config(published))))["published"] is True
    rows = _frame(published, "SELECT * FROM forecast.staffing WHERE agency_id = 'ems'")
    assumptions = [json.loads(a) for a in rows["assumptions"]]
    assert {a["method"] for a in assumptions} == {"erlang_c"}
    assert all(a["achieved_service_level"] >= 0.9 for a in assumptions)
    assert all(a["answer_seconds"] == 15 for a in assumptions)
    others = _frame(
        published,
        "SELECT DISTINCT assumptions->>'method' AS m FROM forecast.staffing WHERE agency_id <> 'ems'",
    )
    assert others["m"].to_list() == ["workload"]


def test_the_joint_summary_counts_each_agencys_recent_joint_events_and_their_leads(published_workspace):
    summary = _frame(published_workspace, "SELECT * FROM forecast.joint_summary")
    assert set(summary["agency_id"]) >= {"ems", "county_fire"}
    roles = {r.incident_type: r.lead for r in load_settings(_config(published_workspace)).roles}
    for row in summary.iter_rows(named=True):
        present = {row["agency_id"], *row["partner_agencies"]}
        assert row["partner_agencies"] and row["agency_id"] not in row["partner_agencies"]
        assert row["lead_agency"] in present
        if roles.get(row["incident_type"]) in present:
            assert row["lead_agency"] == roles[row["incident_type"]]
        assert row["joint_events"] <= row["joint_records"] <= row["type_incidents"] <= row["agency_incidents"]
        assert row["window_end"] - row["window_start"] == timedelta(days=28)
    ems = summary.filter(pl.col("agency_id") == "ems")
    page = (published_workspace / "report" / "ems.html").read_text()
    joint = page.split("<h2>6.")[1].split("<footer")[0]
    assert f"{ems['joint_records'].sum()} of the agency's {ems['agency_incidents'][0]} counted" in joint
    assert joint.split("joint-outlook")[0].count("<tr") == 1 + ems.height
    outlook = _frame(
        published_workspace,
        """
        SELECT incident_type, sum(expected_events) AS events, sum(expected_records) AS records
        FROM forecast.joint_demand
        WHERE bucket_start < (SELECT min(bucket_start) FROM forecast.demand) + INTERVAL 7 DAY
            AND (lead_agency = 'ems' OR list_contains(supporting_agencies, 'ems'))
        GROUP BY ALL ORDER BY events DESC
        """,
    )
    ahead = page.split("class='joint-outlook'")[1].split("</table>")[0]
    assert ahead.count("<tr") == 1 + outlook.height > 1
    shown = re.findall(
        r"<tr><td>([^<]+)</td>.*?<td class='num'>([\d.]+)</td><td class='num'>([\d.]+)</td>", ahead
    )
    for (kind, events, records), row in zip(shown, outlook.iter_rows(named=True), strict=True):
        assert kind == row["incident_type"]
        assert float(events) == pytest.approx(row["events"], abs=0.051)
        assert float(records) == pytest.approx(row["records"], abs=0.051)
        assert float(events) <= float(records)


def test_a_missing_report_page_is_rendered_again_from_the_published_tables(published):
    page = published / "report" / "ems.html"
    before = page.read_text()
    page.unlink()
    assert publish_flow(settings=load_settings(str(_config(published))))["published"] is False
    after = page.read_text()

    def section(html: str, number: int) -> str:
        return html.split(f"<h2>{number}.")[1].split(f"<h2>{number + 1}.")[0].split("<footer")[0]

    assert 'data-area="' in section(after, 3) and "joint-outlook" in section(after, 6)
    for number in (3, 6):  # the map and the joint events, as the publication drew them
        assert section(after, number) == section(before, number)


def test_a_report_page_behind_its_publication_is_rendered_again(published):
    """A run killed between a publication's commit and its pages leaves the previous pages: the next
    publish, with nothing new to publish, sees each page's publication id and redraws those behind."""
    from warehouse.pages import page_publication

    pages = {a: published / "report" / f"{a}.html" for a in ("ems", "city_police")}
    current = page_publication(pages["ems"])
    assert current and page_publication(pages["city_police"]) == current
    behind = (
        pages["ems"]
        .read_text()
        .replace(f'content="{current}"', 'content="0"')
        .replace("<h2>1.", "<h2>old 1.")
    )
    pages["ems"].write_text(behind)
    untouched = pages["city_police"].stat().st_mtime_ns
    assert publish_flow(settings=load_settings(str(_config(published))))["published"] is False
    assert page_publication(pages["ems"]) == current and "<h2>old 1." not in pages["ems"].read_text()
    assert pages["city_police"].stat().st_mtime_ns == untouched  # a page up to date is left as it is
