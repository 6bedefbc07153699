"""Joint exercises: surges the simulator really injects, and `jointcast exercise` scoring the pipeline.

The end-to-end exercise is small (30 days of two agencies, two surge days, one delivery a day): a
planned concert on the first surge day and an unplanned storm on the second."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from jointcast.cli import app
from jointcast.config import ConfigError
from jointcast.exercise_file import load_exercise
from jointcast.simulator import simulate
from jointcast.simulator.joint import JOINT_TYPES
from jointcast.simulator.surges import Surge
from planning.exercise import ALERT_SCHEMA, alert_scores, staffing_check, staffing_scores

END = date(2026, 3, 10)
SMALL = """
name = "Small exercise"
description = "A planned concert, then a storm."
[simulation]
days = 30
agencies = 2
seed = 3
surge_days = 2
monitor_every_hours = 24

[[surges]]
id = "concert"
name = "Concert at Riverside Stadium"
kind = "large_event"
planned = true
day = 1
start = "19:00"
hours = 4
point = [40.055, -75.165]
radius_m = 800
attendance = 40000

[[surges]]
id = "storm"
name = "Storm"
kind = "storm"
day = 2
start = "06:00"
hours = 14
factor = 1.6
joint_events = { traffic_collision = 15 }
"""


def _frame(root: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        frame = pl.from_arrow(con.execute(sql).to_arrow_table())
    zoned = [n for n, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    return frame.with_columns(pl.col(zoned).dt.convert_time_zone("UTC"))


def _crash(**changes) -> Surge:
    values = {"surge_id": "crash", "name": "Bus crash", "kind": "mass_casualty", "planned": False,
              "start_local": datetime(2026, 3, 11, 8, 0), "hours": 2.0, "point": (40.06, -75.16),
              "radius_m": 500.0, "incidents": {"ems": 12}, "joint_events": {}}  # fmt: skip
    return Surge(**{**values, **changes})


# --- the simulator: surges really happen, only where and when described ------------------------------


def test_a_surge_after_the_window_leaves_the_history_as_it_was_and_a_planned_one_is_in_the_events_file(
    tmp_path,
):
    concert = Surge("concert", "Concert", "large_event", True, datetime(2026, 3, 10, 19, 0), 4.0,
                    point=(40.055, -75.165), radius_m=800.0, attendance=40_000)  # fmt: skip
    plain = simulate(tmp_path / "plain", days=28, seed=3, agencies=3, end=END)
    surged = simulate(tmp_path / "surged", days=28, seed=3, agencies=3, end=END, surges=[concert, _crash()])
    for feed_id, files in plain.feed_files.items():
        assert [f.read_bytes() for f in files] == [f.read_bytes() for f in surged.feed_files[feed_id]]
    events = pl.read_csv(tmp_path / "surged" / "events.csv")
    row = events.filter(event_id="EX-concert").row(0, named=True)
    assert row["expected_attendance"] == 40_000 and row["start_local"] == "2026-03-10T19:00:00"
    assert "city_police:" in row["areas"]
    assert "EX-crash" not in events["event_id"].to_list()  # unplanned: nobody knew


def test_a_count_of_incidents_and_of_joint_events_is_the_surge_s_true_uplift(tmp_path):
    crash = _crash(incidents={"ems": 12, "city_police": 5}, joint_events={"traffic_collision": 4})
    simulate(tmp_path, days=28, seed=3, agencies=3, end=END, surges=[crash], advance=2)
    truth = pl.read_parquet(tmp_path / "truth" / "surges.parquet")
    added = dict(truth.group_by("agency_id").agg((pl.col("rate") - pl.col("baseline")).sum()).iter_rows())
    collision = next(kind for kind in JOINT_TYPES if kind.name == "traffic_collision")
    for agency_id, extra in {"ems": 12, "city_police": 5, "county_fire": 0}.items():
        expected = extra + 4 * collision.responders.get(agency_id, 0.0)
        assert added.get(agency_id, 0.0) == pytest.approx(expected, rel=1e-9)
    start = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)  # 08:00 EDT (daylight time from 8 March)
    assert truth["bucket_start"].min() == start and truth["bucket_start"].max() == start + timedelta(hours=1)
    rates = pl.read_parquet(tmp_path / "truth" / "rates.parquet")
    joined = truth.join(rates, on=["agency_id", "area_id", "bucket_start"], suffix="_all")
    assert (joined["rate"] - joined["rate_all"]).abs().max() < 1e-9  # the truth holds the surge


def test_a_surge_names_its_areas_up_to_case_and_spacing():
    from jointcast.simulator.surges import placed_cells
    from jointcast.simulator.world import Geography

    beats = Geography(("B01", "B02"), np.array([0, 1, 1, 0]), np.full(4, 0.25), np.array([0, 1]))
    surge = _crash(point=None, radius_m=None, areas=("city_police:b02", "city_police: B01 "))
    assert placed_cells(surge, None, {"city_police": beats}).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="unknown area city_police:B 02"):
        placed_cells(
            _crash(point=None, radius_m=None, areas=("city_police:B 02",)), None, {"city_police": beats}
        )


def test_each_delivery_holds_the_one_before_and_rows_past_it_arrive_later(tmp_path):
    storm = _crash(surge_id="storm", kind="storm", point=None, radius_m=None, incidents={}, factor=1.5,
                   start_local=datetime(2026, 3, 10, 6, 0), hours=30.0)  # fmt: skip
    first = simulate(tmp_path / "a", days=28, seed=3, agencies=1, end=END, surges=[storm], advance=2,
                     delivered_until=datetime(2026, 3, 11, tzinfo=UTC))  # fmt: skip
    second = simulate(tmp_path / "b", days=28, seed=3, agencies=1, end=END, surges=[storm], advance=2)
    (early,), (late,) = first.feed_files["city_police_cad"][-1:], second.feed_files["city_police_cad"][-1:]
    early_text, late_text = early.read_text(), late.read_text()
    assert late_text.startswith(early_text) and len(late_text) > len(early_text)
    received = pl.read_csv(early, infer_schema=False)
    assert received.height < pl.read_csv(late, infer_schema=False).height


# --- the exercise file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("hours = 14", "hours = 14\nwind = 3"), "surges[1].wind: unknown key"),
        (("day = 2", "day = 2\ndate = 2026-03-11"), "give exactly one of day and date"),
        (("radius_m = 800", ""), "point and radius_m go together"),
        (("monitor_every_hours = 24", "monitor_every_hours = 7"), "monitor_every_hours must divide"),
    ],
)
def test_a_bad_exercise_file_is_one_line_naming_the_key(tmp_path, change, said):
    path = tmp_path / "bad.toml"
    path.write_text(SMALL.replace(*change), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_exercise(path)
    assert str(raised.value).startswith(f"exercise error in {path}") and said in str(raised.value)


def test_a_surge_outside_the_delivered_days_is_refused_by_the_simulator(tmp_path):
    too_late = _crash(start_local=datetime(2026, 4, 30, 8, 0))
    with pytest.raises(ValueError, match="surge 'crash'.*must lie in the days after the history"):
        simulate(tmp_path, days=28, seed=3, agencies=2, end=END, surges=[too_late])


# --- the scores, on hand-made frames -------------------------------------------------------------------


def test_an_alert_already_firing_before_the_surge_is_not_its_alert_and_the_delay_is_simulated_time():
    first_record = datetime(2026, 3, 11, 13, 20, tzinfo=UTC)
    window = (datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 12, tzinfo=UTC))
    alerts = pl.DataFrame(
        [
            (datetime(2026, 3, 10, 12, tzinfo=UTC), "b0", "ems", "coverage_80", 0.4, 0.6, *window),
            (datetime(2026, 3, 11, tzinfo=UTC), "a0", "ems", "demand_level_psi", 0.4, 0.25, *window),
            (datetime(2026, 3, 11, 18, tzinfo=UTC), "a1", "ems", "demand_level_psi", 0.5, 0.25, *window),
            (datetime(2026, 3, 11, 18, tzinfo=UTC), "a2", "fire", "live_bias", -0.4, 0.15, *window),
            (
                datetime(2026, 3, 11, 18, tzinfo=UTC),
                "a4",
                "ems",
                "feature_psi:how_mean_4",
                0.4,
                0.25,
                *window,
            ),
            (datetime(2026, 3, 12, tzinfo=UTC), "a3", "ems", "live_bias", -0.3, 0.15, *window),
            (datetime(2026, 3, 12, tzinfo=UTC), "a5", "ems", "coverage_80", 0.5, 0.6, *window),
        ],
        schema=ALERT_SCHEMA,
        orient="row",
    )
    scores = {r["measure"]: r for r in alert_scores("crash", ["ems"], first_record, alerts)}
    assert scores["alerts_before"]["value"] == 2  # the PSI was still firing, coverage no longer
    # not the PSI still firing, nor a lagged model input: the bias and the coverage firing anew
    said = scores["alert_raised"]["detail"]
    assert (
        scores["alert_raised"]["met"] is True
        and said == "first alerts: ems coverage_80 +0.500, ems live_bias -0.300"
    )
    assert scores["alert_delay_hours"]["value"] == pytest.approx(10 + 40 / 60)  # 13:20 -> next midnight
    silent = alert_scores("crash", ["police"], first_record, alerts)
    assert [r["value"] for r in silent if r["measure"] == "alert_raised"] == [0.0]


def test_staffing_covers_a_shift_when_its_units_can_work_the_true_p90():
    assumptions = (
        '{"method": "workload", "target_utilisation": 0.5, "hours_per_incident": 1.0, "min_units": 1}'
    )
    shifts = pl.DataFrame({
        "agency_id": ["ems", "ems"], "area_id": ["Z01", "Z02"], "shift_name": ["day", "day"],
        "shift_start": [datetime(2026, 3, 11, 12, tzinfo=UTC)] * 2, "shift_hours": [8.0, 8.0],
        "recommended_units": [3, 3], "incidents_p90": [10.0, 10.0], "assumptions": [assumptions] * 2,
        "true_mean": [8.0, 20.0], "true_p90": [11.5, 25.7],
    })  # fmt: skip
    checked = staffing_check(shifts)
    assert checked["needed_units"].to_list() == [3, 7] and checked["covered"].to_list() == [True, False]
    scores = {r["measure"]: r for r in staffing_scores("storm", checked)}
    # 3 units x 8 h x 0.5 = 12 incidents of work: covers 11.5, not 25.7 (which needs ceil(25.7 / 4) = 7)
    assert scores["staffing_covered"]["value"] == 0.5
    assert scores["units_short"]["value"] == 4 and "Z02" in scores["staffing_covered"]["detail"]


# --- the exercise end to end ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exercised(tmp_path_factory, prefect):
    """The small exercise run once, in process, with its result."""
    from flows.exercise import exercise_flow

    folder = tmp_path_factory.mktemp("exercise")
    path = folder / "small.toml"
    path.write_text(SMALL, encoding="utf-8")
    out = folder / "workspace"
    result = exercise_flow(exercise=load_exercise(path), file_bytes=path.read_bytes(), out=out)
    return path, out, result


@pytest.mark.slow
def test_the_exercise_writes_its_report_and_tables(exercised):
    _path, out, result = exercised
    report = out / "report" / "exercise.html"
    assert result["report"] == report and report.is_file()
    html = report.read_text(encoding="utf-8")
    for surge_id in ("concert", "storm"):
        assert f'<figure id="surge-chart-{surge_id}"' in html and "<svg" in html
        assert f'<figure id="staffing-chart-{surge_id}"' in html
    assert "<script" not in html
    deliveries = _frame(out, "SELECT * FROM exercise.deliveries ORDER BY delivered_until")
    end = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), tzinfo=UTC)
    assert deliveries["delivered_until"].to_list() == [end - timedelta(days=1), end]
    assert deliveries["incidents"].is_sorted() and deliveries["incidents"][0] > 0
    assert _frame(out, "SELECT count(*) AS n FROM exercise.runs")["n"][0] == 1


@pytest.mark.slow
def test_the_storm_raises_an_alert_and_its_delay_is_measured_from_its_first_record(exercised):
    _path, out, _result = exercised
    scores = _frame(out, "SELECT * FROM exercise.scores WHERE surge_id = 'storm'")
    measures = {r["measure"]: r for r in scores.filter(agency_id="all").iter_rows(named=True)}
    assert measures["alert_raised"]["value"] == 1 and measures["alert_raised"]["met"]
    surge = _frame(out, "SELECT * FROM exercise.surges WHERE surge_id = 'storm'").row(0, named=True)
    first = surge["first_record_at"]
    assert surge["starts_at"] <= first < surge["starts_at"] + timedelta(hours=1)
    # the delay runs from the first record to the delivery whose monitor run raised the alert
    delivered = _frame(out, "SELECT delivered_until FROM exercise.deliveries")["delivered_until"]
    delay = measures["alert_delay_hours"]["value"]
    assert any(math.isclose(delay, (d - first).total_seconds() / 3600) for d in delivered if d > first)
    assert 0 < delay <= 24


@pytest.mark.slow
def test_the_surges_really_arrived_and_the_scores_agree_with_the_truth(exercised):
    _path, out, _result = exercised
    truth = pl.read_parquet(out / "truth" / "surges.parquet")
    surges = _frame(out, "SELECT * FROM exercise.surges ORDER BY surge_id")
    for surge in surges.iter_rows(named=True):
        mine = truth.filter(surge_id=surge["surge_id"])
        assert surge["true_incidents"] == pytest.approx(mine["rate"].sum())
        assert surge["true_baseline"] == pytest.approx(mine["baseline"].sum())
        # the incidents that arrived in the surge's area-hours: the true rate, within Poisson noise
        with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
            con.register("cells", mine.select("agency_id", "area_id", "bucket_start").to_arrow())
            arrived = con.execute(
                "SELECT count(*) FROM core.incidents i JOIN cells c ON i.agency_id = c.agency_id"
                " AND i.area_id = c.area_id AND date_trunc('hour', i.received_at) = c.bucket_start"
                " AND i.call_source IS DISTINCT FROM 'officer'"
            ).fetchone()[0]
        expected = surge["true_incidents"]
        assert abs(arrived - expected) < 4 * math.sqrt(expected) + 2, (surge["surge_id"], arrived, expected)
        assert surge["true_incidents"] > 1.3 * surge["true_baseline"]  # a surge, not noise
    scores = _frame(out, "SELECT * FROM exercise.scores")
    forecast = _frame(out, "SELECT agency_id, area_id, bucket_start, mean FROM forecast.demand")
    concert = truth.filter(surge_id="concert").join(forecast, on=["agency_id", "area_id", "bucket_start"])
    for agency_id, part in concert.group_by("agency_id"):
        ratio = scores.filter(surge_id="concert", agency_id=agency_id[0], measure="forecast_vs_truth")[
            "value"
        ]
        assert ratio[0] == pytest.approx(part["mean"].sum() / part["rate"].sum())
    covered = scores.filter(measure="staffing_covered")["value"]
    assert covered.len() >= 2 and ((covered >= 0) & (covered <= 1)).all()
    assert (scores.filter(measure="units_short")["value"] >= 0).all()


@pytest.mark.slow
def test_running_the_exercise_again_changes_nothing_and_another_file_is_refused(exercised, tmp_path):
    path, out, _result = exercised
    before = _frame(out, "SELECT * FROM exercise.scores ORDER BY ALL")
    again = CliRunner().invoke(
        app, ["exercise", "--scenario", str(path), "--out", str(out)], terminal_width=160
    )
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output and "report:" in again.output
    assert _frame(out, "SELECT * FROM exercise.scores ORDER BY ALL").equals(before)
    other = tmp_path / "other.toml"
    other.write_text(SMALL.replace("Small exercise", "Another"), encoding="utf-8")
    refused = CliRunner().invoke(app, ["exercise", "--scenario", str(other), "--out", str(out)])
    assert refused.exit_code == 1 and "holds the exercise 'Small exercise' of another file" in refused.stderr


def test_a_surge_outside_the_surge_days_is_named_before_anything_runs(tmp_path):
    path = tmp_path / "late.toml"
    path.write_text(SMALL.replace("day = 2", "day = 3"), encoding="utf-8")
    result = CliRunner().invoke(app, ["exercise", "--scenario", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "surges: 'storm' runs" in result.stderr and "outside the 2 surge day(s)" in result.stderr
    assert not (tmp_path / "out" / "feeds").exists()
