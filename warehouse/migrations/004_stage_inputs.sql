-- What each stage last built from: a digest of its inputs (data, settings, code).
--
-- A stage whose inputs digest equals the recorded one has nothing to do, so a rerun on
-- unchanged inputs changes nothing and answers at once.

CREATE TABLE IF NOT EXISTS meta.stage_inputs (
    stage          VARCHAR PRIMARY KEY,   -- features
    inputs_digest  VARCHAR NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL
);
