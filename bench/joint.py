"""Joint events on the real Montgomery County 911 feed: the linking rule judged, and what it buys.

    python -m bench.joint [--data PATH] [--workspace DIR]

Runs the real-data example (examples/montco/jointcast.toml, its feed pointed at ``--data``)
through ingest, validate and features, then:

- **Linking.** Joint events linked by features.joint (same incident type, different
  services, within 300 m and 15 minutes), per type and per set of services; the time gaps
  and distances between the services' records inside linked events (quantiles); a sample of
  linked pairs; and the *near misses*: records of the same type and different services
  within twice the rule's bounds that were not linked, by the bound they missed.
- **An independent check.** The feed's description names each call's address, which the
  rule never reads: records of different services at the same address within the rule's
  15 minutes are events several services attended. The share of those pairs the rule
  linked is its recall on them (same type, and any type: a cross-type pair such as a
  vehicle accident and a vehicle fire cannot link by design); the same-type pairs at the
  same address 15-60 minutes apart show what a longer window would add, per type.
- **Accuracy.** The backtest (2 folds of 14 days at the data's end, each agency's own
  shifts) with and without the cross-agency features (features.model_inputs
  CROSS_AGENCY_FEATURES), shift WAPE per service over every township.

Writes bench/out/joint.json and its section of bench/RESULTS.md.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import polars as pl

from bench.harness import real_feed_main, write_results_section
from bench.montco import DATA, prepare

METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180
QUANTILES = (0.5, 0.9, 0.99, 1.0)
SAMPLE = 8
MAX_DISTANCE_M, MAX_MINUTES = 300.0, 15.0
ADDRESS_WINDOW_MINUTES = 60.0
DISTANCE_BANDS = 5


def records(incidents: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
    """The located, typed incidents with their joint event and address (``desc`` up to its station):
    its street (the first one named, with the township) and whether it names no cross street."""
    return (
        incidents.drop("joint_event_id", strict=False)
        .join(links, on="incident_key", how="left")
        .select(
            "incident_key", "agency_id", "incident_type", "received_at", "lat", "lon", "joint_event_id",
            address=pl.col("source_incident_id").str.split(";").list.slice(0, 2).list.eval(
                pl.element().str.replace_all(r"\s+", " ").str.strip_chars()
            ).list.join("; "),
            t=pl.col("received_at").dt.epoch("s"),
        )
        .with_columns(
            street=pl.col("address").str.split(";").list.first().str.split(" & ").list.first().str.strip_chars()
            + ";"
            + pl.col("address").str.split(";").list.last(),
            street_only=~pl.col("address").str.contains("&", literal=True),
        )
        .drop_nulls(["incident_type", "received_at", "lat", "lon"])
    )  # fmt: skip


def pairs(frame: pl.DataFrame, on: list[str], window_minutes: float) -> pl.DataFrame:
    """Pairs of records of different services sharing ``on`` and received within ``window_minutes``.

    One row per pair (a < b by key), with both records' columns (``_b`` for b), the gap in
    minutes and the distance in metres (equirectangular, as features.joint measures it).
    """
    window = round(window_minutes * 60)
    binned = frame.with_columns(_bin=pl.col("t") // window)
    partners = pl.concat(
        [frame.select(pl.all().name.suffix("_b"), _bin=pl.col("t") // window - d) for d in (0, 1)]
    )
    right_on = [f"{c}_b" for c in on]
    joined = binned.join(
        partners, left_on=[*on, "_bin"], right_on=[*right_on, "_bin"], coalesce=False
    ).filter(
        pl.col("incident_key") < pl.col("incident_key_b"),
        pl.col("agency_id") != pl.col("agency_id_b"),
        (pl.col("t") - pl.col("t_b")).abs() <= window,
    )
    mean_lat = ((pl.col("lat") + pl.col("lat_b")) / 2).radians()
    dx = (pl.col("lon_b") - pl.col("lon")) * mean_lat.cos() * METRES_PER_DEGREE
    dy = (pl.col("lat_b") - pl.col("lat")) * METRES_PER_DEGREE
    return joined.with_columns(
        gap_min=(pl.col("t") - pl.col("t_b")).abs() / 60,
        distance_m=(dx.pow(2) + dy.pow(2)).sqrt(),
        linked=pl.col("joint_event_id").is_not_null()
        & (pl.col("joint_event_id") == pl.col("joint_event_id_b")),
        services=pl.concat_list("agency_id", "agency_id_b").list.sort().list.join("+"),
    ).drop("_bin", "_bin_right")


def quantiles(series: pl.Series) -> dict[str, float]:
    return {f"p{round(q * 100)}" if q < 1 else "max": round(series.quantile(q), 1) for q in QUANTILES}


def _gap(band: int) -> str:
    return f"{band * MAX_MINUTES:.0f}-{(band + 1) * MAX_MINUTES:.0f} min"


def grid(nearby: pl.DataFrame) -> pl.DataFrame:
    """Same-type pairs of different services per distance band x gap band, each band as wide as the rule's
    bound, out to ``DISTANCE_BANDS`` and three times it.

    Records that do not belong together still fall near each other by chance, evenly in time:
    the 30-45 minute column is that background, so a band's excess over it in the 0-15 minute
    column is pairs that do belong together, linked or not.
    """
    banded = nearby.filter(
        pl.col("distance_m") <= DISTANCE_BANDS * MAX_DISTANCE_M, pl.col("gap_min") <= 3 * MAX_MINUTES
    ).with_columns(
        distance=(pl.col("distance_m") // MAX_DISTANCE_M).clip(0, DISTANCE_BANDS - 1).cast(pl.Int32),
        gap=(pl.col("gap_min") // MAX_MINUTES).clip(0, 2).cast(pl.Int32),
    )
    counts = banded.group_by("distance", "gap").agg(
        pairs=pl.len(),
        linked=pl.col("linked").sum(),
        same_street=(pl.col("street") == pl.col("street_b")).mean(),
        street_only=(pl.col("street_only") | pl.col("street_only_b")).mean(),
    )
    rows = []
    for band in range(DISTANCE_BANDS):
        row = {"distance (m)": f"{band * MAX_DISTANCE_M:.0f}-{(band + 1) * MAX_DISTANCE_M:.0f}"}
        for gap in range(3):
            cell = counts.filter(distance=band, gap=gap)
            row[_gap(gap)] = cell["pairs"].sum()
            if gap == 0:
                row[f"{_gap(0)}, linked"] = cell["linked"].sum()
        row[f"{_gap(0)}, excess over {_gap(2)}"] = row[_gap(0)] - row[_gap(2)]
        first = counts.filter(distance=band, gap=0)
        row[f"{_gap(0)}, same street"] = round(first["same_street"].sum(), 2)
        row[f"{_gap(0)}, one without a cross street"] = round(first["street_only"].sum(), 2)
        rows.append(row)
    return pl.DataFrame(rows)


def linking(incidents: pl.DataFrame, links: pl.DataFrame) -> dict:
    """Every figure of the linking check (see the module docstring)."""
    frame = records(incidents, links)
    events = frame.filter(pl.col("joint_event_id").is_not_null())
    per_event = events.group_by("joint_event_id").agg(
        pl.col("incident_type").first(),
        services=pl.col("agency_id").unique().sort().str.join("+"),
        size=pl.len(),
    )
    inside = pairs(events, ["joint_event_id"], 24 * 60)
    nearby = pairs(frame, ["incident_type"], 3 * MAX_MINUTES)
    near_misses = nearby.filter(
        ~pl.col("linked"), pl.col("distance_m") <= 2 * MAX_DISTANCE_M, pl.col("gap_min") <= 2 * MAX_MINUTES
    ).with_columns(
        missed=pl.when(pl.col("gap_min") > MAX_MINUTES)
        .then(pl.when(pl.col("distance_m") > MAX_DISTANCE_M).then(pl.lit("both")).otherwise(pl.lit("time")))
        .otherwise(pl.lit("distance"))
    )
    at_address = pairs(frame.filter(pl.col("address") != ""), ["address"], ADDRESS_WINDOW_MINUTES)
    within = at_address.filter(pl.col("gap_min") <= MAX_MINUTES)
    same_type = within.filter(pl.col("incident_type") == pl.col("incident_type_b"))
    later = at_address.filter(
        pl.col("incident_type") == pl.col("incident_type_b"), pl.col("gap_min") > MAX_MINUTES
    )
    cross_type = within.filter(pl.col("incident_type") != pl.col("incident_type_b"), ~pl.col("linked"))
    by_type = (
        per_event.group_by("incident_type").agg(joint_events=pl.len(), records=pl.col("size").sum())
        .join(inside.group_by("incident_type").agg(
            gap_p50=pl.col("gap_min").median().round(1), gap_p90=pl.col("gap_min").quantile(0.9).round(1),
            distance_p50=pl.col("distance_m").median().round(0), distance_p90=pl.col("distance_m").quantile(0.9).round(0),
        ), on="incident_type", how="left")
        .join(same_type.group_by("incident_type").agg(
            same_address_pairs=pl.len(), same_address_linked=pl.col("linked").mean().round(3),
        ), on="incident_type", how="left")
        .join(later.group_by("incident_type").agg(same_address_15_60_min=pl.len()), on="incident_type", how="left")
        .join(near_misses.group_by("incident_type").agg(
            near_miss_time=(pl.col("missed") == "time").sum(), near_miss_distance=(pl.col("missed") == "distance").sum(),
        ), on="incident_type", how="left")
        .fill_null(0).sort("joint_events", descending=True)
    )  # fmt: skip
    show = ["incident_type", "services", "received_at", "gap_min", "distance_m", "address", "address_b"]
    return {
        "incidents": frame.height,
        "joint_events": per_event.height,
        "records_in_joint_events": events.height,
        "events_by_services": dict(
            per_event.group_by("services").len().sort("len", descending=True).iter_rows()
        ),
        "gap_minutes": quantiles(inside["gap_min"]),
        "distance_m": quantiles(inside["distance_m"]),
        "same_address_pairs_same_type": same_type.height,
        "same_address_same_type_linked_share": round(same_type["linked"].mean(), 4),
        "same_address_pairs_any_type": within.height,
        "same_address_any_type_linked_share": round(within["linked"].mean(), 4),
        "same_address_same_type_15_60_min": later.height,
        "grid_all_types": grid(nearby),
        "grid_vehicle_accident": grid(nearby.filter(incident_type="vehicle_accident")),
        "near_misses": dict(near_misses.group_by("missed").len().sort("missed").iter_rows()),
        "by_type": by_type.head(20),
        "cross_type_unlinked": cross_type.with_columns(
            types=pl.concat_list("incident_type", "incident_type_b").list.sort().list.join(" / ")
        )
        .group_by("types")
        .len()
        .sort("len", descending=True)
        .head(8),
        "linked_sample": inside.sample(SAMPLE, seed=1).sort("received_at").select(show),
        "near_miss_sample": near_misses.sample(min(SAMPLE, near_misses.height), seed=1)
        .sort("received_at")
        .select(*show, "missed"),
    }


def accuracy(prepared) -> dict[str, dict[str, float]]:
    """Shift WAPE per service (every township), with and without the cross-agency features."""
    from features.model_inputs import CROSS_AGENCY_FEATURES
    from models.backtest import ShiftSchedule
    from models.parameters import ModelParameters
    from models.training import backtest_only

    settings = prepared.settings
    shifts = {a.id: ShiftSchedule(a.timezone, tuple(a.staffing.shifts)) for a in settings.agencies}
    variants = {
        "with": ModelParameters(),
        "without": ModelParameters(excluded_features=CROSS_AGENCY_FEATURES),
    }
    scores: dict[str, dict[str, float]] = {}
    for name, params in variants.items():
        started = time.perf_counter()
        backtest, _, _ = backtest_only(
            prepared.inputs, prepared.end, params, settings.forecast.horizon_hours, 2, (0.1, 0.5, 0.9), None,
            shifts=shifts,
        )  # fmt: skip
        prepared.timings[f"backtest_{name}_s"] = round(time.perf_counter() - started, 1)
        per_service = (
            backtest.grains["shift"]
            .group_by("agency_id")
            .agg(
                wape=(pl.col("mean") - pl.col("actual")).abs().sum() / pl.col("actual").sum(),
                naive=(pl.col("seasonal_naive") - pl.col("actual")).abs().sum() / pl.col("actual").sum(),
            )
        )
        for agency, wape, naive in per_service.sort("agency_id").iter_rows():
            scores.setdefault(agency, {"seasonal_naive": round(naive, 4)})[name] = round(wape, 4)
    return scores


def _table(frame: pl.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * frame.width + "\n"
    rows = ("| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.iter_rows())
    return head + "\n".join(rows)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(link: dict, scores: dict, timings: dict) -> str:
    accuracy_rows = pl.DataFrame(
        [(a, s["with"], s["without"], s["seasonal_naive"]) for a, s in scores.items()],
        schema=["service", "with cross-agency features", "without", "seasonal naive"],
        orient="row",
    )
    services = pl.DataFrame(
        list(link["events_by_services"].items()), schema=["services", "joint events"], orient="row"
    )
    spread = pl.DataFrame([
        {"inside linked events": "gap (minutes)", **link["gap_minutes"]},
        {"inside linked events": "distance (m)", **link["distance_m"]},
    ])  # fmt: skip
    return f"""## Joint events on Montgomery County 911 (`python -m bench.joint`)

The real-data example (`examples/montco/jointcast.toml`): {link["incidents"]:,} located incidents,
**{link["joint_events"]:,} joint events** linked (same type, different services, within
{MAX_DISTANCE_M:.0f} m and {MAX_MINUTES:.0f} min), {link["records_in_joint_events"]:,} records in them.

{_table(services)}

Between the services' records of one linked event:

{_table(spread)}

Recall on pairs found by address (the call's address from its description, which the rule
never reads), different services within {MAX_MINUTES:.0f} minutes: **{link["same_address_same_type_linked_share"]:.1%}**
of {link["same_address_pairs_same_type"]:,} same-type pairs linked; {link["same_address_any_type_linked_share"]:.1%}
of {link["same_address_pairs_any_type"]:,} pairs of any type (a pair of two types never links by design).
Same type, same address, 15-60 minutes apart (what a longer window would add): {link["same_address_same_type_15_60_min"]:,} pairs.
Near misses (same type, different services, within {2 * MAX_DISTANCE_M:.0f} m and {2 * MAX_MINUTES:.0f} min, not
linked), by the bound missed: {", ".join(f"{k} {v:,}" for k, v in link["near_misses"].items())}.

Same-type pairs of different services by distance and time apart. Chance neighbours spread
evenly in time, so the {_gap(2)} column is the background and a band's excess over it at
{_gap(0)} is pairs that belong to one event; the rule links the first cell only:

All types:

{_table(link["grid_all_types"])}

Vehicle accidents:

{_table(link["grid_vehicle_accident"])}

"Same street" is the share of a cell's pairs on one street of one township (the address's first
street); "one without a cross street" the share where one record's address names a street but
no cross street, so its point is somewhere along the street rather than at an intersection.

Per incident type (the 20 with most joint events):

{_table(link["by_type"])}

Unlinked pairs of two types at one address within {MAX_MINUTES:.0f} minutes:

{_table(link["cross_type_unlinked"])}

A sample of linked pairs:

{_table(link["linked_sample"])}

A sample of near misses:

{_table(link["near_miss_sample"])}

Shift WAPE per service (every township, each agency's own shifts, 2 folds of 14 days at the data's end),
the model with and without the cross-agency features (`other_*`):

{_table(accuracy_rows)}

Timings (s): {", ".join(f"{k} {v}" for k, v in timings.items())}.
"""


def run(data: Path, workspace: Path) -> dict:
    prepared = prepare(data, workspace)
    started = time.perf_counter()
    link = linking(prepared.incidents, prepared.built.joint_events)
    prepared.timings["linking_check_s"] = round(time.perf_counter() - started, 1)
    scores = accuracy(prepared)
    write_results_section("joint", markdown(link, scores, prepared.timings))
    frames = {k for k, v in link.items() if isinstance(v, pl.DataFrame)}
    return {
        **{k: v for k, v in link.items() if k not in frames},
        "by_type": link["by_type"].to_dicts(),
        "shift_wape": scores,
        **prepared.timings,
    }


def main(argv: list[str]) -> dict:
    results = real_feed_main("joint", run, DATA, argv)
    print({k: v for k, v in results.items() if k != "by_type"})
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
