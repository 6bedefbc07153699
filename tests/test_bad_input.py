"""The bad-input corpus: the ways a feed file goes wrong, each through the real ingest and validation.

Every case is made in code from the first rows of a feed the simulator wrote (the city police
CSV with its PII columns, the transit police ``;`` CSV, the county fire JSONL, the EMS Parquet)
and says what a person must see: either one clear error line naming the feed and the file (and
the expectation that failed), or quarantine rows with their reasons and the rest loaded. In every
case the rows balance exactly: rows read = rows loaded + rows quarantined = the data rows the
file really has, and nothing of a refused file is stored.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tests.test_ingest import _ingest, _query

SAMPLE_ROWS = 12
FILE_NAMES = {
    "city_police_cad": "cad.csv", "transit_police_rms": "rms.csv",
    "county_fire_cad": "cad.jsonl", "ems_epcr": "epcr.parquet",
}  # fmt: skip
BIG = 5_000_000  # a 5 MB field


@dataclass(frozen=True)
class Sample:
    """The first rows of each simulated feed, as text lines (CSV, JSONL) or a frame (Parquet)."""

    police: list[str]
    transit: list[str]
    fire: list[str]
    ems: pl.DataFrame


@pytest.fixture(scope="session")
def corpus_source(tmp_path_factory) -> tuple[Path, Sample]:
    """A clean simulated workspace (its feeds removed, its warehouse made) and the first rows of each feed."""
    from jointcast.simulator import simulate

    root = tmp_path_factory.mktemp("corpus") / "workspace"
    # a fixed week inside one month: the simulator writes a file per month, and a week ending
    # today would span two in a month's first days
    simulate(root, days=7, seed=3, messy_rate=0.0, end=date(2024, 6, 20))
    feeds = root / "feeds"

    def lines(feed: str, suffix: str, header: int) -> list[str]:
        [path] = (feeds / feed).glob(f"*.{suffix}")
        return path.read_text(encoding="utf-8").splitlines()[: header + SAMPLE_ROWS]

    sample = Sample(
        police=lines("city_police_cad", "csv", 1),
        transit=lines("transit_police_rms", "csv", 1),
        fire=lines("county_fire_cad", "jsonl", 0),
        ems=pl.read_parquet(next((feeds / "ems_epcr").glob("*.parquet"))).head(SAMPLE_ROWS),
    )
    shutil.rmtree(feeds)
    _ingest(root / "jointcast.toml")  # each case's copy starts from a migrated warehouse and GX project
    return root, sample


@dataclass(frozen=True)
class Case:
    """One bad input and what must become of it.

    ``rows``: the data rows the file really has (None when the file is refused whole: then
    ``error`` is part of its one line). ``quarantined``: row number -> the start of its first
    reason. ``set_aside``: the same for rows loaded with a field set aside (quality.field_issues).
    ``rejected``: part of the expectation that rejects the whole batch.
    """

    feed: str
    make: Callable[[Sample], bytes]
    rows: int | None = SAMPLE_ROWS
    quarantined: dict[int, str] = field(default_factory=dict)
    set_aside: dict[int, str] = field(default_factory=dict)
    error: str | None = None
    rejected: str | None = None
    numbers: tuple[int, ...] | None = None
    """The data rows' numbers, when they are not 1..rows."""


def _csv(lines: list[str], newline: str = "\n", final: bool = True) -> bytes:
    """The lines as UTF-8; a lone surrogate ``\\udcXX`` is the raw byte XX (bytes not valid UTF-8)."""
    return (newline.join(lines) + (newline if final else "")).encode("utf-8", errors="surrogateescape")


def _field(line: str, index: int, value: str, delimiter: str = ",") -> str:
    parts = line.split(delimiter)
    parts[index] = value
    return delimiter.join(parts)


def _replace_row(lines: list[str], row: int, text: str) -> list[str]:
    """``lines`` (header first) with data row ``row`` (1-based) replaced."""
    return [*lines[:row], text, *lines[row + 1 :]]


# City police CSV columns: 0 IncidentNumber, 1 CallType, 2 Priority, 3 Source, 4 CallReceived,
# 5 Dispatched, 6 OnScene, 7 Cleared, 8 Beat, 9 Latitude, 10 Longitude, 11 CallerName, 12 CallerPhone.
def police(edit: Callable[[list[str]], list[str]], **options) -> Callable[[Sample], bytes]:
    return lambda sample: _csv(edit(list(sample.police)), **options)


def police_row(row: int, change: Callable[[str], str]) -> Callable[[Sample], bytes]:
    return police(lambda lines: _replace_row(lines, row, change(lines[row])))


def police_value(row: int, column: int, value: str) -> Callable[[Sample], bytes]:
    return police_row(row, lambda line: _field(line, column, value))


def police_bytes(change: Callable[[bytes], bytes]) -> Callable[[Sample], bytes]:
    return lambda sample: change(_csv(sample.police))


def transit(edit: Callable[[list[str]], list[str]], **options) -> Callable[[Sample], bytes]:
    return lambda sample: _csv(edit(list(sample.transit)), **options)


def fire(edit: Callable[[list[str]], list[str]], **options) -> Callable[[Sample], bytes]:
    return lambda sample: _csv(edit(list(sample.fire)), **options)


def fire_value(row: int, key: str, value) -> Callable[[Sample], bytes]:
    def edit(lines: list[str]) -> list[str]:
        record = json.loads(lines[row - 1])
        record[key] = value
        return [*lines[: row - 1], json.dumps(record), *lines[row:]]

    return fire(edit)


def fire_line(row: int, text: str | Callable[[str], str]) -> Callable[[Sample], bytes]:
    def edit(lines: list[str]) -> list[str]:
        return [*lines[: row - 1], text(lines[row - 1]) if callable(text) else text, *lines[row:]]

    return fire(edit)


def ems(edit: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Sample], bytes]:
    def make(sample: Sample) -> bytes:
        buffer = io.BytesIO()
        edit(sample.ems).write_parquet(buffer)
        return buffer.getvalue()

    return make


def ems_value(row: int, column: str, value, dtype=None) -> Callable[[Sample], bytes]:
    def edit(frame: pl.DataFrame) -> pl.DataFrame:
        values = frame[column].to_list()
        if dtype is not None:
            values = [None if v is None else str(v) if dtype == pl.String else v for v in values]
        values[row - 1] = value
        return frame.with_columns(pl.Series(column, values, dtype=dtype or frame[column].dtype))

    return ems(edit)


def ems_bytes(change: Callable[[bytes], bytes]) -> Callable[[Sample], bytes]:
    return lambda sample: change(ems(lambda frame: frame)(sample))


UNREADABLE = "unreadable_row: "
ALL_BAD = "quarantined share 100% of 12 rows is above max_quarantined_share"

CASES: dict[str, Case] = {
    # --- CSV: line ends, byte-order marks, blank lines -------------------------------------------
    "csv-clean": Case("city_police_cad", police(lambda lines: lines)),
    "csv-utf8-bom": Case("city_police_cad", police_bytes(lambda data: b"\xef\xbb\xbf" + data)),
    "csv-crlf": Case("city_police_cad", police(lambda lines: lines, newline="\r\n")),
    "csv-cr-only": Case("city_police_cad", police(lambda lines: lines, newline="\r")),
    "csv-no-final-newline": Case("city_police_cad", police(lambda lines: lines, final=False)),
    "csv-blank-lines": Case(  # a blank line is not a row
        "city_police_cad", police(lambda lines: [*lines[:4], "", *lines[4:], "", ""])
    ),
    "csv-blank-line-then-bad-row": Case(
        "city_police_cad",
        police(lambda lines: [*lines[:3], "", *_replace_row(lines, 5, lines[5] + ",extra")[3:]]),
        quarantined={5: UNREADABLE + "too many columns: expected 13, found 14 (line 7)"},
    ),
    # --- CSV: bytes ------------------------------------------------------------------------------
    "csv-nul-byte-in-a-name": Case("city_police_cad", police_value(3, 11, "Jane\0Roe")),
    "csv-nul-bytes-line": Case(
        "city_police_cad",
        police_row(4, lambda line: "\0" * 40),
        quarantined={4: UNREADABLE + "missing columns"},
    ),
    "csv-latin-1-in-utf-8": Case(
        "city_police_cad",
        police_value(1, 11, "Ren\udce9e Roe"),  # é as Latin-1 writes it
        quarantined={1: UNREADABLE + "invalid encoding"},
    ),
    "csv-bad-bytes-mid-file": Case(
        "city_police_cad",
        police_value(6, 8, "B\udcff\udcfe"),
        quarantined={6: UNREADABLE + "invalid encoding"},
    ),
    "csv-utf-16-in-utf-8-feed": Case(
        "city_police_cad",
        lambda sample: ("\n".join(sample.police) + "\n").encode("utf-16"),
        rows=None,
        error="the file is UTF-16 (it starts with a UTF-16 byte-order mark) but the feed's encoding is utf-8",
    ),
    "csv-trailing-binary-garbage": Case(
        "city_police_cad",
        police_bytes(lambda data: data + b"\x00\x01\xff\xfe\x9c garbage"),
        rows=SAMPLE_ROWS + 1,
        quarantined={SAMPLE_ROWS + 1: UNREADABLE + "invalid encoding"},
    ),
    "csv-trailing-text-garbage": Case(
        "city_police_cad",
        police(lambda lines: [*lines, "-- end of export, 12 rows --"]),
        rows=SAMPLE_ROWS + 1,
        quarantined={SAMPLE_ROWS + 1: UNREADABLE + "missing columns"},
    ),
    # --- CSV: headers ----------------------------------------------------------------------------
    "csv-duplicated-header": Case(
        "city_police_cad",
        police(lambda lines: [lines[0] + ",CallType"] + [line + ",XX" for line in lines[1:]]),
    ),
    "csv-duplicated-pii-header": Case(
        "city_police_cad",
        police(lambda lines: [lines[0] + ",CallerPhone"] + [line + ",555-0100" for line in lines[1:]]),
    ),
    # every mapped column found by its name up to case (and a warning says so), the PII ones too
    "csv-differently-cased-header": Case(
        "city_police_cad", police(lambda lines: [lines[0].lower(), *lines[1:]])
    ),
    "csv-header-cased-twice": Case(
        "city_police_cad",
        police(lambda lines: [lines[0] + ",incidentnumber"] + [line + ",X" for line in lines[1:]]),
    ),
    "csv-missing-mapped-column": Case(
        "city_police_cad",
        police(
            lambda lines: [",".join(v for i, v in enumerate(line.split(",")) if i != 9) for line in lines]
        ),
        rejected="mapped column 'Latitude' (columns.lat) present",
    ),
    "csv-missing-pii-column": Case(
        "city_police_cad",
        police(lambda lines: [line.rsplit(",", 1)[0] for line in lines]),
        rows=None,
        error="PII column 'CallerPhone' (feeds.pii.drop of feed city_police_cad) is not in the file's header",
    ),
    "csv-wrong-delimiter": Case(
        "transit_police_rms",
        transit(lambda lines: [line.replace(";", ",") for line in lines]),
        rejected="mapped column 'evt_no' (columns.source_incident_id) present",
    ),
    "csv-empty-file": Case("city_police_cad", lambda sample: b"", rows=None, error="empty file"),
    "csv-header-only": Case("city_police_cad", police(lambda lines: lines[:1]), rows=0),
    "csv-header-only-no-newline": Case(
        "city_police_cad", police(lambda lines: lines[:1], final=False), rows=0
    ),
    # --- CSV: quoting ----------------------------------------------------------------------------
    "csv-embedded-newline": Case(
        "city_police_cad", police_row(3, lambda line: _field(line, 11, '"Richard\nScott"'))
    ),
    "csv-embedded-newline-then-bad-row": Case(
        "city_police_cad",
        police(
            lambda lines: _replace_row(
                _replace_row(lines, 2, _field(lines[2], 11, '"A\nB"')), 6, lines[6] + ",x"
            )
        ),
        quarantined={6: UNREADABLE + "too many columns: expected 13, found 14 (line 8)"},
    ),
    "csv-quoted-delimiter": Case("city_police_cad", police_value(2, 11, '"Scott, Richard"')),
    "csv-escaped-quotes": Case("city_police_cad", police_value(2, 11, '"Richard ""Dick"" Scott"')),
    "csv-stray-quotes-in-a-value": Case("city_police_cad", police_value(2, 11, 'Richard "Dick" Scott')),
    "csv-unterminated-quote": Case(
        "city_police_cad",
        police_value(4, 11, '"Richard Scott'),
        quarantined={4: UNREADABLE + "unterminated quote (line 5)"},
    ),
    "csv-unterminated-quote-then-a-quoted-field": Case(
        "city_police_cad",
        police(
            lambda lines: _replace_row(
                _replace_row(lines, 4, _field(lines[4], 11, '"Open')),
                8,
                _field(lines[8], 11, '"Closed, Quoted"'),
            )
        ),  # fmt: skip
        quarantined={4: UNREADABLE + "unterminated quote (line 5)"},
    ),
    "csv-unterminated-quote-last-row": Case(
        "city_police_cad",
        police_value(SAMPLE_ROWS, 0, '"CP-open'),
        quarantined={SAMPLE_ROWS: UNREADABLE + f"unterminated quote (line {SAMPLE_ROWS + 1})"},
    ),
    "csv-text-after-closing-quote": Case(
        "city_police_cad",
        police_value(5, 11, '"Richard"Scott'),
        quarantined={5: UNREADABLE + "malformed quoting"},
    ),
    "csv-five-megabyte-field": Case(
        "city_police_cad",
        police_value(7, 11, "x" * BIG),
        quarantined={7: UNREADABLE + "record of "},
    ),
    "csv-five-megabyte-field-last-row": Case(
        "city_police_cad",
        police_value(SAMPLE_ROWS, 11, "x" * BIG),
        quarantined={SAMPLE_ROWS: UNREADABLE + "record of "},
    ),
    "csv-too-many-fields": Case(
        "city_police_cad",
        police_row(2, lambda line: line + ",surplus"),
        quarantined={2: UNREADABLE + "too many columns"},
    ),
    "csv-too-few-fields": Case(
        "city_police_cad",
        police_row(9, lambda line: line.rsplit(",", 3)[0]),
        quarantined={9: UNREADABLE + "missing columns"},
    ),
    "csv-truncated-mid-row": Case(
        "city_police_cad",
        police_bytes(lambda data: data[: data.rindex(b",", 0, data.rindex(b"\n", 0, -1) + 40)]),
        quarantined={SAMPLE_ROWS: UNREADABLE + "missing columns"},
    ),
    "csv-truncated-inside-a-quote": Case(
        "city_police_cad",
        police(lambda lines: [*lines[:-1], lines[-1].split(",")[0] + ',"TC'], final=False),
        quarantined={SAMPLE_ROWS: UNREADABLE + "unterminated quote"},
    ),
    "csv-semicolon-feed-unterminated-quote": Case(
        "transit_police_rms",
        transit(lambda lines: _replace_row(lines, 3, _field(lines[3], 8, '"S08', ";"))),
        quarantined={3: UNREADABLE + "unterminated quote (line 4)"},
    ),
    "csv-semicolon-feed-five-megabyte-field": Case(
        "transit_police_rms",
        transit(lambda lines: _replace_row(lines, 10, _field(lines[10], 8, "S" * BIG, ";"))),
        quarantined={10: UNREADABLE + "record of "},
    ),
    "csv-bom-cr-only-unterminated-quote": Case(
        "city_police_cad",
        lambda sample: (
            b"\xef\xbb\xbf"
            + _csv(_replace_row(sample.police, 2, _field(sample.police[2], 11, '"Open')), "\r")
        ),
        quarantined={2: UNREADABLE + "unterminated quote (line 3)"},
    ),
    "csv-semicolon-feed-bom-crlf": Case(
        "transit_police_rms", lambda sample: b"\xef\xbb\xbf" + _csv(sample.transit, newline="\r\n")
    ),
    # --- CSV: values -----------------------------------------------------------------------------
    "csv-text-in-a-number": Case(
        "city_police_cad", police_value(3, 2, "high"), set_aside={3: "unparseable_priority"}
    ),
    "csv-fractional-priority": Case(
        "city_police_cad", police_value(3, 2, "2.7"), set_aside={3: "unparseable_priority"}
    ),
    "csv-priority-out-of-range": Case(
        "city_police_cad", police_value(3, 2, "9"), set_aside={3: "priority_out_of_range"}
    ),
    "csv-bad-timestamp": Case(
        "city_police_cad",
        police_value(8, 4, "13/45/2026 25:61:00 PM"),
        quarantined={8: "unparseable_timestamp"},
    ),
    "csv-timestamp-in-another-format": Case(
        "city_police_cad", police_value(8, 4, "2026-11-22T19:01:30"), quarantined={8: "unparseable_timestamp"}
    ),
    "csv-missing-timestamp": Case(
        "city_police_cad", police_value(8, 4, ""), quarantined={8: "missing_timestamp"}
    ),
    "csv-nan-latitude": Case(
        "city_police_cad", police_value(10, 9, "NaN"), set_aside={10: "unparseable_coordinates"}
    ),
    "csv-inf-longitude": Case(
        "city_police_cad", police_value(10, 10, "-inf"), set_aside={10: "unparseable_coordinates"}
    ),
    "csv-text-coordinates": Case(
        "city_police_cad", police_value(10, 9, "north"), set_aside={10: "unparseable_coordinates"}
    ),
    "csv-coordinates-out-of-jurisdiction": Case(
        "city_police_cad", police_value(10, 9, "51.5"), set_aside={10: "out_of_jurisdiction"}
    ),
    "csv-unknown-type-code": Case(
        "city_police_cad", police_value(6, 1, "ZZZ"), quarantined={6: "unknown_type_code"}
    ),
    "csv-blank-id": Case("city_police_cad", police_value(6, 0, ""), quarantined={6: "blank_id"}),
    "csv-duplicated-row": Case(
        "city_police_cad",
        police(lambda lines: [*lines, lines[3]]),
        rows=SAMPLE_ROWS + 1,
        quarantined={SAMPLE_ROWS + 1: "duplicate_row"},
    ),
    "csv-every-timestamp-bad": Case(
        "city_police_cad",
        police(lambda lines: [lines[0]] + [_field(line, 4, "soon") for line in lines[1:]]),
        rejected=ALL_BAD,
    ),
    # --- JSONL -----------------------------------------------------------------------------------
    "jsonl-clean": Case("county_fire_cad", fire(lambda lines: lines)),
    "jsonl-crlf": Case("county_fire_cad", fire(lambda lines: lines, newline="\r\n")),
    "jsonl-utf8-bom": Case("county_fire_cad", lambda sample: b"\xef\xbb\xbf" + _csv(sample.fire)),
    "jsonl-blank-lines": Case(  # JSONL rows are numbered by line: the blank ones leave a gap
        "county_fire_cad",
        fire(lambda lines: [*lines[:5], "", "  ", *lines[5:], ""]),
        numbers=(*range(1, 6), *range(8, SAMPLE_ROWS + 3)),
    ),
    "jsonl-not-an-object": Case(
        "county_fire_cad", fire_line(4, '"just a string"'), quarantined={4: "not_a_json_object"}
    ),
    "jsonl-array": Case("county_fire_cad", fire_line(4, "[1, 2, 3]"), quarantined={4: "not_a_json_object"}),
    "jsonl-null-line": Case("county_fire_cad", fire_line(4, "null"), quarantined={4: "not_a_json_object"}),
    "jsonl-nested-object-in-a-timestamp": Case(
        "county_fire_cad", fire_value(5, "alarm_ts", {"ms": 1}), quarantined={5: "unparseable_timestamp"}
    ),
    "jsonl-nested-object-unmapped": Case("county_fire_cad", fire_value(5, "extra", {"unit": ["E1", "E2"]})),
    "jsonl-truncated-line": Case(
        "county_fire_cad",
        lambda sample: _csv(sample.fire)[:-25],
        quarantined={SAMPLE_ROWS: "malformed_json"},
    ),
    "jsonl-duplicated-keys": Case(
        "county_fire_cad",
        fire_line(6, lambda line: line.replace("{", '{"incident_id": "dup", ', 1)),
        quarantined={6: "duplicate_json_key"},
    ),
    "jsonl-bad-bytes-mid-file": Case(
        "county_fire_cad",
        fire_line(6, lambda line: line.replace('"FD', '"F\udcff', 1)),
        quarantined={6: UNREADABLE + "invalid encoding"},
    ),
    "jsonl-five-megabyte-line": Case(
        "county_fire_cad",
        fire_value(7, "narrative", "n" * BIG),
        quarantined={7: UNREADABLE + "line size over"},
    ),
    "jsonl-raw-nul-byte": Case(
        "county_fire_cad", fire_line(3, '{"incident_id": "a\0b"}'), quarantined={3: "malformed_json"}
    ),
    "jsonl-trailing-garbage": Case(
        "county_fire_cad",
        fire(lambda lines: [*lines, "EOF 12 records"]),
        rows=SAMPLE_ROWS + 1,
        quarantined={SAMPLE_ROWS + 1: "malformed_json"},
    ),
    "jsonl-text-in-a-number": Case(
        "county_fire_cad", fire_value(2, "priority", "high"), set_aside={2: "unparseable_priority"}
    ),
    "jsonl-text-timestamp": Case(
        "county_fire_cad", fire_value(2, "alarm_ts", "yesterday"), quarantined={2: "unparseable_timestamp"}
    ),
    "jsonl-utf-16": Case(
        "county_fire_cad",
        lambda sample: ("\n".join(sample.fire) + "\n").encode("utf-16"),
        rows=None,
        error="the file is UTF-16",
    ),
    "jsonl-empty-file": Case("county_fire_cad", lambda sample: b"", rows=None, error="empty file"),
    "jsonl-no-objects-at-all": Case(
        "county_fire_cad", lambda sample: b"[1]\nnull\n", rows=None, error="no JSON object lines"
    ),
    # --- Parquet ---------------------------------------------------------------------------------
    "parquet-clean": Case("ems_epcr", ems(lambda frame: frame)),
    "parquet-truncated": Case(
        "ems_epcr", ems_bytes(lambda data: data[: len(data) // 2]), rows=None, error="cannot read as parquet"
    ),
    "parquet-corrupt-bytes": Case(
        "ems_epcr",
        ems_bytes(lambda data: data[:4] + b"\x00" * (len(data) - 12) + data[-8:]),
        rows=None,
        error="cannot read as parquet",
    ),
    "parquet-csv-bytes-in-a-parquet-file": Case(
        "ems_epcr", police_bytes(lambda data: data), rows=None, error="cannot read as parquet"
    ),
    "parquet-zero-rows": Case("ems_epcr", ems(lambda frame: frame.head(0)), rows=0),
    "parquet-missing-column": Case(
        "ems_epcr",
        ems(lambda frame: frame.drop("t_call")),
        rejected="mapped column 't_call' (columns.received_at)",
    ),
    "parquet-missing-pii-column": Case(
        "ems_epcr",
        ems(lambda frame: frame.drop("patient_name")),
        rows=None,
        error="PII column 'patient_name' (feeds.pii.drop of feed ems_epcr) is not in the file's header",
    ),
    "parquet-timestamp-as-text": Case(
        "ems_epcr", ems_value(3, "t_call", "garbage", pl.String), quarantined={3: "unparseable_timestamp"}
    ),
    "parquet-fractional-priority": Case(
        "ems_epcr", ems_value(4, "acuity", 2.5, pl.Float64), set_aside={4: "unparseable_priority"}
    ),
    "parquet-text-coordinates": Case(
        "ems_epcr", ems_value(5, "latitude", "north", pl.String), set_aside={5: "unparseable_coordinates"}
    ),
    "parquet-nan-coordinates": Case(
        "ems_epcr", ems_value(5, "longitude", float("nan")), set_aside={5: "unparseable_coordinates"}
    ),
    "parquet-integer-timestamps": Case(
        "ems_epcr",
        ems(lambda frame: frame.with_columns(pl.int_range(0, pl.len()).alias("t_call"))),
        rejected=ALL_BAD,
    ),
    "parquet-nested-unmapped-column": Case(
        "ems_epcr", ems(lambda frame: frame.with_columns(pl.struct(unit=pl.lit("M1")).alias("crew")))
    ),
}


@pytest.fixture
def case_workspace(corpus_source, tmp_path):
    """A copy of the clean workspace holding the case's one file; returns (config, file path)."""
    source, sample = corpus_source
    root = shutil.copytree(source, tmp_path / "workspace")

    def write(case: Case) -> tuple[Path, Path]:
        folder = root / "feeds" / case.feed
        folder.mkdir(parents=True)
        path = folder / FILE_NAMES[case.feed]
        path.write_bytes(case.make(sample))
        return root / "jointcast.toml", path

    return write


def test_the_corpus_is_large():
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(case_workspace, name):
    case = CASES[name]
    config, path = case_workspace(case)
    outcomes = {outcome.feed_id: outcome for outcome in _ingest(config)}
    batches = _query(
        config,
        "SELECT batch_id, status, rows_read, rows_loaded, rows_quarantined, message FROM meta.batches"
        f" WHERE feed_id = '{case.feed}'",
    )
    [(batch_id, status, read, loaded, quarantined, message)] = batches
    stored = _query(
        config,
        f"""SELECT (SELECT count(*) FROM core.incidents WHERE batch_id = {batch_id}),
            (SELECT count(*) FROM quality.quarantine WHERE batch_id = {batch_id})""",
    )[0]
    if case.rows is None:  # refused whole: one line naming the feed, the file and the problem
        [line] = outcomes[case.feed].errors
        assert status == "failed" and line == message
        assert line.startswith(f"feed {case.feed}: file {path}: ") and case.error in line
        assert "\n" not in line and "Traceback" not in line
        assert (read, loaded, quarantined) == (0, 0, 0) and stored == (0, 0)
        assert not list((config.parent / "raw").rglob("*.parquet"))
        return
    assert read == case.rows, f"{name}: {read} rows read, the file has {case.rows}"
    assert read == loaded + quarantined and stored == (loaded, quarantined)
    reasons = dict(
        _query(config, f"SELECT row_number, reasons FROM quality.quarantine WHERE batch_id = {batch_id}")
    )
    if case.rejected is not None:  # rejected whole by an expectation, in one line
        assert status == "rejected" and loaded == 0
        assert message == f"feed {case.feed}: file {path}: expectation failed: " + message.split(": ", 3)[-1]
        assert case.rejected in message and "\n" not in message
        assert sorted(reasons) == list(range(1, case.rows + 1))
        return
    assert status == "loaded", message
    assert {
        row: found[0][: len(case.quarantined.get(row, ""))] for row, found in reasons.items()
    } == case.quarantined
    aside = dict(
        _query(config, f"SELECT row_number, reasons FROM quality.field_issues WHERE batch_id = {batch_id}")
    )
    assert {
        row: found[0][: len(case.set_aside.get(row, ""))] for row, found in aside.items()
    } == case.set_aside
    kept = {
        row for (row,) in _query(config, f"SELECT row_number FROM core.incidents WHERE batch_id = {batch_id}")
    }
    assert kept == set(case.numbers or range(1, case.rows + 1)) - set(case.quarantined)


def test_a_workspace_folder_with_glob_characters_loads_its_feeds(tmp_path):
    """The config folder's own ``[`` is literal: only the configured uri is a glob."""
    from tests.conftest import HEADER, POLICE_FEED, police_row, write_key

    root = tmp_path / "agency [north]"
    (root / "feeds" / "pd").mkdir(parents=True)
    (root / "jointcast.toml").write_text(POLICE_FEED.format(extra=""), encoding="utf-8")
    write_key(root / "pii.key")
    rows = [police_row(f"N{i}", "01/02/2024 10:00:00 AM") for i in range(3)]
    (root / "feeds" / "pd" / "calls [2024].csv").write_text(
        "\n".join([HEADER, *rows]) + "\n", encoding="utf-8"
    )
    [outcome] = _ingest(root / "jointcast.toml")
    assert outcome.errors == []
    config = root / "jointcast.toml"
    assert _query(config, "SELECT count(*) FROM core.incidents") == [(3,)]
    assert _query(config, "SELECT count(*) FROM raw.pd_cad") == [(3,)]


def test_a_bracket_in_a_feed_uri_that_matches_nothing_is_one_line_saying_how_to_escape_it(police_workspace):
    config = police_workspace.config
    config.write_text(config.read_text().replace('uri = "feeds/pd/*.csv"', 'uri = "feeds/pd[1]/*.csv"'))
    (police_workspace.root / "feeds" / "pd[1]").mkdir()
    [outcome] = _ingest(config)
    [line] = outcome.errors
    assert line.startswith("feed pd_cad: no files match ") and "write a literal one as '[[]'" in line
    assert "\n" not in line
