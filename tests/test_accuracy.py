"""The monitor's maths on hand-written frames: shift scores, PSI, alerts, the accuracy page."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
import pytest

from jointcast.config import Shift
from planning.accuracy import Schedule, scored_shifts, summary, weekly_summary
from planning.accuracy_page import AccuracyPage, closest_forecasts, render_accuracy_page
from planning.drift import Limits, Window, accuracy_alerts, alert_id, categorical_psi, psi, psi_alerts

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; UTC shifts of 8 hours from midnight
SHIFTS = (Shift(name="night", start=time(0), hours=8), Shift(name="day", start=time(8), hours=8),
          Shift(name="evening", start=time(16), hours=8))  # fmt: skip
SCHEDULES = {"pd": Schedule("UTC", SHIFTS)}


def _history(vintage: int, first: datetime, hours: int, mean: float = 2.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "vintage": [vintage] * hours,
            "agency_id": ["pd"] * hours,
            "area_id": ["a1"] * hours,
            "bucket_start": [first + timedelta(hours=h) for h in range(hours)],
            "horizon": list(range(1, hours + 1)),
            "mean": [mean] * hours,
            "model_version": ["3"] * hours,
        }
    )


def _actuals(first: datetime, counts: list[int], unobserved: tuple[int, ...] = ()) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "agency_id": ["pd"] * len(counts),
            "area_id": ["a1"] * len(counts),
            "bucket_start": [first + timedelta(hours=h) for h in range(len(counts))],
            "incidents": counts,
            "observed": [h not in unobserved for h in range(len(counts))],
        }
    )


def test_a_shift_is_scored_whole_with_its_outage_hours_left_out_of_both_sides():
    # forecast 2 an hour from 04:00 for 36 hours; actuals 3 an hour for 30 hours, 13:00 an outage
    history = _history(7, T0 + timedelta(hours=4), 36)
    actuals = _actuals(T0, [3] * 30, unobserved=(13,))
    scored = scored_shifts(history, actuals, SCHEDULES, {7: {"pd": 0.0}}, (0.1, 0.9), (24, 168))
    # 00-08 begins before the forecast; 08-16 and 16-24 are whole; 00-08 the next day ends after the
    # actuals (30 hours: up to 06:00) -> two shifts
    assert scored["shift_name"].to_list() == ["day", "evening"]
    day, evening = scored.row(0, named=True), scored.row(1, named=True)
    assert day["local_day"] == date(2026, 3, 2) and day["hours_scored"] == 7
    assert (day["actual"], day["forecast"], day["error"], day["abs_error"]) == (21.0, 14.0, -7.0, 7.0)
    assert (day["horizon"], day["horizon_band"]) == (5, "h001_024")
    assert (evening["horizon"], evening["horizon_band"], evening["hours_scored"]) == (13, "h001_024", 8)
    # Poisson (alpha 0) range of 16 expected: p10 11, p90 21; 24 lies above it
    assert day["p10"] < 14 < day["p90"] and not evening["inside_80"]
    assert day["inside_80"] == (day["p10"] <= 21 <= day["p90"])


def test_each_vintage_is_scored_with_its_own_dispersion_and_lead_time():
    history = pl.concat([_history(1, T0, 48), _history(2, T0 + timedelta(hours=24), 24)])
    actuals = _actuals(T0, [2] * 48)
    scored = scored_shifts(
        history, actuals, SCHEDULES, {1: {"pd": 0.0}, 2: {"pd": 0.5}}, (0.1, 0.9), (24, 168)
    )
    assert scored.group_by("vintage").len().sort("vintage")["len"].to_list() == [6, 3]
    first, second = (scored.filter(vintage=v, shift_start=T0 + timedelta(hours=24)) for v in (1, 2))
    assert first["horizon_band"].item() == "h025_168" and second["horizon_band"].item() == "h001_024"
    assert second["p90"].item() - second["p10"].item() > first["p90"].item() - first["p10"].item()


def test_summaries_are_the_backtest_s_formulas():
    history = _history(1, T0, 48, mean=2.0)
    actuals = _actuals(T0, [1, 3] * 24)
    scored = scored_shifts(history, actuals, SCHEDULES, {}, (0.1, 0.9), (24, 168))
    overall = summary(scored).row(0, named=True)
    actual, absolute, signed = scored["actual"].sum(), scored["abs_error"].sum(), scored["error"].sum()
    assert overall["wape"] == pytest.approx(absolute / actual)
    assert overall["bias"] == pytest.approx(signed / actual)
    assert overall["coverage_80"] == pytest.approx(scored["inside_80"].mean())
    assert (overall["vintages"], overall["shifts"], overall["hours"]) == (1, 6, 48)
    assert weekly_summary(scored)["week"].to_list() == [date(2026, 3, 2)]


def test_psi_of_a_category_mix_is_the_textbook_value():
    assert categorical_psi({"a": 50, "b": 50}, {"a": 50, "b": 50}) == 0
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert categorical_psi({"a": 50, "b": 50}, {"a": 25, "b": 75}) == pytest.approx(expected)
    assert categorical_psi({}, {"a": 1}) is None


def test_psi_of_counts_grows_with_a_level_jump():
    import numpy as np

    rng = np.random.default_rng(1)
    reference = pl.Series(rng.poisson(10, 4000))
    assert psi(reference, pl.Series(rng.poisson(10, 168))) < 0.1
    assert psi(reference, pl.Series(rng.poisson(14, 168))) > 0.25
    assert psi(reference, pl.Series([], dtype=pl.Int64)) is None


WINDOW = Window(T0, T0 + timedelta(days=7))
LIMITS = Limits(wape_margin=0.25, coverage_band=(0.6, 0.95), psi_threshold=0.2, bias_limit=0.15)


def test_accuracy_alerts_fire_past_the_margin_and_outside_the_band_only():
    backtest = {"wape": 0.4}
    assert accuracy_alerts("pd", {"wape": 0.49, "coverage_80": 0.8}, backtest, LIMITS, WINDOW) == []
    alerts = accuracy_alerts("pd", {"wape": 0.51, "coverage_80": 0.5, "shifts": 9}, backtest, LIMITS, WINDOW)
    assert [(a["measure"], a["size"], a["threshold"]) for a in alerts] == [
        ("live_wape_shift", 0.51, pytest.approx(0.5)),
        ("coverage_80", 0.5, 0.6),
    ]
    assert accuracy_alerts("pd", {"wape": 0.9}, {"wape": None}, LIMITS, WINDOW) == []
    under = accuracy_alerts("pd", {"bias": -0.2, "coverage_80": 0.8}, backtest, LIMITS, WINDOW)
    assert [(a["measure"], a["size"], a["threshold"]) for a in under] == [("live_bias", -0.2, -0.15)]
    assert accuracy_alerts("pd", {"bias": 0.1}, backtest, LIMITS, WINDOW) == []


def test_an_alert_s_id_is_what_it_says():
    alerts = psi_alerts("pd", {"demand_level_psi": 0.3, "type_mix_psi": 0.05, "x": None}, LIMITS, WINDOW)
    assert [a["measure"] for a in alerts] == ["demand_level_psi"]
    assert alerts[0]["alert_id"] == alert_id("pd", "demand_level_psi", WINDOW)
    later = Window(WINDOW.start + timedelta(days=1), WINDOW.end + timedelta(days=1))
    assert alert_id("pd", "demand_level_psi", later) != alerts[0]["alert_id"]
    assert alert_id("fd", "demand_level_psi", WINDOW) != alerts[0]["alert_id"]


def test_the_accuracy_page_shows_the_closest_forecast_weeks_and_alerts():
    history = pl.concat([_history(1, T0, 48), _history(2, T0 + timedelta(hours=24), 24, mean=3.0)])
    scored = scored_shifts(history, _actuals(T0, [2] * 48), SCHEDULES, {}, (0.1, 0.9), (24, 168))
    closest = closest_forecasts(scored)
    assert closest.height == 6
    # the second day's shifts come from vintage 2 (lead 1..), the first day's from vintage 1
    assert closest["forecast"].to_list() == [16.0] * 3 + [24.0] * 3
    alerts = pl.DataFrame(psi_alerts("pd", {"demand_level_psi": 0.3}, LIMITS, WINDOW)).with_columns(
        raised_at=pl.lit(T0), action=pl.lit("logged"), detail=pl.lit("<b>level</b>")
    )
    page = AccuracyPage("pd", "Police <PD>", "America/New_York", scored, alerts, {"wape": 0.3}, {"wape": 0.2})
    html = render_accuracy_page(page)
    assert 'id="accuracy-shifts"' in html and 'id="accuracy-weekly"' in html
    assert "demand_level_psi" in html and "&lt;b&gt;level&lt;/b&gt;" in html and "Police &lt;PD&gt;" in html
    assert "<script" not in html
    empty = render_accuracy_page(AccuracyPage("pd", "PD", "UTC", scored.head(0), alerts.head(0)))
    assert 'id="no-accuracy"' in empty and 'id="no-alerts"' in empty
