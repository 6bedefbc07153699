"""The KPI stage on simulated feeds: kpi.* agree with core.incidents, views isolate agencies, reruns
change nothing; on a published workspace, the export carries the KPIs and the report draws them."""

from __future__ import annotations

import json
from hashlib import sha256
from pathlib import Path

import polars as pl
import pytest

from jointcast.config import load_settings
from tests.conftest import _copy
from warehouse.db import literal, open_warehouse
from warehouse.features_store import read_frame
from warehouse.kpi_store import KPI_TABLES

MINUTES = "(epoch_us({later}) - epoch_us(received_at)) / 60e6"


@pytest.fixture(scope="module")
def kpis(simulated_feeds, tmp_path_factory, prefect) -> Path:
    """The simulated feeds ingested, validated, featured (joint links) and their KPIs computed once."""
    from flows.features import features_flow
    from flows.kpi import kpi_flow
    from tests.test_ingest import _ingest

    root = _copy(simulated_feeds, tmp_path_factory.mktemp("kpi") / "workspace")
    _ingest(root / "jointcast.toml")
    settings = load_settings(root / "jointcast.toml")
    features_flow(settings=settings)
    kpi_flow(settings=settings)
    return root


def _query(root: Path, sql: str, parameters: list | None = None) -> pl.DataFrame:
    with open_warehouse(load_settings(root / "jointcast.toml").warehouse_path, read_only=True) as con:
        return read_frame(con, sql, parameters)


def _month(column: str, zone: str) -> str:
    return f"CAST(date_trunc('month', timezone({literal(zone)}, {column})) AS DATE)"


def test_response_percentiles_equal_duckdbs_quantile_cont_over_core_incidents(kpis):
    settings = load_settings(kpis / "jointcast.toml")
    for agency in settings.agencies:
        for measure, later in (("dispatch", "dispatched_at"), ("on_scene", "on_scene_at")):
            minutes = MINUTES.format(later=later)
            expected = _query(kpis, f"""
                WITH calls AS (
                    SELECT priority, {_month("received_at", agency.timezone)} AS period_start, {minutes} AS m
                    FROM core.incidents WHERE agency_id = ? AND call_source IS DISTINCT FROM 'officer'
                )
                SELECT period_start, priority, count(*) AS calls, count(*) FILTER (m >= 0) AS timed,
                       quantile_cont(m, 0.5) FILTER (m >= 0) AS p50, quantile_cont(m, 0.9) FILTER (m >= 0) AS p90
                FROM calls GROUP BY ALL ORDER BY ALL
            """, [agency.id])  # fmt: skip
            found = _query(kpis, """
                SELECT period_start, priority, calls, timed, p50_minutes AS p50, p90_minutes AS p90
                FROM kpi.response WHERE agency_id = ? AND measure = ? AND period = 'month' ORDER BY ALL
            """, [agency.id, measure])  # fmt: skip
            assert found.height == expected.height > 0
            assert found.select("period_start", "priority", "calls", "timed").equals(
                expected.select("period_start", "priority", "calls", "timed")
            )
            for got, want in zip(found.iter_rows(named=True), expected.iter_rows(named=True), strict=True):
                for column in ("p50", "p90"):
                    assert got[column] == pytest.approx(want[column], rel=1e-12, abs=1e-9), (agency.id, got)
    timed = _query(kpis, "SELECT sum(timed) AS timed FROM kpi.response WHERE period = 'month'")
    assert timed["timed"][0] > 0  # the simulator's feeds carry dispatch and arrival times


def test_demand_counts_every_record_once_per_local_month(kpis):
    settings = load_settings(kpis / "jointcast.toml")
    for agency in settings.agencies:
        expected = _query(kpis, f"""
            SELECT {_month("received_at", agency.timezone)} AS period_start, incident_type, call_source,
                   count(*) AS incidents
            FROM core.incidents WHERE agency_id = ? GROUP BY ALL ORDER BY ALL
        """, [agency.id])  # fmt: skip
        found = _query(kpis, """
            SELECT period_start, incident_type, call_source, incidents FROM kpi.demand
            WHERE agency_id = ? AND period = 'month' ORDER BY ALL
        """, [agency.id])  # fmt: skip
        assert found.equals(expected) and found.height > 0


def test_joint_events_per_agency_month_and_lead_equal_a_count_from_core_incidents(kpis):
    settings = load_settings(kpis / "jointcast.toml")
    roles = " UNION ALL ".join(
        f"SELECT {literal(r.incident_type)} AS incident_type, {literal(r.lead)} AS role_lead"
        for r in settings.roles
    )
    for agency in settings.agencies:
        expected = _query(kpis, f"""
            WITH linked AS (SELECT * FROM core.incidents WHERE joint_event_id IS NOT NULL),
            roles AS ({roles}),
            events AS (
                SELECT joint_event_id, min(received_at) AS started_at, list(DISTINCT agency_id) AS agencies,
                       arg_min(agency_id, (received_at, incident_key)) AS first_agency,
                       any_value(r.role_lead) AS role_lead
                FROM linked LEFT JOIN roles r USING (incident_type) GROUP BY joint_event_id
            ),
            final AS (
                SELECT {_month("started_at", agency.timezone)} AS period_start,
                       CASE WHEN list_contains(agencies, role_lead) THEN role_lead ELSE first_agency END AS lead,
                       count(*) AS joint_events
                FROM events WHERE list_contains(agencies, ?) GROUP BY ALL
            )
            SELECT * FROM final ORDER BY ALL
        """, [agency.id])  # fmt: skip
        found = _query(kpis, """
            SELECT period_start, lead_agency AS lead, joint_events FROM kpi.joint
            WHERE agency_id = ? AND period = 'month' ORDER BY ALL
        """, [agency.id])  # fmt: skip
        assert found.equals(expected), agency.id
    assert _query(kpis, "SELECT count(*) AS n FROM kpi.joint")["n"][0] > 0


def test_sharing_adds_up_to_the_batches_and_its_latency_to_their_records(kpis):
    totals = _query(kpis, """
        SELECT feed_id, sum(rows_read) AS read, sum(rows_loaded) AS loaded, sum(rows_quarantined) AS quarantined,
               sum(records) AS records
        FROM kpi.sharing WHERE period = 'month' GROUP BY ALL ORDER BY ALL
    """)  # fmt: skip
    batches = _query(kpis, """
        SELECT feed_id, sum(rows_read) AS read, sum(rows_loaded) AS loaded, sum(rows_quarantined) AS quarantined,
               (SELECT count(*) FROM core.incidents i WHERE i.feed_id = b.feed_id) AS records
        FROM meta.batches b GROUP BY ALL ORDER BY ALL
    """)  # fmt: skip
    assert totals.equals(batches)
    assert (totals["read"] == totals["loaded"] + totals["quarantined"]).all()
    assert totals["quarantined"].sum() > 0  # the simulated feeds hold injected defects
    settings = load_settings(kpis / "jointcast.toml")
    for feed in settings.feeds:
        expected = _query(kpis, f"""
            SELECT {_month("b.loaded_at", feed.timezone)} AS period_start,
                   quantile_cont(epoch_us(b.loaded_at) - epoch_us(i.received_at), 0.5) / 60e6 AS p50,
                   quantile_cont(epoch_us(b.loaded_at) - epoch_us(i.received_at), 0.9) / 60e6 AS p90
            FROM core.incidents i JOIN meta.batches b USING (batch_id) WHERE b.feed_id = ? GROUP BY ALL
        """, [feed.id])  # fmt: skip
        found = _query(kpis, """
            SELECT period_start, latency_p50_minutes AS p50, latency_p90_minutes AS p90, top_reasons
            FROM kpi.sharing WHERE feed_id = ? AND period = 'month' ORDER BY period_start
        """, [feed.id])  # fmt: skip
        for got, want in zip(found.iter_rows(named=True), expected.sort("period_start").iter_rows(named=True),
                             strict=True):  # fmt: skip
            assert got["p50"] == pytest.approx(want["p50"], rel=1e-9)
            assert got["p90"] == pytest.approx(want["p90"], rel=1e-9)


def test_an_agencys_views_show_its_own_rows_and_no_incident(kpis):
    settings = load_settings(kpis / "jointcast.toml")
    for agency in settings.agencies:
        for name in KPI_TABLES:
            view = _query(kpis, f'SELECT * FROM kpi."{agency.id}_{name}"')
            assert not {"incident_key", "source_incident_id", "lat", "lon"} & set(view.columns)
            if name == "sharing":
                assert view.height and all(agency.id in ids for ids in view["agency_ids"])
                assert (view["freshness_hours"] >= 0).all()
            elif view.height:
                assert set(view["agency_id"]) == {agency.id}
        mine = _query(kpis, f'SELECT count(*) AS n FROM kpi."{agency.id}_demand"')["n"][0]
        all_rows = _query(kpis, "SELECT count(*) AS n FROM kpi.demand WHERE agency_id = ?", [agency.id])["n"][
            0
        ]
        assert mine == all_rows > 0


def test_rerunning_the_stage_changes_nothing(kpis, tmp_path):
    from flows.kpi import kpi_flow
    from warehouse.kpi_store import table_checksums

    root = _copy(kpis, tmp_path / "again")
    settings = load_settings(root / "jointcast.toml")
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        before = table_checksums(con)
    assert kpi_flow(settings=settings)["demand"] > 0
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        assert table_checksums(con) == before


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.browser
def test_a_published_workspace_exports_its_kpis_and_the_report_draws_them(published, tmp_path):
    from typer.testing import CliRunner

    from flows.kpi import kpi_flow
    from flows.publish import publish_flow
    from jointcast.cli import app
    from tests.browser import dump_dom

    config = published / "jointcast.toml"
    page = published / "report" / "ems.html"
    assert "kpi-none" in page.read_text()  # published before any KPIs: the page says there are none yet
    text = config.read_text()
    config.write_text(text.replace('id = "ems"\n', 'id = "ems"\navailable_units = 3\n', 1))
    settings = load_settings(config)
    kpi_flow(settings=settings)

    planning = _query(published, "SELECT * FROM kpi.planning WHERE agency_id = 'ems' AND period = 'month'")
    shifts = _query(published, """
        SELECT CAST(date_trunc('month', shift_date) AS DATE) AS period_start, count(*) AS shifts,
               count(*) FILTER (recommended_units > 3) AS over
        FROM forecast.shift_totals WHERE agency_id = 'ems' GROUP BY ALL ORDER BY ALL
    """)  # fmt: skip
    staffed = planning.filter(pl.col("shifts") > 0).sort("period_start")
    assert staffed.select("period_start", "shifts").equals(shifts.select("period_start", "shifts"))
    assert staffed["shifts_over_available"].to_list() == shifts["over"].to_list()
    assert set(staffed["available_units"]) == {3}

    out = tmp_path / "export"
    result = CliRunner().invoke(app, ["export", "--agency", "ems", "--format", "parquet", "--out", str(out),
                                      "--config", str(config)])  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    for name in KPI_TABLES:
        info = manifest["files"][f"kpi_{name}.parquet"]
        frame = pl.read_parquet(out / f"kpi_{name}.parquet")
        assert sha256((out / f"kpi_{name}.parquet").read_bytes()).hexdigest() == info["sha256"]
        assert frame.height == info["rows"] > 0
        if "agency_id" in frame.columns:
            assert set(frame["agency_id"]) == {"ems"}
    assert all("ems" in ids for ids in pl.read_parquet(out / "kpi_sharing.parquet")["agency_ids"])

    page.unlink()  # the publication stands; its missing page is drawn again, now with the KPIs
    publish_flow(settings=settings)
    dom = dump_dom(page)
    assert "kpi-none" not in dom and 'id="kpi-page"' in dom
    for chart in ("chart-kpi-response", "chart-kpi-joint", "chart-kpi-latency"):
        assert f'id="{chart}"' in dom and "<svg" in dom.split(f'id="{chart}"', 1)[1][:400]
    assert "kpi.ems_response" in dom and "not configured" not in dom.split('id="kpi-page"', 1)[1]
