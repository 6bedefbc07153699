"""An export replaces its folder whole, and only a folder that holds nothing else."""

import json

import duckdb
import pytest

from warehouse.exports import ExportError, export_agency


def test_an_export_never_replaces_a_folder_holding_other_files(tmp_path):
    out = tmp_path / "ems"
    out.mkdir()
    (out / "notes.txt").write_text("planner's own notes")
    stale = tmp_path / ".export-ems-k1ll3d"  # a killed export's temporary folder
    stale.mkdir()
    (stale / "demand.csv").write_text("half")

    with duckdb.connect() as con, pytest.raises(ExportError, match="holds files that are not an export's"):
        export_agency(con, "ems", "csv", out)

    assert (out / "notes.txt").read_text() == "planner's own notes"
    assert not stale.exists()


def test_a_previous_export_is_replaceable_and_an_unpublished_agency_leaves_it_as_it_was(tmp_path):
    out = tmp_path / "ems"
    out.mkdir()
    (out / "demand.csv").write_text("old")
    (out / "manifest.json").write_text(json.dumps({"files": {"demand.csv": {}}}))

    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA forecast")
        con.execute(
            "CREATE TABLE forecast.demand (agency_id VARCHAR, publication_id BIGINT, model_name VARCHAR,"
            " model_version VARCHAR, mlflow_run_id VARCHAR, generated_at TIMESTAMPTZ, data_as_of TIMESTAMPTZ)"
        )
        with pytest.raises(ExportError, match="nothing published for agency 'ems'"):
            export_agency(con, "ems", "csv", out)

    assert (out / "demand.csv").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ems"]  # no temporary folder left
