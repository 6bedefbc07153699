"""The planning package's pure functions on tiny hand-written frames: no Prefect, no model, no files."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from features.derived import derived_tables
from features.service import DEFAULT_SERVICE_HOURS, service_times
from jointcast.config import Settings
from planning.assemble import PublicationInputs, assemble_publication
from planning.overrides import apply_overrides
from planning.provenance import Provenance, forecast_digest, inputs_digest, stale_agencies
from planning.service import service_profile

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, away from daylight-saving changes
TIME = pl.Datetime("us", "UTC")


def _settings(**staffing) -> Settings:
    return Settings.model_validate({
        "agencies": [
            {"id": "fire", "name": "Fire", "kind": "fire", "timezone": "UTC", "max_lag_hours": 24,
             "staffing": {"min_units": 1, **staffing}},
        ],
        "feeds": [{"id": "fire_cad", "agency": "fire", "uri": "feeds/*.csv", "format": "csv",
                   "columns": {"source_incident_id": "id", "received_at": "t", "source_type": "type"}}],
        "roles": [{"incident_type": "fire", "lead": "fire"}],
        "forecast": {"horizon_hours": 48},
    })  # fmt: skip


def _model(hours: int = 48, rate: float = 0.5) -> pl.DataFrame:
    """The model's hourly forecast for one area of one agency."""
    starts = [T0 + timedelta(hours=h) for h in range(hours)]
    return pl.DataFrame({
        "agency_id": ["fire"] * hours, "area_id": ["A1"] * hours, "bucket_start": starts,
        "horizon": list(range(1, hours + 1)), "model_mean": [rate] * hours, "model_p10": [0.0] * hours,
        "model_p50": [0.0] * hours, "model_p90": [2.0] * hours, "drivers": ["time of day +10%"] * hours,
    }, schema_overrides={"bucket_start": TIME})  # fmt: skip


def _overrides(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"override_id": pl.Int64, "agency_id": pl.String, "area_id": pl.String, "starts_at": TIME,
                "ends_at": TIME, "factor": pl.Float64},
        orient="row",
    )  # fmt: skip


def _incidents(minutes: list[float | None]) -> pl.DataFrame:
    dispatched = [T0 - timedelta(days=1)] * len(minutes)
    return pl.DataFrame({
        "incident_key": [f"k{i}" for i in range(len(minutes))], "agency_id": ["fire"] * len(minutes),
        "area_id": ["A1"] * len(minutes), "incident_type": ["fire"] * len(minutes),
        "call_source": ["citizen"] * len(minutes), "received_at": dispatched, "dispatched_at": dispatched,
        "on_scene_at": [None] * len(minutes),
        "cleared_at": [None if m is None else d + timedelta(minutes=m) for d, m in zip(dispatched, minutes, strict=True)],
        "lat": [40.0] * len(minutes), "lon": [-75.0] * len(minutes), "joint_event_id": [None] * len(minutes),
    }, schema_overrides={"received_at": TIME, "dispatched_at": TIME, "on_scene_at": TIME, "cleared_at": TIME,
                         "joint_event_id": pl.String})  # fmt: skip


def _times(incidents: pl.DataFrame) -> pl.DataFrame:
    return service_times(incidents.lazy()).collect()


def _provenance() -> Provenance:
    return Provenance("m", "1", "run", "fd", {"fire": T0}, {"shift": {"fire": 0.1}})


def test_overlapping_overrides_multiply_inside_their_window_only():
    overrides = _overrides([
        (1, "fire", None, T0 + timedelta(hours=2), T0 + timedelta(hours=4), 2.0),
        (2, "fire", "A1", T0 + timedelta(hours=3), T0 + timedelta(hours=5), 1.5),
    ])  # fmt: skip
    adjusted = apply_overrides(_model(6), overrides)
    assert adjusted["override_factor"].to_list() == [1.0, 1.0, 2.0, 3.0, 1.5, 1.0]
    assert adjusted["override_ids"].to_list() == [[], [], [1], [1, 2], [2], []]
    assert adjusted["mean"].to_list() == pytest.approx([0.5, 0.5, 1.0, 1.5, 0.75, 0.5])
    assert (adjusted["model_mean"] == 0.5).all()


def test_service_time_is_the_mean_dispatched_to_cleared_and_falls_back_to_30_minutes():
    staffing = _settings().agencies[0].staffing
    measured = service_profile(_times(_incidents([30, 90, None])), staffing)
    assert measured.service_hours == pytest.approx(1.0)  # mean of 0.5 h and 1.5 h; the open one left out
    assert "estimated from 2 of 3" in measured.source
    unmeasured = service_profile(_times(_incidents([None, None])), staffing)
    assert unmeasured.service_hours == DEFAULT_SERVICE_HOURS == 0.5
    assert "default 30 minutes" in unmeasured.source


def test_stale_agencies_are_those_past_their_max_lag():
    settings = _settings()
    assert stale_agencies(settings, _provenance(), T0 + timedelta(hours=23)) == {}
    assert stale_agencies(settings, _provenance(), T0 + timedelta(hours=30)) == {"fire": 30.0}


def test_the_inputs_digest_changes_with_staffing_overrides_and_staleness_only():
    base = inputs_digest(_settings(), _provenance(), _overrides([]), {})
    assert inputs_digest(_settings(), _provenance(), _overrides([]), {}) == base
    assert inputs_digest(_settings(min_units=2), _provenance(), _overrides([]), {}) != base
    one = _overrides([(1, "fire", None, T0, T0 + timedelta(hours=1), 2.0)])
    assert inputs_digest(_settings(), _provenance(), one, {}) != base
    assert inputs_digest(_settings(), _provenance(), _overrides([]), {"fire": 30.0}) != base
    assert forecast_digest(_settings(), "1", "d") != forecast_digest(_settings(), "2", "d")


def test_a_publication_is_assembled_whole_in_memory():
    derived = derived_tables(_incidents([60, 60]), {"fire": ("fire", ())})
    inputs = PublicationInputs(
        model=_model(), provenance=_provenance(), overrides=_overrides([]),
        service_profile=derived["service_profile"], joint_crosswalk=derived["joint_crosswalk"],
        areas=derived["areas"],
        actuals=pl.DataFrame(schema={"agency_id": pl.String, "bucket_start": TIME, "incidents": pl.Int64}),
        publication_id=7, trigger="forecast", forecast_of=None,
    )  # fmt: skip
    publication = assemble_publication(inputs, _settings(), T0 + timedelta(hours=1))
    demand, staffing = publication.tables["demand"], publication.tables["staffing"]
    assert demand.height == 48 and (demand["publication_id"] == 7).all()
    assert not demand["data_stale"].any()
    # 48 hours from midnight: six whole 8-hour shifts (day, evening, night x 2, less the night cut off)
    assert staffing.height >= 5 and (staffing["recommended_units"] >= 1).all()
    shift = staffing.row(0, named=True)
    assert shift["expected_incidents"] == pytest.approx(0.5 * shift["shift_hours"])
    assert publication.record["forecast_of"] == 7 and publication.record["stale_agencies"] == []
    assert set(publication.pages) == {"fire"} and "<html" in publication.pages["fire"].lower()
    assert publication.summary().startswith("publication 7: 48 forecast rows")
