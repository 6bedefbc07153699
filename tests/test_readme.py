"""README.md is executable: every command in its shell and SQL blocks runs as written.

The commands run from a folder laid out as after `make run`: `demo/` (a published
workspace), `.venv` (this environment). A command marked in the README as one that runs
until stopped, needs your own Prefect server or reads the real montco feed (data kept
outside the project) is checked by its `--help` (its program and arguments parse); `make`
targets by `make -n` (they exist and expand).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.conftest import _copy

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
HELP_ONLY = ("runs until stopped", "your own Prefect server", "reads the real montco feed")


@dataclass(frozen=True)
class Command:
    text: str  # as written (continuations and heredocs joined)
    help_only: bool


def shell_commands(markdown: str) -> list[Command]:
    """Every command of the README's ```sh blocks, with its marker."""
    found = []
    for language, body in BLOCK.findall(markdown):
        if language != "sh":
            continue
        lines = body.splitlines()
        while lines:
            line = lines.pop(0)
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            heredoc = re.search(r"<<'?(\w+)'?", line)
            if heredoc:
                while lines and lines[0].strip() != heredoc.group(1):
                    line += "\n" + lines.pop(0)
                line += "\n" + lines.pop(0)
            while line.endswith("\\") and lines:
                line = line[:-1] + lines.pop(0)
            found.append(Command(line, any(marker in line for marker in HELP_ONLY)))
    return found


def sql_blocks(markdown: str) -> list[str]:
    return [body for language, body in BLOCK.findall(markdown) if language == "sql"]


def test_the_readme_has_commands_and_every_long_running_one_is_marked():
    commands = shell_commands(README.read_text(encoding="utf-8"))
    assert len(commands) >= 10
    for command in commands:
        words = _words(command.text)
        long_running = {"serve", "ui", "start"} & set(words) or "PREFECT_API_URL" in command.text
        assert command.help_only or not long_running, f"mark it: {command.text}"


@pytest.fixture(scope="module")
def after_make_run(published_workspace, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    _copy(published_workspace, root / "demo")
    (root / ".venv").symlink_to(Path(sys.prefix))
    return root


COMMANDS = shell_commands(README.read_text(encoding="utf-8"))


# the published demo (trained on the session's Prefect API), each command in a subprocess
@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=[c.text.splitlines()[0][:60] for c in COMMANDS])
def test_every_readme_command_runs_as_written(command, after_make_run, prefect):
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", "COLUMNS": "160"}
    words = _words(command.text)
    if words[0] == "make":
        done = subprocess.run(["make", "-n", "-C", str(REPO), *words[1:]], capture_output=True, text=True)
    elif command.help_only:
        done = _help(words, after_make_run, env)
    else:
        done = subprocess.run(
            ["bash", "-c", command.text],
            cwd=after_make_run,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert done.returncode == 0, f"{command.text}\n{done.stdout}\n{done.stderr}"


@pytest.mark.integration
@pytest.mark.slow
def test_every_readme_sql_block_runs_on_the_demo_warehouse(after_make_run):
    blocks = sql_blocks(README.read_text(encoding="utf-8"))
    assert blocks
    with duckdb.connect(str(after_make_run / "demo" / "warehouse.duckdb"), read_only=True) as con:
        for sql in blocks:
            con.execute(sql).fetchall()


def _words(text: str) -> list[str]:
    """The command's words up to its comment, heredoc or pipe; `.venv/bin/` and env settings dropped."""
    first = text.splitlines()[0].split(" #")[0].split("<<")[0].split("|")[0].split("&")[0]
    words = shlex.split(first)
    if words and words[0].startswith(".venv/bin/"):
        words[0] = words[0].removeprefix(".venv/bin/")
    return words


def _help(words: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """The command's program and sub-commands with --help: they exist and their options parse."""
    if words[0] == "export":  # an environment setting for the commands after it
        return subprocess.run(["bash", "-c", f"export {shlex.quote(words[1])}"])
    if words[1:3] and words[1] in ("--config", "-c"):
        words = [words[0], *words[3:]]
    leading = []
    for word in words:
        if word.startswith("-"):
            break
        leading.append(word)
    program = str(Path(sys.prefix) / "bin" / leading[0])
    return subprocess.run([program, *leading[1:], "--help"], cwd=cwd, env=env, capture_output=True, text=True)
