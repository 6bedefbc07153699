-- A feed's outages: windows in which it delivered nothing, or far less than its usual level.
-- The features stage rewrites the table whole from core.incidents and the config, so a rerun
-- changes nothing; the panel's hours in these windows are unobserved (features.demand.observed).

CREATE TABLE IF NOT EXISTS quality.outages (
    feed_id           VARCHAR NOT NULL,
    agency_ids        VARCHAR[] NOT NULL,  -- the agencies whose hours the outage leaves unobserved
    start_at          TIMESTAMPTZ NOT NULL,
    end_at            TIMESTAMPTZ NOT NULL, -- exclusive
    hours             INTEGER NOT NULL,
    how_found         VARCHAR NOT NULL,     -- 'detected' (from the feed's counts) | 'configured'
    expected_records  DOUBLE,               -- at the feed's usual level (detected windows)
    records_seen      BIGINT NOT NULL,      -- what the feed did deliver in the window
    reason            VARCHAR
);
