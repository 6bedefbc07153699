"""`jointcast scenario add|list|run|show|drop`: what-if scenarios, kept apart from the live tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jointcast.cli_planning import current_user
from jointcast.cli_support import ConfigOption, console, fail, workspace

scenarios = typer.Typer(
    help="What-if scenarios (planned events, outages, factors) in scenario.*, never the live tables.",
    no_args_is_help=True,
)
NameArgument = Annotated[str, typer.Argument(help="The scenario's name (or id), as `scenario list` shows it")]


@scenarios.command("add")
def scenario_add(
    file: Annotated[
        Path, typer.Argument(help="The scenario file (TOML; see the README's Scenarios section)")
    ],
    reason: Annotated[str, typer.Option(help="Why: kept for the audit trail")],
    config: ConfigOption = None,
) -> None:
    """Check a scenario file against the config and the published areas, and store it."""
    from planning.scenario_file import ScenarioError, check_scenario, parse_scenario
    from warehouse.db import open_warehouse
    from warehouse.features_store import read_frame
    from warehouse.scenarios import add_scenario

    settings = workspace(config)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail([f"scenario file {file}: {exc}"], 2) from None
    try:
        spec = parse_scenario(text, str(file))
        with open_warehouse(settings.warehouse_path) as con:
            areas = read_frame(con, "SELECT agency_id, area_id FROM forecast.areas")
            check_scenario(spec, settings, set(areas.iter_rows()))
            scenario_id = add_scenario(
                con, name=spec.name, description=spec.description, spec_json=spec.model_dump_json(),
                source_file=str(file), reason=reason, created_by=current_user(),
            )  # fmt: skip
    except (ScenarioError, ValueError) as exc:
        raise fail([str(exc)]) from None
    console.print(
        f"scenario {scenario_id} '{spec.name}' stored: {len(spec.events)} events, "
        f"{len(spec.outages)} outages, {len(spec.factors)} factors; run `jointcast scenario run {spec.name}`",
        highlight=False,
        soft_wrap=True,
    )


@scenarios.command("list")
def scenario_list(config: ConfigOption = None) -> None:
    """The stored scenarios: who added them, when, why, and their last run."""
    from warehouse.db import open_warehouse
    from warehouse.scenarios import read_scenarios

    settings = workspace(config)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        rows = read_scenarios(con)
    table = Table("id", "name", "reason", "by", "added (UTC)", "last run (UTC)", "vs publication")
    for row in rows.iter_rows(named=True):
        ran = f"{row['last_run_at']:%Y-%m-%d %H:%M}" if row["last_run_at"] else "never"
        table.add_row(
            str(row["scenario_id"]), row["name"], row["reason"], row["created_by"],
            f"{row['created_at']:%Y-%m-%d %H:%M}", ran, str(row["baseline_publication_id"] or "-"),
        )  # fmt: skip
    console.print(table)


@scenarios.command("run")
def scenario_run(name: NameArgument, config: ConfigOption = None) -> None:
    """Forecast the scenario with the champion and publish it into scenario.* (a Prefect flow run)."""
    from jointcast.cli import _run_stage

    settings = workspace(config)
    result = _run_stage("flows.scenario:scenario_flow", settings, name=name)
    _print_summary(settings, str(result["scenario_id"]))
    if result.get("pages"):
        pages = ", ".join(Path(page).name for page in result["pages"])
        console.print(f"scenario pages: {settings.report_root}/ ({pages})", highlight=False, soft_wrap=True)


@scenarios.command("show")
def scenario_show(
    name: NameArgument,
    agency: Annotated[str | None, typer.Option("--agency", help="Only this agency's shifts")] = None,
    config: ConfigOption = None,
) -> None:
    """Per agency: the scenario against the live publication, and the mutual-aid table."""
    settings = workspace(config, agency)
    _print_summary(settings, name, agency)


def _print_summary(settings, name: str, agency: str | None = None) -> None:
    import polars as pl

    from warehouse.db import open_warehouse
    from warehouse.scenarios import read_scenario, read_scenario_table

    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        try:
            stored = read_scenario(con, name)
        except LookupError as exc:
            raise fail([str(exc)]) from None
        if stored["last_run_at"] is None:
            raise fail(
                [f"scenario '{stored['name']}' has not run: `jointcast scenario run {stored['name']}`"]
            )
        difference = read_scenario_table(con, "difference", stored["scenario_id"], agency)
        aid = read_scenario_table(con, "mutual_aid", stored["scenario_id"], agency)
    changed = difference.filter(pl.col("incidents_change").abs() >= 0.05)
    per_agency = (
        difference.group_by("agency_id")
        .agg(
            pl.col("baseline_incidents").sum(), pl.col("scenario_incidents").sum(),
            pl.col("units_change").clip(lower_bound=0).sum().alias("units_added"),
            pl.col("units_change").clip(upper_bound=0).sum().alias("units_freed"),
        )
        .sort("agency_id")
    )  # fmt: skip
    title = f"scenario {stored['scenario_id']} '{stored['name']}'"
    title += f" vs publication {stored['baseline_publication_id']}"
    table = Table(
        "agency", "live incidents", "scenario incidents", "change", "units added", "units freed", title=title
    )
    for row in per_agency.iter_rows(named=True):
        table.add_row(
            row["agency_id"], f"{row['baseline_incidents']:.1f}", f"{row['scenario_incidents']:.1f}",
            f"{row['scenario_incidents'] - row['baseline_incidents']:+.1f}", str(row["units_added"]),
            str(row["units_freed"]),
        )  # fmt: skip
    console.print(table)
    shifts = (
        changed.group_by("agency_id", "shift_date", "shift_name", "shift_start")
        .agg(
            pl.col("incidents_change").sum(),
            pl.col("units_change").sum(),
            pl.col("area_id")
            .sort_by(pl.col("incidents_change").abs(), descending=True)
            .head(3)
            .str.join(" "),
            pl.len().alias("areas"),
        )
        .sort("shift_start", "agency_id")
    )
    table = Table(
        "agency",
        "date",
        "shift",
        "incidents",
        "units",
        "areas",
        "most changed",
        title="shifts the scenario changes",
    )
    for row in shifts.iter_rows(named=True):
        table.add_row(
            row["agency_id"], f"{row['shift_date']}", row["shift_name"], f"{row['incidents_change']:+.1f}",
            f"{row['units_change']:+d}", str(row["areas"]), row["area_id"],
        )  # fmt: skip
    console.print(table)
    if aid.is_empty():
        console.print("mutual aid: no agency is short of its available units", highlight=False)
        return
    headers = ("short agency", "date", "shift", "needed", "available", "short", "where", "partner", "covers")
    table = Table(*headers, title="mutual aid")
    for row in aid.iter_rows(named=True):
        partner = row["partner_agency"] or "none with spare units"
        table.add_row(
            row["agency_id"], f"{row['shift_date']}", row["shift_name"], str(row["needed_units"]),
            str(row["available_units"]), str(row["short_units"]), " ".join(row["areas"]), partner,
            str(row["covered_units"]),
        )  # fmt: skip
    console.print(table)


@scenarios.command("drop")
def scenario_drop(name: NameArgument, config: ConfigOption = None) -> None:
    """Delete a scenario and every row its runs wrote (the live tables are not touched)."""
    from flows.scenario import scenario_page_path, write_scenario_indexes
    from warehouse.db import open_warehouse
    from warehouse.marts import refresh_marts
    from warehouse.scenarios import drop_scenario, read_scenario

    settings = workspace(config)
    with open_warehouse(settings.warehouse_path) as con:
        try:
            stored = read_scenario(con, name)
        except LookupError as exc:
            raise fail([str(exc)]) from None
        drop_scenario(con, stored["scenario_id"])
        refresh_marts(con, settings)  # the agencies' marts no longer hold its rows
        for agency in settings.agencies:  # nor do its report pages stay behind
            scenario_page_path(settings, agency.id, stored["name"]).unlink(missing_ok=True)
        write_scenario_indexes(settings, con)
    console.print(f"scenario {stored['scenario_id']} '{stored['name']}' dropped", highlight=False)
