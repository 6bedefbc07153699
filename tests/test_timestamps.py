"""Timestamps that name their zone: every shape, in every feed format, to the right UTC instant.

Each feed below is configured in New York time, so a reading that ignored a value's own
offset (or applied the feed's zone to it) would be off by hours. Only naive values take
the feed's zone; a batch whose column mixes the two is quarantined, never guessed.
"""

import json
from datetime import UTC, datetime, timedelta, timezone

import duckdb
import polars as pl
import pytest

from jointcast.config import FeedSettings
from tests.test_ingest import _ingest, _query, _utc, assert_rows_accounted
from warehouse.mapping import TIMESTAMP_FIELDS, stage_sql, strptime_formats

FEED = """
[[agencies]]
id = "pd"
name = "Police"
kind = "police"
[[feeds]]
id = "pd_cad"
agency = "pd"
uri = "feeds/*.{format}"
format = "{format}"
timestamp_format = "{timestamp_format}"
timezone = "America/New_York"
max_quarantined_share = 1.0  # files of a few rows, some wholly quarantined: each row's reason is the point
[feeds.columns]
source_incident_id = "id"
received_at = "received"
source_type = "type"
dispatched_at = "dispatched"
"""


def _write_feed(root, file_format: str, timestamp_format: str, received: list, dispatched=None, name="a"):
    """A one-feed workspace under ``root`` with one file of the given rows; returns the config."""
    config = root / "jointcast.toml"
    config.write_text(FEED.format(format=file_format, timestamp_format=timestamp_format))
    (root / "feeds").mkdir(exist_ok=True)
    frame = pl.DataFrame({
        "id": [f"{name}{i}" for i in range(1, len(received) + 1)],
        "type": ["TC"] * len(received),
        "received": received,
        "dispatched": [None] * len(received) if dispatched is None else dispatched,
    }, strict=False)  # fmt: skip
    path = root / "feeds" / f"{name}.{file_format}"
    if file_format == "csv":
        frame.write_csv(path)
    elif file_format == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in frame.to_dicts()))
    else:
        frame.write_parquet(path)
    return config


def _loaded(config) -> dict:
    return dict(_query(config, "SELECT source_incident_id, received_at FROM core.incidents"))


def _quarantined(config) -> dict:
    return dict(_query(config, "SELECT row_number, reasons FROM quality.quarantine ORDER BY row_number"))


# shape -> (timestamp_format, [(value, the UTC instant it names)])
SHAPES = {
    "strptime_z_plus_00": ("%Y/%m/%d %H:%M:%S%z", [
        ("2019/09/27 01:14:27+00", _utc(2019, 9, 27, 1, 14, 27)),
        ("2019/12/31 23:59:59+00", _utc(2019, 12, 31, 23, 59, 59)),
    ]),
    "strptime_z_other_offsets": ("%Y/%m/%d %H:%M:%S%z", [
        ("2019/09/27 01:14:27+05:30", _utc(2019, 9, 26, 19, 44, 27)),
        ("2019/09/27 01:14:27-0400", _utc(2019, 9, 27, 5, 14, 27)),
        ("2019/09/27 01:14:27-04:00", _utc(2019, 9, 27, 5, 14, 27)),
        ("2019/09/27 01:14:27Z", _utc(2019, 9, 27, 1, 14, 27)),
    ]),
    "iso_offsets": ("iso", [
        ("2019-09-27 01:14:27+00", _utc(2019, 9, 27, 1, 14, 27)),
        ("2019-09-27T01:14:27+05:30", _utc(2019, 9, 26, 19, 44, 27)),
        ("2019-09-27T01:14:27-0400", _utc(2019, 9, 27, 5, 14, 27)),
        ("2019-09-27T01:14:27.5-04:00", _utc(2019, 9, 27, 5, 14, 27, 500000)),
    ]),
    "iso_z": ("iso", [
        ("2019-09-27T01:14:27Z", _utc(2019, 9, 27, 1, 14, 27)),
        ("2019-11-03T06:30:00Z", _utc(2019, 11, 3, 6, 30)),  # 01:30 in New York, the second time
    ]),
    "strptime_zone_names": ("%Y-%m-%d %H:%M:%S %Z", [
        ("2019-09-27 01:14:27 UTC", _utc(2019, 9, 27, 1, 14, 27)),
        ("2019-09-27 01:14:27 America/Chicago", _utc(2019, 9, 27, 6, 14, 27)),
        ("2019-09-27 01:14:27 EDT", _utc(2019, 9, 27, 5, 14, 27)),
        ("2019-07-27 01:14:27 PST", _utc(2019, 7, 27, 9, 14, 27)),  # PST is -08:00, even in July
    ]),
}  # fmt: skip


@pytest.mark.parametrize("file_format", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_zoned_values_load_as_the_instants_they_name(tmp_path, shape, file_format):
    timestamp_format, cases = SHAPES[shape]
    config = _write_feed(tmp_path, file_format, timestamp_format, [text for text, _ in cases])
    _ingest(config)
    assert _quarantined(config) == {}
    assert _loaded(config) == {f"a{i}": instant for i, (_, instant) in enumerate(cases, start=1)}
    assert _query(config, "SELECT rows_read, rows_loaded, rows_quarantined FROM meta.batches") == [
        (len(cases), len(cases), 0)
    ]
    assert_rows_accounted(config)


def test_an_offset_in_a_column_the_format_calls_naive_is_read_too(tmp_path):
    config = _write_feed(tmp_path, "csv", "%m/%d/%Y %I:%M:%S %p", [
        "09/27/2019 01:14:27 AM -04:00", "09/27/2019 01:14:27 PM +00", "09/27/2019 01:14:27 AM EDT",
    ])  # fmt: skip
    _ingest(config)
    assert _quarantined(config) == {}
    assert _loaded(config) == {
        "a1": _utc(2019, 9, 27, 5, 14, 27), "a2": _utc(2019, 9, 27, 13, 14, 27), "a3": _utc(2019, 9, 27, 5, 14, 27),
    }  # fmt: skip


@pytest.mark.parametrize("timestamp_format", ["iso", "%m/%d/%Y %I:%M:%S %p", "epoch_ms"])
def test_parquet_timestamps_typed_with_a_zone_are_those_instants(tmp_path, timestamp_format):
    """A zoned typed column is read as such whatever the feed's text format says."""
    kolkata = timezone(timedelta(hours=5, minutes=30))
    stamps = [
        datetime(2019, 9, 27, 1, 14, 27, tzinfo=kolkata),
        datetime(2019, 9, 27, 1, 14, 27, 250000, tzinfo=UTC),
    ]
    config = _write_feed(
        tmp_path, "parquet", timestamp_format,
        received=pl.Series(stamps, dtype=pl.Datetime("us", "Asia/Kolkata")),
        dispatched=pl.Series(stamps, dtype=pl.Datetime("us", "UTC")),
    )  # fmt: skip
    _ingest(config)
    assert _quarantined(config) == {}
    expected = {"a1": _utc(2019, 9, 26, 19, 44, 27), "a2": _utc(2019, 9, 27, 1, 14, 27, 250000)}
    assert _loaded(config) == expected
    assert dict(_query(config, "SELECT source_incident_id, dispatched_at FROM core.incidents")) == expected


def test_parquet_timestamps_typed_without_a_zone_are_read_in_the_feeds_zone(tmp_path):
    naive = [datetime(2019, 9, 27, 1, 14, 27), datetime(2019, 1, 27, 1, 14)]  # EDT, then EST
    config = _write_feed(tmp_path, "parquet", "iso", naive)
    _ingest(config)
    assert _quarantined(config) == {}
    assert _loaded(config) == {"a1": _utc(2019, 9, 27, 5, 14, 27), "a2": _utc(2019, 1, 27, 6, 14)}


def test_jsonl_epoch_milliseconds_are_instants_whatever_the_feeds_zone(tmp_path):
    config = _write_feed(tmp_path, "jsonl", "epoch_ms", [1569546867000, 1569546867250])
    _ingest(config)
    assert _quarantined(config) == {}
    assert _loaded(config) == {"a1": _utc(2019, 9, 27, 1, 14, 27), "a2": _utc(2019, 9, 27, 1, 14, 27, 250000)}


@pytest.mark.parametrize("timestamp_format", ["iso", "%Y-%m-%d %H:%M:%S%z"])
def test_the_odd_kind_of_value_in_a_column_mixing_naive_and_zoned_is_quarantined_not_guessed(
    tmp_path, timestamp_format
):
    """A value without the offset the column's others carry (UTC with it dropped, or local?) is not
    guessed at: it alone is quarantined, and the zoned values, instants by themselves, load."""
    sep = "T" if timestamp_format == "iso" else " "
    config = _write_feed(tmp_path, "csv", timestamp_format, [
        f"2019-09-27{sep}01:14:27+00", f"2019-09-27{sep}02:14:27", f"2019-09-27{sep}03:14:27-04:00", "soon",
    ])  # fmt: skip
    _ingest(config)
    assert _quarantined(config) == {2: ["mixed_timestamp_offsets"], 4: ["unparseable_timestamp"]}
    assert _loaded(config) == {"a1": _utc(2019, 9, 27, 1, 14, 27), "a3": _utc(2019, 9, 27, 7, 14, 27)}
    assert _query(config, "SELECT rows_read, rows_loaded, rows_quarantined FROM meta.batches") == [(4, 2, 2)]
    assert_rows_accounted(config)


def test_a_column_mixing_as_many_naive_as_zoned_values_quarantines_both(tmp_path):
    """Neither kind is the odd one out: nothing in the column is guessed."""
    config = _write_feed(tmp_path, "csv", "iso", ["2019-09-27T01:14:27+00", "2019-09-27T02:14:27"])
    _ingest(config)
    assert _quarantined(config) == {1: ["mixed_timestamp_offsets"], 2: ["mixed_timestamp_offsets"]}
    assert_rows_accounted(config)


def test_a_mix_is_judged_per_column_and_per_file(tmp_path):
    """Naive received times with zoned dispatch times is no mix; each file is read on its own."""
    _write_feed(tmp_path, "csv", "iso", ["2019-09-27T01:00:00", "2019-09-27T02:00:00"],
                dispatched=["2019-09-27T05:05:00Z", "2019-09-27T06:05:00+00"])  # fmt: skip
    _write_feed(tmp_path, "csv", "iso", ["2019-09-28T01:00:00Z", "2019-09-28T02:00:00Z"], name="b")
    config = _write_feed(tmp_path, "csv", "iso", ["2019-09-29T01:00:00", "2019-09-29T02:00:00"],
                         dispatched=["2019-09-29T05:05:00Z", "2019-09-29T02:05:00"], name="c")  # fmt: skip
    _ingest(config)
    # file c's dispatch times mix: set aside (the incidents load, received in the feed's zone)
    assert _quarantined(config) == {}
    aside = _query(config, "SELECT row_number, reasons, fields FROM quality.field_issues ORDER BY 1")
    assert aside == [(n, ["mixed_dispatched_at_offsets"], ["dispatched_at"]) for n in (1, 2)]
    assert _loaded(config) == {
        "a1": _utc(2019, 9, 27, 5), "a2": _utc(2019, 9, 27, 6),
        "b1": _utc(2019, 9, 28, 1), "b2": _utc(2019, 9, 28, 2),
        "c1": _utc(2019, 9, 29, 5), "c2": _utc(2019, 9, 29, 6),
    }  # fmt: skip
    assert _query(
        config, "SELECT count(dispatched_at) FROM core.incidents WHERE source_incident_id LIKE 'c%'"
    ) == [(0,)]
    assert_rows_accounted(config)


def test_a_list_of_formats_reads_each_value_in_the_first_that_reads_it(tmp_path):
    """A CAD whose export changed format: its older rows in one format, its newer in another, even in
    one file. Each value is read in the first of the formats that reads it; one that none reads is
    unparseable, never guessed."""
    config = _write_feed(tmp_path, "csv", "%m/%d/%Y %I:%M:%S %p", [
        "09/27/2019 01:14:27 AM",
        "2019-09-27T01:14:27",
        "2019-09-27 13:14",
        "27.09.2019 01:14",
    ])  # fmt: skip
    text = config.read_text()
    config.write_text(text.replace('"%m/%d/%Y %I:%M:%S %p"', '["%m/%d/%Y %I:%M:%S %p", "iso"]'))
    _ingest(config)
    assert _quarantined(config) == {4: ["unparseable_timestamp"]}
    new_york = timedelta(hours=4)  # EDT: every value is naive, read in the feed's zone
    assert _loaded(config) == {
        "a1": _utc(2019, 9, 27, 1, 14, 27) + new_york,
        "a2": _utc(2019, 9, 27, 1, 14, 27) + new_york,
        "a3": _utc(2019, 9, 27, 13, 14) + new_york,
    }
    assert_rows_accounted(config)


def test_unparseable_and_refused_zones_keep_their_reason(tmp_path):
    config = _write_feed(tmp_path, "csv", "%Y-%m-%d %H:%M:%S %Z", [
        "2019-09-27 01:14:27 UTC",
        "2019-09-27 01:14:27 BST",  # ICU would read Bangladesh; refused rather than guessed
        "2019-09-27 01:14:27 Mars/Olympus",
        "2019-09-27 25:14:27 UTC",
    ])  # fmt: skip
    _ingest(config)
    assert _quarantined(config) == {n: ["unparseable_timestamp"] for n in (2, 3, 4)}
    assert _loaded(config) == {"a1": _utc(2019, 9, 27, 1, 14, 27)}
    assert_rows_accounted(config)


def test_the_validation_suite_compares_zoned_timestamps_without_failing(tmp_path):
    """Freshness, the 2000 floor and the future ceiling all run on zoned values."""
    now = datetime.now(UTC).replace(microsecond=0)
    recent = now - timedelta(hours=1)
    config = _write_feed(tmp_path, "csv", "%Y/%m/%d %H:%M:%S%z", [
        recent.strftime("%Y/%m/%d %H:%M:%S+00"),
        recent.astimezone(timezone(timedelta(hours=5, minutes=30))).strftime("%Y/%m/%d %H:%M:%S+05:30"),
        (now + timedelta(days=2)).strftime("%Y/%m/%d %H:%M:%S-0400"),
        "2000/01/01 01:00:00+02:00",  # 1999-12-31 23:00 UTC
    ])  # fmt: skip
    _ingest(config)
    [(status, message, loaded)] = _query(config, "SELECT status, message, rows_loaded FROM meta.batches")
    [(success, failures, warnings)] = _query(
        config, "SELECT success, failed_checks, warnings FROM quality.validation_runs"
    )
    assert (status, message, loaded) == ("loaded", None, 2)
    assert (success, failures, warnings) == (True, [], [])  # fresh: the newest record is an hour old
    assert _quarantined(config) == {3: ["future_timestamp"], 4: ["timestamp_before_2000"]}
    assert _loaded(config) == {"a1": recent, "a2": recent}


def _bound(min_value: str) -> str:
    kwargs = {"column": "received_at", "min_value": min_value}
    return json.dumps(
        [{"type": "expect_column_values_to_be_between", "kwargs": kwargs, "meta": {"reason": "before_2020"}}]
    )


def test_a_hand_written_expectation_that_cannot_compare_rejects_the_batch_loudly(tmp_path):
    """A naive bound cannot be compared with UTC instants: that is said, not passed silently."""
    config = _write_feed(tmp_path, "csv", "iso", ["2019-09-27T01:14:27Z", "2021-01-01T00:00:00Z"])
    (tmp_path / "expectations").mkdir()
    written = tmp_path / "expectations" / "pd_cad.json"
    written.write_text(_bound("2020-01-01"))
    _ingest(config)
    [(status, message)] = _query(config, "SELECT status, message FROM meta.batches")
    assert status == "rejected" and "could not run" in message

    written.write_text(_bound("2020-01-01T00:00:00+00:00"))
    _write_feed(tmp_path, "csv", "iso", ["2019-09-27T01:14:27Z", "2021-01-01T00:00:00Z"], name="b")
    _ingest(config)
    # the first file, rejected under the old expectation, is validated again under the new one
    assert _query(config, "SELECT reasons FROM quality.quarantine q JOIN meta.batches b USING (batch_id)"
                          " WHERE b.status = 'loaded'") == [(["before_2020"],)] * 2  # fmt: skip
    assert _query(config, "SELECT DISTINCT status FROM meta.batches") == [("loaded",)]


@pytest.mark.parametrize("timestamp_format", [
    "iso", "epoch_ms", "epoch_s", "%Y/%m/%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S %Z", "%m/%d/%Y %I:%M:%S %p",
])  # fmt: skip
@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_staged_timestamps_are_always_utc_instants(timestamp_format, file_format):
    """What the suite compares with its zoned bounds is zoned, for every format (even all NULL)."""
    feed = FeedSettings(
        id="f", agency="a", uri="f.csv", format=file_format, timestamp_format=timestamp_format,
        columns={"source_incident_id": "id", "received_at": "received", "source_type": "type"},
    )  # fmt: skip
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE _incoming AS SELECT 1 AS _row_number, '1' AS id, 'x' AS type, 'x' AS received")  # fmt: skip
    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE {stage_sql(feed)}").fetchall()}
    assert {field: types[field] for field in TIMESTAMP_FIELDS} == dict.fromkeys(
        TIMESTAMP_FIELDS, "TIMESTAMP WITH TIME ZONE"
    )


def test_a_formats_zone_directive_may_hold_an_offset_or_a_name():
    assert strptime_formats("%Y/%m/%d %H:%M:%S%z") == (
        "%Y/%m/%d %H:%M:%S",
        ["%Y/%m/%d %H:%M:%S%z", "%Y/%m/%d %H:%M:%S %z", "%Y/%m/%d %H:%M:%S%Z", "%Y/%m/%d %H:%M:%S %Z"],
    )
    naive, zoned = strptime_formats("%a %b %d %H:%M:%S %Z %Y")
    assert naive == "%a %b %d %H:%M:%S %Y" and "%a %b %d %H:%M:%S %z %Y" in zoned
    assert strptime_formats("%d %H:%M %%z")[0] == "%d %H:%M %%z"
