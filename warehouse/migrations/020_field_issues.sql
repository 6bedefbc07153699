-- A row whose only problems are in fields besides what makes it demand (coordinates, priority, the
-- later timestamps) is loaded with those fields set aside (null), and each such row is listed here:
-- the incident still counts, and what was wrong with it is not lost.
CREATE TABLE IF NOT EXISTS quality.field_issues (
    batch_id        BIGINT NOT NULL,
    feed_id         VARCHAR NOT NULL,
    row_number      BIGINT NOT NULL,
    incident_key    VARCHAR NOT NULL,
    reasons         VARCHAR[] NOT NULL,
    fields          VARCHAR[] NOT NULL,
    raw_values      JSON,
    found_at        TIMESTAMPTZ NOT NULL
);

COMMENT ON TABLE quality.field_issues IS 'Rows loaded with fields set aside: each row''s reasons, the fields loaded as null, and the values it arrived with.';
