-- A feed written one row per unit dispatched (a unit column mapped) loads each incident once,
-- its units combined: how many units it had and the hours they were busy between them, which is
-- its workload. Both are null for a feed written one row per incident.
ALTER TABLE core.incident_records ADD COLUMN IF NOT EXISTS units INTEGER;
ALTER TABLE core.incident_records ADD COLUMN IF NOT EXISTS unit_hours DOUBLE;

CREATE OR REPLACE VIEW core.incidents AS
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
        r.area_id, r.lat, r.lon, l.joint_event_id, r.batch_id, r.row_number, r.units, r.unit_hours
    FROM records r
    LEFT JOIN links l USING (incident_key)
)
SELECT * FROM final;
