"""What a batch is mapped and checked with, as the digest validation records on it (meta.batches).

Kept apart from the validation step, which imports Great Expectations: the command line's "nothing
to do" check (flows.pending) compares digests before any stage starts.
"""

from __future__ import annotations

from pathlib import Path

from jointcast.config import FeedSettings, Settings
from planning.provenance import digest
from warehouse.ingest import READ_FIELDS
from warehouse.sources import file_sha256

PACKAGE_SUITES = Path(__file__).parent

NOT_CHECKED = ("id", "uri", "outages")
"""What of a feed's settings no batch is mapped or checked with: its name, where its files are, and
its outages (read by the features stage). Its ``READ_FIELDS`` are the read digest's."""


def expectation_folders(settings: Settings) -> list[Path]:
    """Where a feed's hand-written expectations (``<feed_id>.json``) are looked for."""
    return [PACKAGE_SUITES, settings.root / "expectations"]


def check_digest(settings: Settings, feed: FeedSettings) -> str:
    """The digest of what a batch of ``feed`` is mapped and checked with: the feed's settings but
    ``NOT_CHECKED`` and ``READ_FIELDS``, its agencies' ``bbox`` (the jurisdiction check) and its
    hand-written expectation files' bytes. A batch rejected under another digest is validated again."""
    files = [folder / f"{feed.id}.json" for folder in expectation_folders(settings)]
    return digest(
        feed.model_dump(mode="json", exclude={*NOT_CHECKED, *READ_FIELDS}),
        {agency_id: settings.agency(agency_id).bbox for agency_id in feed.agency_ids},
        [file_sha256(path) if path.is_file() else None for path in files],
    )
