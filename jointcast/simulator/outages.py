"""Injected feed outages: runs of whole UTC days in which a feed delivered nothing.

The true rates go on (demand did not stop); only the records are gone, as when a scraper
missed days or a CAD export failed. ``truth/outages.json`` says where, so a test or a
benchmark can check that the outage is found with its dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl


@dataclass(frozen=True)
class InjectedOutage:
    feed_id: str
    first_day: date
    days: int

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


def injected_outages(
    outages: Iterable[tuple[str, date, int]], feed_ids: Sequence[str], start: date, end: date
) -> list[InjectedOutage]:
    """The (feed_id, first day, days) given, checked against the simulated feeds and window."""
    checked = []
    for feed_id, first_day, days in outages:
        if feed_id not in feed_ids:
            raise ValueError(f"outage of feed '{feed_id}': not a simulated feed ({', '.join(feed_ids)})")
        if days < 1:
            raise ValueError(f"outage of feed '{feed_id}': days must be at least 1, got {days}")
        if not start <= first_day < end:
            raise ValueError(f"outage of feed '{feed_id}': {first_day} is not in the window {start}..{end}")
        checked.append(InjectedOutage(feed_id, first_day, days))
    return checked


def parse_dated(option: str, text: str, number: type, form: str, example: str) -> tuple[str, date, float]:
    """``ID:YYYY-MM-DD:NUMBER`` (a CLI option such as ``--outage``) as (id, day, ``number``), or one
    line saying the ``form`` expected, with an ``example``."""
    try:
        name, day, value = text.split(":")
        return name, date.fromisoformat(day), number(value)
    except ValueError:
        raise ValueError(f"--{option} '{text}': expected {form}, e.g. {example}") from None


def parse_outage(text: str) -> tuple[str, date, int]:
    """``FEED:YYYY-MM-DD:DAYS`` (the CLI's ``--outage``) as (feed_id, first day, days)."""
    return parse_dated("outage", text, int, "FEED:YYYY-MM-DD:DAYS", "city_police_cad:2024-09-20:10")


def without_outages(records: pl.DataFrame, feed_id: str, outages: Sequence[InjectedOutage]) -> pl.DataFrame:
    """The feed's records less those received in any of its outages."""
    lost = [
        pl.col("received_at").is_between(pl.lit(o.start), pl.lit(o.end), closed="left")
        for o in outages
        if o.feed_id == feed_id
    ]
    return records.filter(~pl.any_horizontal(lost)) if lost else records


def outages_truth(outages: Sequence[InjectedOutage], removed: dict[InjectedOutage, int]) -> list[dict]:
    """truth/outages.json: each injected outage's feed, UTC start and end (exclusive), records removed."""
    return [
        {
            "feed_id": o.feed_id,
            "start": o.start.isoformat(),
            "end": o.end.isoformat(),
            "days": o.days,
            "records_removed": removed[o],
        }
        for o in outages
    ]
