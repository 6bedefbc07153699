"""One run at a time per warehouse: an advisory file lock beside the DuckDB file.

A pipeline opens and closes the warehouse many times (once per stage and step), so
DuckDB's own file lock alone would let a second run slip in between two stages and, say,
replace the features a training is reading. The run lock is held for a whole command
instead. It is re-entrant within a process (the pipeline flow holds it while its stage
subflows take it again) and released by the operating system if the process dies.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse; the message says which and since when."""


_held: dict[Path, int] = {}
_guard = threading.Lock()


def lock_path(warehouse_path: Path) -> Path:
    return warehouse_path.with_name(warehouse_path.name + ".lock")


@contextmanager
def run_lock(warehouse_path: Path, purpose: str, timeout_seconds: float = 0.0) -> Iterator[None]:
    """Hold the warehouse's run lock, waiting up to ``timeout_seconds`` for another run."""
    path = lock_path(warehouse_path)
    with _guard:
        if path in _held:
            _held[path] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(path)
                handle.close()
                raise WarehouseBusy(
                    f"warehouse {warehouse_path} is in use by another run ({holder}); "
                    "try again when it has finished (or set orchestration.lock_timeout_seconds to wait)"
                ) from None
            time.sleep(0.5)
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "purpose": purpose, "since": datetime.now(UTC).isoformat()}))
    handle.flush()
    with _guard:
        _held[path] = 1
    try:
        yield
    finally:
        with _guard:
            _held.pop(path, None)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "unknown holder"
    if not info:
        return "unknown holder"
    return f"{info.get('purpose', '?')}, pid {info.get('pid', '?')}, since {info.get('since', '?')}"
