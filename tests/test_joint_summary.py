"""features.joint_summary: each agency's joint events of its window, with whom and who led."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from features.joint_summary import JOINT_SUMMARY_SCHEMA, joint_summary

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ROLES = {"vehicle_accident": ("police", ("ems",)), "fire": ("fire", ("ems",))}


def _incidents(rows: list[tuple]) -> pl.DataFrame:
    """(incident_key, agency_id, incident_type, hours after T0, joint_event_id)."""
    return pl.DataFrame(
        [(key, agency, kind, T0 + timedelta(hours=hours), event) for key, agency, kind, hours, event in rows],
        schema={"incident_key": pl.String, "agency_id": pl.String, "incident_type": pl.String,
                "received_at": pl.Datetime("us", "UTC"), "joint_event_id": pl.String},
        orient="row",
    )  # fmt: skip


INCIDENTS = _incidents([
    # a vehicle accident police attended, EMS first: police lead it all the same ([[roles]])
    ("e1", "ems", "vehicle_accident", 100, "J:e1"), ("p1", "police", "vehicle_accident", 100.1, "J:e1"),
    # one without police: EMS and fire, fire recorded it first, so fire led
    ("f2", "fire", "vehicle_accident", 200, "J:e2"), ("e2", "ems", "vehicle_accident", 200.1, "J:e2"),
    # a fire with two EMS records and fire's: one event, two EMS records
    ("e3", "ems", "fire", 300, "J:e3"), ("e4", "ems", "fire", 300.05, "J:e3"), ("f3", "fire", "fire", 300.1, "J:e3"),
    # a type with no role: the first record's agency leads
    ("p5", "police", "gas_leak", 400, "J:e5"), ("e5", "ems", "gas_leak", 400.2, "J:e5"),
    # lone records count in the totals only
    ("e6", "ems", "fall", 500, None), ("e7", "ems", "vehicle_accident", 510, None),
    # EMS's newest record: its window is the 28 days before it
    ("e8", "ems", "fall", 24 * 40, None),
])  # fmt: skip


def test_joint_events_are_counted_per_type_and_lead_with_their_partners():
    summary = joint_summary(INCIDENTS, ROLES, days=40)
    assert summary.schema == pl.Schema(JOINT_SUMMARY_SCHEMA)
    ems = summary.filter(pl.col("agency_id") == "ems")
    rows = {(r["incident_type"], r["lead_agency"]): r for r in ems.iter_rows(named=True)}
    assert set(rows) == {("vehicle_accident", "police"), ("vehicle_accident", "fire"), ("fire", "fire"),
                         ("gas_leak", "police")}  # fmt: skip
    assert rows["vehicle_accident", "police"]["partner_agencies"] == ["police"]
    assert rows["vehicle_accident", "fire"]["partner_agencies"] == ["fire"]
    assert rows["fire", "fire"]["joint_events"] == 1 and rows["fire", "fire"]["joint_records"] == 2
    assert rows["vehicle_accident", "police"]["type_incidents"] == 3  # e1, e2 and the lone e7
    assert all(r["agency_incidents"] == 8 for r in rows.values())
    police = summary.filter(pl.col("agency_id") == "police").sort("incident_type")
    assert police["lead_agency"].to_list() == ["police", "police"]
    assert police["partner_agencies"].to_list() == [["ems"], ["ems"]]


def test_the_window_is_each_agencys_last_days_and_events_before_it_are_left_out():
    summary = joint_summary(INCIDENTS, ROLES)  # 28 days before EMS's newest record (day 40): from day 12
    ems = summary.filter(pl.col("agency_id") == "ems")  # the accidents (days 4 and 8) are before it
    assert ems.select("incident_type", "lead_agency").rows() == [("fire", "fire"), ("gas_leak", "police")]
    assert (ems["agency_incidents"] == 6).all()  # e3, e4, e5, e6, e7, e8
    police = summary.filter(pl.col("agency_id") == "police")  # police's newest is day 16.7: all inside
    assert police["joint_events"].sum() == 2
    assert police["window_end"][0] == T0 + timedelta(hours=400)
    assert police["window_start"][0] == T0 + timedelta(hours=400) - timedelta(days=28)


def test_no_incidents_or_no_joint_events_give_no_rows():
    assert joint_summary(INCIDENTS.clear(), ROLES).is_empty()
    lone = INCIDENTS.with_columns(joint_event_id=pl.lit(None, pl.String))
    assert joint_summary(lone, ROLES).schema == pl.Schema(JOINT_SUMMARY_SCHEMA)
    assert joint_summary(lone, ROLES).is_empty()


def test_the_joint_outlook_sums_the_first_week_as_joint_demand_does():
    from planning.publication import joint_outlook

    hours = [T0 + timedelta(hours=h) for h in range(24 * 8)]  # eight days: the eighth is left out
    demand = pl.DataFrame(
        {
            "agency_id": ["police"] * len(hours) + ["ems"] * len(hours),
            "area_id": ["B1"] * len(hours) + ["Z1"] * len(hours),
            "bucket_start": hours * 2,
            "mean": [1.0] * len(hours) + [0.5] * len(hours),
        }
    )
    crosswalk = pl.DataFrame(
        {
            "agency_id": ["police", "ems"],
            "area_id": ["B1", "Z1"],
            "incident_type": ["vehicle_accident"] * 2,
            "lead_agency": ["police"] * 2,
            "supporting_agencies": [["ems"]] * 2,
            "lead_area_id": ["B1", "B1"],
            "record_share": [0.5, 0.4],
            "event_share": [0.5, 0.1],  # most EMS accident records are the police's events too
        }
    )
    [row] = joint_outlook(demand, crosswalk).to_dicts()
    assert row["incident_type"] == "vehicle_accident" and row["supporting_agencies"] == ["ems"]
    assert row["expected_events"] == pytest.approx(168 * (1.0 * 0.5 + 0.5 * 0.1))
    assert row["expected_records"] == pytest.approx(168 * (1.0 * 0.5 + 0.5 * 0.4))
    assert joint_outlook(demand, crosswalk.clear()).is_empty()
