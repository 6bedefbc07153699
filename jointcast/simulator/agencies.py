"""The simulated agencies: demand levels, daily and weekly rhythms, incident mixes, timings."""

from __future__ import annotations

from dataclasses import dataclass, replace

# fmt: off
POLICE_WEEKDAY = (0.9, 0.7, 0.55, 0.45, 0.35, 0.35, 0.45, 0.65, 0.85, 0.95, 1.0, 1.05,
                  1.1, 1.1, 1.15, 1.25, 1.35, 1.4, 1.45, 1.45, 1.4, 1.3, 1.2, 1.05)
POLICE_WEEKEND = (1.45, 1.35, 1.2, 0.9, 0.55, 0.4, 0.4, 0.5, 0.65, 0.8, 0.9, 1.0,
                  1.05, 1.1, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4, 1.45, 1.5, 1.5)
TRAFFIC_STOPS = (0.9, 0.8, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 1.3, 1.2, 1.0, 0.9,
                 0.9, 1.0, 1.1, 1.2, 1.3, 1.2, 1.1, 1.1, 1.2, 1.3, 1.3, 1.1)
FIRE_HOURS = (0.6, 0.5, 0.45, 0.4, 0.4, 0.45, 0.6, 0.8, 1.0, 1.1, 1.2, 1.25,
              1.25, 1.25, 1.2, 1.2, 1.2, 1.2, 1.15, 1.1, 1.0, 0.9, 0.8, 0.7)
EMS_WEEKDAY = (0.55, 0.45, 0.4, 0.35, 0.35, 0.4, 0.55, 0.8, 1.05, 1.25, 1.35, 1.4,
               1.4, 1.35, 1.3, 1.3, 1.25, 1.2, 1.15, 1.1, 1.0, 0.9, 0.8, 0.65)
EMS_WEEKEND = (0.75, 0.65, 0.55, 0.45, 0.4, 0.4, 0.5, 0.65, 0.85, 1.05, 1.2, 1.3,
               1.3, 1.3, 1.25, 1.25, 1.2, 1.2, 1.15, 1.1, 1.05, 1.0, 0.9, 0.8)
TRANSIT_WEEKDAY = (0.25, 0.1, 0.05, 0.05, 0.1, 0.4, 1.0, 1.9, 2.0, 1.3, 1.0, 1.0,
                   1.05, 1.05, 1.15, 1.5, 1.9, 2.0, 1.5, 1.1, 0.9, 0.7, 0.5, 0.35)
TRANSIT_WEEKEND = (0.5, 0.3, 0.1, 0.05, 0.05, 0.15, 0.3, 0.5, 0.8, 1.0, 1.2, 1.3,
                   1.35, 1.35, 1.35, 1.35, 1.3, 1.3, 1.3, 1.25, 1.2, 1.1, 0.95, 0.7)
# fmt: on


@dataclass(frozen=True)
class IncidentType:
    """An incident type of one agency: its share of calls by day and night, its priority mix
    (probability of each level of the feed's priority range, lowest number first) and the
    median on-scene service time."""

    name: str
    day_share: float
    night_share: float
    priorities: tuple[float, ...]
    service_minutes: float
    alarm: bool = False


@dataclass(frozen=True)
class AgencySpec:
    id: str
    name: str
    kind: str
    feed_id: str
    area_prefix: str
    area_count: int
    calls_per_day: float
    """Counted calls per day, the agency's share of joint events included."""
    officer_per_day: float
    weekday_hours: tuple[float, ...]
    weekend_hours: tuple[float, ...]
    day_of_week: tuple[float, ...]
    season_amplitude: float
    season_peak_day: int
    types: tuple[IncidentType, ...]
    joint_types: tuple[IncidentType, ...]
    officer_types: tuple[IncidentType, ...] = ()
    officer_hours: tuple[float, ...] = TRAFFIC_STOPS
    phone_share: float = 0.25
    other_share: float = 0.0
    travel_minutes: float = 7.0
    cell_mix: tuple[tuple[str, float], ...] = (("general", 1.0),)
    centroid_mix: tuple[tuple[str, float], ...] = (("general", 1.0),)
    event_uplift: float = 1.0
    """Extra expected incidents per hour per 10,000 attendees of a planned event."""
    max_lag_hours: float = 24
    shifts: tuple[tuple[str, str, float], ...] = (
        ("day", "07:00", 8),
        ("evening", "15:00", 8),
        ("night", "23:00", 8),
    )
    proactive_share: float = 0.0
    min_units: int = 1
    relief_factor: float = 1.6
    copy: int = 1
    """1 for the agency of its kind the demo simulates; 2, 3, ... for further agencies modelled on it
    (``agency_specs``), each with ids of its own."""

    @property
    def area_ids(self) -> tuple[str, ...]:
        return tuple(f"{self.area_prefix}{i:02d}" for i in range(1, self.area_count + 1))

    @property
    def catalog(self) -> tuple[IncidentType, ...]:
        """Every type the agency records, indexed by ``type_index``: calls, joint, officer."""
        return (*self.types, *self.joint_types, *self.officer_types)


T = IncidentType

# fmt: off
TWELVE_HOUR_SHIFTS = (("day", "07:00", 12), ("night", "19:00", 12))

CITY_POLICE = AgencySpec(
    id="city_police", name="City Police Department", kind="police", feed_id="city_police_cad",
    area_prefix="B", area_count=40, calls_per_day=320, officer_per_day=120,
    weekday_hours=POLICE_WEEKDAY, weekend_hours=POLICE_WEEKEND,
    day_of_week=(0.97, 0.96, 0.97, 0.99, 1.05, 1.08, 0.98),
    season_amplitude=0.12, season_peak_day=196,
    types=(
        T("theft", 0.15, 0.10, (0, 0.05, 0.35, 0.5, 0.1), 35),
        T("burglary", 0.06, 0.06, (0, 0.4, 0.5, 0.1, 0), 50),
        T("robbery", 0.03, 0.04, (0.6, 0.35, 0.05, 0, 0), 60),
        T("assault", 0.07, 0.10, (0.5, 0.4, 0.1, 0, 0), 55),
        T("domestic", 0.08, 0.10, (0.3, 0.55, 0.15, 0, 0), 50),
        T("disturbance", 0.15, 0.19, (0, 0.3, 0.55, 0.15, 0), 30),
        T("alarm", 0.08, 0.08, (0, 0, 0.6, 0.4, 0), 20, alarm=True),
        T("suspicious", 0.11, 0.12, (0, 0.3, 0.6, 0.1, 0), 25),
        T("welfare_check", 0.10, 0.07, (0, 0.35, 0.55, 0.1, 0), 35),
        T("noise_complaint", 0.08, 0.12, (0, 0, 0.1, 0.5, 0.4), 20),
        T("parking_complaint", 0.09, 0.02, (0, 0, 0, 0.3, 0.7), 20),
    ),
    joint_types=(
        T("traffic_collision", 1, 1, (0, 0.45, 0.45, 0.1, 0), 45),
        T("structure_fire", 1, 1, (0.6, 0.4, 0, 0, 0), 60),
        T("overdose", 1, 1, (0.7, 0.3, 0, 0, 0), 40),
    ),
    officer_types=(
        T("traffic_stop", 0.55, 0.50, (0, 0, 0, 0.4, 0.6), 20),
        T("pedestrian_stop", 0.15, 0.20, (0, 0, 0.2, 0.5, 0.3), 20),
        T("suspicious", 0.15, 0.20, (0, 0.2, 0.6, 0.2, 0), 25),
        T("directed_patrol", 0.15, 0.10, (0, 0, 0, 0.3, 0.7), 30),
    ),
    other_share=0.11, travel_minutes=7.0, event_uplift=1.5,
    centroid_mix=(("general", 1.0), ("flat", 0.6)),
    proactive_share=0.4, min_units=1, relief_factor=1.65,
)

COUNTY_FIRE = AgencySpec(
    id="county_fire", name="County Fire & Rescue", kind="fire", feed_id="county_fire_cad",
    area_prefix="FD", area_count=20, calls_per_day=45, officer_per_day=0,
    weekday_hours=FIRE_HOURS, weekend_hours=FIRE_HOURS,
    day_of_week=(1.0, 0.99, 0.99, 1.0, 1.01, 1.02, 0.99),
    season_amplitude=0.06, season_peak_day=20,
    types=(
        T("fire_alarm", 0.30, 0.30, (0, 0.3, 0.7), 20, alarm=True),
        T("medical_assist", 0.25, 0.25, (0.6, 0.4, 0), 30),
        T("vehicle_fire", 0.05, 0.07, (0.4, 0.6, 0), 40),
        T("hazmat", 0.04, 0.03, (0.3, 0.5, 0.2), 75),
        T("rescue", 0.05, 0.04, (0.7, 0.3, 0), 70),
        T("brush_fire", 0.04, 0.02, (0.2, 0.6, 0.2), 60),
        T("gas_odor", 0.10, 0.09, (0.2, 0.6, 0.2), 35),
        T("service_call", 0.17, 0.12, (0, 0.2, 0.8), 30),
    ),
    joint_types=(
        T("traffic_collision", 1, 1, (0.5, 0.5, 0), 40),
        T("structure_fire", 1, 1, (1, 0, 0), 110),
    ),
    phone_share=0.2, travel_minutes=6.0, event_uplift=0.1,
    cell_mix=(("general", 0.5), ("residential", 0.5)), centroid_mix=(("flat", 1.0),),
    shifts=TWELVE_HOUR_SHIFTS, min_units=1, relief_factor=1.7,
)

EMS = AgencySpec(
    id="ems", name="Regional EMS", kind="ems", feed_id="ems_epcr",
    area_prefix="Z", area_count=30, calls_per_day=160, officer_per_day=0,
    weekday_hours=EMS_WEEKDAY, weekend_hours=EMS_WEEKEND,
    day_of_week=(1.03, 1.0, 1.0, 1.0, 1.0, 0.98, 0.99),
    season_amplitude=0.09, season_peak_day=15,
    types=(
        T("cardiac", 0.12, 0.12, (0.7, 0.3, 0, 0), 70),
        T("respiratory", 0.15, 0.15, (0.4, 0.5, 0.1, 0), 60),
        T("fall", 0.17, 0.14, (0, 0.3, 0.5, 0.2), 50),
        T("sick_person", 0.20, 0.18, (0, 0.2, 0.5, 0.3), 50),
        T("injury", 0.10, 0.11, (0.1, 0.4, 0.4, 0.1), 50),
        T("psychiatric", 0.08, 0.11, (0, 0.3, 0.5, 0.2), 65),
        T("stroke", 0.04, 0.03, (0.8, 0.2, 0, 0), 60),
        T("unconscious", 0.07, 0.09, (0.6, 0.4, 0, 0), 60),
        T("seizure", 0.04, 0.04, (0.3, 0.6, 0.1, 0), 50),
        T("abdominal_pain", 0.03, 0.03, (0, 0.2, 0.6, 0.2), 45),
    ),
    joint_types=(
        T("traffic_collision", 1, 1, (0.3, 0.5, 0.2, 0), 55),
        T("overdose", 1, 1, (0.6, 0.4, 0, 0), 50),
        T("structure_fire", 1, 1, (0, 0.3, 0.5, 0.2), 45),
    ),
    phone_share=0.1, travel_minutes=8.0, event_uplift=0.7, max_lag_hours=48,
    cell_mix=(("general", 0.8), ("flat", 0.2)),
    shifts=TWELVE_HOUR_SHIFTS, min_units=1, relief_factor=1.65,
)

TRANSIT_POLICE = AgencySpec(
    id="transit_police", name="Transit Authority Police", kind="transit_police",
    feed_id="transit_police_rms", area_prefix="S", area_count=20,
    calls_per_day=60, officer_per_day=40,
    weekday_hours=TRANSIT_WEEKDAY, weekend_hours=TRANSIT_WEEKEND,
    day_of_week=(1.08, 1.1, 1.1, 1.1, 1.08, 0.8, 0.74),
    season_amplitude=0.05, season_peak_day=290,
    types=(
        T("disorderly", 0.24, 0.26, (0.1, 0.5, 0.4), 25),
        T("assault", 0.08, 0.10, (0.7, 0.3, 0), 45),
        T("robbery", 0.04, 0.05, (0.8, 0.2, 0), 50),
        T("theft", 0.15, 0.12, (0, 0.4, 0.6), 30),
        T("medical_assist", 0.15, 0.12, (0.5, 0.5, 0), 30),
        T("suspicious_package", 0.05, 0.03, (0.6, 0.4, 0), 45),
        T("trespass", 0.08, 0.10, (0, 0.3, 0.7), 20),
        T("vandalism", 0.06, 0.08, (0, 0.3, 0.7), 25),
        T("fare_evasion", 0.06, 0.05, (0, 0.1, 0.9), 15),
        T("suspicious", 0.09, 0.09, (0.1, 0.5, 0.4), 20),
    ),
    joint_types=(),
    officer_types=(
        T("fare_evasion", 0.60, 0.50, (0, 0.1, 0.9), 15),
        T("trespass", 0.20, 0.25, (0, 0.2, 0.8), 20),
        T("disorderly", 0.10, 0.15, (0, 0.5, 0.5), 25),
        T("suspicious", 0.10, 0.10, (0, 0.4, 0.6), 20),
    ),
    officer_hours=TRANSIT_WEEKDAY,
    phone_share=0.3, travel_minutes=4.0, event_uplift=1.2, max_lag_hours=72,
    cell_mix=(("transit", 1.0), ("hub", 0.3), ("flat", 0.02)),
    centroid_mix=(("transit", 1.0),),
    shifts=(("day", "06:00", 8), ("evening", "14:00", 8), ("night", "22:00", 8)),
    proactive_share=0.4, min_units=0, relief_factor=1.6,
)

AGENCIES: tuple[AgencySpec, ...] = (CITY_POLICE, COUNTY_FIRE, EMS, TRANSIT_POLICE)
# fmt: on


def agency_specs(count: int, area_scale: int = 1) -> tuple[AgencySpec, ...]:
    """The first ``count`` simulated agencies, each with ``area_scale`` times its usual areas.

    The four kinds take turns: past the demo's four, the fifth agency is a second city police
    (``city_police_2``, feed ``city_police_cad_2``), the sixth a second county fire and so on, each
    with the rhythms, mix and feed format of its kind (a larger partnership is more agencies of the
    kinds there are). Further agencies respond to no joint event: their joint share is drawn as
    their own calls, so they add volume without changing the demo's joint events."""
    if count < 1:
        raise ValueError(f"agencies must be at least 1, got {count}")
    if area_scale < 1:
        raise ValueError(f"area_scale must be at least 1, got {area_scale}")
    specs = []
    for index in range(count):
        base, copy = AGENCIES[index % len(AGENCIES)], index // len(AGENCIES) + 1
        if copy > 1:
            name, feed_id = f"{base.name} {copy}", f"{base.feed_id}_{copy}"
            base = replace(base, id=f"{base.id}_{copy}", name=name, feed_id=feed_id, copy=copy)
        spec = base
        specs.append(spec if area_scale == 1 else replace(spec, area_count=spec.area_count * area_scale))
    return tuple(specs)
