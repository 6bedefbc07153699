"""The scenario file: a what-if a planner describes in TOML, validated into typed parts.

A scenario is a name and any combination of planned events (placed by area ids, or by a point
and a radius), agency outages (fewer units on duty, or its dispatch down) and labelled
per-agency factors. Times are naive wall-clock times in the named agency's time zone (an
event's, in the zone of each agency whose areas it touches), as in the events file. Unknown keys
are errors naming the key, as in the config; ``check_scenario`` checks the agencies and areas
against the settings and the published areas.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.area_ids import named_area
from jointcast.config import Identifier, Settings


class ScenarioError(ValueError):
    """A scenario that cannot be stored or run, said in one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Window(_Strict):
    start: datetime = Field(description="local wall-clock time, naive")
    end: datetime = Field(description="local wall-clock time, naive, exclusive")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start and end are local wall-clock times: write them without an offset")
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self


class PlannedEvent(_Window):
    name: str
    kind: str = "event"
    expected_attendance: int = Field(ge=0)
    areas: tuple[str, ...] = Field((), description="'agency_id:area_id' of every area it touches")
    point: tuple[float, float] | None = Field(None, description="[lon, lat] of the venue")
    radius_m: float = Field(500.0, gt=0)

    @model_validator(mode="after")
    def _placed(self) -> Self:
        if bool(self.areas) == (self.point is not None):
            raise ValueError("give either areas = ['agency_id:area_id', ...] or point = [lon, lat]")
        for area in self.areas:
            agency, _, area_id = area.partition(":")
            if not agency or not area_id:
                raise ValueError(f"area '{area}' is not agency_id:area_id")
        return self


class Outage(_Window):
    agency: Identifier
    units: int | None = Field(None, ge=0, description="units the agency can put on duty per shift")
    dispatch_down: bool = Field(False, description="the types it leads go to their supporting agencies")

    @model_validator(mode="after")
    def _says_what(self) -> Self:
        if self.units is None and not self.dispatch_down:
            raise ValueError("an outage needs units = N (units on duty per shift) or dispatch_down = true")
        return self


class Factor(_Strict):
    agency: Identifier
    factor: float = Field(gt=0)
    label: str = Field(min_length=1, description="why: shown beside every number it changes")
    start: datetime | None = None
    end: datetime | None = None


class ScenarioSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    description: str = ""
    events: tuple[PlannedEvent, ...] = ()
    outages: tuple[Outage, ...] = ()
    factors: tuple[Factor, ...] = ()

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not (self.events or self.outages or self.factors):
            raise ValueError("a scenario needs at least one [[events]], [[outages]] or [[factors]] entry")
        return self


def parse_scenario(text: str, source: str) -> ScenarioSpec:
    """The scenario in ``text`` (TOML, or the JSON the warehouse stores); one line naming
    ``source`` and the key when it is not a valid scenario."""
    try:
        data = (
            tomllib.loads(text)
            if not text.lstrip().startswith("{")
            else ScenarioSpec.model_validate_json(text)
        )
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {source}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        raise ScenarioError(_problem(source, exc)) from None
    if isinstance(data, ScenarioSpec):
        return data
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_problem(source, exc)) from None


def _problem(source: str, error: ValidationError) -> str:
    first = error.errors()[0]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    return f"scenario {source}: {key}: {message}" if key else f"scenario {source}: {message}"


def check_scenario(spec: ScenarioSpec, settings: Settings, known_areas: set[tuple[str, str]]) -> None:
    """Every agency the scenario names is configured, and every area it names is published (as
    written, or up to case and spacing: ``city_police:b10`` is ``B10``)."""
    agencies = set(settings.agency_ids)
    named = [(f"outages[{i}].agency", o.agency) for i, o in enumerate(spec.outages)]
    named += [(f"factors[{i}].agency", f.agency) for i, f in enumerate(spec.factors)]
    for i, event in enumerate(spec.events):
        for area in event.areas:
            agency, _, area_id = area.partition(":")
            named.append((f"events[{i}].areas", agency))
            published = (known for known_agency, known in known_areas if known_agency == agency)
            if agency in agencies and named_area(area_id, published) is None:
                raise ScenarioError(
                    f"scenario {spec.name}: events[{i}].areas: '{agency}' has no area '{area_id}'"
                )
    for key, agency in named:
        if agency not in agencies:
            raise ScenarioError(f"scenario {spec.name}: {key}: unknown agency '{agency}'")
