"""Areas on small hand-made frames (centroids, areas without coordinates, the series to describe,
ids equal up to case and spacing), and a hand-keyed feed's spellings of one beat through features,
forecast, staffing, an override and a scenario."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from features.area_ids import canonical_area_ids, named_area, named_areas
from features.areas import AREA_SCHEMA, areas


def _incidents(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"agency_id": pl.String, "area_id": pl.String, "lat": pl.Float64, "lon": pl.Float64},
        orient="row",
    )


INCIDENTS = _incidents(
    [
        ("pd", "B01", 40.0, -75.0),
        ("pd", "B01", 40.2, -75.2),
        ("pd", "B01", 40.1, -75.1),
        ("pd", "B01", None, None),  # no coordinates: counted for the area, not for its centre
        ("pd", "B02", None, None),  # an area none of whose incidents is located
        ("pd", None, 40.5, -75.5),  # no area: the panel's "unknown"
        ("fd", "B01", 39.0, -76.0),  # another agency's area of the same name
    ]
)


def test_each_area_gets_the_median_of_its_located_incidents():
    frame = areas(INCIDENTS.lazy()).collect()
    assert frame.schema == pl.Schema(AREA_SCHEMA)
    assert frame.select("agency_id", "area_id").rows() == [
        ("fd", "B01"), ("pd", "B01"), ("pd", "B02"), ("pd", "unknown"),
    ]  # fmt: skip
    b01 = frame.filter(agency_id="pd", area_id="B01").row(0, named=True)
    assert (b01["centroid_lat"], b01["centroid_lon"]) == (pytest.approx(40.1), pytest.approx(-75.1))
    assert b01["located_incidents"] == 3
    assert frame.filter(agency_id="fd")["centroid_lat"].to_list() == [39.0]


def test_areas_without_coordinates_get_null_centroids():
    frame = areas(INCIDENTS.lazy()).collect()
    for area in ("B02", "unknown"):  # "unknown" gathers incidents from anywhere: no one centre
        row = frame.filter(agency_id="pd", area_id=area).row(0, named=True)
        assert row["centroid_lat"] is None and row["centroid_lon"] is None
    assert frame.filter(agency_id="pd", area_id="B02")["located_incidents"].to_list() == [0]


def test_an_area_is_named_by_its_id_and_derived_from_the_area_column():
    frame = areas(INCIDENTS.lazy()).collect()
    assert (frame["name"] == frame["area_id"]).all()
    assert set(frame["derived_from"]) == {"column"}
    assert frame["geometry"].is_null().all()


def test_a_series_list_sets_which_areas_appear():
    series = pl.DataFrame({"agency_id": ["pd", "pd", "pd"], "area_id": ["B01", "B03", "B01"]})
    frame = areas(INCIDENTS.lazy(), series.lazy()).collect()
    assert frame.select("agency_id", "area_id").rows() == [("pd", "B01"), ("pd", "B03")]
    b03 = frame.filter(area_id="B03").row(0, named=True)  # forecast, but no recent incidents
    assert (b03["name"], b03["centroid_lat"], b03["located_incidents"], b03["derived_from"]) == (
        "B03", None, 0, "column",
    )  # fmt: skip


def test_the_input_is_left_alone():
    before = INCIDENTS.clone()
    areas(INCIDENTS.lazy()).collect()
    assert INCIDENTS.equals(before)
    empty = areas(INCIDENTS.clear().lazy()).collect()
    assert empty.is_empty() and empty.schema == pl.Schema(AREA_SCHEMA)


def test_area_ids_equal_up_to_case_and_spacing_are_one_area_named_as_the_agency_writes_it_most():
    """``J2`` in two records and ``j2`` in one are ``J2``; ``B 01`` and ``b  01`` (once each: the first in
    sort order) are ``B 01``, not ``B01``; ``UNKNOWN`` is the area ``unknown``; each agency its own."""
    frame = pl.DataFrame({
        "agency_id": ["pd"] * 8 + ["fd"],
        "area_id": ["J2", "j2", "J2", "B 01", "b  01", "B01", "UNKNOWN", None, "j2"],
        "n": range(9),
    })  # fmt: skip
    named = canonical_area_ids(frame)
    assert named["area_id"].to_list() == ["J2", "J2", "J2", "B 01", "B 01", "B01", "unknown", None, "j2"]
    assert named.drop("area_id").equals(frame.drop("area_id"))
    assert canonical_area_ids(named).equals(named)  # names already canonical are left as they are


def test_a_name_a_person_writes_is_the_area_it_equals_else_the_one_it_equals_up_to_case():
    known = pl.DataFrame({"agency_id": ["pd", "pd", "fd"], "area_id": ["B01", "b01", "F 2"]})
    written = pl.DataFrame({
        "agency_id": ["pd", "pd", "pd", "fd", "fd", "pd"],
        "area_id": ["b01", "B01", " B01 ", "f  2", "F2", None],
    })  # fmt: skip
    found = named_areas(written.lazy(), known.lazy()).collect()
    assert found["area_id"].to_list() == ["b01", "B01", "B01", "F 2", "F2", None]
    assert (named_area("f  2", ["F 2"]), named_area("F2", ["F 2"]), named_area(" b01", ["b01", "B01"])) == (
        "F 2", None, "B01",
    )  # fmt: skip


START = datetime(2024, 1, 8)  # a Monday, local time in New York, weeks from a clock change
NEW_YORK = "America/New_York"


def _beat_feed(police_workspace) -> None:
    """Four weeks of a police feed, a call every 5 hours, that keys beat B01 as ``B01`` and ``b01 ``
    and the beat next door as ``B 01`` and ``b  01``."""
    spellings = ["B01", "b01 ", "B01", "B 01", "B01", "b  01"]
    rows = []
    for number, hour in enumerate(range(0, 24 * 28, 5)):
        local, area = START + timedelta(hours=hour), spellings[number % len(spellings)]
        rows.append(f"A{hour},TC,2,911,{local:%m/%d/%Y %I:%M:%S %p},,{area},40.1,-75.2,555-0100,Jane Roe")
    police_workspace("pd_2024.csv", rows)


def _area_ids(con, table: str) -> set[str]:
    return {area for (area,) in con.execute(f"SELECT DISTINCT area_id FROM {table}").fetchall()}


def test_a_beat_keyed_in_several_cases_is_one_area_in_features_forecast_overrides_and_scenarios(
    police_workspace,
):
    """core keeps the feed's spellings; features.*, the forecast, staffing and areas hold ``B01`` and
    ``B 01`` only, and the events file's, an override's and a scenario's ``b01`` all reach ``B01``."""
    from features.build import FeatureParameters, build_features
    from jointcast.config import load_settings
    from models.baseline_model import BaselineDemandModel
    from models.forecasting import forecast_demand
    from planning.assemble import PublicationInputs, assemble_publication
    from planning.overrides import apply_overrides
    from planning.provenance import Provenance
    from planning.scenario import events_file_rows, with_events
    from planning.scenario_file import ScenarioError, check_scenario, parse_scenario
    from tests.test_ingest import _ingest
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_incidents, write_features
    from warehouse.model_store import read_forecast_inputs
    from warehouse.overrides import add_override, read_overrides
    from warehouse.publish import read_actuals, read_derived_features, write_publication

    _beat_feed(police_workspace)
    config = police_workspace.config
    _ingest(config)
    settings = load_settings(config)
    events = pl.DataFrame({
        "event_id": ["E1"], "name": ["Parade"], "start_local": ["2024-01-20T10:00:00"],
        "end_local": ["2024-01-20T12:00:00"], "lat": [""], "lon": [""], "radius_m": ["500"],
        "expected_attendance": ["20000"], "areas": ["pd:b01"],
    })  # fmt: skip
    both = {"B01", "B 01"}
    with open_warehouse(settings.warehouse_path) as con:
        assert _area_ids(con, "core.incidents") == {"B01", "b01", "B 01", "b  01"}  # trimmed, as keyed
        built = build_features(read_incidents(con).lazy(), events, FeatureParameters.from_settings(settings))
        write_features(
            con, built.joint_events, built.tables(), (p.collect() for p in built.model_input_parts())
        )
        for table in ("demand", "areas", "model_inputs"):
            assert _area_ids(con, f"features.{table}") == both, table
        assert con.execute(
            "SELECT area_id, sum(incidents) FROM features.demand GROUP BY 1 ORDER BY 1"
        ).fetchall() == [("B 01", 44), ("B01", 91)]
        assert _area_ids(con, "features.model_inputs WHERE event_active") == {"B01"}  # the events file's b01
        inputs, data_as_of = read_forecast_inputs(con, "pd")
        end = data_as_of["pd"]
        override = add_override(
            con, agency_id="pd", area_id="b01", starts_at=end, ends_at=end + timedelta(days=1), factor=2.0,
            reason="parade", created_by="test",
        )  # fmt: skip
        overrides = read_overrides(con)
        assert overrides["area_id"].to_list() == ["B01"]  # recorded as the features name it
        horizon = settings.forecast.horizon_hours
        hourly = forecast_demand(
            BaselineDemandModel(), inputs, data_as_of, horizon, built.bands, {"pd": 0.1}
        ).hourly
        model = hourly.rename({name: f"model_{name}" for name in ("mean", "p10", "p50", "p90", "quantiles")})
        derived = read_derived_features(con)
        publication = assemble_publication(
            PublicationInputs(
                model, Provenance("m", "1", "run", "digest", data_as_of, {"shift": {"pd": 0.1}}), overrides,
                derived["service_profile"], derived["joint_crosswalk"], derived["areas"],
                read_actuals(con, end - timedelta(days=7)), 1, "forecast", None, derived["joint_summary"],
            ),
            settings,
            end,
        )  # fmt: skip
        write_publication(con, publication.tables, ["pd"], publication.record)
        for table in ("demand", "staffing", "areas"):
            assert _area_ids(con, f"forecast.{table}") == both, table
        assert _area_ids(con, f"forecast.demand WHERE list_contains(override_ids, {override})") == {"B01"}
        published = pl.from_arrow(con.execute("SELECT * FROM forecast.areas").to_arrow_table())
    # an override whose area is spelled otherwise (the features' name for it since changed) still applies
    respelled = apply_overrides(model, overrides.with_columns(area_id=pl.lit("b01")))
    assert set(respelled.filter(pl.col("override_factor") == 2.0)["area_id"]) == {"B01"}
    # a planner's scenario naming pd:b01 reaches area B01
    start = (end + timedelta(hours=10)).astimezone(ZoneInfo(NEW_YORK)).replace(tzinfo=None)
    text = (
        f'name = "parade"\n[[events]]\nname = "Parade"\nstart = {start:%Y-%m-%dT%H:00:00}\n'
        f"end = {start + timedelta(hours=2):%Y-%m-%dT%H:00:00}\nexpected_attendance = 20000\n"
        'areas = ["pd:b01"]\n'
    )
    spec = parse_scenario(text, "parade.toml")
    known = set(published.select("agency_id", "area_id").iter_rows())
    check_scenario(spec, settings, known)
    with pytest.raises(ScenarioError, match="'pd' has no area 'b02'"):
        check_scenario(parse_scenario(text.replace("pd:b01", "pd:b02"), "other.toml"), settings, known)
    rows = events_file_rows(spec, published, {"pd": None})
    assert rows["areas"].to_list() == ["pd:B01"]
    ahead = with_events(inputs, rows, {"pd": NEW_YORK})
    assert set(ahead.filter(pl.col("scenario_attendance") > 0)["area_id"]) == {"B01"}
