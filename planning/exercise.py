"""An exercise's scores: what the pipeline did about each surge, against the simulator's truth.

Pure: frames in, one long frame of scores out (``exercise.scores``), one row per surge, agency and
measure, with the target it is held to and whether it met it.

- ``forecast_vs_truth`` (planned surges): the published forecast (made before the surge, with the
  event in the events file) summed over the area-hours the surge touches, divided by the true rate
  there; met within ``FORECAST_TOLERANCE``. ``uplift_captured``: the forecast's excess over the true
  rate without the surge, as a share of the surge's true uplift (1: all of it; 0: business as usual).
- ``staffing_covered`` (every surge): the share of the agency's area-shifts overlapping the surge whose
  recommended units can work the true p90 of the shift's incidents (the p90 of a Poisson count at the
  true rate: counts given the rate are Poisson in the simulator); ``units_short`` sums, over those
  shifts, the units the true p90 needs beyond the recommended ones (the staffing maths of
  planning.staffing, workload method; an Erlang C plan is held to its own p90 of incidents).
- ``alert_raised`` and ``alert_delay_hours`` (unplanned surges): whether a monitor run raised an
  alert on arriving demand for an agency the surge touched, over a window holding the surge's first
  record and not already firing just before it, and the simulated hours from that first record to the
  delivery whose monitor run raised it; ``alerts_before``: the alerts those agencies had before it.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import polars as pl

from models.distribution import count_quantiles
from planning.staffing import workload_units

FORECAST_TOLERANCE = 0.15
"""A planned surge's forecast meets its truth within this share (the issue's bar for scenarios)."""
TRUE_QUANTILE = 0.9
SCORE_SCHEMA = {
    "surge_id": pl.String, "agency_id": pl.String, "measure": pl.String, "value": pl.Float64,
    "target": pl.String, "met": pl.Boolean, "detail": pl.String,
}  # fmt: skip
ALERT_SCHEMA = {
    "delivered_until": pl.Datetime("us", "UTC"), "alert_id": pl.String, "agency_id": pl.String,
    "measure": pl.String, "size": pl.Float64, "threshold": pl.Float64,
    "window_start": pl.Datetime("us", "UTC"), "window_end": pl.Datetime("us", "UTC"),
}  # fmt: skip


def _row(surge_id: str, agency_id: str, measure: str, value, target: str, met, detail: str) -> dict:
    number = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    return {"surge_id": surge_id, "agency_id": agency_id, "measure": measure, "value": number,
            "target": target, "met": met, "detail": detail}  # fmt: skip


def forecast_scores(surge_id: str, truth: pl.DataFrame, forecast: pl.DataFrame) -> list[dict]:
    """Per agency: the published forecast over the surge's area-hours against the true rates there.

    ``truth``: the surge's rows of truth/surges.parquet (agency_id, area_id, bucket_start, rate,
    baseline); ``forecast``: forecast.demand rows (agency_id, area_id, bucket_start, mean)."""
    joined = truth.join(forecast, on=["agency_id", "area_id", "bucket_start"], how="left")
    rows = []
    for (agency_id,), part in joined.group_by(["agency_id"], maintain_order=True):
        missing = part["mean"].null_count()
        if missing:
            detail = f"{missing} of {part.height} area-hours not in the published forecast"
            rows.append(_row(surge_id, agency_id, "forecast_vs_truth", None, "within ±15%", False, detail))
            continue
        true, base, said = part["rate"].sum(), part["baseline"].sum(), part["mean"].sum()
        ratio = said / true if true > 0 else float("nan")
        met = bool(abs(ratio - 1) <= FORECAST_TOLERANCE) if true > 0 else None
        detail = (f"forecast {said:.1f} vs true {true:.1f} incidents ({true - base:+.1f} from the surge)"
                  f" over {part.height} area-hours")  # fmt: skip
        rows.append(_row(surge_id, agency_id, "forecast_vs_truth", ratio, "within ±15%", met, detail))
        uplift = true - base
        captured = (said - base) / uplift if uplift > 0 else float("nan")
        said_uplift = f"forecast {said - base:+.1f} over the true rate without it, true uplift {uplift:+.1f}"
        rows.append(_row(surge_id, agency_id, "uplift_captured", captured, "1 = all", None, said_uplift))
    return rows


def surge_shifts(truth: pl.DataFrame, staffing: pl.DataFrame) -> pl.DataFrame:
    """The published area-shifts overlapping the surge's area-hours."""
    touched = truth.select("agency_id", "area_id", "bucket_start").unique()
    overlapping = staffing.join(touched, on=["agency_id", "area_id"]).filter(
        (pl.col("bucket_start") >= pl.col("shift_start")) & (pl.col("bucket_start") < pl.col("shift_end"))
    )
    return overlapping.drop("bucket_start").unique(
        ["agency_id", "area_id", "shift_start"], maintain_order=True
    )


def shift_truth(shifts: pl.DataFrame, rates: pl.DataFrame) -> pl.DataFrame:
    """``shifts`` with the true expected incidents over each shift's hours (``true_mean``) and the p90
    of a Poisson count at that mean (``true_p90``)."""
    joined = (
        shifts.select("agency_id", "area_id", "shift_start", "shift_end")
        .join(rates, on=["agency_id", "area_id"])
        .filter(
            (pl.col("bucket_start") >= pl.col("shift_start")) & (pl.col("bucket_start") < pl.col("shift_end"))
        )
        .group_by("agency_id", "area_id", "shift_start")
        .agg(true_mean=pl.col("rate").sum())
    )
    out = shifts.join(joined, on=["agency_id", "area_id", "shift_start"], how="left").with_columns(
        pl.col("true_mean").fill_null(0.0)
    )
    p90 = count_quantiles(out["true_mean"].to_numpy(), 0.0, (TRUE_QUANTILE,))[:, 0] if out.height else []
    return out.with_columns(true_p90=pl.Series(np.clip(p90, 0, None), dtype=pl.Float64))


def _units_for(incidents: float, assumptions: dict, shift_hours: float) -> tuple[float, int]:
    """(incidents the units can work, units needed for ``incidents``) under the row's assumptions."""
    if assumptions.get("method", "workload") != "workload":
        return float("nan"), 0
    hours, utilisation = assumptions["hours_per_incident"], assumptions["target_utilisation"]
    per_unit = 1.0 / float(workload_units(1.0, hours, shift_hours, utilisation))
    work = float(workload_units(incidents, hours, shift_hours, utilisation))
    return per_unit, max(int(assumptions.get("min_units", 0)), math.ceil(work - 1e-9))


def staffing_check(shifts: pl.DataFrame) -> pl.DataFrame:
    """``shifts`` (as ``shift_truth`` gives them) with the units the true p90 needs (``needed_units``)
    and whether the recommended ones can work it (``covered``)."""
    needed, covered = [], []
    for record in shifts.iter_rows(named=True):
        assumptions = json.loads(record["assumptions"])
        per_unit, units = _units_for(record["true_p90"], assumptions, record["shift_hours"])
        if math.isnan(per_unit):  # Erlang C: held to its own p90 of incidents
            capacity, units = record["incidents_p90"], record["recommended_units"]
        else:
            capacity = record["recommended_units"] * per_unit
        needed.append(units)
        covered.append(bool(capacity >= record["true_p90"] - 1e-9))
    return shifts.with_columns(
        needed_units=pl.Series(needed, dtype=pl.Int64), covered=pl.Series(covered, dtype=pl.Boolean)
    )


def staffing_scores(surge_id: str, checked: pl.DataFrame) -> list[dict]:
    """Per agency: the share of the surge's area-shifts whose units cover the true p90, units short
    (``checked``: ``staffing_check``'s rows)."""
    rows = []
    short_by = (pl.col("needed_units") - pl.col("recommended_units")).clip(lower_bound=0).alias("short")
    for (agency_id,), part in checked.with_columns(short_by).group_by(["agency_id"], maintain_order=True):
        covered, short = int(part["covered"].sum()), int(part["short"].sum())
        share = covered / part.height
        detail = f"{covered} of {part.height} area-shifts covered; {short} unit(s) short in all"
        if short:
            worst = part.sort("short", "shift_start", descending=[True, False]).row(0, named=True)
            detail += (f", most in {worst['area_id']} {worst['shift_name']} shift from "
                       f"{worst['shift_start']:%Y-%m-%d %H:%M} UTC ({worst['short']})")  # fmt: skip
        rows.append(
            _row(surge_id, agency_id, "staffing_covered", share, "1 = every area-shift", share >= 1, detail)
        )
        rows.append(_row(surge_id, agency_id, "units_short", float(short), "0", short == 0,
                         "units the true p90 needs beyond the recommended ones, in all"))  # fmt: skip
    return rows


def surge_staffing(surge_id: str, truth: pl.DataFrame, staffing: pl.DataFrame, rates: pl.DataFrame):
    """The published area-shifts a surge overlaps, with their truth and ``staffing_check``'s columns."""
    return staffing_check(shift_truth(surge_shifts(truth.filter(surge_id=surge_id), staffing), rates))


def alert_scores(
    surge_id: str, agencies: list[str], first_record: datetime | None, alerts: pl.DataFrame
) -> list[dict]:
    """Whether an alert was raised for the surge, and the simulated hours from its first record to it.

    ``alerts``: per delivery (``delivered_until``, its simulated time) the alerts its monitor run raised
    (ALERT_SCHEMA; a measure still past its limit is raised again at each delivery, its window having
    moved). An alert counts for the surge when it names an agency the surge touched, its window holds
    the surge's first record, it measures demand as it arrives (not a lagged model input,
    ``feature_psi:*``, nor an over-forecast), and the same agency and measure was not firing at the
    last delivery before that record (a signal already up is no sign of the surge). The alerts before
    the record are counted apart (``alerts_before``)."""
    if first_record is None:
        return [
            _row(surge_id, "all", "alert_raised", None, "raised", False, "no record of the surge arrived")
        ]
    mine = alerts.filter(pl.col("agency_id").is_in(agencies))
    before = mine.filter(pl.col("delivered_until") <= first_record)
    last_before = pl.col("delivered_until") == pl.col("delivered_until").max()
    firing = before.filter(last_before).select("agency_id", "measure").unique()
    relevant = (
        mine.filter(
            (pl.col("window_end") > first_record)
            & (pl.col("delivered_until") > first_record)
            & ~pl.col("measure").str.starts_with("feature_psi:")
            & ~((pl.col("measure") == "live_bias") & (pl.col("size") > 0))
        )
        .join(firing, on=["agency_id", "measure"], how="anti")
        .sort("delivered_until", "agency_id", "measure")
    )
    earlier = ", ".join(f"{a} {m}" for a, m in firing.sort("agency_id", "measure").iter_rows()) or "none"
    rows = [_row(surge_id, "all", "alerts_before", float(before.height), "—", None,
                 f"before its first record; still firing then: {earlier}")]  # fmt: skip
    if relevant.is_empty():
        when = f"{first_record:%Y-%m-%d %H:%M} UTC"
        detail = f"no new alert for {', '.join(agencies)} after the first record, {when}"
        return [*rows, _row(surge_id, "all", "alert_raised", 0.0, "raised", False, detail)]
    first = relevant.row(0, named=True)
    delay = (first["delivered_until"] - first_record).total_seconds() / 3600
    named = relevant.filter(pl.col("delivered_until") == first["delivered_until"])
    said = ", ".join(
        f"{a} {m} {s:+.3f}" for a, m, s in named.select("agency_id", "measure", "size").iter_rows()
    )
    return [
        *rows,
        _row(surge_id, "all", "alert_raised", 1.0, "raised", True, f"first alerts: {said}"),
        _row(surge_id, "all", "alert_delay_hours", delay, "—", None,
             f"first record {first_record:%Y-%m-%d %H:%M} UTC, alert with the delivery up to "
             f"{first['delivered_until']:%Y-%m-%d %H:%M} UTC"),
    ]  # fmt: skip


def exercise_scores(
    surges: list[dict], truth: pl.DataFrame, forecast: pl.DataFrame, staffing: pl.DataFrame,
    rates: pl.DataFrame, alerts: pl.DataFrame, first_records: dict[str, datetime | None],
) -> pl.DataFrame:  # fmt: skip
    """Every score of the exercise: per surge (``surges``: surge_id, planned), its truth rows, the
    published forecast and staffing, the true rates of the shifts it touches, the alerts per delivery
    and the first record of each surge."""
    rows = []
    for surge in surges:
        surge_id = surge["surge_id"]
        mine = truth.filter(surge_id=surge_id)
        if surge["planned"]:
            rows += forecast_scores(surge_id, mine, forecast)
        rows += staffing_scores(surge_id, surge_staffing(surge_id, truth, staffing, rates))
        if not surge["planned"]:
            agencies = sorted(set(mine["agency_id"]))
            rows += alert_scores(surge_id, agencies, first_records.get(surge_id), alerts)
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)


def surge_rows(surges: list, truth: pl.DataFrame, first_records: dict[str, datetime | None]) -> pl.DataFrame:
    """exercise.surges: each surge (jointcast.simulator.surges.Surge) with its truth summed."""
    from jointcast.simulator.surges import utc_span

    rows = []
    for surge in surges:
        mine = truth.filter(surge_id=surge.surge_id)
        start, stop = (datetime.fromtimestamp(micros / 1e6, tz=UTC) for micros in utc_span(surge))
        rows.append({
            "surge_id": surge.surge_id, "name": surge.name, "kind": surge.kind, "planned": surge.planned,
            "starts_at": start, "ends_at": stop, "agencies": ",".join(sorted(set(mine["agency_id"]))),
            "area_hours": mine.height, "true_incidents": float(mine["rate"].sum()),
            "true_baseline": float(mine["baseline"].sum()), 
            "first_record_at": first_records.get(surge.surge_id),
        })  # fmt: skip
    schema = {"surge_id": pl.String, "name": pl.String, "kind": pl.String, "planned": pl.Boolean,
              "starts_at": pl.Datetime("us", "UTC"), "ends_at": pl.Datetime("us", "UTC"),
              "agencies": pl.String,
              "area_hours": pl.Int64, "true_incidents": pl.Float64, "true_baseline": pl.Float64,
              "first_record_at": pl.Datetime("us", "UTC")}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def surge_series(
    surge_id: str, truth: pl.DataFrame, rates: pl.DataFrame, forecast: pl.DataFrame, actuals: pl.DataFrame
) -> pl.DataFrame:
    """Per hour, over the agency-areas the surge touches: the true rate with every surge
    (``true_rate``), without this one (``true_baseline``), the published forecast and the incidents
    counted (null where none arrived yet)."""
    mine = truth.filter(surge_id=surge_id)
    keys = ["agency_id", "area_id", "bucket_start"]
    cells = rates.join(mine.select("agency_id", "area_id").unique(), on=["agency_id", "area_id"])
    surge_part = mine.select(*keys, added=pl.col("rate") - pl.col("baseline"))
    hourly = (
        cells.join(surge_part, on=keys, how="left")
        .join(forecast.select(*keys, "mean"), on=keys, how="left")
        .join(actuals.select(*keys, "incidents"), on=keys, how="left")
        .group_by("bucket_start")
        .agg(
            true_rate=pl.col("rate").sum(),
            true_baseline=(pl.col("rate") - pl.col("added").fill_null(0.0)).sum(),
            forecast=pl.when(pl.col("mean").is_not_null().any()).then(pl.col("mean").sum()),
            actual=pl.when(pl.col("incidents").is_not_null().any()).then(pl.col("incidents").sum()),
        )
    )
    return hourly.sort("bucket_start")
