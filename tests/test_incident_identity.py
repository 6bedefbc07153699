"""What one incident is in a feed. Feeds written one row per unit dispatched, as many fire and EMS
CAD exports are: the rows of one incident id are its units; each incident loads once, its units
combined, and its workload is the hours its units were busy between them. Feeds whose ids restart
each year: the same id a year apart is two incidents, and a feed that does not say so is warned."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from features.service import service_hours, service_times
from jointcast.config import StaffingSettings, load_settings
from planning.service import service_profile
from tests.conftest import police_row
from tests.test_ingest import _ingest, _query, assert_rows_accounted
from warehouse.db import open_warehouse
from warehouse.features_store import read_incidents

UNIT_HEADER = "Id,Type,Prio,Src,Rcvd,Disp,Area,Lat,Lon,Phone,Caller,Unit,Clr"


def unit_row(incident_id: str, unit: str, dispatched: str, cleared: str, received: str = "09:00:00") -> str:
    day = "01/15/2024"
    return (
        f"{incident_id},TC,2,911,{day} {received} AM,{day} {dispatched} AM,B01,40.1,-75.2,555-0100,Jane Roe,"
        f"{unit},{day} {cleared}"
    )


@pytest.fixture
def unit_feed(police_workspace):
    config = police_workspace.config
    config.write_text(config.read_text() + 'unit = "Unit"\ncleared_at = "Clr"\n')
    return police_workspace


def _incidents(config) -> dict[str, tuple]:
    rows = _query(
        config,
        "SELECT source_incident_id, units, round(unit_hours, 4), dispatched_at, on_scene_at, cleared_at"
        " FROM core.incidents",
    )
    return {row[0]: row[1:] for row in rows}


def test_the_units_of_an_incident_load_as_one_incident_with_their_hours(unit_feed):
    unit_feed(
        "2024-01-15.csv",
        [
            unit_row("F1", "E1", "09:02:00", "10:00:00 AM"),
            unit_row("F1", "E2", "09:05:00", "09:50:00 AM"),  # superseded by its later version
            unit_row("F1", "L1", "09:10:00", "11:10:00 AM"),
            unit_row("F1", "E2", "09:05:00", "09:35:00 AM"),
            unit_row("F2", "M7", "09:20:00", "09:50:00 AM"),
            unit_row("F2", "M7", "09:20:00", "09:50:00 AM"),  # an exact copy
        ],
        header=UNIT_HEADER,
    )
    _ingest(unit_feed.config)

    incidents = _incidents(unit_feed.config)
    assert set(incidents) == {"F1", "F2"}
    units, hours, dispatched, on_scene, cleared = incidents["F1"]
    assert units == 3
    assert hours == pytest.approx(58 / 60 + 30 / 60 + 2.0, abs=1e-4)  # E1, E2 (its later version), L1
    assert dispatched == datetime(2024, 1, 15, 14, 2, tzinfo=UTC)  # the first unit's dispatch
    assert cleared == datetime(2024, 1, 15, 16, 10, tzinfo=UTC)  # the last unit's clear
    assert on_scene is None
    assert incidents["F2"][:2] == (1, 0.5)
    reasons = _query(unit_feed.config, "SELECT row_number, reasons FROM quality.quarantine ORDER BY 1")
    assert reasons == [(2, ["duplicate_id"]), (6, ["duplicate_row"])]
    assert _query(unit_feed.config, "SELECT rows_read, rows_loaded, rows_quarantined FROM meta.batches") == [
        (6, 4, 2)
    ]
    assert_rows_accounted(unit_feed.config)

    # the workload the service-time rule gives the incident is its units' hours, not its span
    settings = load_settings(unit_feed.config)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        frame = service_hours(read_incidents(con).lazy()).collect()
    workload = dict(zip(frame["incident_key"], frame["service_hours"], strict=True))
    assert workload["pd:F1"] == pytest.approx(hours, abs=1e-4)
    assert frame.filter(pl.col("incident_key") == "pd:F1")["service_estimated"].to_list() == [False]


def test_a_later_file_resending_an_incident_replaces_its_units_and_the_same_file_changes_nothing(unit_feed):
    first = [unit_row("F1", "E1", "09:02:00", "10:00:00 AM"), unit_row("F1", "E2", "09:05:00", "09:35:00 AM")]
    unit_feed("2024-01-15.csv", first, header=UNIT_HEADER)
    _ingest(unit_feed.config)
    _ingest(unit_feed.config)
    assert _query(unit_feed.config, "SELECT count(*) FROM meta.batches") == [(1,)]
    assert _incidents(unit_feed.config)["F1"][:2] == (2, 1.4667)

    # the next day's export holds the incident again, with a third unit that joined it
    later = [*first, unit_row("F1", "T3", "09:30:00", "10:30:00 AM")]
    unit_feed("2024-01-16.csv", later, header=UNIT_HEADER)
    _ingest(unit_feed.config)
    assert _incidents(unit_feed.config)["F1"][:2] == (3, 2.4667)
    assert _query(unit_feed.config, "SELECT count(*) FROM core.incidents") == [(1,)]
    assert_rows_accounted(unit_feed.config)


def test_a_feed_of_one_row_per_incident_has_no_units(police_workspace):
    police_workspace(
        "a.csv", [police_row("A1", "01/15/2024 09:00:00 AM"), police_row("A2", "01/15/2024 10:00:00 AM")]
    )
    _ingest(police_workspace.config)
    assert _query(
        police_workspace.config, "SELECT count(*), count(units), count(unit_hours) FROM core.incidents"
    ) == [(2, 0, 0)]


def _resent_a_year_later(police_workspace) -> None:
    police_workspace(
        "2023.csv", [police_row("A1", "05/01/2023 09:00:00 AM"), police_row("A2", "05/01/2023 10:00:00 AM")]
    )
    _ingest(police_workspace.config)
    police_workspace("2024.csv", [police_row("A1", "05/02/2024 09:00:00 AM", type_code="THEFT")])
    _ingest(police_workspace.config)


def test_an_id_held_for_an_incident_a_year_earlier_is_warned_of(police_workspace):
    _resent_a_year_later(police_workspace)
    assert _query(police_workspace.config, "SELECT count(*) FROM core.incidents") == [(2,)]
    [(warnings,)] = _query(police_workspace.config, """
        SELECT r.warnings FROM quality.validation_runs r JOIN meta.batches b USING (batch_id)
        WHERE b.source_uri LIKE '%2024.csv'""")  # fmt: skip
    assert warnings[-1:] == [  # (after the staleness every file of 2023 and 2024 has today)
        "1 incident id already held for an incident received over 30 days apart (e.g. pd:A1, 367 days):"
        " one version replaced the other. If the feed's ids restart each year, month or day, set id_scope"
    ]


def test_ids_that_restart_each_year_are_incidents_of_their_year(police_workspace):
    config = police_workspace.config
    config.write_text(config.read_text().replace("[feeds.columns]", 'id_scope = "year"\n\n[feeds.columns]'))
    police_workspace(
        "2023.csv",
        [
            police_row("A1", "12/31/2023 11:30:00 PM"),
            police_row("A1", "12/31/2023 11:30:00 PM", type_code="THEFT"),
        ],
    )  # a correction within the file: still one incident, the later row
    _ingest(config)
    police_workspace(
        "2024.csv", [police_row("A1", "01/01/2024 12:10:00 AM")]
    )  # 04:30 and 05:10 UTC: local years
    _ingest(config)
    assert _query(config, "SELECT incident_key, incident_type FROM core.incidents ORDER BY 1") == [
        ("pd:A1/2023", "theft"), ("pd:A1/2024", "traffic_collision"),
    ]  # fmt: skip
    warned = _query(
        config, "SELECT count(*) FROM quality.validation_runs WHERE warnings::VARCHAR LIKE '%id_scope%'"
    )
    assert warned == [(0,)]
    assert_rows_accounted(config)


def test_a_simulated_feed_of_unit_rows_loads_the_incidents_of_one_row_per_incident(tmp_path):
    """The simulator writes county fire one row per unit: the same incidents load as without it, each
    with its units, and the workload per incident counts every unit's hours."""
    from jointcast.simulator import simulate

    loaded = {}
    for name, unit_rows in (("incidents", ()), ("units", ("county_fire",))):
        summary = simulate(
            tmp_path / name, days=14, seed=5, agencies=2, end=date(2026, 6, 1), unit_rows=unit_rows
        )
        _ingest(summary.config_path)
        assert_rows_accounted(summary.config_path)
        settings = load_settings(summary.config_path)
        with open_warehouse(settings.warehouse_path, read_only=True) as con:
            incidents = read_incidents(con).filter(pl.col("agency_id") == "county_fire")
        loaded[name] = service_hours(incidents.lazy()).collect()
        profile = service_profile(service_times(incidents.lazy()).collect(), StaffingSettings())
        timed_by_units = f"{incidents['unit_hours'].drop_nulls().len():,} of them by their units' busy hours"
        assert (timed_by_units in profile.source) == bool(unit_rows), profile.source
        rows = sum(
            _query(
                summary.config_path,
                "SELECT sum(rows_read) FROM meta.batches WHERE feed_id = 'county_fire_cad'",
            )[0]
        )
        assert rows == summary.rows_per_feed["county_fire_cad"]

    by_incident, by_unit = loaded["incidents"], loaded["units"]
    assert by_unit.height == by_incident.height > 100
    assert set(by_unit["incident_key"]) == set(by_incident["incident_key"])
    assert (
        by_unit["units"].sum() > 1.2 * by_unit.height
        and by_incident["units"].null_count() == by_incident.height
    )
    # an incident's first unit keeps its times: dispatched, on scene as before, cleared as before
    joined = by_incident.join(by_unit, on="incident_key", suffix="_u")
    for field in ("received_at", "dispatched_at", "on_scene_at", "cleared_at"):
        assert (joined[field] == joined[f"{field}_u"]).all(), field
    # the workload is the units' hours: more than the incident's span wherever several units went
    several = joined.filter(pl.col("units_u") > 1)
    assert (several["service_hours_u"] > several["service_hours"]).all()
    alone = joined.filter((pl.col("units_u") == 1) & ~pl.col("service_estimated"))  # one unit, timed
    assert alone.height > 100 and (alone["service_hours_u"] - alone["service_hours"]).abs().max() < 1e-6


SHARED_FEED = """
[warehouse]
path = "warehouse.duckdb"
[[agencies]]
id = "fire"
name = "Fire"
kind = "fire"
[[agencies]]
id = "ems"
name = "EMS"
kind = "ems"
[[feeds]]
id = "shared_911"
uri = "calls/*.csv"
format = "csv"
timestamp_format = "iso"
[feeds.agency_from]
column = "Type"
map = { "Auto Fire Alarm" = "fire", "Medic Response" = "ems" }
[feeds.columns]
source_incident_id = "Id"
received_at = "At"
source_type = "Type"
"""


def _shared_files(root, files: dict[str, list[str]]) -> None:
    (root / "calls").mkdir(exist_ok=True)
    for name, rows in files.items():
        (root / "calls" / name).write_text("\n".join(["Id,Type,At", *rows]) + "\n")


def test_an_incident_re_sent_under_another_agency_moves_to_it_counted_once(tmp_path):
    """A shared feed whose agency follows the call's type: F1, an alarm that turned out a medical call,
    is re-sent as one; it is EMS's demand now, no longer the fire department's too. A file that arrives
    late with the older version moves nothing back."""
    config = tmp_path / "jointcast.toml"
    config.write_text(SHARED_FEED)
    _shared_files(tmp_path, {
        "2024-01-15.csv": ["F1,Auto Fire Alarm,2024-01-15T09:00:00", "F2,Medic Response,2024-01-15T09:30:00"],
    })  # fmt: skip
    _ingest(config)
    _shared_files(tmp_path, {"2024-01-16.csv": ["F1,Medic Response,2024-01-15T09:00:00"]})
    _ingest(config)
    held = "SELECT incident_key, incident_type FROM core.incidents ORDER BY 1"
    assert _query(config, held) == [("ems:F1", "medic_response"), ("ems:F2", "medic_response")]
    [(warnings,)] = _query(config, """
        SELECT r.warnings FROM quality.validation_runs r JOIN meta.batches b USING (batch_id)
        WHERE b.source_uri LIKE '%2024-01-16.csv'""")  # fmt: skip
    assert (
        "1 incident re-sent under another agency (e.g. fire:F1 is now ems:F1): the later version replaced"
        " the earlier, so each is counted once, by its agency now"
    ) in warnings
    _shared_files(tmp_path, {"2024-01-14.csv": ["F1,Auto Fire Alarm,2024-01-15T09:00:00"]})  # late, older
    _ingest(config)
    assert _query(config, held) == [("ems:F1", "medic_response"), ("ems:F2", "medic_response")]
    assert_rows_accounted(config)


def test_a_feed_that_writes_an_id_once_per_agency_keeps_each_agencys_version(tmp_path):
    """A shared feed with a row per agency that answered (one id, two agencies, one file): a later file
    with the fire department's row alone corrects its version and leaves EMS's."""
    config = tmp_path / "jointcast.toml"
    config.write_text(SHARED_FEED)
    _shared_files(tmp_path, {
        "2024-01-15.csv": ["J1,Auto Fire Alarm,2024-01-15T09:00:00", "J1,Medic Response,2024-01-15T09:00:00"],
    })  # fmt: skip
    _ingest(config)
    _shared_files(tmp_path, {"2024-01-16.csv": ["J1,Auto Fire Alarm,2024-01-15T09:05:00"]})
    _ingest(config)
    assert _query(config, "SELECT incident_key, received_at FROM core.incidents ORDER BY 1") == [
        ("ems:J1", datetime(2024, 1, 15, 9, 0, tzinfo=UTC)), ("fire:J1", datetime(2024, 1, 15, 9, 5, tzinfo=UTC)),
    ]  # fmt: skip
    assert_rows_accounted(config)
