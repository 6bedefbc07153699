"""``simulate``: write a whole synthetic workspace — feeds, config, events and ground truth."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from jointcast.simulator import events as planned
from jointcast.simulator import joint
from jointcast.simulator import surges as surging
from jointcast.simulator.agencies import AgencySpec, agency_specs
from jointcast.simulator.area_files import area_collection, write_area_file
from jointcast.simulator.attributes import completed_records, renumbered
from jointcast.simulator.defects import with_defects
from jointcast.simulator.exports import coded_rows, with_resent
from jointcast.simulator.feeds import FeedSpec, feed_of
from jointcast.simulator.formats import write_feed
from jointcast.simulator.incidents import sampled_records, with_joint_index
from jointcast.simulator.outages import injected_outages, outages_truth, without_outages
from jointcast.simulator.rates import (
    AgencyRates,
    agency_rates,
    drift_factor,
    drifted,
    step_factor,
    truth_frame,
)
from jointcast.simulator.settings_file import EVENTS_FILE, KEYS_FOLDER, PII_KEY_FILE, settings_text
from jointcast.simulator.timeline import hour_table, utc_midnight
from jointcast.simulator.world import GRID_SIZE, Geography, World, build_world, partition
from warehouse.key_files import write_key_file

logger = logging.getLogger(__name__)

FORECAST_DAYS = 14
"""The truth runs this far past the end, so a published forecast can be scored later."""
CONFIG_FILE = "jointcast.toml"
_WORLD, _EVENTS, _JOINT, _AGENCY = 1, 2, 3, 4


@dataclass(frozen=True)
class SimulationSummary:
    out: Path
    config_path: Path
    start: date
    end: date
    rows_per_feed: Mapping[str, int]
    """Rows written per feed (re-sent copies and duplicate rows included)."""
    files_per_feed: Mapping[str, int]
    defects_per_feed: Mapping[str, Mapping[str, int]]
    """As in truth/defects.json: feed -> defect kind -> rows."""
    feed_files: Mapping[str, tuple[Path, ...]]
    """The files written per feed, in month order."""


@dataclass(frozen=True)
class Scenario:
    """What every agency shares: the world, the hours, planned events and joint events."""

    world: World
    hours: pl.DataFrame
    """Every UTC hour of the window and the forecast days after it."""
    window_hours: int
    end: datetime
    events: pl.DataFrame
    event_cells: list[np.ndarray]
    joint_hourly: dict[str, np.ndarray]
    joint_cells: dict[str, np.ndarray]
    joint_events: pl.DataFrame
    advance_hours: int = 0
    """Hours past the end the feeds also deliver (a later run of the same simulation: see ``simulate``)."""
    later_joint_events: pl.DataFrame | None = None
    """Joint events of those hours, drawn apart so the window's stay as they were."""

    @property
    def bucket_micros(self) -> np.ndarray:
        return self.hours["bucket_start"].dt.epoch("us").to_numpy()


def build_scenario(start: date, end: date, seed: int, advance_days: int = 0) -> Scenario:
    world = build_world(_rng(seed, _WORLD))
    stop = end + timedelta(days=FORECAST_DAYS)
    hours = hour_table(start, stop)
    window_hours = (end - start).days * 24
    events = planned.planned_events(start, stop, _rng(seed, _EVENTS))
    joint_cells = joint.joint_cell_weights(world)
    joint_hourly = joint.joint_hourly(hours)
    micros = hours["bucket_start"].dt.epoch("us").to_numpy()[:window_hours]
    joint_events = joint.sample_joint_events(world, joint_hourly, micros, joint_cells, _rng(seed, _JOINT))
    advance_hours = advance_days * 24
    later = None
    if advance_hours:
        all_micros = hours["bucket_start"].dt.epoch("us").to_numpy()
        later_micros = all_micros[window_hours : window_hours + advance_hours]
        later_hourly = {kind: rates[window_hours:] for kind, rates in joint_hourly.items()}
        later_rng = _rng(seed, _JOINT, 1)
        later = joint.sample_joint_events(world, later_hourly, later_micros, joint_cells, later_rng)
        later = later.with_columns(pl.col("joint_event_id") + joint_events.height)
    return Scenario(
        world,
        hours,
        window_hours,
        utc_midnight(end),
        events,
        planned.event_cells(world, events),
        joint_hourly,
        joint_cells,
        joint_events,
        advance_hours,
        later,
    )


def injected_event_truth(
    events: pl.DataFrame, hours: pl.Series, *, seed: int, agencies: int = 4, area_scale: int = 1
) -> pl.DataFrame:
    """What ``events`` (``events.planned_event`` rows) would add to the true rates of a simulation
    with this ``seed`` and number of ``agencies``, had it drawn them: per agency x area x hour of
    ``hours`` (UTC), as ``events.event_truth``. The world and every agency's areas are rebuilt from
    the same random streams ``simulate`` draws them from, so they are that workspace's areas."""
    world = build_world(_rng(seed, _WORLD))
    geographies = {}
    specs = agency_specs(agencies, area_scale)
    for index, spec in enumerate(specs):
        weights = world.mix(**dict(spec.cell_mix)), world.mix(**dict(spec.centroid_mix))
        geographies[spec.id] = partition(world, *weights, spec.area_ids, _rng(seed, _AGENCY, index))
    uplift = {spec.id: spec.event_uplift for spec in specs}
    return planned.event_truth(events, world, geographies, uplift, hours)


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent random stream per part, so agency k's data do not depend on K."""
    return np.random.default_rng([seed, *stream])


def _geography(spec: AgencySpec, world: World, rng: np.random.Generator) -> Geography:
    """The agency's areas: the first draw of its random stream."""
    cell_weight, centroid_weight = world.mix(**dict(spec.cell_mix)), world.mix(**dict(spec.centroid_mix))
    return partition(world, cell_weight, centroid_weight, spec.area_ids, rng)


def _with_surges(
    scenario: Scenario, surges: Sequence[surging.Surge], specs: Sequence[AgencySpec], seed: int
) -> tuple[Scenario, list[surging.PlacedSurge]]:
    """The scenario with the planned surges among its events and the surges' joint events among the
    later hours' ones (when it delivers them); each surge with its cells and joint events."""
    world = scenario.world
    geographies = {spec.id: _geography(spec, world, _rng(seed, _AGENCY, i)) for i, spec in enumerate(specs)}
    placed = [surging.PlacedSurge(s, surging.placed_cells(s, world, geographies)) for s in surges]
    events = scenario.events
    extra = surging.planned_rows(surges)
    if extra is not None:
        events = pl.concat([events, extra.select(events.columns)], how="vertical_relaxed")
    later = scenario.later_joint_events
    if later is not None:
        first, last = scenario.window_hours, scenario.window_hours + scenario.advance_hours
        micros, rng = scenario.bucket_micros[first:last], _rng(seed, _JOINT, 2)
        for index, surge in enumerate(placed):
            next_id = max(later["joint_event_id"].max() or 0, scenario.joint_events.height) + 1
            drawn = surging.sample_joint_events(surge, world, scenario.joint_cells, micros, next_id, rng)
            placed[index] = replace(surge, joint_events=drawn)
            later = pl.concat([later, drawn.select(later.columns)]).sort("at", "joint_event_id")
    cells = planned.event_cells(world, events)
    return replace(scenario, events=events, event_cells=cells, later_joint_events=later), placed


def _agency_rows(
    spec: AgencySpec,
    index: int,
    scenario: Scenario,
    seed: int,
    volume: float = 1.0,
    trend: float = 0.0,
    steps: Sequence[tuple[date, float]] = (),
    placed: Sequence[surging.PlacedSurge] = (),
) -> tuple[Geography, pl.DataFrame, pl.DataFrame, pl.DataFrame | None, list[pl.DataFrame]]:
    """One agency's areas, truth frame, completed records of the window and, when the scenario
    advances past its end, of the later hours (``volume``, ``trend`` and ``steps``: see ``simulate``);
    per surge, the area-hours it touches (``jointcast.simulator.surges.surge_truth``)."""
    world, hours, micros = scenario.world, scenario.hours, scenario.bucket_micros
    rng = _rng(seed, _AGENCY, index)
    geography = _geography(spec, world, rng)
    uplift = planned.event_uplift(scenario.events, scenario.event_cells, geography, micros, spec.event_uplift)
    expected_joint = joint.expected_joint_records(
        spec.id, geography, scenario.joint_hourly, scenario.joint_cells
    )
    rates = agency_rates(spec, geography, hours, expected_joint, uplift)
    added = [
        surging.surge_rates(
            p, spec.id, spec.event_uplift, world, geography, scenario.joint_cells, micros, rates
        )
        for p in placed
    ]
    for independent, joint_added, _planned in added:
        rates = AgencyRates(rates.independent + independent, rates.joint + joint_added, rates.officer)
    local_hour, buckets = hours["local_hour"].to_numpy(), micros[: scenario.window_hours]
    joint_records = joint.joint_records(scenario.joint_events, spec.id, geography, rng)
    end_micros = int(scenario.end.timestamp() * 1_000_000)
    keep = None
    if volume != 1.0 or trend != 0.0 or steps:
        factor = drift_factor(hours, end_micros, volume, trend) * step_factor(hours, steps)
        rates = drifted(rates, factor)
        keep = np.minimum(factor, 1.0)
        joint_records = _thinned(joint_records, micros, keep, _rng(seed, _AGENCY, index, 2))
    parts = [
        sampled_records(spec, world, geography, rates.independent, buckets, local_hour, rng),
        with_joint_index(spec, joint_records),
    ]
    if spec.officer_types:
        officer = sampled_records(
            spec, world, geography, rates.officer, buckets, local_hour, rng, officer=True
        )
        parts.append(officer)
    records = completed_records(spec, feed_of(spec), spec.area_ids, pl.concat(parts), end_micros, rng)
    later = None
    if scenario.advance_hours:
        later = _later_records(spec, index, scenario, seed, geography, rates, keep)
    surged = [
        surging.surge_truth(p.surge.surge_id, spec.id, geography, hours, rates.counted, sum(parts))
        for p, parts in zip(placed, added, strict=True)
    ]
    return geography, truth_frame(spec.id, geography, hours, rates.counted), records, later, surged


def _later_records(
    spec: AgencySpec, index: int, scenario: Scenario, seed: int, geography: Geography, rates, keep
) -> pl.DataFrame:
    """The agency's records of the hours after the window, from random streams of their own (so the
    window's records are the very ones a run without them draws), ids numbered on from the window's."""
    world, micros = scenario.world, scenario.bucket_micros
    first, last = scenario.window_hours, scenario.window_hours + scenario.advance_hours
    rng = _rng(seed, _AGENCY, index, 5)
    local_hour, buckets = scenario.hours["local_hour"].to_numpy()[first:last], micros[first:last]
    joint_records = joint.joint_records(scenario.later_joint_events, spec.id, geography, rng)
    if keep is not None:
        joint_records = _thinned(joint_records, micros, keep, _rng(seed, _AGENCY, index, 6))
    parts = [
        sampled_records(spec, world, geography, rates.independent[:, first:], buckets, local_hour, rng),
        with_joint_index(spec, joint_records),
    ]
    if spec.officer_types:
        officer = rates.officer[:, first:]
        parts.append(sampled_records(spec, world, geography, officer, buckets, local_hour, rng, officer=True))
    end_micros = int(micros[last - 1]) + 3_600_000_000
    return completed_records(spec, feed_of(spec), spec.area_ids, pl.concat(parts), end_micros, rng)


def _thinned(
    records: pl.DataFrame, micros: np.ndarray, keep: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """``records`` each kept with the probability ``keep`` of the hour it was received in."""
    hour = np.clip(np.searchsorted(micros, records["received"].to_numpy(), side="right") - 1, 0, None)
    return records.filter(pl.Series(rng.random(records.height) < keep[hour]))


def _joint_links(agency_id: str, records: pl.DataFrame) -> pl.DataFrame:
    return records.filter(pl.col("joint_event_id").is_not_null()).select(
        "joint_event_id",
        "incident_type",
        pl.lit(agency_id).alias("agency_id"),
        "source_incident_id",
    )


def _write_feed(feed: FeedSpec, rows: pl.DataFrame, out: Path) -> tuple[Path, ...]:
    folder = out / "feeds" / feed.id
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{feed.id}_*.{feed.extension}"):
        old.unlink()  # a month no longer simulated must not match the feed's glob
    return tuple(write_feed(feed, rows, folder))


def _with_later_rows(
    feed: FeedSpec, exported: pl.DataFrame, later: pl.DataFrame, injected, messy_rate: float, defects: dict,
    delivered_end: date, rng: np.random.Generator, until: datetime | None = None,
) -> pl.DataFrame:  # fmt: skip
    """The window's export rows followed by the later days' rows (their own re-sends and defects,
    counted into ``defects``); with ``until``, only those received before it (drawn as without it, so
    a delivery's files hold every row of an earlier one)."""
    later = without_outages(later, feed.id, injected)
    rows = with_resent(coded_rows(feed, later), utc_midnight(delivered_end), rng)
    rows, extra = with_defects(feed, rows, messy_rate, utc_midnight(delivered_end), rng)
    if until is not None:
        rows = rows.filter(pl.col("received_at") < until)
    for kind, count in extra.items():
        defects[feed.id][kind] = defects[feed.id].get(kind, 0) + count
    return pl.concat([exported, rows.select(exported.columns)], how="vertical_relaxed")


def _check_steps(steps: Sequence[tuple[str, date, float]], advance: int, agency_ids: list[str]) -> None:
    if not 0 <= advance <= FORECAST_DAYS:
        raise ValueError(f"advance must be between 0 and {FORECAST_DAYS} days, got {advance}")
    for agency_id, day, factor in steps:
        if agency_id not in agency_ids:
            raise ValueError(f"step: unknown agency {agency_id} (simulated: {', '.join(agency_ids)})")
        if not factor > 0:
            raise ValueError(f"step: {agency_id} from {day}: the factor must be above 0, got {factor}")


def _check_drift(volume: Mapping[str, float], trend: Mapping[str, float], agency_ids: list[str]) -> None:
    for option, values in (("volume", volume), ("trend", trend)):
        unknown = sorted(set(values) - set(agency_ids))
        if unknown:
            simulated = ", ".join(agency_ids)
            raise ValueError(f"{option}: unknown agency {', '.join(unknown)} (simulated: {simulated})")
    for agency_id, factor in volume.items():
        if not factor > 0:
            raise ValueError(f"volume: {agency_id}: the factor must be above 0, got {factor}")
    for agency_id, rate in trend.items():
        if not -1 < rate < 10:
            raise ValueError(f"trend: {agency_id}: the yearly rate must be above -1 and below 10, got {rate}")


def simulate(
    out: Path,
    *,
    days: int = 365,
    seed: int = 7,
    agencies: int = 4,
    area_scale: int = 1,
    messy_rate: float = 0.0,
    end: date | None = None,
    progress: Callable[[str], None] | None = None,
    outages: Sequence[tuple[str, date, int]] = (),
    volume: Mapping[str, float] | None = None,
    trend: Mapping[str, float] | None = None,
    step: Sequence[tuple[str, date, float]] = (),
    advance: int = 0,
    surges: Sequence[surging.Surge] = (),
    delivered_until: datetime | None = None,
    unit_rows: Sequence[str] = (),
) -> SimulationSummary:
    """Write K agencies' feeds for the ``days`` before ``end`` (exclusive, midnight UTC; default
    today), their areas as ``areas/<agency_id>.geojson``, a ready ``jointcast.toml``,
    ``events.csv``, the truth under ``truth/`` and each agency's mart key ``keys/<agency_id>.key``.
    The same arguments give byte-identical files, keys excepted: each is random (a key file
    already there is kept).

    ``agencies``: past the demo's four, further agencies of the same kinds with ids of their own
    (``agencies.agency_specs``); ``area_scale``: every agency with that many times its usual areas (a
    finer partition of the same jurisdiction). The defaults are the demo's four agencies.

    ``outages``: (feed_id, first day, days) runs of whole UTC days the feed delivers nothing
    in (jointcast.simulator.outages); written to ``truth/outages.json`` when there are any.

    The PII key file is the one exception to byte-identical files: a fresh random key when the
    workspace has none, an existing key kept (so values hashed before still match).

    ``volume``: agency id -> a factor on its demand (0.1: a tenth of its usual calls);
    ``trend``: agency id -> a yearly rate of change compounding smoothly hour by hour (-0.15: 15%
    fewer calls a year), anchored at ``end`` so the level there is the volume's. Both are in the
    truth rates; an agency not named keeps its usual level and no trend. ``step``: (agency id, first
    UTC day, factor) runs: the agency's demand times the factor from that day on (a level jump).

    ``advance``: the clock moved on that many days (at most FORECAST_DAYS) past ``end``: the feeds also
    hold those days, drawn from random streams of their own, so every row of the window is the one a
    run without ``advance`` writes (a month file grows by the new rows at its end) and ingest loads just
    the new incidents. The window, its truth and ``end`` stay as they were.

    ``surges``: described surges (jointcast.simulator.surges) in the days after ``end``: in the truth
    always (``truth/surges.parquet``: each surge's area-hours with and without it), in the feeds once
    ``advance`` delivers their hours; a planned one is in ``events.csv`` from the start, the window's
    rows are the ones a run without surges writes. ``delivered_until``: of the later days, only the rows
    received before this UTC time (a delivery part-way through them; each holds the one before).

    ``unit_rows``: agency ids whose feeds are written one row per unit dispatched (a ``unit_id`` column,
    mapped as the feed's ``unit``): an incident's rows are its units (jointcast.simulator.exports).
    """
    specs = agency_specs(agencies, area_scale)
    if max(spec.area_count for spec in specs) > GRID_SIZE**2:
        raise ValueError(
            f"area_scale {area_scale}: an agency would have more areas than the {GRID_SIZE**2} cells"
        )
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if not 0 <= messy_rate <= 0.5:
        raise ValueError(f"messy_rate must be between 0 and 0.5, got {messy_rate}")

    def report(message: str) -> None:
        logger.debug(message)
        if progress is not None:
            progress(message)

    began = time.perf_counter()
    out = Path(out)
    end = end or datetime.now(UTC).date()
    start = end - timedelta(days=days)
    volume, trend = dict(volume or {}), dict(trend or {})
    _check_drift(volume, trend, [s.id for s in specs])
    _check_steps(step, advance, [s.id for s in specs])
    unknown = sorted(set(unit_rows) - {s.id for s in specs})
    if unknown:
        known = ", ".join(s.id for s in specs)
        raise ValueError(f"unit rows: no agency {', '.join(unknown)} (agencies: {known})")
    delivered_end = end + timedelta(days=advance)
    injected = injected_outages(outages, [s.feed_id for s in specs], start, delivered_end)
    removed = {}
    report(f"simulating {days} days from {start} to {end} for {agencies} agencies (seed {seed})")
    scenario = build_scenario(start, end, seed, advance)
    placed, surge_truths = [], []
    if surges:
        first_local = datetime.combine(end, datetime.min.time())
        surging.check_surges(surges, first_local, first_local + timedelta(days=FORECAST_DAYS))
        scenario, placed = _with_surges(scenario, surges, specs, seed)

    truths, links, geographies = [], [], {}
    rows, files, defects = {}, {}, {}
    for index, spec in enumerate(specs):
        feed = feed_of(spec, spec.id in unit_rows)
        steps = [(day, factor) for agency_id, day, factor in step if agency_id == spec.id]
        geographies[spec.id], truth, records, later, surged = _agency_rows(
            spec, index, scenario, seed, volume.get(spec.id, 1.0), trend.get(spec.id, 0.0), steps, placed
        )
        surge_truths += surged
        if later is not None:  # ids numbered on from the window's
            later = renumbered(spec, pl.concat([records, later])).tail(later.height)
        for outage in (o for o in injected if o.feed_id == feed.id):
            removed[outage] = len(records) - len(without_outages(records, feed.id, [outage]))
        records = without_outages(records, feed.id, injected)
        truths.append(truth)
        links.append(_joint_links(spec.id, records))
        export_rng = _rng(seed, _AGENCY, index, 1)
        exported = with_resent(coded_rows(feed, records), scenario.end, export_rng)
        exported, defects[feed.id] = with_defects(feed, exported, messy_rate, scenario.end, export_rng)
        if later is not None:
            exported = _with_later_rows(feed, exported, later, injected, messy_rate, defects, delivered_end,
                                        _rng(seed, _AGENCY, index, 7), delivered_until)  # fmt: skip
        files[feed.id] = _write_feed(feed, exported, out)
        write_area_file(out, spec.id, area_collection(scenario.world, geographies[spec.id], spec.name))
        rows[feed.id] = len(exported)
        report(f"{feed.id}: {len(records)} incidents, {len(exported)} rows, {len(files[feed.id])} files")

    truth_folder = out / "truth"
    truth_folder.mkdir(parents=True, exist_ok=True)
    pl.concat(truths).write_parquet(truth_folder / "rates.parquet", compression="zstd")
    pl.concat(links).sort("joint_event_id", "agency_id").write_parquet(
        truth_folder / "joint_records.parquet", compression="zstd"
    )
    if surge_truths:
        surge_truth = pl.concat(surge_truths).sort("surge_id", "agency_id", "area_id", "bucket_start")
        surge_truth.write_parquet(truth_folder / surging.SURGE_TRUTH_FILE, compression="zstd")
    if injected:
        outages_text = json.dumps(outages_truth(injected, removed), indent=2) + "\n"
        (truth_folder / "outages.json").write_text(outages_text, encoding="utf-8")
    defects_text = json.dumps(defects, indent=2) + "\n"
    (truth_folder / "defects.json").write_text(defects_text, encoding="utf-8")
    events = planned.events_table(scenario.events, scenario.event_cells, geographies)
    events.write_csv(out / EVENTS_FILE, float_precision=5, line_terminator="\n")
    write_key_file(out / PII_KEY_FILE)
    config_path = out / CONFIG_FILE
    header = (
        "jointcast workspace written by the simulator.\n"
        f"{agencies} agencies, {days} days from {start} to {end} (exclusive), seed {seed}, "
        f"messy rate {messy_rate:g}.\nEvery path is relative to this file's folder."
    )
    drift = [f"{a} volume x{v:g}" for a, v in sorted(volume.items()) if v != 1.0]
    drift += [f"{a} trend {r:+.0%} a year" for a, r in sorted(trend.items()) if r != 0.0]
    drift += [f"{a} x{f:g} from {d}" for a, d, f in sorted(step)]
    if drift:
        header += "\nDemand changed: " + ", ".join(drift) + "."
    if area_scale != 1:
        header += f"\nEvery agency has {area_scale} times its usual areas."
    if advance:
        header += f"\nThe clock advanced {advance} days: the feeds run to {delivered_end} (exclusive)."
    if unit_rows:
        header += f"\nWritten one row per unit dispatched: {', '.join(sorted(unit_rows))}."
    text = settings_text(specs, [feed_of(s, s.id in unit_rows) for s in specs], scenario.world.bbox, header)
    config_path.write_text(text, encoding="utf-8")
    for spec in specs:
        write_key_file(out / KEYS_FOLDER / f"{spec.id}.key")
    report(f"wrote {sum(rows.values())} rows to {out} in {time.perf_counter() - began:.1f}s")
    return SimulationSummary(
        out,
        config_path,
        start,
        end,
        rows_per_feed=rows,
        files_per_feed={feed_id: len(paths) for feed_id, paths in files.items()},
        defects_per_feed=defects,
        feed_files=files,
    )
