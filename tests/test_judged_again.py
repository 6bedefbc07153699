"""A rejected or failed batch is taken again once the config it was judged under changes, and only then."""

import pytest

from expectations.runner import Validator
from expectations.validate import validate_feed
from flows.pending import nothing_to_do
from jointcast.config import load_settings
from tests.conftest import HEADER, police_row
from tests.test_ingest import _ingest, _query, assert_rows_accounted
from warehouse.db import open_warehouse
from warehouse.ingest import ingest_feed

RIGHT_FORMAT = 'timestamp_format = "%m/%d/%Y %I:%M:%S %p"'
WRONG_FORMAT = 'timestamp_format = "%Y-%m-%d %H:%M:%S"'  # another export's format: no row parses
PII_LINE = 'pii = { drop = ["Phone"], hash = ["Caller"] }'


def _edit(config, old: str, new: str) -> None:
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new), encoding="utf-8")


def _validate(config):
    """Validate every feed as the validate stage does; returns each feed's FeedValidation."""
    settings = load_settings(config)
    with open_warehouse(settings.warehouse_path) as con:
        results = [validate_feed(con, settings, feed, Validator(settings.root)) for feed in settings.feeds]
        con.execute("UPDATE quality.validation_runs SET docs_uri = 'file:///docs' WHERE docs_uri IS NULL")
    return results


def _receive(config):
    """Ingest only (no validation); returns each feed's FeedOutcome."""
    settings = load_settings(config)
    with open_warehouse(settings.warehouse_path) as con:
        return [ingest_feed(con, settings, feed) for feed in settings.feeds]


def _nothing_to_do(config, stage: str) -> str | None:
    return nothing_to_do(stage, load_settings(config))


def _state(config):
    """Everything validation writes about batches: what a run that changes nothing leaves alone."""
    return (
        _query(config, "SELECT * EXCLUDE (loaded_at) FROM meta.batches ORDER BY batch_id"),
        _query(config, "SELECT batch_id, row_number, reasons FROM quality.quarantine ORDER BY ALL"),
        _query(config, "SELECT count(*) FROM quality.validation_runs"),
        _query(config, "SELECT count(*) FROM core.incidents"),
    )


def _mapping_rejected(police_workspace):
    """A file rejected under a wrong timestamp_format: 3 good rows, one of an unknown type, one line
    with too many fields (unreadable at ingest)."""
    police_workspace(
        "pd_01.csv",
        [
            police_row("R1", "01/02/2024 10:00:00 AM"),
            police_row("R2", "01/02/2024 11:00:00 AM"),
            police_row("R3", "01/02/2024 12:00:00 PM"),
            police_row("R4", "01/02/2024 01:00:00 PM", type_code="ZZZ"),
            police_row("R5", "01/02/2024 02:00:00 PM") + ",extra",
        ],
    )
    config = police_workspace.config
    _edit(config, RIGHT_FORMAT, WRONG_FORMAT)
    _receive(config)
    [result] = _validate(config)
    assert [b.success for b in result.batches] == [False] and result.again == 0
    return config


def test_a_file_rejected_under_a_wrong_mapping_loads_once_the_config_is_fixed(police_workspace):
    config = _mapping_rejected(police_workspace)
    [(status, read, loaded, quarantined)] = _query(
        config, "SELECT status, rows_read, rows_loaded, rows_quarantined FROM meta.batches"
    )
    assert (status, read, loaded, quarantined) == ("rejected", 5, 0, 5)
    assert _nothing_to_do(config, "validate") == "validate: every batch validated"

    _edit(config, WRONG_FORMAT, RIGHT_FORMAT)
    # the file is read as before: validation alone takes it again
    assert _nothing_to_do(config, "ingest") == "ingest: no new files (1 already received)"
    assert _nothing_to_do(config, "validate") is None
    assert _nothing_to_do(config, "run") is None
    [outcome] = _receive(config)
    assert [b.status for b in outcome.batches] == ["skipped"] and outcome.again_said() is None

    [result] = _validate(config)
    assert result.again == 1
    assert (
        result.again_said()
        == "validate: 1 rejected batch of feed pd_cad is validated again: its config changed"
    )
    [batch] = result.batches
    assert batch.success and (batch.rows_loaded, batch.rows_quarantined) == (3, 1)

    [(status, read, loaded, quarantined, message)] = _query(
        config, "SELECT status, rows_read, rows_loaded, rows_quarantined, message FROM meta.batches"
    )
    assert (status, read, loaded, quarantined, message) == ("loaded", 5, 3, 2, None)
    assert_rows_accounted(config)
    reasons = _query(config, "SELECT row_number, reasons FROM quality.quarantine ORDER BY 1")
    assert [(n, [r.split(":")[0] for r in rs]) for n, rs in reasons] == [
        (4, ["unknown_type_code"]),
        (5, ["unreadable_row"]),  # what ingest could not read stays quarantined
    ]
    assert _query(config, "SELECT source_incident_id FROM core.incidents ORDER BY 1") == [
        ("R1",), ("R2",), ("R3",),
    ]  # fmt: skip
    runs = _query(config, "SELECT success FROM quality.validation_runs ORDER BY validated_at")
    assert runs == [(False,), (True,)]  # the rejection stays in the batch's history
    assert _nothing_to_do(config, "validate") == "validate: every batch validated"

    # a loaded batch is not validated again, whatever the config says next
    _edit(config, RIGHT_FORMAT, WRONG_FORMAT)
    assert _nothing_to_do(config, "validate") == "validate: every batch validated"
    before = _state(config)
    [result] = _validate(config)
    assert result.batches == [] and _state(config) == before


def test_with_the_config_unchanged_a_rejected_batch_stays_rejected(police_workspace):
    config = _mapping_rejected(police_workspace)
    before = _state(config)
    assert _nothing_to_do(config, "ingest") is not None
    assert _nothing_to_do(config, "validate") is not None

    [outcome] = _receive(config)
    [result] = _validate(config)
    assert [b.status for b in outcome.batches] == ["skipped"] and result.batches == []
    assert _state(config) == before

    # a setting no batch is read or checked with (the feed's outages) changes nothing either
    police_workspace.config.write_text(
        config.read_text(encoding="utf-8") + "\n[feeds.outages]\nmin_hours = 8\n", encoding="utf-8"
    )
    assert _nothing_to_do(config, "validate") == "validate: every batch validated"
    _receive(config)
    _validate(config)
    assert _state(config) == before


def test_a_rejected_batch_checked_against_other_type_codes_is_validated_again(police_workspace):
    """What a feed's codes map to is part of what its batches are judged under: a file whose call
    types were all unknown loads once the codes are mapped."""
    police_workspace(
        "pd_01.csv", [police_row(f"B{i}", "01/02/2024 10:00:00 AM", type_code="ARSON") for i in range(4)]
    )
    config = police_workspace.config
    _ingest(config)
    assert _query(config, "SELECT status FROM meta.batches") == [("rejected",)]
    _edit(config, 'THEFT = "theft" }', 'THEFT = "theft", ARSON = "arson" }')
    [result] = _validate(config)
    assert result.again == 1 and [b.rows_loaded for b in result.batches] == [4]
    assert_rows_accounted(config)
    assert _query(config, "SELECT count(*) FROM quality.quarantine") == [(0,)]


def _semicolons(rows: list[str]) -> list[str]:
    return [row.replace(",", ";") for row in rows]


@pytest.mark.parametrize("case", ["delimiter", "encoding"])
def test_a_file_that_failed_at_ingest_is_received_again_after_the_fix(police_workspace, case):
    """A file the feed's settings cannot read (its PII columns not found under the wrong delimiter; a
    UTF-16 file in a UTF-8 feed) fails at ingest, and loads once the setting is fixed."""
    rows = [police_row("F1", "01/02/2024 10:00:00 AM"), police_row("F2", "01/02/2024 11:00:00 AM")]
    if case == "delimiter":
        police_workspace("pd_01.csv", _semicolons(rows), header=HEADER.replace(",", ";"))
        fix = ("\n[feeds.columns]", 'delimiter = ";"\n\n[feeds.columns]')
    else:
        police_workspace("pd_01.csv", rows, encoding="utf-16")
        fix = ("\n[feeds.columns]", 'encoding = "utf-16"\n\n[feeds.columns]')
    config = police_workspace.config
    [outcome] = _receive(config)
    assert [b.status for b in outcome.batches] == ["failed"]
    assert _query(config, "SELECT status FROM meta.batches") == [("failed",)]

    _edit(config, *fix)
    [outcome] = _receive(config)
    assert [b.status for b in outcome.batches] == ["received"]
    _validate(config)
    assert _query(config, "SELECT status, rows_read, rows_loaded FROM meta.batches") == [("loaded", 2, 2)]
    assert _query(config, "SELECT source_incident_id FROM core.incidents ORDER BY 1") == [("F1",), ("F2",)]
    assert_rows_accounted(config)
    assert _nothing_to_do(config, "ingest") == "ingest: no new files (1 already received)"
    assert _nothing_to_do(config, "validate") == "validate: every batch validated"


def test_a_file_rejected_after_a_wrong_reading_is_read_again_once_the_reading_is_fixed(police_workspace):
    """Without PII columns to miss, a file read with the wrong delimiter is received as one column
    and rejected; re-validating that reading cannot help: ingest reads the file again."""
    config = police_workspace.config
    _edit(config, PII_LINE, "")
    rows = [police_row(f"D{i}", "01/02/2024 10:00:00 AM") for i in range(3)]
    police_workspace("pd_01.csv", _semicolons(rows), header=HEADER.replace(",", ";"))
    police_workspace("pd_02.csv", [police_row(f"C{i}", "01/03/2024 10:00:00 AM") for i in range(3)])
    _receive(config)
    _validate(config)
    assert _query(config, "SELECT status FROM meta.batches ORDER BY batch_id") == [("rejected",), ("loaded",)]
    _query_rejected = "SELECT count(*) FROM quality.quarantine WHERE reasons[1] LIKE 'batch_rejected:%'"
    assert _query(config, _query_rejected) == [(3,)]
    assert _nothing_to_do(config, "ingest") == "ingest: no new files (2 already received)"

    _edit(config, "\n[feeds.columns]", 'delimiter = ";"\n\n[feeds.columns]')
    assert _nothing_to_do(config, "ingest") is None
    assert _nothing_to_do(config, "validate") == (
        "validate: every batch validated (1 rejected of feed pd_cad read with other settings than its "
        "config's now: `jointcast ingest` receives them again)"
    )
    [outcome] = _receive(config)
    assert [(b.status, b.again) for b in outcome.batches] == [("received", True), ("skipped", False)]
    assert outcome.again_said() == (
        "ingest: 1 rejected file of feed pd_cad is received again: its config changed how they are read "
        "(format, delimiter, encoding, pii)"
    )
    # received again: its rejection, counts and quarantined rows reset in the same commit
    assert _query(config, "SELECT status, rows_read, rows_loaded, rows_quarantined FROM meta.batches"
                          " WHERE batch_id = 1") == [("received", 3, 0, 0)]  # fmt: skip
    assert _query(config, _query_rejected) == [(0,)]
    [result] = _validate(config)
    assert result.again == 0 and [b.rows_loaded for b in result.batches] == [3]
    assert _query(config, "SELECT status FROM meta.batches WHERE batch_id = 1") == [("loaded",)]
    assert_rows_accounted(config)
    # with the config unchanged now, nothing more happens to the loaded file
    [outcome] = _receive(config)
    assert [b.status for b in outcome.batches] == ["skipped", "skipped"]


def test_a_warehouse_from_before_the_digests_upgrades_in_place_and_reads_its_rejected_files_once(
    police_workspace,
):
    config = _mapping_rejected(police_workspace)
    settings = load_settings(config)
    with open_warehouse(settings.warehouse_path) as con:  # as the warehouse was before migration 19
        con.execute("ALTER TABLE meta.batches DROP COLUMN read_digest")
        con.execute("ALTER TABLE meta.batches DROP COLUMN check_digest")
        con.execute("DELETE FROM meta.schema_migrations WHERE version = 19")
    with open_warehouse(settings.warehouse_path) as con:
        assert con.execute("SELECT count(*) FROM meta.schema_migrations WHERE version = 19").fetchone() == (
            1,
        )
    assert _query(config, "SELECT status, read_digest, check_digest FROM meta.batches") == [
        ("rejected", None, None)
    ]
    [outcome] = _receive(config)  # read with unknown settings: read again, once
    assert [(b.status, b.again) for b in outcome.batches] == [("received", True)]
    _validate(config)
    assert _query(config, "SELECT status FROM meta.batches") == [("rejected",)]  # the config is still wrong
    assert_rows_accounted(config)
    [outcome] = _receive(config)
    assert [b.status for b in outcome.batches] == ["skipped"]
    assert _nothing_to_do(config, "validate") == "validate: every batch validated"
