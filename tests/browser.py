"""Headless Chromium for tests: the DOM a local page renders to, and a screenshot of it.

Uses Debian's ``chromium`` (``make browser`` installs it) in its current headless mode (the
``--headless`` flag; the old mode left the browser binary in Chromium 132), with a throwaway
profile per call so runs never share state.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",  # the tests may run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
)


class ChromiumError(RuntimeError):
    """Chromium is missing, failed, or took too long."""


def chromium() -> str:
    """The Chromium binary, or a clear error saying how to install it."""
    found = shutil.which("chromium") or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if found is None:
        raise ChromiumError(
            f"headless Chromium is not installed ({CHROMIUM} not found): run `make browser`, or"
            " `apt-get install chromium` as root"
        )
    return found


def dump_dom(page: Path, timeout: float = 60) -> str:
    """The serialised DOM of a local HTML file after Chromium has parsed and laid it out."""
    return _run(["--dump-dom", Path(page).resolve().as_uri()], timeout).stdout


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 2400, timeout: float = 60) -> Path:
    """A PNG of the top ``width`` x ``height`` pixels of a local HTML file, written to ``out``."""
    out = Path(out).resolve()
    out.unlink(missing_ok=True)
    _run([f"--screenshot={out}", f"--window-size={width},{height}", Path(page).resolve().as_uri()], timeout)
    if not out.is_file():
        raise ChromiumError(f"Chromium exited without writing the screenshot {out}")
    return out


def _run(arguments: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *arguments]
        # its own process group, so a timeout ends the renderer and GPU helpers with the browser
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise ChromiumError(f"Chromium took over {timeout:.0f} s: {' '.join(command)}") from None
    if process.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise ChromiumError(f"Chromium exited with {process.returncode}: {' '.join(command)}\n{tail}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
