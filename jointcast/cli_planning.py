"""Planner commands: overrides, exports and the coming shifts in the terminal."""

from __future__ import annotations

import getpass
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from jointcast.cli_support import USAGE_ERROR, ConfigOption, console, fail, workspace

overrides = typer.Typer(help="Planner adjustments on top of the model, audited.", no_args_is_help=True)
show = typer.Typer(help="Published numbers in the terminal.", no_args_is_help=True)
AgencyOption = Annotated[str, typer.Option("--agency", help="Agency id, as in the config")]


def _when(text: str, timezone: str, option: str) -> datetime:
    """An ISO date or date-time; without an offset it is the agency's local time."""
    try:
        value = (
            datetime.combine(date.fromisoformat(text), time())
            if len(text) == 10
            else datetime.fromisoformat(text)
        )
    except ValueError:
        raise fail(
            [f"{option} '{text}' is not an ISO date or date-time (2026-12-24 or 2026-12-24T18:00)"], 2
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


def current_user() -> str:
    """The operating-system user recording an override (the audit trail's "by")."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def _mart(settings, agency: str):
    """A read-only session on the agency's encrypted mart; a missing or wrong key is one error line."""
    from warehouse.agency_keys import KeyProblem, require_key
    from warehouse.marts import MartError, open_mart

    try:
        key = require_key(settings, agency)
        with open_mart(settings.mart_path(agency), key, agency) as con:
            yield con
    except (KeyProblem, MartError) as exc:
        raise fail([str(exc)]) from None


@overrides.command("add")
def override_add(
    agency: AgencyOption,
    start: Annotated[str, typer.Option("--from", help="Start, local time unless an offset is given")],
    end: Annotated[str, typer.Option("--to", help="End (exclusive), local time unless an offset is given")],
    factor: Annotated[float, typer.Option(help="Multiply the forecast by this (1.3 = +30%)")],
    reason: Annotated[str, typer.Option(help="Why: kept for the audit trail")],
    area: Annotated[str | None, typer.Option(help="One area [default: every area]")] = None,
    config: ConfigOption = None,
) -> None:
    """Record an override; `jointcast publish` applies it."""
    from warehouse.db import open_warehouse
    from warehouse.overrides import OverrideError, add_override

    settings = workspace(config, agency)
    timezone = next(a.timezone for a in settings.agencies if a.id == agency)
    starts, ends = _when(start, timezone, "--from"), _when(end, timezone, "--to")
    try:
        with open_warehouse(settings.warehouse_path) as con:
            override_id = add_override(
                con, agency_id=agency, area_id=area, starts_at=starts, ends_at=ends, factor=factor,
                reason=reason, created_by=current_user(),
            )  # fmt: skip
    except OverrideError as exc:
        raise fail([str(exc)]) from None
    console.print(f"override {override_id} recorded; run `jointcast publish` to apply it", highlight=False)


@overrides.command("list")
def override_list(
    agency: Annotated[str | None, typer.Option("--agency", help="Only this agency")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include withdrawn overrides")] = False,
    config: ConfigOption = None,
) -> None:
    """Overrides in force (with --all, withdrawn ones too)."""
    from warehouse.db import open_warehouse
    from warehouse.overrides import read_overrides

    settings = workspace(config, agency)
    with open_warehouse(settings.warehouse_path, read_only=True) as con:
        rows = read_overrides(con, agency, include_withdrawn=all_)
    table = Table("id", "agency", "area", "from (UTC)", "to (UTC)", "factor", "reason", "by", "status")
    for row in rows.iter_rows(named=True):
        status = "in force" if row["withdrawn_at"] is None else f"withdrawn {row['withdrawn_at']:%Y-%m-%d}"
        table.add_row(
            str(row["override_id"]), row["agency_id"], row["area_id"] or "all",
            f"{row['starts_at']:%Y-%m-%d %H:%M}", f"{row['ends_at']:%Y-%m-%d %H:%M}", f"{row['factor']:g}",
            row["reason"], row["created_by"], status,
        )  # fmt: skip
    console.print(table)


@overrides.command("withdraw")
def override_withdraw(
    override_id: Annotated[int, typer.Argument(help="The override's id (see `override list`)")],
    reason: Annotated[str, typer.Option(help="Why it is withdrawn")] = "withdrawn",
    config: ConfigOption = None,
) -> None:
    """Withdraw an override (it stays in the audit trail); `jointcast publish` applies it."""
    from warehouse.db import open_warehouse
    from warehouse.overrides import OverrideError, withdraw_override

    settings = workspace(config)
    try:
        with open_warehouse(settings.warehouse_path) as con:
            withdraw_override(con, override_id, current_user(), reason)
    except OverrideError as exc:
        raise fail([str(exc)]) from None
    console.print(f"override {override_id} withdrawn; run `jointcast publish` to apply it", highlight=False)


def export(
    agency: AgencyOption,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    out: Annotated[Path, typer.Option(help="Folder to write the files and manifest.json into")] = Path(
        "export"
    ),
    config: ConfigOption = None,
) -> None:
    """One agency's published tables as files, with a checksum manifest (from its mart: needs its key)."""
    from warehouse.exports import ExportError, export_agency

    settings = workspace(config, agency)
    try:
        with _mart(settings, agency) as con:
            manifest = export_agency(con, agency, fmt, out)
    except ExportError as exc:
        raise fail([str(exc)]) from None
    table = Table(
        "file", "rows", "sha256", title=f"{agency}: publication {manifest['publication_id']} -> {out}"
    )
    for name, info in manifest["files"].items():
        table.add_row(name, f"{info['rows']:,}", info["sha256"][:16] + "…")
    console.print(table)


@show.command("staffing")
def show_staffing(
    agency: AgencyOption,
    day: Annotated[
        str | None, typer.Option("--date", help="One local date, per area [default: next 3 days]")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """The coming shifts: expected incidents, p90 workload, units on duty and FTE.

    Agency totals are the published forecast.shift_totals; one date shows forecast.staffing's
    rows per area, with what set each area's units. Read from the agency's mart: needs its key.
    """
    import polars as pl

    from warehouse.publish import read_shift_totals, read_staffing

    settings = workspace(config, agency)
    zone = ZoneInfo(next(a.timezone for a in settings.agencies if a.id == agency))
    try:
        wanted = date.fromisoformat(day) if day is not None else None
    except ValueError:
        raise fail([f"--date '{day}' is not an ISO date (2026-12-24)"], USAGE_ERROR) from None
    with _mart(settings, agency) as con:
        rows = read_staffing(con, agency) if wanted else read_shift_totals(con, agency)
    if rows.is_empty():
        raise fail([f"no staffing published for '{agency}': run `jointcast forecast` first"])
    if wanted is not None:
        rows = rows.filter(pl.col("shift_date") == wanted).sort("shift_start", "area_id")
        title = f"{agency}: shifts on {wanted} by area"
    else:
        today = datetime.now(zone).date()
        rows = rows.filter(pl.col("shift_date").is_between(today, today + timedelta(days=2)))
        title = f"{agency}: coming shifts (all areas)"
    if rows.is_empty():
        raise fail([f"no published shifts for '{agency}' on those dates (try --date)"])
    per_area = wanted is not None
    headers = [
        "date", "shift", "local time", *(["area"] if per_area else []), "incidents", "p90 workload h",
        "units", "FTE", "set by" if per_area else "areas at min_units",
    ]  # fmt: skip
    table = Table(*headers, title=title)
    for row in rows.iter_rows(named=True):
        ends = row["shift_end_local"] or row["shift_end"].astimezone(zone)
        if per_area:
            basis = row["staffing_basis"] or ""
        else:
            basis = f"{row['areas_at_min_units']} of {row['area_count']}"
        table.add_row(
            f"{row['shift_date']}", row["shift_name"], f"{row['shift_start_local']:%H:%M}-{ends:%H:%M}",
            *([row["area_id"]] if per_area else []), f"{row['expected_incidents']:.1f}",
            f"{row['workload_hours_p90']:.1f}", str(row["recommended_units"]), f"{row['fte']:.1f}", basis,
        )  # fmt: skip
    console.print(table)
    if rows["data_stale"].any():
        console.print(f"[bold yellow]warning:[/] {agency}'s data is stale: these numbers rest on old data")
