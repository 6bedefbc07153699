-- Data flows one way: core holds what the feeds said; what the features stage derives
-- (which records are one real event) lives in features.joint_links. core.incidents shows
-- both, as before: a view over core.incident_records and the links.

CREATE TABLE IF NOT EXISTS features.joint_links (
    incident_key    VARCHAR NOT NULL,   -- core.incident_records.incident_key
    joint_event_id  VARCHAR NOT NULL    -- records of one real event share it
);

INSERT INTO features.joint_links
SELECT incident_key, joint_event_id FROM core.incidents WHERE joint_event_id IS NOT NULL;

ALTER TABLE core.incidents RENAME TO incident_records;
ALTER TABLE core.incident_records DROP COLUMN joint_event_id;

CREATE VIEW core.incidents AS
WITH records AS (
    SELECT * FROM core.incident_records
),
links AS (
    SELECT * FROM features.joint_links
),
final AS (
    SELECT
        r.incident_key, r.agency_id, r.feed_id, r.source_incident_id, r.incident_type, r.source_type,
        r.call_source, r.priority, r.received_at, r.dispatched_at, r.on_scene_at, r.cleared_at,
        r.area_id, r.lat, r.lon, l.joint_event_id, r.batch_id, r.row_number
    FROM records r
    LEFT JOIN links l USING (incident_key)
)
SELECT * FROM final;
