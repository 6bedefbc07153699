"""Everything the features stage derives from core incidents, in one pure function."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from features.area_ids import canonical_area_ids
from features.cross import cross_agency_demand
from features.derived import derived_tables, recent_incidents
from features.history import horizon_bands
from features.joint import joint_demand, link_joint_events
from features.model_inputs import AgencyCalendar, band_inputs, static_inputs
from features.outages import OUTAGE_SCHEMA, OutageRule, feed_outages, outage_hours
from features.panel import SERIES, counted_incidents, demand_panel, is_counted
from features.places import (
    AreaScheme,
    AreaShapes,
    area_descriptions,
    area_indexes,
    placed_in_others,
    placed_incidents,
)
from jointcast.config import Settings

ENGINE = "in-memory"
"""The polars engine for the features stage: its plans are windows, shifts and joins on
sorted keys over whole series, which the in-memory engine runs about twice as fast (and in
less memory) as the streaming one."""


@dataclass(frozen=True)
class FeatureParameters:
    counted_sources: dict[str, tuple[str, ...]]
    calendars: list[AgencyCalendar]
    horizon_hours: int
    events_timezone: dict[str, str]  # agency id -> zone: an event's local times are its agency's
    max_distance_m: float = 300.0
    max_minutes: float = 15.0
    roles: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    """incident type -> (lead agency, supporting agencies), for features.joint_crosswalk."""
    area_schemes: dict[str, AreaScheme] = field(default_factory=dict)
    """agency id -> how its areas are made (features.places); absent: the feed's area column."""
    train_days: int = 182
    """The window whose counts decide which H3 cells roll up (forecast.train_days)."""
    outages: tuple[OutageRule, ...] = ()
    """Per feed: how its outages are found (features.outages); none: every hour is observed."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        shapes: dict[str, AreaShapes] | None = None,
        rejected: dict[str, tuple[tuple[datetime, datetime, str], ...]] | None = None,
    ) -> FeatureParameters:
        """The parameters a workspace's config gives (events are read in each agency's own zone).

        ``shapes`` are the polygons of the agencies whose areas are polygons; by default
        ``warehouse.area_files`` reads them from the configured files (the features stay
        free of files: they get the polygons as data). ``rejected``: per feed, the windows of its
        rejected files no loaded file covers (warehouse.stages.rejected_windows), outages.
        """
        if shapes is None:
            from warehouse.area_files import area_shapes

            shapes = area_shapes(settings)
        schemes = {
            a.id: AreaScheme(
                a.areas.method,
                a.areas.resolution,
                a.areas.min_incidents,
                a.areas.coarsest_resolution,
                shapes.get(a.id),
            )
            for a in settings.agencies
            if a.areas.method != "column"
        }
        return cls(
            counted_sources={a.id: a.counted_call_sources for a in settings.agencies},
            calendars=[AgencyCalendar(a.id, a.timezone, a.country, a.subdivision) for a in settings.agencies],
            horizon_hours=settings.forecast.horizon_hours,
            events_timezone={a.id: a.timezone for a in settings.agencies},
            roles=settings.role_map,
            area_schemes=schemes,
            train_days=settings.forecast.train_days,
            outages=tuple(
                _outage_rule(settings, feed, (rejected or {}).get(feed.id, ())) for feed in settings.feeds
            ),
        )


def _outage_rule(settings: Settings, feed, rejected: tuple = ()) -> OutageRule:
    rules = feed.outages
    return OutageRule(
        feed_id=feed.id,
        agency_ids=feed.agency_ids,
        timezone=settings.agency(feed.agency_ids[0]).timezone,
        detect=rules.detect,
        min_hours=rules.min_hours,
        low_share=rules.low_share,
        known=feed.known_outages,
        rejected=rejected,
    )


@dataclass(frozen=True)
class FeatureSet:
    joint_events: pl.DataFrame  # incident_key, joint_event_id
    demand: pl.DataFrame  # features.demand: incidents as counted; observed false in outage hours
    joint_demand: pl.DataFrame  # features.joint_demand
    bands: tuple[int, ...]
    static: pl.DataFrame  # the panel, future hours included, with what every band shares
    derived: dict[str, pl.DataFrame]  # features.service_profile, joint_crosswalk, areas (features.derived)
    outages: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=OUTAGE_SCHEMA))
    """quality.outages: every feed's outage windows (features.outages)."""

    def tables(self) -> dict[str, pl.DataFrame]:
        """The features.* tables besides the joint links and the model inputs, by name."""
        return {"demand": self.demand, "joint_demand": self.joint_demand, **self.derived}

    @property
    def agencies(self) -> tuple[str, ...]:
        """The agencies of the panel, in its order (the order of ``model_input_parts``)."""
        return tuple(self.static["agency_id"].unique(maintain_order=True))

    def model_inputs(self, band: int, agency_id: str | None = None) -> pl.LazyFrame:
        """features.model_inputs rows of one band (of one agency, given ``agency_id``); collect one
        part at a time.

        Every model input is a window over one series or over its agency's hours, so one agency's
        rows are the rows the whole panel gives for it. Whatever engine the caller collects with,
        the part's window-heavy plan runs on polars' in-memory engine (see ``ENGINE``).
        """
        static = self.static.lazy()
        if agency_id is not None:
            static = static.filter(pl.col("agency_id") == agency_id)
        inputs = band_inputs(static, band)
        return pl.defer(lambda: inputs.collect(engine=ENGINE), schema=inputs.collect_schema())

    def model_input_parts(self) -> list[pl.LazyFrame]:
        """features.model_inputs as one part per band and agency, in the one-frame build's row order
        (band after band, each in series order): the caller collects and writes them one at a time,
        so memory holds the shared panel and the largest part, never every band of every agency."""
        return [self.model_inputs(band, agency_id) for band in self.bands for agency_id in self.agencies]


def build_features(
    incidents: pl.LazyFrame, events: pl.DataFrame | None, params: FeatureParameters
) -> FeatureSet:
    """Place incidents in their agency's areas, link joint events, count the demand panel, derive
    the model inputs of every band and the tables publishing reads from the recent window
    (service times, joint crosswalk, areas).

    An area column's values that differ only in case and spacing are one area, named as the agency
    writes it most (``features.area_ids``): every table below reads the incidents renamed so, while
    core keeps the records as the feeds gave them."""
    incidents = incidents.drop("joint_event_id", strict=False)
    located = canonical_area_ids(incidents.collect())
    counts_as_demand = is_counted(params.counted_sources)
    indexes = area_indexes(located, params.area_schemes, counts_as_demand, params.train_days)
    located = placed_incidents(located, indexes)
    placed = placed_in_others(located, indexes)
    incidents = located.lazy()
    links = link_joint_events(incidents, max_distance_m=params.max_distance_m, max_minutes=params.max_minutes)
    links = links.collect()
    counted = counted_incidents(incidents, params.counted_sources)
    # one grid to the last hour to forecast: the demand panel is its observed part
    extended = demand_panel(counted, future_hours=params.horizon_hours).collect(engine=ENGINE)
    outages = feed_outages(incidents, list(params.outages)).collect()
    unobserved_hours = outage_hours(outages.lazy()).collect()
    extended = with_outages(extended, unobserved_hours)
    demand = extended.filter(pl.col("incidents").is_not_null()).select(
        pl.exclude("outage"), observed=pl.col("outage").not_()
    )
    cross = cross_agency_demand(counted, placed.lazy(), tuple(indexes)).collect(engine=ENGINE)
    static = static_inputs(unobserved(extended).lazy(), cross.lazy(), params.calendars, events,
                           params.events_timezone)  # fmt: skip
    static = without_others_outages(static.collect(engine=ENGINE), unobserved_hours)
    joint = joint_demand(counted.join(links.lazy(), on="incident_key", how="left")).collect(engine=ENGINE)
    recent = counted_incidents(recent_incidents(incidents), params.counted_sources)
    recent = recent.join(links.lazy(), on="incident_key", how="left").collect()
    described = area_descriptions(demand.select(SERIES).unique(), indexes)
    derived = derived_tables(recent, params.roles, placed, described)
    return FeatureSet(links, demand, joint, horizon_bands(params.horizon_hours), static, derived, outages)


def with_outages(panel: pl.DataFrame, unobserved_hours: pl.DataFrame) -> pl.DataFrame:
    """``panel`` with ``outage``: true in an observed hour (incidents counted) that an outage of one
    of the agency's feeds touches (``unobserved_hours``: features.outages.outage_hours). Hours to
    forecast are never outage hours, so a known outage listed into the future does not hide them."""
    hours = unobserved_hours.with_columns(_outage=pl.lit(True))
    flagged = panel.join(hours, on=["agency_id", "bucket_start"], how="left", maintain_order="left")
    return flagged.with_columns(
        outage=pl.col("incidents").is_not_null() & pl.col("_outage").fill_null(False)
    ).drop("_outage")


def without_others_outages(static: pl.DataFrame, unobserved_hours: pl.DataFrame) -> pl.DataFrame:
    """``other_incidents`` null where another agency's feed was out: its zero there is not demand."""
    out = unobserved_hours.group_by("bucket_start").agg(_agencies_out=pl.len().cast(pl.Int32))
    joined = static.join(out, on="bucket_start", how="left", maintain_order="left")
    others_out = pl.col("_agencies_out").fill_null(0) - pl.col("outage").cast(pl.Int32) > 0
    return joined.with_columns(
        other_incidents=pl.when(others_out.not_()).then(pl.col("other_incidents"))
    ).drop("_agencies_out")


def unobserved(panel: pl.DataFrame) -> pl.DataFrame:
    """The panel the model inputs read: outage hours' counts null, not zero (no target, no lag or
    trailing mean fed by them), while ``outage`` tells them apart from the hours to forecast."""
    hidden = {c: pl.when(pl.col("outage").not_()).then(pl.col(c)) for c in ("incidents", "workload_hours")}
    return panel.with_columns(**hidden)
