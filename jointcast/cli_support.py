"""What every command shares: the consoles, the `--config` option, one-line failures.

`--config` is accepted before the verb (`jointcast --config PATH ingest`, the documented
form) and after it (`jointcast ingest --config PATH`); the verb's own option wins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from jointcast.config import ConfigError, Settings, config_path, load_settings

console = Console()
errors = Console(stderr=True)


def fit_consoles() -> None:
    """Both consoles as wide as this invocation's COLUMNS, else the terminal's, else 80 columns.

    Rich reads COLUMNS once, when a console is made; a process that runs several invocations (the
    test runner, a Python caller) would otherwise keep the width of the first."""
    columns = os.environ.get("COLUMNS", "")
    for each in (console, errors):
        each.width = int(columns) if columns.isdigit() else None  # None: measured on every print


USAGE_ERROR = 2
"""Exit status of a usage or config error (as Click's own usage errors); a failed stage exits 1."""

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file [default: $JOINTCAST_CONFIG or ./jointcast.toml]"),
]


def fail(lines: list[str], code: int = 1) -> typer.Exit:
    """Print one `error:` line per problem; raise the returned Exit."""
    for line in lines:
        errors.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


_before_verb: dict[str, Path | None] = {"config": None}


def remember_config(config: Path | None) -> None:
    """Keep the --config given before the verb (the app's callback calls this on every invocation)."""
    _before_verb["config"] = config


def chosen_config(config: Path | None) -> Path:
    """The config file: the verb's --config, else the one given before the verb, else the default."""
    return config_path(config if config is not None else _before_verb["config"])


def settings_from(config: Path | None) -> Settings:
    """The run's settings, read once; a bad config exits 2 with one line naming the key."""
    try:
        return load_settings(chosen_config(config))
    except ConfigError as exc:
        raise fail([str(exc)], USAGE_ERROR) from None


def workspace(config: Path | None, agency: str | None = None) -> Settings:
    """The settings of a workspace whose warehouse exists (for the commands that read it)."""
    settings = settings_from(config)
    if not settings.warehouse_path.exists():
        raise fail([f"no warehouse at {settings.warehouse_path}: run `jointcast run` first"])
    if agency is not None and agency not in {a.id for a in settings.agencies}:
        known = ", ".join(a.id for a in settings.agencies)
        raise fail([f"unknown agency '{agency}' (configured: {known})"], USAGE_ERROR)
    return settings


def id_table(title: str, *headers: str) -> Table:
    """A table whose first column (an id) is never cut short."""
    first, *rest = headers
    return Table(Column(first, no_wrap=True, min_width=18), *rest, title=title)
