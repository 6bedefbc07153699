-- The warehouse layers: meta (bookkeeping), raw (as received), core (common schema),
-- quality (quarantine, validation runs), features, forecast.
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS quality;
CREATE SCHEMA IF NOT EXISTS features;
CREATE SCHEMA IF NOT EXISTS forecast;

CREATE SEQUENCE IF NOT EXISTS meta.batch_id_seq START 1;

-- One row per source file (or pull) of a feed. A file is known by its content hash:
-- the same bytes are never loaded twice.
CREATE TABLE IF NOT EXISTS meta.batches (
    batch_id          BIGINT PRIMARY KEY,
    feed_id           VARCHAR NOT NULL,
    source_uri        VARCHAR NOT NULL,
    content_sha256    VARCHAR NOT NULL,
    size_bytes        BIGINT,
    rows_read         BIGINT,
    rows_loaded       BIGINT,
    rows_quarantined  BIGINT,
    loaded_at         TIMESTAMPTZ NOT NULL,
    status            VARCHAR NOT NULL,  -- received | loaded | failed
    message           VARCHAR,
    source_columns    VARCHAR[],
    oldest_record_at  TIMESTAMPTZ,
    newest_record_at  TIMESTAMPTZ,
    validated_at      TIMESTAMPTZ,
    UNIQUE (feed_id, content_sha256)
);

-- One incident of one agency in the common schema; latest batch wins per incident_key.
CREATE TABLE IF NOT EXISTS core.incidents (
    incident_key        VARCHAR NOT NULL,
    agency_id           VARCHAR NOT NULL,
    feed_id             VARCHAR NOT NULL,
    source_incident_id  VARCHAR NOT NULL,
    incident_type       VARCHAR,
    source_type         VARCHAR,
    call_source         VARCHAR,
    priority            INTEGER,
    received_at         TIMESTAMPTZ NOT NULL,
    dispatched_at       TIMESTAMPTZ,
    on_scene_at         TIMESTAMPTZ,
    cleared_at          TIMESTAMPTZ,
    area_id             VARCHAR,
    lat                 DOUBLE,
    lon                 DOUBLE,
    joint_event_id      VARCHAR,
    batch_id            BIGINT NOT NULL,
    row_number          BIGINT NOT NULL
);

-- A rejected source row with every reason it was rejected and its raw values (PII
-- already dropped or hashed) as JSON.
CREATE TABLE IF NOT EXISTS quality.quarantine (
    batch_id        BIGINT NOT NULL,
    feed_id         VARCHAR NOT NULL,
    row_number      BIGINT NOT NULL,
    reasons         VARCHAR[] NOT NULL,
    raw_values      JSON,
    quarantined_at  TIMESTAMPTZ NOT NULL
);
