"""Report pages on disk: written whole or not at all."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


def write_report(html: str, path: Path) -> Path:
    """Write ``html`` to ``path`` through a temporary file in the same folder, so readers never see half.

    A temporary file of this page that a killed run left behind is removed first (runs that
    write pages take turns under the run lock, so none of them is live).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        leftover.unlink(missing_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o644)  # mkstemp's 0600 would hide the report from the planners' accounts
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(html)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as exc:  # a full disk: name the page, not just the descriptor that failed
        Path(temporary).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    logger.debug("report written to %s", path)
    return path


PUBLICATION_META = "jointcast-publication"
"""The report page's ``<meta name=... content="<publication_id>">``: which publication it shows."""


def page_publication(path: Path) -> str | None:
    """The publication id a report page shows (its ``PUBLICATION_META``); None for a page that is
    missing or carries none (written before pages said)."""
    try:
        head = Path(path).read_text(encoding="utf-8")[:4096]
    except OSError:
        return None
    found = re.search(rf'<meta name="{PUBLICATION_META}" content="([^"]*)"', head)
    return found.group(1) if found else None
