"""features.joint: linking one real event's records across agencies, and joint demand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest

from features.joint import joint_demand, link_joint_events

T0 = datetime(2024, 3, 1, 11, 50, tzinfo=UTC)
LAT0, LON0 = 40.0, -75.2
METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180


def incidents(*rows: tuple) -> pl.LazyFrame:
    """Rows of (key, agency, type, minutes after T0, metres north, metres east) as incidents;
    None for north or east makes lat or lon null."""
    keys, agencies, types, minutes, north, east = zip(*rows, strict=True)
    return pl.LazyFrame(
        {
            "incident_key": keys,
            "agency_id": agencies,
            "incident_type": types,
            "received_at": [T0 + timedelta(minutes=m) for m in minutes],
            "lat": [None if n is None else LAT0 + n / METRES_PER_DEGREE for n in north],
            "lon": [
                None if e is None else LON0 + e / (METRES_PER_DEGREE * math.cos(math.radians(LAT0)))
                for e in east
            ],
        },
        schema_overrides={"received_at": pl.Datetime("us", "UTC"), "incident_type": pl.String},
    )


def events(frame: pl.LazyFrame, **limits) -> dict[str, str]:
    """incident_key -> joint_event_id."""
    linked = link_joint_events(frame, **limits)
    assert isinstance(linked, pl.LazyFrame)
    return dict(linked.collect().iter_rows())


def test_three_agencies_at_one_collision_make_one_joint_event():
    frame = incidents(
        ("police:7", "police", "traffic_collision", 0, 0, 0),
        ("fire:3", "fire", "traffic_collision", 2, 50, 30),
        ("ems:9", "ems", "traffic_collision", 6, -60, 120),  # 150 m from police, 4 min after fire
        ("police:8", "police", "theft", 1, 0, 0),  # another type: not part of it
    )
    assert events(frame) == {"ems:9": "J:ems:9", "fire:3": "J:ems:9", "police:7": "J:ems:9"}


def test_records_of_one_agency_never_link_to_each_other():
    frame = incidents(
        ("police:1", "police", "traffic_collision", 0, 0, 0),
        ("police:2", "police", "traffic_collision", 1, 10, 0),
    )
    assert events(frame) == {}


TC = "traffic_collision"


@pytest.mark.parametrize(
    ("police_type", "fire_type", "minutes", "north", "east", "links"),
    [
        (TC, TC, 14, 290, 0, True),
        (TC, TC, 15, 0, 0, True),  # the limits are inclusive
        (TC, TC, -15, 0, 0, True),
        (TC, TC, 10, 212, 212, True),  # 299.8 m diagonally
        (TC, TC, 20, 0, 0, False),
        (TC, TC, 0, 500, 0, False),
        (TC, TC, 0, 0, -310, False),
        (TC, "structure_fire", 1, 10, 0, False),
        (None, None, 1, 10, 0, False),  # an unknown type matches nothing, not even itself
    ],
)
def test_only_same_type_records_close_in_time_and_place_link(
    police_type, fire_type, minutes, north, east, links
):
    frame = incidents(
        ("police:1", "police", police_type, 0, 0, 0),
        ("fire:1", "fire", fire_type, minutes, north, east),
    )
    assert events(frame) == ({"fire:1": "J:fire:1", "police:1": "J:fire:1"} if links else {})


def test_a_chain_of_links_is_one_event_even_when_its_ends_are_too_far_apart():
    """Events are connected components on purpose: a long incident draws agencies in one after
    another, and each new record matches one already there."""
    frame = incidents(
        ("police:1", "police", "structure_fire", 0, 0, 0),
        ("fire:1", "fire", "structure_fire", 10, 0, 0),
        ("ems:1", "ems", "structure_fire", 20, 0, 0),  # 20 min after police: no direct link
    )
    assert set(events(frame).values()) == {"J:ems:1"}
    assert len(events(frame)) == 3


@pytest.mark.parametrize(("north", "east"), [(None, 0), (0, None), (None, None)])
def test_a_record_without_coordinates_never_links(north, east):
    frame = incidents(
        ("police:1", "police", "overdose", 0, north, east),
        ("ems:1", "ems", "overdose", 1, 0, 0),
        ("fire:1", "fire", "overdose", 30, 0, 0),
    )
    assert events(frame) == {}


def test_limits_must_be_positive():
    frame = incidents(("police:1", "police", "overdose", 0, 0, 0))
    with pytest.raises(ValueError, match="positive"):
        link_joint_events(frame, max_minutes=0)
    with pytest.raises(ValueError, match="positive"):
        link_joint_events(frame, max_distance_m=-1.0)


def _random_incidents(seed: int, n: int = 600) -> pl.DataFrame:
    """Dense incidents (3 agencies, 2 types, 2 km x 2 km, 3 hours), some without coordinates."""
    rng = np.random.default_rng(seed)
    north, east = rng.uniform(0, 2000, n), rng.uniform(0, 2000, n)
    north[rng.random(n) < 0.05] = np.nan
    rows = zip(
        [f"k{i:04d}" for i in range(n)],
        rng.choice(["police", "fire", "ems"], n),
        rng.choice(["overdose", "traffic_collision"], n),
        rng.uniform(0, 180, n),
        [None if math.isnan(v) else v for v in north],
        east,
        strict=True,
    )
    return incidents(*rows).collect()


def _brute_force_events(frame: pl.DataFrame, max_distance_m: float, max_minutes: float) -> set:
    """Joint events as sets of keys, from every pair tested directly and a union-find."""
    keys = frame["incident_key"].to_list()
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    rows = frame.with_columns(t=pl.col("received_at").dt.epoch("us")).rows(named=True)
    for i, a in enumerate(rows):
        for j, b in enumerate(rows[:i]):
            if a["lat"] is None or b["lat"] is None or a["agency_id"] == b["agency_id"]:
                continue
            if a["incident_type"] != b["incident_type"]:
                continue
            dx = (a["lon"] - b["lon"]) * math.cos(math.radians((a["lat"] + b["lat"]) / 2))
            metres = math.hypot(dx, a["lat"] - b["lat"]) * METRES_PER_DEGREE
            if abs(a["t"] - b["t"]) <= max_minutes * 60e6 and metres <= max_distance_m:
                parent[root(i)] = root(j)
    groups: dict[int, set] = {}
    for i, key in enumerate(keys):
        groups.setdefault(root(i), set()).add(key)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


@pytest.mark.parametrize(("max_distance_m", "max_minutes"), [(300.0, 15.0), (120.0, 4.0)])
def test_binned_join_finds_exactly_the_events_a_brute_force_search_finds(max_distance_m, max_minutes):
    frame = _random_incidents(seed=5)
    found = events(frame.lazy(), max_distance_m=max_distance_m, max_minutes=max_minutes)
    groups: dict[str, set] = {}
    for key, event in found.items():
        groups.setdefault(event, set()).add(key)
    expected = _brute_force_events(frame, max_distance_m, max_minutes)
    assert len(expected) > 20  # dense enough that bins and bands are really crossed
    assert {frozenset(g) for g in groups.values()} == expected
    assert all(event == "J:" + min(groups[event]) for event in groups)


def test_ids_do_not_depend_on_row_order():
    frame = _random_incidents(seed=8)
    expected = link_joint_events(frame.lazy()).collect()
    assert expected.height > 50
    for seed in range(3):
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed).lazy()
        assert link_joint_events(shuffled).collect().equals(expected)


def test_joint_demand_counts_each_event_once_per_agency_area_and_hour():
    at = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    rows = [  # joint_event_id, agency_id, area_id, minutes after noon
        ("J:a", "police", "B1", 5),
        ("J:a", "police", "B1", 7),  # a second police record of the same event
        ("J:a", "fire", "F1", 6),
        ("J:a", "ems", "Z1", 8),
        ("J:b", "police", "B1", 50),
        ("J:b", "ems", "Z1", 52),
        ("J:c", "police", "B1", 65),  # next hour
        ("J:c", "fire", "F1", 66),
        (None, "police", "B1", 10),  # not joint
    ]
    frame = pl.LazyFrame(
        [(e, a, r, at + timedelta(minutes=m)) for e, a, r, m in rows],
        schema={
            "joint_event_id": pl.String,
            "agency_id": pl.String,
            "area_id": pl.String,
            "received_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    demand = joint_demand(frame).collect()
    assert demand.columns == [
        "agency_id", "area_id", "bucket_start", "joint_events", "joint_agencies_mean",
    ]  # fmt: skip
    one = timedelta(hours=1)
    assert demand.rows() == [
        ("ems", "Z1", at, 2, 2.5),
        ("fire", "F1", at, 1, 3.0),
        ("fire", "F1", at + one, 1, 2.0),
        ("police", "B1", at, 2, 2.5),
        ("police", "B1", at + one, 1, 2.0),
    ]


def test_links_on_simulated_feeds_match_the_simulators_joint_events(tmp_path):
    """Pairwise precision and recall: a pair of records is *found* when both get the same
    joint_event_id, *true* when the simulator made both for one joint event."""
    from jointcast.simulator import simulate
    from tests.test_ingest import _ingest

    simulate(tmp_path, days=14, seed=3)
    _ingest(tmp_path / "jointcast.toml")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        core = con.sql(
            "SELECT incident_key, agency_id, incident_type, received_at, lat, lon FROM core.incidents"
        ).pl()
    truth = pl.read_parquet(tmp_path / "truth" / "joint_records.parquet").select(
        "joint_event_id", incident_key=pl.col("agency_id") + ":" + pl.col("source_incident_id")
    )
    found = link_joint_events(core.lazy()).collect()

    def pairs(frame: pl.DataFrame) -> set[tuple[str, str]]:
        keys = frame.select("joint_event_id", "incident_key")
        both = keys.join(keys, on="joint_event_id", suffix="_b")
        return set(
            both.filter(pl.col("incident_key") < pl.col("incident_key_b"))
            .select("incident_key", "incident_key_b")
            .iter_rows()
        )

    found_pairs, true_pairs = pairs(found), pairs(truth)
    assert len(true_pairs) > 300
    hits = len(found_pairs & true_pairs)
    precision, recall = hits / len(found_pairs), hits / len(true_pairs)
    assert precision >= 0.9, f"precision {precision:.3f}"
    assert recall >= 0.9, f"recall {recall:.3f}"
