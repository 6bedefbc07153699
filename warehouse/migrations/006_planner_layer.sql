-- The planner layer: areas, shift totals, local wall-clock times, the staffing basis and a
-- planner-facing comment on every column of every published table.
--
-- forecast.demand, forecast.staffing and their histories are rebuilt so the new local-time
-- columns sit beside their UTC ones; rows already published keep their values and get NULL
-- in the new columns (the next publication fills forecast.demand and forecast.staffing).
-- Views and history tables take their columns' comments from the table they copy at each
-- publication (warehouse.publish); the comments here are the one copy of each sentence.

-- forecast.demand: bucket_start_local beside bucket_start
CREATE TABLE forecast.demand_new (
    agency_id           VARCHAR NOT NULL,
    area_id             VARCHAR NOT NULL,
    bucket_start        TIMESTAMPTZ NOT NULL,
    bucket_start_local  TIMESTAMP,             -- wall clock in the agency's time zone
    horizon             INTEGER NOT NULL,
    mean                DOUBLE NOT NULL,
    p10                 DOUBLE NOT NULL,
    p50                 DOUBLE NOT NULL,
    p90                 DOUBLE NOT NULL,
    model_mean          DOUBLE NOT NULL,
    model_p10           DOUBLE NOT NULL,
    model_p50           DOUBLE NOT NULL,
    model_p90           DOUBLE NOT NULL,
    override_factor     DOUBLE NOT NULL,
    override_ids        BIGINT[],
    drivers             VARCHAR,
    data_stale          BOOLEAN NOT NULL,
    model_name          VARCHAR NOT NULL,
    model_version       VARCHAR NOT NULL,
    mlflow_run_id       VARCHAR NOT NULL,
    generated_at        TIMESTAMPTZ NOT NULL,
    data_as_of          TIMESTAMPTZ NOT NULL,
    publication_id      BIGINT NOT NULL
);
INSERT INTO forecast.demand_new BY NAME SELECT * FROM forecast.demand;
DROP TABLE forecast.demand;
ALTER TABLE forecast.demand_new RENAME TO demand;

CREATE TABLE forecast.history_new AS SELECT *, CAST(NULL AS BIGINT) AS vintage FROM forecast.demand LIMIT 0;
INSERT INTO forecast.history_new BY NAME SELECT * FROM forecast.history;
DROP TABLE forecast.history;
ALTER TABLE forecast.history_new RENAME TO history;

-- forecast.staffing: shift_end_local beside shift_start_local, staffing_basis beside recommended_units
CREATE TABLE forecast.staffing_new (
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
    staffing_basis      VARCHAR,               -- demand | min_units | service_level
    fte                 DOUBLE NOT NULL,
    data_stale          BOOLEAN NOT NULL,
    assumptions         JSON NOT NULL,
    model_version       VARCHAR NOT NULL,
    generated_at        TIMESTAMPTZ NOT NULL,
    publication_id      BIGINT NOT NULL
);
INSERT INTO forecast.staffing_new BY NAME SELECT * FROM forecast.staffing;
DROP TABLE forecast.staffing;
ALTER TABLE forecast.staffing_new RENAME TO staffing;

CREATE TABLE forecast.staffing_history_new AS
    SELECT *, CAST(NULL AS BIGINT) AS vintage FROM forecast.staffing LIMIT 0;
INSERT INTO forecast.staffing_history_new BY NAME SELECT * FROM forecast.staffing_history;
DROP TABLE forecast.staffing_history;
ALTER TABLE forecast.staffing_history_new RENAME TO staffing_history;

-- One shift of one agency: its areas' staffing summed (planning.shift_totals), published with it.
CREATE TABLE forecast.shift_totals (
    agency_id           VARCHAR NOT NULL,
    shift_name          VARCHAR NOT NULL,
    shift_date          DATE NOT NULL,
    shift_start         TIMESTAMPTZ NOT NULL,
    shift_end           TIMESTAMPTZ NOT NULL,
    shift_start_local   TIMESTAMP NOT NULL,
    shift_end_local     TIMESTAMP NOT NULL,
    shift_hours         DOUBLE NOT NULL,
    area_count          INTEGER NOT NULL,
    expected_incidents  DOUBLE NOT NULL,
    workload_hours_p50  DOUBLE NOT NULL,
    workload_hours_p90  DOUBLE NOT NULL,
    recommended_units   BIGINT NOT NULL,
    fte                 DOUBLE NOT NULL,
    areas_at_min_units  INTEGER NOT NULL,
    data_stale          BOOLEAN NOT NULL,
    model_version       VARCHAR NOT NULL,
    generated_at        TIMESTAMPTZ NOT NULL,
    publication_id      BIGINT NOT NULL
);

-- One area of one agency (features.areas), published with each publication.
CREATE TABLE forecast.areas (
    agency_id           VARCHAR NOT NULL,
    area_id             VARCHAR NOT NULL,
    name                VARCHAR NOT NULL,
    centroid_lat        DOUBLE,
    centroid_lon        DOUBLE,
    located_incidents   BIGINT NOT NULL,
    geometry            VARCHAR,               -- WKT; NULL for areas taken from a column
    derived_from        VARCHAR NOT NULL,      -- column (later: h3, polygons)
    publication_id      BIGINT NOT NULL
);

COMMENT ON TABLE forecast.demand IS 'One forecast hour of one agency x area, from the current publication.';
COMMENT ON COLUMN forecast.demand.agency_id IS 'Agency the row is for (its id in the config).';
COMMENT ON COLUMN forecast.demand.area_id IS 'Area of the agency (beat, district or zone); forecast.areas describes it.';
COMMENT ON COLUMN forecast.demand.bucket_start IS 'Start of the forecast hour, UTC.';
COMMENT ON COLUMN forecast.demand.bucket_start_local IS 'Start of the forecast hour on the agency''s local wall clock (no zone): an hour is skipped in spring and one repeats in autumn.';
COMMENT ON COLUMN forecast.demand.horizon IS 'Hours after the agency''s data_as_of: 1 is the first forecast hour.';
COMMENT ON COLUMN forecast.demand.mean IS 'Expected incidents in the hour, overrides applied: the number to plan with.';
COMMENT ON COLUMN forecast.demand.p10 IS 'Low end of the likely range: 1 hour in 10 sees fewer incidents (overrides applied).';
COMMENT ON COLUMN forecast.demand.p50 IS 'Median incidents in the hour (overrides applied).';
COMMENT ON COLUMN forecast.demand.p90 IS 'High end of the likely range: 1 hour in 10 sees more incidents (overrides applied).';
COMMENT ON COLUMN forecast.demand.model_mean IS 'The model''s own expected incidents, before planner overrides.';
COMMENT ON COLUMN forecast.demand.model_p10 IS 'The model''s own p10, before planner overrides.';
COMMENT ON COLUMN forecast.demand.model_p50 IS 'The model''s own median, before planner overrides.';
COMMENT ON COLUMN forecast.demand.model_p90 IS 'The model''s own p90, before planner overrides.';
COMMENT ON COLUMN forecast.demand.override_factor IS 'Product of the planner overrides in force this hour (1 = none).';
COMMENT ON COLUMN forecast.demand.override_ids IS 'Ids of the planner overrides applied this hour (forecast.overrides).';
COMMENT ON COLUMN forecast.demand.drivers IS 'The model''s top three reasons this hour differs from usual, each with its effect in percent.';
COMMENT ON COLUMN forecast.demand.data_stale IS 'True when the agency''s newest data was older than its max_lag_hours at publication.';
COMMENT ON COLUMN forecast.demand.model_name IS 'Registered MLflow model that made the forecast.';
COMMENT ON COLUMN forecast.demand.model_version IS 'Version of the registered model that made the forecast.';
COMMENT ON COLUMN forecast.demand.mlflow_run_id IS 'MLflow run that trained that model version.';
COMMENT ON COLUMN forecast.demand.generated_at IS 'When the publication was made, UTC.';
COMMENT ON COLUMN forecast.demand.data_as_of IS 'End of the agency''s observed data, where its forecast starts, UTC.';
COMMENT ON COLUMN forecast.demand.publication_id IS 'Publication that wrote the row (meta.publications).';

COMMENT ON TABLE forecast.history IS 'Every published forecast hour of every publication: forecast.demand plus its vintage.';
COMMENT ON COLUMN forecast.history.vintage IS 'Publication the row was published in (meta.publications.publication_id).';

COMMENT ON TABLE forecast.staffing IS 'One shift of one agency in one area: recommended units on duty and FTE.';
COMMENT ON COLUMN forecast.staffing.agency_id IS 'Agency the row is for (its id in the config).';
COMMENT ON COLUMN forecast.staffing.area_id IS 'Area of the agency (beat, district or zone); forecast.areas describes it.';
COMMENT ON COLUMN forecast.staffing.shift_name IS 'Shift name, as in the agency''s staffing config.';
COMMENT ON COLUMN forecast.staffing.shift_date IS 'Local date the shift starts on.';
COMMENT ON COLUMN forecast.staffing.shift_start IS 'Shift start, UTC.';
COMMENT ON COLUMN forecast.staffing.shift_end IS 'Shift end, UTC.';
COMMENT ON COLUMN forecast.staffing.shift_start_local IS 'Shift start on the agency''s local wall clock (no zone).';
COMMENT ON COLUMN forecast.staffing.shift_end_local IS 'Shift end on the agency''s local wall clock (no zone).';
COMMENT ON COLUMN forecast.staffing.shift_hours IS 'Real length of the shift in hours: an 8-hour night shift is 7 or 9 across a DST change.';
COMMENT ON COLUMN forecast.staffing.expected_incidents IS 'Expected incidents in the area during the shift (its hourly means summed).';
COMMENT ON COLUMN forecast.staffing.incidents_p50 IS 'Median incidents in the area during the shift.';
COMMENT ON COLUMN forecast.staffing.incidents_p90 IS 'Incidents in a busy (1-in-10) shift in the area: the p90 of the shift total.';
COMMENT ON COLUMN forecast.staffing.workload_hours_p50 IS 'Unit-hours of work in a median shift: incidents p50 x hours per incident.';
COMMENT ON COLUMN forecast.staffing.workload_hours_p90 IS 'Unit-hours of work in a busy (1-in-10) shift: what the units are sized for.';
COMMENT ON COLUMN forecast.staffing.recommended_units IS 'Units to have on duty at once in the area during the shift.';
COMMENT ON COLUMN forecast.staffing.staffing_basis IS 'What set recommended_units: demand (the p90 workload), min_units (the agency''s floor: demand alone needs fewer units, before rounding up) or service_level (Erlang C).';
COMMENT ON COLUMN forecast.staffing.fte IS 'People to roster to fill the shift every day of the year: recommended_units x relief factor.';
COMMENT ON COLUMN forecast.staffing.data_stale IS 'True when the agency''s newest data was older than its max_lag_hours at publication.';
COMMENT ON COLUMN forecast.staffing.assumptions IS 'Every parameter behind the row, as JSON: method, service time, units per incident, utilisation, min_units, relief factor.';
COMMENT ON COLUMN forecast.staffing.model_version IS 'Version of the registered model whose forecast the row rests on.';
COMMENT ON COLUMN forecast.staffing.generated_at IS 'When the publication was made, UTC.';
COMMENT ON COLUMN forecast.staffing.publication_id IS 'Publication that wrote the row (meta.publications).';

COMMENT ON TABLE forecast.staffing_history IS 'Every published staffing row of every publication: forecast.staffing plus its vintage.';
COMMENT ON COLUMN forecast.staffing_history.vintage IS 'Publication the row was published in (meta.publications.publication_id).';

COMMENT ON TABLE forecast.shift_totals IS 'One shift of one agency: its areas'' staffing rows summed.';
COMMENT ON COLUMN forecast.shift_totals.agency_id IS 'Agency the row is for (its id in the config).';
COMMENT ON COLUMN forecast.shift_totals.shift_name IS 'Shift name, as in the agency''s staffing config.';
COMMENT ON COLUMN forecast.shift_totals.shift_date IS 'Local date the shift starts on.';
COMMENT ON COLUMN forecast.shift_totals.shift_start IS 'Shift start, UTC.';
COMMENT ON COLUMN forecast.shift_totals.shift_end IS 'Shift end, UTC.';
COMMENT ON COLUMN forecast.shift_totals.shift_start_local IS 'Shift start on the agency''s local wall clock (no zone).';
COMMENT ON COLUMN forecast.shift_totals.shift_end_local IS 'Shift end on the agency''s local wall clock (no zone).';
COMMENT ON COLUMN forecast.shift_totals.shift_hours IS 'Real length of the shift in hours: an 8-hour night shift is 7 or 9 across a DST change.';
COMMENT ON COLUMN forecast.shift_totals.area_count IS 'Areas the totals add up.';
COMMENT ON COLUMN forecast.shift_totals.expected_incidents IS 'Expected incidents across the agency''s areas during the shift.';
COMMENT ON COLUMN forecast.shift_totals.workload_hours_p50 IS 'Sum of the areas'' median workload hours.';
COMMENT ON COLUMN forecast.shift_totals.workload_hours_p90 IS 'Sum of the areas'' p90 workload hours (each area staffed for its own busy shift, so above the p90 of the agency total).';
COMMENT ON COLUMN forecast.shift_totals.recommended_units IS 'Units on duty at once across the agency''s areas during the shift.';
COMMENT ON COLUMN forecast.shift_totals.fte IS 'People to roster across the areas to fill the shift every day of the year.';
COMMENT ON COLUMN forecast.shift_totals.areas_at_min_units IS 'Areas whose units the min_units floor set: demand alone would need fewer there.';
COMMENT ON COLUMN forecast.shift_totals.data_stale IS 'True when the agency''s newest data was older than its max_lag_hours at publication.';
COMMENT ON COLUMN forecast.shift_totals.model_version IS 'Version of the registered model whose forecast the row rests on.';
COMMENT ON COLUMN forecast.shift_totals.generated_at IS 'When the publication was made, UTC.';
COMMENT ON COLUMN forecast.shift_totals.publication_id IS 'Publication that wrote the row (meta.publications).';

COMMENT ON TABLE forecast.areas IS 'One area of one agency: its name, centre and how it is defined.';
COMMENT ON COLUMN forecast.areas.agency_id IS 'Agency the area belongs to (its id in the config).';
COMMENT ON COLUMN forecast.areas.area_id IS 'Area id, as in forecast.demand and forecast.staffing.';
COMMENT ON COLUMN forecast.areas.name IS 'Name to show for the area: the area id until a feed or the config names it.';
COMMENT ON COLUMN forecast.areas.centroid_lat IS 'Latitude of the area''s centre: the median of its incidents'' latitudes over the last 90 days (null without located incidents).';
COMMENT ON COLUMN forecast.areas.centroid_lon IS 'Longitude of the area''s centre: the median of its incidents'' longitudes over the last 90 days (null without located incidents).';
COMMENT ON COLUMN forecast.areas.located_incidents IS 'Incidents with coordinates the centre is taken from (counted demand of the last 90 days).';
COMMENT ON COLUMN forecast.areas.geometry IS 'Outline of the area as WKT; null for areas taken from the feed''s area column.';
COMMENT ON COLUMN forecast.areas.derived_from IS 'How the area is defined: column = the value of the feed''s area column.';
COMMENT ON COLUMN forecast.areas.publication_id IS 'Publication that wrote the row (meta.publications).';

COMMENT ON TABLE forecast.joint_crosswalk IS 'How an agency''s records of a joint incident type fall into the lead agency''s areas.';
COMMENT ON COLUMN forecast.joint_crosswalk.agency_id IS 'Agency whose records are mapped.';
COMMENT ON COLUMN forecast.joint_crosswalk.area_id IS 'Area of that agency.';
COMMENT ON COLUMN forecast.joint_crosswalk.incident_type IS 'Incident type with a [[roles]] entry in the config.';
COMMENT ON COLUMN forecast.joint_crosswalk.lead_agency IS 'Agency that leads this incident type.';
COMMENT ON COLUMN forecast.joint_crosswalk.supporting_agencies IS 'Agencies that support the lead agency on this incident type.';
COMMENT ON COLUMN forecast.joint_crosswalk.lead_area_id IS 'Lead agency''s area these records fall in, by location.';
COMMENT ON COLUMN forecast.joint_crosswalk.record_share IS 'Share of the agency x area''s records of this type that fall in lead_area_id.';
COMMENT ON COLUMN forecast.joint_crosswalk.event_share IS 'The same share counting each real event once (a joint event is not counted twice).';

COMMENT ON TABLE forecast.overrides IS 'Planner adjustments to the forecast, with who, when and why; withdrawn ones stay, marked.';
COMMENT ON COLUMN forecast.overrides.override_id IS 'Override id, as in forecast.demand.override_ids.';
COMMENT ON COLUMN forecast.overrides.agency_id IS 'Agency whose forecast is adjusted.';
COMMENT ON COLUMN forecast.overrides.area_id IS 'Area adjusted; null means every area of the agency.';
COMMENT ON COLUMN forecast.overrides.starts_at IS 'First instant the override applies to, UTC.';
COMMENT ON COLUMN forecast.overrides.ends_at IS 'Instant the override stops applying (exclusive), UTC.';
COMMENT ON COLUMN forecast.overrides.factor IS 'Multiplier on the forecast (1.3 = +30%); overlapping overrides multiply.';
COMMENT ON COLUMN forecast.overrides.reason IS 'Why the planner made the adjustment.';
COMMENT ON COLUMN forecast.overrides.created_by IS 'Who recorded the override.';
COMMENT ON COLUMN forecast.overrides.created_at IS 'When the override was recorded, UTC.';
COMMENT ON COLUMN forecast.overrides.withdrawn_at IS 'When the override was withdrawn, UTC; null while it is in force.';
COMMENT ON COLUMN forecast.overrides.withdrawn_by IS 'Who withdrew the override.';
COMMENT ON COLUMN forecast.overrides.withdrawn_reason IS 'Why the override was withdrawn.';

COMMENT ON TABLE meta.publications IS 'One row per publication: what was published when, from which model and data.';
COMMENT ON COLUMN meta.publications.publication_id IS 'Publication id; forecast rows carry it, history rows as their vintage.';
COMMENT ON COLUMN meta.publications.published_at IS 'When the publication was made, UTC.';
COMMENT ON COLUMN meta.publications.trigger IS 'Stage that published: forecast (a new forecast) or publish (new settings or overrides).';
COMMENT ON COLUMN meta.publications.model_name IS 'Registered MLflow model whose forecast was published.';
COMMENT ON COLUMN meta.publications.model_version IS 'Version of that registered model.';
COMMENT ON COLUMN meta.publications.mlflow_run_id IS 'MLflow run that trained that model version.';
COMMENT ON COLUMN meta.publications.forecast_of IS 'Publication whose model forecast this one carries (itself for a new forecast).';
COMMENT ON COLUMN meta.publications.data_as_of IS 'End of each agency''s observed data, as JSON (agency -> UTC time).';
COMMENT ON COLUMN meta.publications.stale_agencies IS 'Agencies whose data was older than their max_lag_hours.';
COMMENT ON COLUMN meta.publications.overrides_applied IS 'Ids of the planner overrides applied.';
COMMENT ON COLUMN meta.publications.dispersion IS 'Spread of the count distribution per grain and agency, as JSON.';
COMMENT ON COLUMN meta.publications.config_sha256 IS 'SHA-256 of the config file the publication was made with.';
COMMENT ON COLUMN meta.publications.forecast_digest IS 'Digest of model version x data: equal digests, equal model forecasts.';
COMMENT ON COLUMN meta.publications.inputs_digest IS 'Digest of everything published: equal digests, nothing new to publish.';
COMMENT ON COLUMN meta.publications.row_counts IS 'Rows per published table, as JSON.';
COMMENT ON COLUMN meta.publications.checksums IS 'SHA-256 per published table of its rows in key order, as JSON.';
