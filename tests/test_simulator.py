"""The feed simulator: deterministic, config-ready, shaped like each source, truth that adds up."""

from __future__ import annotations

import glob
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import shapely

from jointcast.config import FeedSettings, Settings, load_settings
from jointcast.simulator import DEFECT_KINDS, SimulationSummary, simulate
from jointcast.simulator.settings_file import KEYS_FOLDER, PII_KEY_FILE

END = date(2024, 11, 12)  # the window spans a month boundary and the DST fall-back
DAYS = 21
WINDOW_START = datetime(2024, 10, 22, tzinfo=UTC)
WINDOW_END = datetime(2024, 11, 12, tzinfo=UTC)
EXPECTED_COLUMNS = {
    "city_police_cad": [
        "IncidentNumber", "CallType", "Priority", "Source", "CallReceived", "Dispatched",
        "OnScene", "Cleared", "Beat", "Latitude", "Longitude", "CallerName", "CallerPhone",
    ],
    "county_fire_cad": [
        "incident_id", "nature_code", "priority", "alarm_ts", "dispatch_ts", "arrive_ts",
        "clear_ts", "district", "lat", "lon", "reported_by",
    ],
    "ems_epcr": [
        "pcr_id", "complaint", "acuity", "t_call", "t_dispatch", "t_arrive", "t_available",
        "zone", "latitude", "longitude", "patient_name",
    ],
    "transit_police_rms": [
        "evt_no", "evt_cd", "pri", "origin", "rcvd", "disp", "arr", "clr", "stn", "y", "x",
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> SimulationSummary:
    return simulate(tmp_path_factory.mktemp("clean"), days=DAYS, end=END)


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> SimulationSummary:
    return simulate(tmp_path_factory.mktemp("messy"), days=DAYS, end=END, messy_rate=0.05)


def _settings(summary: SimulationSummary) -> Settings:
    return load_settings(summary.config_path)


def _read_file(feed: FeedSettings, path: Path) -> pl.DataFrame:
    """One source file, values as text (None where empty, null or absent)."""
    if feed.format == "csv":
        return pl.read_csv(path, separator=feed.delimiter, infer_schema=False)
    if feed.format == "parquet":  # typed timestamps stay typed
        return pl.read_parquet(path).with_columns(pl.exclude(pl.Datetime).cast(pl.String))
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    keys = list(dict.fromkeys(key for row in rows for key in row))
    values = {k: [None if r.get(k) is None else str(r[k]) for r in rows] for k in keys}
    return pl.DataFrame(values, schema=dict.fromkeys(keys, pl.String))


def _read_feed(feed: FeedSettings, files: tuple[Path, ...]) -> pl.DataFrame:
    parts = [_read_file(feed, path).with_columns(file=pl.lit(i)) for i, path in enumerate(files)]
    return pl.concat(parts, how="diagonal")


def _utc(feed: FeedSettings, column: str) -> pl.Expr:
    """A source timestamp column parsed as the config says, in UTC (null if unparseable)."""
    text = pl.col(column)
    if feed.timestamp_format == "epoch_ms":
        return text.str.to_integer(strict=False).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
    if feed.timestamp_format == "iso":
        return text  # parquet: typed already
    local = text.str.strptime(pl.Datetime("us"), feed.timestamp_format, strict=False)
    return local.dt.replace_time_zone(feed.timezone, ambiguous="earliest").dt.convert_time_zone("UTC")


def _all_bytes(folder: Path) -> dict[str, bytes]:
    """Every file's bytes but the workspace's PII key and agency keys, which are random by design."""
    files = (
        p for p in folder.rglob("*")
        if p.is_file() and p.name != PII_KEY_FILE and p.parent.name != KEYS_FOLDER
    )  # fmt: skip
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    arguments = {"days": 8, "end": date(2024, 3, 4), "agencies": 4, "messy_rate": 0.05}
    first = simulate(tmp_path / "a", seed=3, **arguments)
    simulate(tmp_path / "b", seed=3, **arguments)
    simulate(tmp_path / "c", seed=4, **arguments)
    a, b, c = (_all_bytes(tmp_path / name) for name in "abc")
    keys = [{p.name: p.read_bytes() for p in (tmp_path / name / KEYS_FOLDER).iterdir()} for name in "ab"]
    assert len(keys[0]) == 4 and all(keys[0][n] != keys[1][n] for n in keys[0])  # each workspace its own keys
    assert a == b
    assert a.keys() == c.keys()
    feed_files = [name for name in a if name.startswith("feeds")]
    assert len(feed_files) == 8  # four feeds, two months each
    assert all(a[name] != c[name] for name in feed_files)
    assert set(first.rows_per_feed) == set(first.feed_files) == set(first.defects_per_feed)
    assert all(first.files_per_feed[feed] == 2 for feed in first.feed_files)
    keys = [tmp_path / name / PII_KEY_FILE for name in "ab"]
    assert keys[0].read_text() != keys[1].read_text()  # random, not derived from the seed
    assert {key.stat().st_mode & 0o777 for key in keys} == {0o600}
    kept = keys[0].read_text()
    simulate(tmp_path / "a", seed=3, **arguments)
    assert keys[0].read_text() == kept  # re-simulating keeps the key that hashed the stored values


def test_config_validates_with_paths_relative_to_the_workspace(clean):
    settings = _settings(clean)
    out = clean.out.resolve()
    assert settings.warehouse_path == out / "warehouse.duckdb"
    assert settings.tracking_uri == f"sqlite:///{out / 'mlflow.db'}"
    assert settings.events_path == out / "events.csv" and settings.events_path.is_file()
    assert [a.id for a in settings.agencies] == [
        "city_police",
        "county_fire",
        "ems",
        "transit_police",
    ]
    police = settings.agency("city_police")
    assert police.bbox is not None and police.staffing.proactive_share == 0.4
    assert "officer" not in police.counted_call_sources
    assert [s.hours for s in settings.agency("county_fire").staffing.shifts] == [12, 12]
    assert {role.incident_type: role.lead for role in settings.roles}["cardiac"] == "ems"
    for feed in settings.feeds:
        matched = sorted(Path(p) for p in glob.glob(settings.feed_uri(feed)))
        assert matched, feed.id
        assert matched == [p.resolve() for p in clean.feed_files[feed.id]]


def test_fewer_agencies_keep_config_consistent(tmp_path):
    summary = simulate(tmp_path, days=3, end=END, agencies=1)
    settings = _settings(summary)
    assert [a.id for a in settings.agencies] == ["city_police"]
    assert [f.id for f in settings.feeds] == ["city_police_cad"]
    assert all(role.lead == "city_police" and not role.supporting for role in settings.roles)
    truth = pl.read_parquet(tmp_path / "truth" / "rates.parquet")
    assert truth["agency_id"].unique().to_list() == ["city_police"]


def test_more_agencies_repeat_the_kinds_with_ids_of_their_own_and_more_areas_each(tmp_path):
    summary = simulate(tmp_path, days=3, end=END, agencies=6, area_scale=2)
    settings = _settings(summary)
    ids = ["city_police", "county_fire", "ems", "transit_police", "city_police_2", "county_fire_2"]
    assert [a.id for a in settings.agencies] == ids
    assert [f.agency_ids[0] for f in settings.feeds] == ids
    assert [f.id for f in settings.feeds][4:] == ["city_police_cad_2", "county_fire_cad_2"]
    assert settings.agency("city_police_2").kind == "police"
    truth = pl.read_parquet(tmp_path / "truth" / "rates.parquet")
    areas = dict(truth.group_by("agency_id").agg(pl.col("area_id").n_unique()).iter_rows())
    # twice each kind's areas: police 40, fire 20, EMS 30, transit 20
    assert areas == {"city_police": 80, "county_fire": 40, "ems": 60, "transit_police": 40,
                     "city_police_2": 80, "county_fire_2": 40}  # fmt: skip
    # the second city police is a jurisdiction of its own: its own draws, its feed in its kind's format
    first, second = (truth.filter(pl.col("agency_id") == a)["rate"] for a in ("city_police", "city_police_2"))
    assert first.sum() != second.sum()
    assert 0.8 < second.sum() / first.sum() < 1.25
    assert [p.suffix for p in summary.feed_files["city_police_cad_2"]] == [".csv"]


def test_the_demo_s_agencies_and_feeds_are_what_the_new_options_give_by_default():
    from jointcast.simulator.agencies import AGENCIES, agency_specs
    from jointcast.simulator.feeds import FEEDS, feed_of

    assert agency_specs(4) == AGENCIES
    assert tuple(feed_of(spec) for spec in AGENCIES) == FEEDS
    assert agency_specs(2) == AGENCIES[:2]


@pytest.mark.parametrize("feed_id", list(EXPECTED_COLUMNS))
def test_each_feed_has_its_source_shape(clean, feed_id):
    feed = _settings(clean).feed(feed_id)
    files = clean.feed_files[feed_id]
    assert [p.name for p in files] == [
        f"{feed_id}_2024-10.{feed.format}",
        f"{feed_id}_2024-11.{feed.format}",
    ]
    frame = _read_feed(feed, files)
    assert [c for c in frame.columns if c != "file"] == EXPECTED_COLUMNS[feed_id]
    if feed.format == "csv":
        header = files[0].read_text(encoding="utf-8").splitlines()[0]
        assert header == feed.delimiter.join(EXPECTED_COLUMNS[feed_id])
    if feed.format == "parquet":
        schema = pl.read_parquet_schema(files[0])
        assert schema[feed.columns.received_at] == pl.Datetime("us", "UTC")
    received = frame.select(_utc(feed, feed.columns.received_at)).to_series()
    assert received.null_count() == 0
    assert received.min() >= WINDOW_START and received.max() < WINDOW_END
    assert len(frame) == clean.rows_per_feed[feed_id]


@pytest.mark.parametrize("feed_id", list(EXPECTED_COLUMNS))
def test_clean_rows_look_clean(clean, feed_id):
    settings = _settings(clean)
    feed = settings.feed(feed_id)
    columns = feed.columns
    bbox = settings.agency(feed.agency).bbox
    times = ("received_at", "dispatched_at", "on_scene_at", "cleared_at")
    frame = _read_feed(feed, clean.feed_files[feed_id]).with_columns(
        **{name: _utc(feed, getattr(columns, name)) for name in times},
        lat=pl.col(columns.lat).cast(pl.Float64),
        lon=pl.col(columns.lon).cast(pl.Float64),
        priority=pl.col(columns.priority).cast(pl.Int64),
    )
    ordered = (
        (pl.col("received_at") <= pl.col("dispatched_at"))
        & (pl.col("dispatched_at") <= pl.coalesce("on_scene_at", "dispatched_at"))
        & (pl.coalesce("on_scene_at", "dispatched_at") <= pl.col("cleared_at"))
    ).fill_null(True)
    assert frame.filter(~ordered).is_empty()
    assert frame["lon"].is_between(bbox[0], bbox[2]).all()
    assert frame["lat"].is_between(bbox[1], bbox[3]).all()
    assert frame[columns.source_type].is_in(list(feed.type_codes)).all()
    assert frame["priority"].is_between(*feed.priority_range).all()
    assert frame[columns.source_incident_id].str.strip_chars().str.len_chars().min() > 0
    assert len(frame) == frame.drop("file").unique().height
    if columns.call_source:
        assert frame[columns.call_source].is_in(list(feed.call_source_codes)).all()
    assert json.loads((clean.out / "truth" / "defects.json").read_text())[feed_id] == dict.fromkeys(
        DEFECT_KINDS, 0
    )


def test_defect_counts_are_exact(messy):
    settings = _settings(messy)
    defects = json.loads((messy.out / "truth" / "defects.json").read_text())
    assert defects == messy.defects_per_feed
    for feed in settings.feeds:
        counts = defects[feed.id]
        assert list(counts) == list(DEFECT_KINDS)
        frame = _read_feed(feed, messy.feed_files[feed.id])
        defective = sum(counts.values())
        assert defective == pytest.approx(0.05 * (len(frame) - counts["duplicate_row"]), abs=1)
        assert min(v for k, v in counts.items() if k != "unparseable_timestamp") > 0
        ids = frame[feed.columns.source_incident_id].fill_null("")
        assert (ids.str.strip_chars() == "").sum() == counts["blank_id"]
        assert len(frame) - frame.unique().height == counts["duplicate_row"]
        received = frame[feed.columns.received_at]
        assert received.is_null().sum() == counts["missing_timestamp"]
        unknown = ~frame[feed.columns.source_type].is_in(list(feed.type_codes))
        assert unknown.sum() == counts["unknown_type_code"]
        future = frame.select(_utc(feed, feed.columns.received_at) > WINDOW_END).to_series()
        assert future.sum() == counts["future_timestamp"]
    assert defects["ems_epcr"]["unparseable_timestamp"] == 0


def test_truth_covers_every_area_and_hour_past_the_end(clean):
    truth = pl.read_parquet(clean.out / "truth" / "rates.parquet")
    assert truth.schema == pl.Schema(
        {
            "agency_id": pl.String,
            "area_id": pl.String,
            "bucket_start": pl.Datetime("us", "UTC"),
            "rate": pl.Float64,
        }
    )
    hours = (DAYS + 14) * 24
    areas = truth.group_by("agency_id").agg(pl.col("area_id").n_unique()).sort("agency_id")
    assert dict(areas.iter_rows()) == {
        "city_police": 40,
        "county_fire": 20,
        "ems": 30,
        "transit_police": 20,
    }
    assert len(truth) == 110 * hours
    assert truth.select("agency_id", "area_id", "bucket_start").is_unique().all()
    assert truth["bucket_start"].min() == WINDOW_START
    assert truth["bucket_start"].max() == WINDOW_END + timedelta(days=14, hours=-1)
    assert truth["rate"].min() >= 0 and truth["rate"].null_count() == 0


def test_counted_records_match_truth_and_officer_work_is_not_counted(clean):
    settings = _settings(clean)
    truth = pl.read_parquet(clean.out / "truth" / "rates.parquet").filter(pl.col("bucket_start") < WINDOW_END)
    for feed in settings.feeds:
        agency = settings.agency(feed.agency)
        frame = _read_feed(feed, clean.feed_files[feed.id])
        frame = frame.unique(subset=feed.columns.source_incident_id)
        if feed.columns.call_source:
            source = pl.col(feed.columns.call_source).replace_strict(feed.call_source_codes)
        else:
            source = pl.lit(feed.default_call_source)
        frame = frame.with_columns(source=source)
        counted = frame.filter(pl.col("source").is_in(agency.counted_call_sources)).height
        expected = truth.filter(pl.col("agency_id") == agency.id)["rate"].sum()
        assert abs(counted - expected) < 4 * expected**0.5, feed.id
        officer = frame.filter(pl.col("source") == "officer").height
        if agency.kind == "police":
            assert officer > 10 * expected**0.5
            assert expected / DAYS == pytest.approx(320, rel=0.15)


def test_resent_incidents_appear_open_then_complete_in_consecutive_files(clean):
    feed = _settings(clean).feed("city_police_cad")
    frame = _read_feed(feed, clean.feed_files["city_police_cad"])
    ids = feed.columns.source_incident_id
    repeated = frame.filter(pl.col(ids).is_duplicated()).sort(ids, "file")
    assert 0 < repeated.height < 0.02 * len(frame)
    pairs = repeated.group_by(ids, maintain_order=True).agg("file", feed.columns.cleared_at)
    for _, files, cleared in pairs.iter_rows():
        assert files == [0, 1]
        assert cleared[0] is None and cleared[1] is not None


def test_events_file_names_known_areas(clean):
    events = pl.read_csv(clean.out / "events.csv")
    assert events.columns == [
        "event_id", "name", "start_local", "end_local", "lat", "lon", "radius_m",
        "expected_attendance", "areas",
    ]  # fmt: skip
    truth = pl.read_parquet(clean.out / "truth" / "rates.parquet")
    known = set(truth.select(pl.concat_str("agency_id", pl.lit(":"), "area_id")).to_series())
    for areas in events["areas"]:
        assert set(areas.split("|")) <= known


@pytest.mark.parametrize(
    "arguments",
    [{"agencies": 0}, {"area_scale": 0}, {"area_scale": 15}, {"days": 0}, {"messy_rate": -0.1}, {"advance": 15},
     {"step": [("nobody", END, 1.4)]}, {"step": [("ems", END, 0)]}],
)  # fmt: skip
def test_bad_arguments_are_rejected(tmp_path, arguments):
    with pytest.raises(ValueError):
        simulate(tmp_path, **arguments)


def test_each_agency_s_area_polygons_tile_its_jurisdiction(clean):
    from warehouse.area_files import read_area_shapes

    settings = _settings(clean)
    fire = settings.agency("county_fire")
    assert fire.areas.method == "polygons" and settings.agency("city_police").areas.method == "column"
    for agency in settings.agencies:
        shapes = read_area_shapes(clean.out / "areas" / f"{agency.id}.geojson", "area", "name")
        polygons = shapely.from_wkt(list(shapes.wkt))
        west, south, east, north = agency.bbox
        assert len(shapes.area_ids) == len(set(shapes.area_ids)) > 1
        assert shapely.union_all(polygons).equals(shapely.box(west, south, east, north))
        assert sum(p.area for p in polygons) == pytest.approx((east - west) * (north - south))
        assert all(name.endswith(area) for area, name in zip(shapes.area_ids, shapes.names, strict=True))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted((folder / "feeds").rglob("*.*"))}


def test_advancing_the_clock_adds_later_days_and_leaves_every_earlier_row_as_it_was(tmp_path):
    """A window ending mid-month: the month file in progress grows at its end, nothing else changes."""
    end = date(2024, 11, 20)
    before = simulate(tmp_path / "before", days=DAYS, end=end, messy_rate=0.02)
    after = simulate(tmp_path / "after", days=DAYS, end=end, messy_rate=0.02, advance=7)
    old, new = _files(tmp_path / "before"), _files(tmp_path / "after")
    assert set(old) <= set(new)
    for name, content in old.items():
        if name.endswith(".parquet"):
            earlier = pl.read_parquet(tmp_path / "before" / name)
            assert pl.read_parquet(tmp_path / "after" / name).head(earlier.height).equals(earlier), name
        else:
            assert new[name].startswith(content), name
    assert sum(after.rows_per_feed.values()) > sum(before.rows_per_feed.values()) * 1.2
    truth_before = pl.read_parquet(tmp_path / "before" / "truth" / "rates.parquet")
    assert pl.read_parquet(tmp_path / "after" / "truth" / "rates.parquet").equals(truth_before)


def test_a_step_lifts_one_agency_s_truth_from_its_day_on(tmp_path):
    usual = simulate(tmp_path / "usual", days=DAYS, end=END, agencies=2)
    stepped = simulate(tmp_path / "step", days=DAYS, end=END, agencies=2, step=[("county_fire", END, 1.4)])
    both = pl.read_parquet(usual.out / "truth" / "rates.parquet").join(
        pl.read_parquet(stepped.out / "truth" / "rates.parquet"), on=["agency_id", "area_id", "bucket_start"]
    )
    ratio = both.group_by("agency_id", after=pl.col("bucket_start") >= WINDOW_END).agg(
        (pl.col("rate_right").sum() / pl.col("rate").sum()).alias("ratio")
    )
    ratios = {(a, after): r for a, after, r in ratio.iter_rows()}
    assert ratios[("city_police", True)] == ratios[("city_police", False)] == 1.0
    assert ratios[("county_fire", False)] == 1.0
    # an agency attends no more of the shared joint events than before: its counted truth rises less
    assert 1.2 < ratios[("county_fire", True)] < 1.4
