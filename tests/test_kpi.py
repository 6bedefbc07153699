"""planning.kpi, kpi_sharing, kpi_tables: the KPI maths on small hand-written frames."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from jointcast.config import AgencySettings
from planning.kpi import JOINT_SCHEMA, RESPONSE_SCHEMA, demand_kpis, joint_kpis, response_kpis
from planning.kpi_sharing import SHARING_SCHEMA, sharing_kpis
from planning.kpi_tables import PLANNING_SCHEMA, planning_kpis

NY = {"pd": "America/New_York", "fd": "America/New_York", "ems": "America/New_York"}
ROLES = {"fire": ("fd", ("ems",)), "crash": ("pd", ("ems",))}
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)  # a Monday


def _incidents(rows: list[tuple]) -> pl.DataFrame:
    """(key, agency, type, source, priority, received, minutes to dispatch, minutes to on scene, event)."""

    def after(received, minutes):
        return None if minutes is None else received + timedelta(minutes=minutes)

    records = [
        (
            key,
            agency,
            kind,
            source,
            priority,
            received,
            after(received, dispatch),
            after(received, scene),
            event,
        )
        for key, agency, kind, source, priority, received, dispatch, scene, event in rows
    ]
    return pl.DataFrame(
        records,
        schema={"incident_key": pl.String, "agency_id": pl.String, "incident_type": pl.String,
                "call_source": pl.String, "priority": pl.Int32, "received_at": pl.Datetime("us", "UTC"),
                "dispatched_at": pl.Datetime("us", "UTC"), "on_scene_at": pl.Datetime("us", "UTC"),
                "joint_event_id": pl.String},
        orient="row",
    )  # fmt: skip


def test_response_percentiles_are_linear_quantiles_of_calls_for_service_with_their_timestamps():
    minutes = [3.0, 5.0, 6.5, 10.0, 30.0]
    rows = [(f"p{i}", "pd", "theft", "citizen", 1, T0 + timedelta(hours=i), m / 2, m, None)
            for i, m in enumerate(minutes)]  # fmt: skip
    rows += [
        ("o1", "pd", "patrol", "officer", 1, T0, 0.0, 0.0, None),  # officer-initiated: not a call for service
        ("u1", "pd", "theft", "citizen", 1, T0, None, None, None),  # no timestamps: a call, not timed
        ("x1", "pd", "theft", "citizen", 1, T0, -4.0, 2.0, None),  # dispatched before received: out of order
        (
            "q1",
            "pd",
            "theft",
            None,
            2,
            T0,
            None,
            None,
            None,
        ),  # a priority with nothing timed: null percentiles
    ]
    response = response_kpis(_incidents(rows), NY)
    assert response.schema == pl.Schema(RESPONSE_SCHEMA)
    month = response.filter(pl.col("period") == "month", pl.col("priority") == 1)
    scene = month.filter(pl.col("measure") == "on_scene").row(0, named=True)
    assert (scene["calls"], scene["timed"], scene["out_of_order"]) == (7, 6, 0)
    timed = [*minutes, 2.0]
    assert scene["p50_minutes"] == pytest.approx(np.quantile(timed, 0.5), rel=1e-12)
    assert scene["p90_minutes"] == pytest.approx(np.quantile(timed, 0.9), rel=1e-12)
    dispatch = month.filter(pl.col("measure") == "dispatch").row(0, named=True)
    assert (dispatch["calls"], dispatch["timed"], dispatch["out_of_order"]) == (7, 5, 1)
    assert dispatch["p90_minutes"] == pytest.approx(np.quantile([m / 2 for m in minutes], 0.9), rel=1e-12)
    untimed = response.filter(pl.col("priority") == 2, pl.col("period") == "month")
    assert untimed["calls"].to_list() == [1, 1] and untimed["p50_minutes"].null_count() == 2


def test_periods_are_local_months_and_the_latest_iso_weeks():
    # 03:30 UTC on 1 March is still 28 February in New York: February's, not March's
    rows = [("a", "pd", "theft", "citizen", 1, datetime(2026, 3, 1, 3, 30, tzinfo=UTC), None, None, None)]
    rows += [
        (f"w{w}", "pd", "theft", "citizen", 1, T0 + timedelta(weeks=w), None, None, None) for w in range(4)
    ]
    demand = demand_kpis(_incidents(rows), NY, weeks=2)
    months = demand.filter(pl.col("period") == "month").sort("period_start")
    assert months.select("period_start", "period_end", "incidents").rows() == [
        (date(2026, 2, 1), date(2026, 3, 1), 1),
        (date(2026, 3, 1), date(2026, 4, 1), 4),
    ]
    weeks = demand.filter(pl.col("period") == "week").sort("period_start")
    assert weeks["period_start"].to_list() == [date(2026, 3, 16), date(2026, 3, 23)]  # the latest two Mondays
    assert weeks["period_end"].to_list() == [date(2026, 3, 23), date(2026, 3, 30)]


def test_joint_events_count_once_per_agency_with_their_lead_and_the_leads_first_arrivals():
    rows = [
        # a fire fd leads ([[roles]]) though EMS called it in first and got there first
        ("e1", "ems", "fire", "citizen", 1, T0, 1, 4, "J1"), ("f1", "fd", "fire", "citizen", 1, T0, 2, 6, "J1"),
        # a crash without pd: the first record's agency (fd) leads; fd and EMS arrive together: fd's
        ("f2", "fd", "crash", "citizen", 1, T0 + timedelta(hours=1), 1, 5, "J2"),
        ("e2", "ems", "crash", "citizen", 1, T0 + timedelta(hours=1, minutes=2), 1, 3, "J2"),
        # a fire with two EMS records and no arrival times at all
        ("e3", "ems", "fire", "citizen", 1, T0 + timedelta(hours=2), None, None, "J3"),
        ("e4", "ems", "fire", "citizen", 1, T0 + timedelta(hours=2), None, None, "J3"),
        ("f3", "fd", "fire", "citizen", 1, T0 + timedelta(hours=2), None, None, "J3"),
        ("p9", "pd", "crash", "citizen", 1, T0, 1, 2, None),  # in no joint event
    ]  # fmt: skip
    joint = joint_kpis(_incidents(rows), ROLES, NY).filter(pl.col("period") == "month")
    assert joint.schema == pl.Schema(JOINT_SCHEMA)
    ems = {r["lead_agency"]: r for r in joint.filter(pl.col("agency_id") == "ems").iter_rows(named=True)}
    assert set(ems) == {"fd"}
    assert (ems["fd"]["joint_events"], ems["fd"]["joint_records"]) == (3, 4)
    assert ems["fd"]["partner_agencies"] == ["fd"]
    # J1: EMS was first (fd not); J2: fd and EMS tie, fd counts; J3: no arrival known
    assert (ems["fd"]["arrivals_known"], ems["fd"]["lead_first_arrivals"]) == (2, 1)
    assert ems["fd"]["lead_first_arrival_share"] == pytest.approx(0.5)
    assert joint.filter(pl.col("agency_id") == "pd").is_empty()


def test_sharing_measures_latency_to_load_quarantine_and_freshness_per_period_of_loads():
    loaded = [datetime(2026, 3, 3, 12, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)]
    batches = pl.DataFrame(
        {
            "feed_id": ["cad", "cad"],
            "batch_id": [1, 2],
            "loaded_at": loaded,
            "status": ["loaded", "loaded"],
            "rows_read": [10, 4],
            "rows_loaded": [8, 4],
            "rows_quarantined": [2, 0],
        }  # fmt: skip
    )
    received = [loaded[0] - timedelta(minutes=m) for m in (10, 20, 30, 60)] + [loaded[0] - timedelta(hours=2)]
    records = pl.DataFrame({"batch_id": [1, 1, 1, 1, 2], "received_at": received})
    reasons = pl.DataFrame({"batch_id": [1, 1, 1], "reason": ["bad_time", "duplicate_row", "blank_id"],
                            "rows": [2, 1, 1]})  # fmt: skip
    sharing = sharing_kpis(batches, records, reasons, {"cad": ("UTC", ("pd",))})
    assert sharing.schema == pl.Schema(SHARING_SCHEMA)
    weeks = {r["period_start"]: r for r in sharing.filter(pl.col("period") == "week").iter_rows(named=True)}
    first, second = weeks[date(2026, 3, 2)], weeks[date(2026, 3, 9)]
    assert first["latency_p50_minutes"] == pytest.approx(np.quantile([10, 20, 30, 60], 0.5))
    assert first["latency_p90_minutes"] == pytest.approx(np.quantile([10, 20, 30, 60], 0.9))
    assert first["quarantined_share"] == pytest.approx(0.2)
    assert first["top_reasons"] == [{"reason": "bad_time", "rows": 2}, {"reason": "blank_id", "rows": 1},
                                    {"reason": "duplicate_row", "rows": 1}]  # fmt: skip
    assert first["newest_received_at"] == received[0] and first["agency_ids"] == ["pd"]
    # the second week's record is older than the first's newest: the feed's newest stays the same
    assert second["newest_received_at"] == received[0] and second["top_reasons"] == []
    month = sharing.filter(pl.col("period") == "month").row(0, named=True)
    assert (month["batches"], month["rows_read"], month["records"]) == (2, 14, 5)


def test_planning_compares_shifts_with_available_units_and_scores_accuracy():
    shifts = pl.DataFrame(
        {
            "agency_id": ["pd"] * 3 + ["fd"],
            "shift_date": [date(2026, 3, 3)] * 3 + [date(2026, 3, 3)],
            "recommended_units": [4, 7, 9, 3],
        }  # fmt: skip
    )
    accuracy = pl.DataFrame(
        {
            "agency_id": ["pd", "pd"],
            "local_day": [date(2026, 3, 1)] * 2,
            "actual": [10.0, 30.0],
            "forecast": [14.0, 24.0],
            "inside": [True, False],
        }  # fmt: skip
    )
    planning = planning_kpis(shifts, accuracy, {"pd": 8, "fd": None}).filter(pl.col("period") == "month")
    assert planning.schema == pl.Schema(PLANNING_SCHEMA)
    pd_row = planning.filter(pl.col("agency_id") == "pd").row(0, named=True)
    assert (pd_row["shifts"], pd_row["recommended_units_max"], pd_row["available_units"]) == (3, 9, 8)
    assert pd_row["shifts_over_available"] == 1
    assert pd_row["wape"] == pytest.approx(10 / 40) and pd_row["bias"] == pytest.approx(-2 / 40)
    assert pd_row["coverage_80"] == pytest.approx(0.5)
    fd_row = planning.filter(pl.col("agency_id") == "fd").row(0, named=True)
    assert fd_row["available_units"] is None and fd_row["shifts_over_available"] is None
    assert fd_row["wape"] is None and fd_row["actual_incidents"] is None
    without = planning_kpis(shifts, None, {"pd": 8})
    assert without["wape"].null_count() == without.height


def test_available_units_is_an_optional_non_negative_agency_key():
    assert AgencySettings(id="pd", name="PD").available_units is None
    assert AgencySettings(id="pd", name="PD", available_units=12).available_units == 12
    with pytest.raises(ValueError, match="available_units"):
        AgencySettings(id="pd", name="PD", available_units=-1)


def test_the_kpi_page_draws_the_charts_and_says_when_there_are_no_kpis_yet():
    from planning.kpi_page import kpi_section

    assert "No joint-operations KPIs have been computed" in kpi_section({}, "pd")
    rows = [
        ("e1", "ems", "fire", "citizen", 1, T0, 1, 4, "J1"), ("f1", "fd", "fire", "citizen", 2, T0, 2, 6, "J1"),
        ("f2", "fd", "crash", "<b>", 1, T0, 1, 5, None),
    ]  # fmt: skip
    incidents = _incidents(rows)
    batches = pl.DataFrame({"feed_id": ["fd_cad"], "batch_id": [1], "loaded_at": [T0 + timedelta(hours=3)],
                            "status": ["loaded"], "rows_read": [3], "rows_loaded": [2], "rows_quarantined": [1]})  # fmt: skip
    reasons = pl.DataFrame({"batch_id": [1], "reason": ["<script>"], "rows": [1]})
    records = pl.DataFrame({"batch_id": [1, 1], "received_at": [T0, T0]})
    kpis = {
        "response": response_kpis(incidents, NY).filter(pl.col("agency_id") == "fd"),
        "joint": joint_kpis(incidents, ROLES, NY).filter(pl.col("agency_id") == "fd"),
        "sharing": sharing_kpis(batches, records, reasons, {"fd_cad": ("UTC", ("fd",))}),
        "planning": planning_kpis(
            pl.DataFrame({"agency_id": ["fd"], "shift_date": [date(2026, 3, 3)], "recommended_units": [5]}),
            None,
            {"fd": 4},
        ),  # fmt: skip
    }
    page = kpi_section(kpis, "fd")
    for chart in ("chart-kpi-response", "chart-kpi-joint", "chart-kpi-latency"):
        assert f'id="{chart}"' in page
    assert "&lt;script&gt;" in page and "<script>" not in page  # a quarantine reason is text, escaped
    assert "1 of 1" in page  # one shift of one over the 4 available units
