"""The features stage on the simulated workspace, as a Prefect flow on a real warehouse."""

from dataclasses import replace

import polars as pl
import pytest

from flows.features import features_flow
from jointcast.config import load_settings
from tests.test_ingest import _ingest, _query


@pytest.mark.integration
def test_features_link_joint_events_count_the_panel_and_rerun_to_the_same_tables(prefect, workspace):
    config = workspace / "jointcast.toml"
    _ingest(config)
    counts = features_flow(settings=load_settings(str(config)))
    assert counts["demand"] > 0 and counts["model_inputs"] > counts["demand"]
    # every counted incident is in exactly one series of the panel
    [(panel_total, counted)] = _query(
        config,
        """
        SELECT (SELECT sum(incidents) FROM features.demand),
               (SELECT count(*) FROM core.incidents
                WHERE NOT (agency_id IN ('city_police', 'transit_police') AND call_source = 'officer'))
        """,
    )
    assert panel_total == counted
    # joint events: several agencies' records of one event share an id
    [(events, multi_agency)] = _query(
        config,
        """
        SELECT count(*), count(*) FILTER (WHERE agencies > 1) FROM (
            SELECT joint_event_id, count(DISTINCT agency_id) AS agencies FROM core.incidents
            WHERE joint_event_id IS NOT NULL GROUP BY 1)
        """,
    )
    assert events > 10 and multi_agency == events
    snapshot = """
        SELECT (SELECT sum(hash(agency_id, area_id, bucket_start, incidents)) FROM features.demand),
               (SELECT count(*) FROM features.model_inputs),
               (SELECT sum(hash(incident_key, joint_event_id)) FROM core.incidents)
    """
    before = _query(config, snapshot)
    features_flow(settings=load_settings(str(config)))
    assert _query(config, snapshot) == before


def test_the_simulated_truth_and_the_panel_agree_in_total(workspace):
    # the panel counts what the feeds carried; the truth is the expected count
    from features.build import FeatureParameters, build_features

    settings, incidents = core_incidents(workspace / "jointcast.toml")
    built = build_features(
        incidents.lazy(),
        None,
        replace(FeatureParameters.from_settings(settings), horizon_hours=48),
    )
    truth = pl.read_parquet(workspace / "truth" / "rates.parquet")
    window = built.demand.select(
        pl.col("bucket_start").min().alias("lo"), pl.col("bucket_start").max().alias("hi")
    )
    lo, hi = window.row(0)
    expected = truth.filter(pl.col("bucket_start").is_between(lo, hi))["rate"].sum()
    assert abs(built.demand["incidents"].sum() - expected) < 5 * expected**0.5 + 0.03 * expected


def core_incidents(config):
    """The workspace ``config`` ingested and validated: its settings and core incidents."""
    from jointcast.config import load_settings
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_incidents

    _ingest(config)
    settings = load_settings(config)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        return settings, read_incidents(con)
