"""Schema migrations carry what a warehouse already holds."""

import duckdb

from warehouse.db import _migrations, migrate


def test_joint_links_move_out_of_core_and_core_incidents_still_shows_them(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE SCHEMA meta; CREATE TABLE meta.schema_migrations "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    for version, name, sql in _migrations():
        if version < 7:  # a warehouse from before the links moved
            con.execute(sql)
            con.execute("INSERT INTO meta.schema_migrations VALUES (?, ?, now())", [version, name])
    con.execute(
        """
        INSERT INTO core.incidents (incident_key, agency_id, feed_id, source_incident_id, received_at,
            joint_event_id, batch_id, row_number)
        VALUES ('fire:1', 'fire', 'f', '1', TIMESTAMPTZ '2026-01-01 10:00:00+00', 'J1', 1, 1),
               ('ems:9', 'ems', 'e', '9', TIMESTAMPTZ '2026-01-01 10:02:00+00', 'J1', 2, 1),
               ('ems:10', 'ems', 'e', '10', TIMESTAMPTZ '2026-01-01 11:00:00+00', NULL, 2, 2)
        """
    )

    assert "007_joint_links.sql" in migrate(con)

    assert con.execute("SELECT incident_key, joint_event_id FROM core.incidents ORDER BY 1").fetchall() == [
        ("ems:10", None), ("ems:9", "J1"), ("fire:1", "J1"),
    ]  # fmt: skip
    assert con.execute("SELECT count(*) FROM core.incident_records").fetchone() == (3,)
    columns = [row[0] for row in con.execute("DESCRIBE core.incidents").fetchall()]
    assert columns[-5:] == ["joint_event_id", "batch_id", "row_number", "units", "unit_hours"]
    assert len(columns) == 20
    # records loaded before feeds could be written one row per unit have no units
    assert con.execute("SELECT count(units), count(unit_hours) FROM core.incidents").fetchone() == (0, 0)
