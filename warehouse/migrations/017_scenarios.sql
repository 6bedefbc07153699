-- What-if scenarios: planned events, agency outages and labelled factors, stored with who, when
-- and why (`jointcast scenario add`), and what `jointcast scenario run` makes of them. Every
-- output table is keyed by scenario_id; a run replaces that scenario's rows in one transaction
-- and never writes a forecast.* table (warehouse.scenarios).
CREATE SCHEMA IF NOT EXISTS scenario;

CREATE TABLE scenario.scenarios (
    scenario_id         BIGINT PRIMARY KEY,
    name                VARCHAR NOT NULL UNIQUE,
    description         VARCHAR,
    spec                JSON NOT NULL,         -- the scenario file, validated (planning.scenario_file)
    spec_sha256         VARCHAR NOT NULL,
    source_file         VARCHAR,
    reason              VARCHAR NOT NULL,
    created_by          VARCHAR NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    last_run_at         TIMESTAMPTZ,
    baseline_publication_id BIGINT,            -- the live publication the last run compared with
    model_version       VARCHAR
);

CREATE TABLE scenario.demand (
    scenario_id         BIGINT NOT NULL,
    agency_id           VARCHAR NOT NULL,
    area_id             VARCHAR NOT NULL,
    bucket_start        TIMESTAMPTZ NOT NULL,
    bucket_start_local  TIMESTAMP,
    horizon             INTEGER NOT NULL,
    baseline_mean       DOUBLE NOT NULL,       -- the live publication's mean (overrides applied)
    model_mean          DOUBLE NOT NULL,       -- the champion with the scenario's events in its features
    event_attendance    INTEGER NOT NULL,      -- the scenario's events' expected attendance here
    event_uplift        DOUBLE,                -- incidents the events add, by the agency's learned response
    event_basis         VARCHAR,               -- history (its learned response) | model (the champion's answer)
    moved_in            DOUBLE NOT NULL,       -- incidents taken over from an agency whose dispatch is down
    moved_out           DOUBLE NOT NULL,       -- incidents handed to supporting agencies
    factor              DOUBLE NOT NULL,       -- the scenario's labelled factors, multiplied
    factor_labels       VARCHAR,
    mean                DOUBLE NOT NULL,
    p10                 DOUBLE NOT NULL,
    p50                 DOUBLE NOT NULL,
    p90                 DOUBLE NOT NULL,
    model_version       VARCHAR NOT NULL,
    generated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE scenario.staffing (
    scenario_id         BIGINT NOT NULL,
    agency_id           VARCHAR NOT NULL,
    area_id             VARCHAR NOT NULL,
    shift_name          VARCHAR NOT NULL,
    shift_date          DATE NOT NULL,
    shift_start         TIMESTAMPTZ NOT NULL,
    shift_end           TIMESTAMPTZ NOT NULL,
    shift_start_local   TIMESTAMP NOT NULL,
    shift_end_local     TIMESTAMP,
    shift_hours         DOUBLE NOT NULL,
    expected_incidents  DOUBLE NOT NULL,
    incidents_p50       DOUBLE NOT NULL,
    incidents_p90       DOUBLE NOT NULL,
    workload_hours_p50  DOUBLE NOT NULL,
    workload_hours_p90  DOUBLE NOT NULL,
    recommended_units   INTEGER NOT NULL,
    staffing_basis      VARCHAR,
    fte                 DOUBLE NOT NULL,
    assumptions         JSON NOT NULL
);

CREATE TABLE scenario.difference (
    scenario_id         BIGINT NOT NULL,
    agency_id           VARCHAR NOT NULL,
    area_id             VARCHAR NOT NULL,
    shift_name          VARCHAR NOT NULL,
    shift_date          DATE NOT NULL,
    shift_start         TIMESTAMPTZ NOT NULL,
    shift_start_local   TIMESTAMP NOT NULL,
    baseline_incidents  DOUBLE NOT NULL,
    scenario_incidents  DOUBLE NOT NULL,
    incidents_change    DOUBLE NOT NULL,
    baseline_units      INTEGER NOT NULL,
    scenario_units      INTEGER NOT NULL,
    units_change        INTEGER NOT NULL
);

CREATE TABLE scenario.mutual_aid (
    scenario_id         BIGINT NOT NULL,
    agency_id           VARCHAR NOT NULL,      -- the agency short of units
    shift_name          VARCHAR NOT NULL,
    shift_date          DATE NOT NULL,
    shift_start         TIMESTAMPTZ NOT NULL,
    shift_end           TIMESTAMPTZ NOT NULL,
    shift_start_local   TIMESTAMP NOT NULL,
    needed_units        INTEGER NOT NULL,      -- the scenario's recommended units, its areas summed
    available_units     INTEGER NOT NULL,      -- [[agencies]] available_units, or the outage's units
    short_units         INTEGER NOT NULL,
    areas               VARCHAR[] NOT NULL,    -- where: the areas the scenario adds units to, most first
    partner_agency      VARCHAR,               -- a partner by [[roles]] with spare units, or NULL
    partner_spare_units INTEGER,
    covered_units       INTEGER NOT NULL,
    uncovered_units     INTEGER NOT NULL
);
