"""Ingest of the simulator's four feed shapes, end to end on a real DuckDB file."""

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from jointcast.config import load_settings
from tests.test_ingest import _ingest, _query, assert_rows_accounted


@pytest.fixture(scope="module")
def ingested(simulated_feeds, tmp_path_factory):
    """The simulated feeds ingested and validated once for the module's read-mostly tests."""
    workspace = tmp_path_factory.mktemp("ingested") / "workspace"
    shutil.copytree(simulated_feeds, workspace)
    config = workspace / "jointcast.toml"
    outcomes = _ingest(config)
    return config, outcomes


def test_every_feed_shape_loads_with_every_row_accounted_for(ingested):
    config, outcomes = ingested
    assert [o.errors for o in outcomes] == [[], [], [], []]
    loaded = dict(_query(config, "SELECT feed_id, count(*) FROM core.incidents GROUP BY 1"))
    assert set(loaded) == {"city_police_cad", "county_fire_cad", "ems_epcr", "transit_police_rms"}
    assert all(count > 100 for count in loaded.values())
    assert_rows_accounted(config)


def test_every_injected_defect_is_found_with_its_kind_and_no_clean_row_is(ingested):
    """A defect in what makes a row demand quarantines it; one in a field besides (a point outside the
    bbox, a negative duration) sets that field aside and loads the incident."""
    from warehouse.mapping import FIELD_REASONS

    config, _ = ingested
    truth = json.loads((config.parent / "truth" / "defects.json").read_text())
    expected = {(feed, kind): n for feed, kinds in truth.items() for kind, n in kinds.items() if n}
    for table, field_kinds in (("quarantine", False), ("field_issues", True)):
        found = _query(
            config,
            "SELECT feed_id, reason, count(*) FROM (SELECT feed_id, unnest(reasons) AS reason"
            f" FROM quality.{table}) GROUP BY ALL",
        )
        wanted = {key: n for key, n in expected.items() if (key[1] in FIELD_REASONS) == field_kinds}
        assert {(feed, reason): n for feed, reason, n in found} == wanted, table
        # one defect a row, so rows and reasons agree: nothing clean was caught on the way
        [(rows, reasons)] = _query(config, f"SELECT count(*), sum(len(reasons)) FROM quality.{table}")
        assert rows == reasons == sum(wanted.values())


def test_each_incident_is_held_once_and_resent_ones_carry_the_latest_version(ingested):
    config, _ = ingested
    [(rows, keys)] = _query(config, "SELECT count(*), count(DISTINCT incident_key) FROM core.incidents")
    assert rows == keys
    resent = _query(
        config,
        """
        SELECT r.feed_id, i.cleared_at IS NOT NULL FROM (
            SELECT 'city_police_cad' AS feed_id, "IncidentNumber" AS id FROM raw.city_police_cad
            GROUP BY ALL HAVING count(DISTINCT _batch_id) > 1
        ) r JOIN core.incidents i ON i.feed_id = r.feed_id AND i.source_incident_id = r.id
        """,
    )
    assert resent, "the simulated window spans a month boundary, so some incidents are re-sent"
    assert all(closed for _, closed in resent)


def test_ingesting_again_changes_nothing(ingested):
    config, _ = ingested
    snapshot = """
        SELECT (SELECT count(*) FROM core.incidents), (SELECT count(*) FROM quality.quarantine),
            (SELECT count(*) FROM meta.batches), (SELECT count(*) FROM raw.city_police_cad),
            (SELECT sum(hash(incident_key, batch_id, cleared_at)) FROM core.incidents)
    """
    before = _query(config, snapshot)
    again = _ingest(config)
    assert {b.status for o in again for b in o.batches} == {"skipped"}
    assert _query(config, snapshot) == before


def test_timestamps_are_utc_instants_in_the_simulated_window(ingested):
    config, _ = ingested
    settings = load_settings(config)
    [(first, last)] = _query(config, "SELECT min(received_at), max(received_at) FROM core.incidents")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert first.tzinfo is not None
    assert settings.warehouse_path.exists()
    assert today - timedelta(days=35) <= first < last < today
