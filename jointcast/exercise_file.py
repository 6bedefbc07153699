"""The exercise file (TOML) of `jointcast exercise`: the simulated history and the surges to rehearse.

```toml
name = "Stadium concert"
[simulation]          # the history the pipeline learns from, and the days delivered after it
days = 42
agencies = 3
surge_days = 2        # days delivered after the history, one part every monitor_every_hours
[[surges]]
id = "concert"
kind = "large_event"  # large_event | storm | mass_casualty
planned = true        # in the events file the pipeline reads before it forecasts
day = 1               # 1: the first day after the history (or date = "YYYY-MM-DD")
start = "19:00"       # local time of the simulated agencies
hours = 4
point = [40.055, -75.165]
radius_m = 800
attendance = 40000
```

Validated strictly like ``jointcast.toml`` (an unknown key is an error naming it); ``surges`` turns the
file into the simulator's ``Surge`` values once the history's last day is known.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from jointcast.config import ConfigError, Identifier, _format_error, _Strict
from jointcast.simulator.surges import Surge


class SimulationPart(_Strict):
    days: int = Field(42, ge=28, le=730, description="days of simulated history before the surge days")
    agencies: int = Field(3, ge=1, le=4, description="simulated agencies")
    seed: int = Field(7, description="random seed: the same file, the same exercise")
    surge_days: int = Field(2, ge=1, le=7, description="days delivered after the history")
    monitor_every_hours: int = Field(24, ge=1, le=168, description="a delivery and a monitor run this often")
    messy_rate: float = Field(0.0, ge=0, le=0.5, description="share of defective rows in the feeds")

    @model_validator(mode="after")
    def _whole_deliveries(self) -> SimulationPart:
        if (self.surge_days * 24) % self.monitor_every_hours:
            raise ValueError("monitor_every_hours must divide the surge days' hours (24 x surge_days)")
        return self


class SurgePart(_Strict):
    id: Identifier
    name: str = Field(min_length=1)
    kind: Literal["large_event", "storm", "mass_casualty"]
    planned: bool = Field(False, description="in the events file the pipeline reads before it forecasts")
    day: int | None = Field(None, ge=1, le=7, description="1: the first day after the history")
    date: dt.date | None = Field(None, description="or the local date it happens on")
    start: time = Field(description="local start time (HH:MM)")
    hours: float = Field(gt=0, le=72)
    point: tuple[float, float] | None = Field(None, description="[lat, lon] of its centre, with radius_m")
    radius_m: float | None = Field(None, gt=0, le=20_000)
    areas: tuple[str, ...] = Field((), description="agency_id:area_id of the areas it covers")
    factor: float = Field(
        1.0, gt=0, le=20, description="the agencies' demand times this in its place and hours"
    )
    incidents: dict[Identifier, int] = Field(default_factory=dict, description="extra incidents per agency")
    attendance: int = Field(0, ge=0, le=500_000, description="a large event's attendance")
    joint_events: dict[Identifier, int] = Field(
        default_factory=dict, description="joint events per joint type"
    )

    @model_validator(mode="after")
    def _when_and_where(self) -> SurgePart:
        if (self.day is None) == (self.date is None):
            raise ValueError("give exactly one of day and date")
        if (self.point is None) != (self.radius_m is None):
            raise ValueError("point and radius_m go together")
        if self.point is not None and self.areas:
            raise ValueError("give a point and radius_m, or areas, not both")
        if any(count < 0 for count in (*self.incidents.values(), *self.joint_events.values())):
            raise ValueError("incidents and joint_events are counts (0 or more)")
        return self

    def surge(self, history_end: dt.date) -> Surge:
        day = self.date or history_end + timedelta(days=self.day - 1)
        return Surge(
            self.id, self.name, self.kind, self.planned, datetime.combine(day, self.start), self.hours,
            self.point, self.radius_m, self.areas, self.factor, dict(self.incidents), self.attendance,
            dict(self.joint_events),
        )  # fmt: skip


class ExerciseFile(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    simulation: SimulationPart = Field(default_factory=SimulationPart)
    surges: tuple[SurgePart, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_ids(self) -> ExerciseFile:
        ids = [s.id for s in self.surges]
        if len(set(ids)) != len(ids):
            raise ValueError(f"surge ids must be distinct: {', '.join(ids)}")
        return self

    def history_end(self, today: dt.date) -> dt.date:
        """The history's first day after (UTC): the surge days end today, so the last delivery reaches
        today and validation takes no record for one from the future."""
        return today - timedelta(days=self.simulation.surge_days)

    def surges_after(self, history_end: dt.date) -> list[Surge]:
        """The surges as the simulator takes them, ``history_end`` being the history's first day after;
        ValueError naming a surge that does not lie in the surge days."""
        first = datetime.combine(history_end, time())
        last = first + timedelta(days=self.simulation.surge_days)
        surges = [part.surge(history_end) for part in self.surges]
        for surge in surges:
            if not first <= surge.start_local < surge.end_local <= last:
                days, span = self.simulation.surge_days, f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"
                raise ValueError(
                    f"surges: '{surge.surge_id}' runs {surge.start_local:%Y-%m-%d %H:%M} to "
                    f"{surge.end_local:%Y-%m-%d %H:%M}, outside the {days} surge day(s) after the history, "
                    f"{span} (local time)"
                )
        return surges


def load_exercise(path: Path) -> ExerciseFile:
    """Read and validate an exercise file; ConfigError with one line naming the file and the key."""
    if not path.is_file():
        raise ConfigError(f"exercise file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"exercise error in {path}: not valid TOML: {exc}") from exc
    try:
        return ExerciseFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc).replace("config error", "exercise error", 1)) from None
