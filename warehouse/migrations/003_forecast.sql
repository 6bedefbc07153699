-- Forecasts, staffing, planner overrides and the publication log.
--
-- forecast.demand and forecast.staffing hold the current publication; every publication
-- is also appended to forecast.history / forecast.staffing_history with its publication
-- id as the vintage, and described in meta.publications. A publication replaces the
-- current tables and appends its vintage in one transaction.

CREATE SEQUENCE IF NOT EXISTS forecast.override_id_seq START 1;

-- One forecast hour of one agency x area. mean/p10/p50/p90 are what planners use: the
-- model's numbers (model_*) times the product of the planner overrides in force.
CREATE TABLE IF NOT EXISTS forecast.demand (
    agency_id        VARCHAR NOT NULL,
    area_id          VARCHAR NOT NULL,
    bucket_start     TIMESTAMPTZ NOT NULL,
    horizon          INTEGER NOT NULL,     -- hours after the agency's data_as_of (1 = the first hour)
    mean             DOUBLE NOT NULL,
    p10              DOUBLE NOT NULL,
    p50              DOUBLE NOT NULL,
    p90              DOUBLE NOT NULL,
    model_mean       DOUBLE NOT NULL,
    model_p10        DOUBLE NOT NULL,
    model_p50        DOUBLE NOT NULL,
    model_p90        DOUBLE NOT NULL,
    override_factor  DOUBLE NOT NULL,
    override_ids     BIGINT[],
    drivers          VARCHAR,              -- the model's top three reasons, in words
    data_stale       BOOLEAN NOT NULL,
    model_name       VARCHAR NOT NULL,
    model_version    VARCHAR NOT NULL,
    mlflow_run_id    VARCHAR NOT NULL,
    generated_at     TIMESTAMPTZ NOT NULL,
    data_as_of       TIMESTAMPTZ NOT NULL, -- the end of the agency's observed data
    publication_id   BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS forecast.history AS
    SELECT *, CAST(NULL AS BIGINT) AS vintage FROM forecast.demand LIMIT 0;

-- One shift of one agency in one area; assumptions holds every parameter used (JSON).
CREATE TABLE IF NOT EXISTS forecast.staffing (
    agency_id           VARCHAR NOT NULL,
    area_id             VARCHAR NOT NULL,
    shift_name          VARCHAR NOT NULL,
    shift_date          DATE NOT NULL,         -- local date the shift starts on
    shift_start         TIMESTAMPTZ NOT NULL,
    shift_end           TIMESTAMPTZ NOT NULL,
    shift_start_local   TIMESTAMP NOT NULL,    -- wall clock in the agency's time zone
    shift_hours         DOUBLE NOT NULL,       -- real hours (7 or 9 across a DST change)
    expected_incidents  DOUBLE NOT NULL,
    incidents_p50       DOUBLE NOT NULL,
    incidents_p90       DOUBLE NOT NULL,
    workload_hours_p50  DOUBLE NOT NULL,
    workload_hours_p90  DOUBLE NOT NULL,
    recommended_units   INTEGER NOT NULL,
    fte                 DOUBLE NOT NULL,
    data_stale          BOOLEAN NOT NULL,
    assumptions         JSON NOT NULL,
    model_version       VARCHAR NOT NULL,
    generated_at        TIMESTAMPTZ NOT NULL,
    publication_id      BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS forecast.staffing_history AS
    SELECT *, CAST(NULL AS BIGINT) AS vintage FROM forecast.staffing LIMIT 0;

-- How each agency's records of an incident type in its areas fall into the lead agency's
-- areas, and what share of them are distinct real events (a joint event counts once).
-- Built from recent history at each publication; forecast.joint_demand reads it.
CREATE TABLE IF NOT EXISTS forecast.joint_crosswalk (
    agency_id            VARCHAR NOT NULL,
    area_id              VARCHAR NOT NULL,
    incident_type        VARCHAR NOT NULL,
    lead_agency          VARCHAR NOT NULL,
    supporting_agencies  VARCHAR[] NOT NULL,
    lead_area_id         VARCHAR NOT NULL,
    record_share         DOUBLE NOT NULL,  -- of the agency x area's records
    event_share          DOUBLE NOT NULL   -- the same, counting each real event once
);

-- An audited planner adjustment: the forecast times factor for [starts_at, ends_at).
CREATE TABLE IF NOT EXISTS forecast.overrides (
    override_id       BIGINT PRIMARY KEY DEFAULT nextval('forecast.override_id_seq'),
    agency_id         VARCHAR NOT NULL,
    area_id           VARCHAR,             -- NULL: every area of the agency
    starts_at         TIMESTAMPTZ NOT NULL,
    ends_at           TIMESTAMPTZ NOT NULL,
    factor            DOUBLE NOT NULL,
    reason            VARCHAR NOT NULL,
    created_by        VARCHAR NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    withdrawn_at      TIMESTAMPTZ,
    withdrawn_by      VARCHAR,
    withdrawn_reason  VARCHAR
);

-- What was published when, from which model and data, with row counts and checksums.
-- Rows are only ever appended.
CREATE TABLE IF NOT EXISTS meta.publications (
    publication_id     BIGINT PRIMARY KEY,
    published_at       TIMESTAMPTZ NOT NULL,
    trigger            VARCHAR NOT NULL,   -- forecast | publish
    model_name         VARCHAR NOT NULL,
    model_version      VARCHAR NOT NULL,
    mlflow_run_id      VARCHAR NOT NULL,
    forecast_of        BIGINT NOT NULL,    -- the publication whose model forecast this is
    data_as_of         JSON NOT NULL,      -- per agency
    stale_agencies     VARCHAR[] NOT NULL,
    overrides_applied  BIGINT[] NOT NULL,
    dispersion         JSON NOT NULL,      -- grain -> agency -> alpha of the count distribution
    config_sha256      VARCHAR NOT NULL,
    forecast_digest    VARCHAR NOT NULL,   -- model version x data: the model forecast it carries
    inputs_digest      VARCHAR NOT NULL,   -- same inputs, same digest: nothing to publish
    row_counts         JSON NOT NULL,
    checksums          JSON NOT NULL       -- table -> SHA-256 of its rows in key order
);
