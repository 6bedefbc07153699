-- Joint exercises on simulated feeds (`jointcast exercise`): what was rehearsed, what each delivery
-- of the surge days brought, and the scores of what the pipeline did against the simulator's truth.
-- An exercise workspace holds one exercise; running it again on the same file changes nothing.
CREATE SCHEMA IF NOT EXISTS exercise;

CREATE TABLE IF NOT EXISTS exercise.runs (
    exercise_name    VARCHAR NOT NULL,
    file_sha256      VARCHAR PRIMARY KEY,
    history_start    DATE NOT NULL,
    history_end      DATE NOT NULL,
    surge_days       INTEGER NOT NULL,
    agencies         INTEGER NOT NULL,
    seed             BIGINT NOT NULL,
    model_version    VARCHAR,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ NOT NULL,
    report_path      VARCHAR NOT NULL
);

COMMENT ON TABLE exercise.runs IS 'The exercise this workspace rehearsed: its file, the simulated history and the model that forecast it.';
COMMENT ON COLUMN exercise.runs.file_sha256 IS 'SHA-256 of the exercise file''s bytes.';
COMMENT ON COLUMN exercise.runs.history_end IS 'First day (UTC) after the simulated history: the surge days start here.';
COMMENT ON COLUMN exercise.runs.model_version IS 'Registered model version whose forecast was published before the surge days.';

CREATE TABLE IF NOT EXISTS exercise.surges (
    surge_id         VARCHAR PRIMARY KEY,
    name             VARCHAR NOT NULL,
    kind             VARCHAR NOT NULL,
    planned          BOOLEAN NOT NULL,
    starts_at        TIMESTAMPTZ NOT NULL,
    ends_at          TIMESTAMPTZ NOT NULL,
    agencies         VARCHAR NOT NULL,
    area_hours       BIGINT NOT NULL,
    true_incidents   DOUBLE NOT NULL,
    true_baseline    DOUBLE NOT NULL,
    first_record_at  TIMESTAMPTZ
);

COMMENT ON TABLE exercise.surges IS 'Each rehearsed surge and its truth: where the simulator put it and how much it added.';
COMMENT ON COLUMN exercise.surges.planned IS 'True when the surge was in the events file the pipeline read before it forecast.';
COMMENT ON COLUMN exercise.surges.agencies IS 'Agencies whose true rates it raised, comma-separated.';
COMMENT ON COLUMN exercise.surges.area_hours IS 'Agency x area x hour cells whose true rate it raised.';
COMMENT ON COLUMN exercise.surges.true_incidents IS 'True expected incidents over those cells, with the surge.';
COMMENT ON COLUMN exercise.surges.true_baseline IS 'The same without the surge.';
COMMENT ON COLUMN exercise.surges.first_record_at IS 'First record received in its areas and hours (core.incidents), UTC.';

CREATE TABLE IF NOT EXISTS exercise.deliveries (
    delivered_until  TIMESTAMPTZ PRIMARY KEY,
    incidents        BIGINT NOT NULL,
    new_alerts       INTEGER NOT NULL,
    alert_ids        VARCHAR[] NOT NULL,
    problems         VARCHAR[] NOT NULL
);

COMMENT ON TABLE exercise.deliveries IS 'One delivery of the surge days: the feeds up to delivered_until (simulated UTC) ingested, validated and monitored.';
COMMENT ON COLUMN exercise.deliveries.incidents IS 'core.incidents rows after it was validated.';
COMMENT ON COLUMN exercise.deliveries.alert_ids IS 'quality.alerts the monitor run after it raised.';
COMMENT ON COLUMN exercise.deliveries.problems IS 'What ingest or validate could not take of it (a batch rejected), one line each.';

CREATE TABLE IF NOT EXISTS exercise.scores (
    surge_id         VARCHAR NOT NULL,
    agency_id        VARCHAR NOT NULL,
    measure          VARCHAR NOT NULL,
    value            DOUBLE,
    target           VARCHAR NOT NULL,
    met              BOOLEAN,
    detail           VARCHAR NOT NULL,
    PRIMARY KEY (surge_id, agency_id, measure)
);

COMMENT ON TABLE exercise.scores IS 'What the pipeline did about each surge against the truth (planning.exercise): one row per surge, agency (or all) and measure.';
COMMENT ON COLUMN exercise.scores.measure IS 'forecast_vs_truth | uplift_captured | staffing_covered | units_short | alert_raised | alert_delay_hours.';
COMMENT ON COLUMN exercise.scores.value IS 'The measure (a ratio, a share, units, 1/0 or hours); null when it could not be measured.';
COMMENT ON COLUMN exercise.scores.target IS 'What it is held to, in words.';
COMMENT ON COLUMN exercise.scores.met IS 'Whether it met the target; null for a measure with none.';
COMMENT ON COLUMN exercise.scores.detail IS 'The figures behind it, in words.';
