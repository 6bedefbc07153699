"""The real-data example (examples/montco/jointcast.toml) on a slice of the Montgomery County 911 feed.

The feed itself is not part of the project: it is read where the example's config says
(../shared/data/montco-911 beside the checkout), and these tests skip, naming that path,
where it is absent.
"""

import re
from pathlib import Path

import polars as pl
import pytest

from jointcast.config import load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "montco" / "jointcast.toml"
H3_EXAMPLE = EXAMPLE.parent / "h3" / "jointcast.toml"
SERVICES = {"montco_ems", "montco_fire", "montco_traffic"}


def _feed() -> Path:
    settings = load_settings(EXAMPLE)
    path = settings.resolve(settings.feeds[0].uri)
    if not path.is_file():
        pytest.skip(f"the Montgomery County 911 feed is not at {path} (see examples/montco/jointcast.toml)")
    return path


def _slice_workspace(folder: Path, first: str, last: str, example: Path = EXAMPLE) -> Path:
    """The example config in ``folder``, its feed the rows of the real file received in [first, last)."""
    rows = pl.read_csv(_feed(), infer_schema=False).filter(
        pl.col("timeStamp") >= first, pl.col("timeStamp") < last
    )
    rows.write_csv(folder / "911.csv")
    text = re.sub(r'^uri = ".*"$', 'uri = "911.csv"', example.read_text(), flags=re.M)
    (folder / "jointcast.toml").write_text(text)
    return folder / "jointcast.toml"


def test_the_example_config_validates_with_one_vocabulary_and_a_lead_per_joint_type():
    settings = load_settings(EXAMPLE)
    assert {a.id for a in settings.agencies} == SERVICES
    assert set(settings.feeds[0].agency_from.map.values()) == SERVICES
    assert settings.role_map["vehicle_accident"] == ("montco_traffic", ("montco_ems", "montco_fire"))
    assert settings.role_map["cardiac_arrest"][0] == "montco_ems"
    assert settings.role_map["building_fire"][0] == "montco_fire"
    # each service's spelling of one type reads as the same code
    pattern = re.compile(settings.feeds[0].type_pattern)
    codes = {pattern.match(t).group(1) for t in ("EMS: VEHICLE ACCIDENT", "Traffic: VEHICLE ACCIDENT -")}
    assert codes == {"VEHICLE ACCIDENT"}


@pytest.mark.parametrize("example", [EXAMPLE, H3_EXAMPLE], ids=["townships", "h3"])
def test_each_example_reads_the_feed_its_uri_names(example):
    """The examples' own uri (beside the checkout, up three folders) passes the feed-folder rules and
    lists the file, as `jointcast --config <example> run` reads it."""
    from warehouse.sources import feed_folder, list_files, refuse_parent_steps

    _feed()
    settings = load_settings(example)
    feed = settings.feeds[0]
    refuse_parent_steps(feed.uri)
    uri = settings.feed_uri(feed)
    [found] = list_files(uri)
    assert Path(found).resolve() == settings.resolve(feed.uri).resolve()
    assert Path(found).resolve().is_relative_to(feed_folder(uri).resolve())


def _core_incidents(settings) -> pl.DataFrame:
    from expectations.runner import Validator
    from expectations.validate import validate_feed
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_frame
    from warehouse.ingest import ingest_feed

    with open_warehouse(settings.warehouse_path) as con:
        ingest_feed(con, settings, settings.feeds[0])
        validate_feed(con, settings, settings.feeds[0], Validator(settings.root))
        return read_frame(con, "SELECT * FROM core.incidents")


def test_three_weeks_of_montco_link_records_of_different_services_as_joint_events(tmp_path):
    from expectations.runner import Validator
    from expectations.validate import validate_feed
    from features.build import FeatureParameters, build_features
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_frame
    from warehouse.ingest import ingest_feed

    settings = load_settings(_slice_workspace(tmp_path, "2016-03-01", "2016-03-22"))
    with open_warehouse(settings.warehouse_path) as con:
        ingest_feed(con, settings, settings.feeds[0])
        validate_feed(con, settings, settings.feeds[0], Validator(tmp_path))
        incidents = read_frame(con, "SELECT * FROM core.incidents")
        [(read, loaded, quarantined)] = con.execute(
            "SELECT sum(rows_read), sum(rows_loaded), sum(rows_quarantined) FROM meta.batches"
        ).fetchall()
    assert read == pl.read_csv(tmp_path / "911.csv", infer_schema=False).height
    assert loaded + quarantined == read and loaded == incidents.height
    assert set(incidents["agency_id"]) == SERVICES
    # the services' titles of a vehicle accident became one incident type
    accidents = incidents.filter(pl.col("source_type").str.contains("VEHICLE ACCIDENT"))
    assert set(accidents["incident_type"]) == {"vehicle_accident"}
    assert set(accidents["agency_id"]) == SERVICES

    built = build_features(incidents.lazy(), None, FeatureParameters.from_settings(settings))
    events = (
        incidents.drop("joint_event_id")
        .join(built.joint_events, on="incident_key")
        .group_by("joint_event_id")
        .agg(
            services=pl.col("agency_id").n_unique(),
            records=pl.len(),
            types=pl.col("incident_type").n_unique(),
            minutes=(pl.col("received_at").max() - pl.col("received_at").min()).dt.total_seconds() / 60,
        )
    )
    assert events.height > 100  # about 250 joint events in these three weeks
    assert (events["services"] >= 2).all() and (events["types"] == 1).all()
    assert events.filter(pl.col("services") == 3).height > 0
    # linked records are minutes apart, chains aside: at most one 15-minute window per extra record
    assert (events["minutes"] <= 15 * (events["records"] - 1)).all()
    # the roles make joint types part of the joint crosswalk, led by the configured agency
    crosswalk = built.derived["joint_crosswalk"]
    leads = dict(crosswalk.select("incident_type", "lead_agency").unique().iter_rows())
    assert leads["vehicle_accident"] == "montco_traffic"


def test_with_h3_areas_every_located_montco_incident_lands_in_one_cell_and_the_map_draws_each(tmp_path):
    from features.build import FeatureParameters, build_features
    from features.panel import counted_incidents
    from planning.areamap import area_shapes, hotspot_svg

    settings = load_settings(_slice_workspace(tmp_path, "2016-03-01", "2016-03-22", H3_EXAMPLE))
    incidents = _core_incidents(settings)
    params = FeatureParameters.from_settings(settings)
    built = build_features(incidents.lazy(), None, params)

    counted = counted_incidents(incidents.lazy(), params.counted_sources).collect()
    assert built.demand["incidents"].sum() == counted.height  # the panel sums to the incidents counted
    areas = built.derived["areas"]
    cells = areas.filter(pl.col("area_id") != "unknown")
    assert set(cells["derived_from"]) == {"h3"} and cells["geometry"].is_not_null().all()
    located = counted.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null()).height
    unknown = built.demand.filter(pl.col("area_id") == "unknown")["incidents"].sum()
    assert unknown == counted.height - located  # every located incident is in a cell, only those unplaced
    for agency in SERVICES:
        own = cells.filter(pl.col("agency_id") == agency)
        shapes = area_shapes(own)
        assert set(shapes.shapes) == set(own["area_id"]) and not shapes.approximate
        svg = hotspot_svg(shapes, dict.fromkeys(own["area_id"], 1.0), "incidents", "incidents")
        assert sorted(re.findall(r'data-area="([^"]+)"', svg)) == sorted(own["area_id"])


@pytest.mark.integration
@pytest.mark.slow
def test_the_documented_command_runs_the_whole_pipeline_on_six_weeks_of_montco(tmp_path, prefect):
    from tests.test_cli import jointcast
    from tests.test_ingest import _query

    config = _slice_workspace(tmp_path, "2016-03-01", "2016-04-12")
    done = jointcast("--config", str(config), "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {p.name for p in (tmp_path / "report").iterdir()} >= {f"{a}.html" for a in SERVICES}
    [(leads, events, records)] = _query(
        config,
        """
        SELECT list(DISTINCT lead_agency ORDER BY lead_agency), sum(expected_events), sum(expected_records)
        FROM forecast.joint_demand WHERE incident_type = 'vehicle_accident'
        """,
    )
    # a crash that draws several services is one event and several records
    assert leads == ["montco_traffic"] and 0 < events < records
