"""A test-only kill hook: the process dies (SIGKILL) at a named point when the environment asks.

``JOINTCAST_KILL_AT=<point>`` makes ``reach(point)`` kill the process there, as a power cut or
an out-of-memory kill would: no ``finally``, no ``atexit``, no rollback. The fault-injection test
(tests/test_crash_consistency.py) runs a command killed at each point of ``POINTS``, runs it
again without the hook and compares the workspace with an uninterrupted run's. Unset (always,
outside that test), ``reach`` does nothing.

The points sit at the commit boundaries of every stage: just before and after a transaction
commits, between a commit and the files that follow it, and in the middle of a run of renames.
"""

from __future__ import annotations

import os
import signal

KILL_AT = "JOINTCAST_KILL_AT"

POINTS = (
    "ingest.before_commit",  # the batch's raw file written, its transaction not yet committed
    "ingest.after_commit",  # the batch committed as received
    "ingest.after_file",  # a whole feed file received (the next one not yet)
    "validate.before_commit",  # a batch staged and checked, its load not yet committed
    "validate.after_commit",  # a batch loaded into core (the feed's next batch not yet)
    "validate.before_docs",  # every batch validated, Data Docs not yet built
    "features.before_commit",  # the features built in memory, not yet written
    "features.after_commit",  # the features tables committed
    "train.after_register",  # a model version registered in MLflow, no alias yet
    "train.after_alias",  # the version aliased challenger/champion, its inputs digest not yet tagged
    "publish.before_commit",  # the publication assembled in memory, not yet written
    "publish.after_commit",  # the publication committed, no mart and no report page yet
    "publish.mid_marts",  # one agency's mart written, the next not yet
    "publish.before_pages",  # every mart written, the report pages not yet
    "publish.mid_pages",  # one report page written, the next not yet
    "export.before_swap",  # the export's folder complete under its temporary name
    "export.after_swap",  # the new export in place, the previous one not yet removed
)
"""Every kill point, in the order a `jointcast run` followed by an export reaches them."""


def reach(point: str) -> None:
    """Die here, at once, when ``JOINTCAST_KILL_AT`` names ``point``; else nothing."""
    if point not in POINTS:
        raise ValueError(f"unknown kill point {point!r}")
    if os.environ.get(KILL_AT) == point:
        os.kill(os.getpid(), signal.SIGKILL)
