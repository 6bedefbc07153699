-- Joint-operations KPIs per agency (or feed) and period: a local calendar month, or one of the
-- latest ISO weeks. The kpi stage rewrites every table whole in one transaction (planning.kpi,
-- planning.kpi_sharing, planning.kpi_tables); per-agency views kpi.<agency_id>_<table> show one
-- agency's rows (warehouse.kpi_store).
CREATE SCHEMA IF NOT EXISTS kpi;

CREATE TABLE kpi.demand (
    agency_id       VARCHAR NOT NULL,
    period          VARCHAR NOT NULL,
    period_start    DATE NOT NULL,
    period_end      DATE NOT NULL,
    incident_type   VARCHAR,
    call_source     VARCHAR,
    incidents       BIGINT NOT NULL
);

CREATE TABLE kpi.response (
    agency_id       VARCHAR NOT NULL,
    period          VARCHAR NOT NULL,
    period_start    DATE NOT NULL,
    period_end      DATE NOT NULL,
    priority        INTEGER,
    measure         VARCHAR NOT NULL,
    calls           BIGINT NOT NULL,
    timed           BIGINT NOT NULL,
    out_of_order    BIGINT NOT NULL,
    p50_minutes     DOUBLE,
    p90_minutes     DOUBLE
);

CREATE TABLE kpi.joint (
    agency_id                 VARCHAR NOT NULL,
    period                    VARCHAR NOT NULL,
    period_start              DATE NOT NULL,
    period_end                DATE NOT NULL,
    lead_agency               VARCHAR NOT NULL,
    joint_events              BIGINT NOT NULL,
    joint_records             BIGINT NOT NULL,
    partner_agencies          VARCHAR[] NOT NULL,
    arrivals_known            BIGINT NOT NULL,
    lead_first_arrivals       BIGINT NOT NULL,
    lead_first_arrival_share  DOUBLE
);

CREATE TABLE kpi.sharing (
    feed_id              VARCHAR NOT NULL,
    agency_ids           VARCHAR[] NOT NULL,
    period               VARCHAR NOT NULL,
    period_start         DATE NOT NULL,
    period_end           DATE NOT NULL,
    batches              BIGINT NOT NULL,
    failed_batches       BIGINT NOT NULL,
    rows_read            BIGINT,
    rows_loaded          BIGINT,
    rows_quarantined     BIGINT,
    quarantined_share    DOUBLE,
    top_reasons          STRUCT(reason VARCHAR, "rows" BIGINT)[] NOT NULL,
    records              BIGINT NOT NULL,
    latency_p50_minutes  DOUBLE,
    latency_p90_minutes  DOUBLE,
    last_loaded_at       TIMESTAMPTZ NOT NULL,
    newest_received_at   TIMESTAMPTZ
);

CREATE TABLE kpi.planning (
    agency_id               VARCHAR NOT NULL,
    period                  VARCHAR NOT NULL,
    period_start            DATE NOT NULL,
    period_end              DATE NOT NULL,
    shifts                  BIGINT NOT NULL,
    recommended_units_mean  DOUBLE,
    recommended_units_max   BIGINT,
    available_units         BIGINT,
    shifts_over_available   BIGINT,
    scored_rows             BIGINT NOT NULL,
    actual_incidents        DOUBLE,
    wape                    DOUBLE,
    bias                    DOUBLE,
    coverage_80             DOUBLE
);

COMMENT ON TABLE kpi.demand IS 'Incidents of one agency per period, incident type and call source.';
COMMENT ON TABLE kpi.response IS 'Response times of one agency per period and priority: calls for service (officer-initiated records left out).';
COMMENT ON TABLE kpi.joint IS 'One agency''s joint events per period and lead agency, with the lead''s first arrivals.';
COMMENT ON TABLE kpi.sharing IS 'How one feed delivered its data per period of loads: latency, failed batches, quarantine.';
COMMENT ON TABLE kpi.planning IS 'Published staffing against the agency''s available units, and forecast accuracy where scored.';

COMMENT ON COLUMN kpi.demand.period IS 'month (local calendar month) or week (ISO week, Monday to Sunday; latest weeks only).';
COMMENT ON COLUMN kpi.demand.period_start IS 'First local date of the period, in the agency''s time zone.';
COMMENT ON COLUMN kpi.demand.period_end IS 'First local date after the period.';
COMMENT ON COLUMN kpi.demand.incidents IS 'Records of core.incidents received in the period (officer-initiated ones too).';
COMMENT ON COLUMN kpi.response.measure IS 'dispatch: received_at to dispatched_at; on_scene: received_at to on_scene_at.';
COMMENT ON COLUMN kpi.response.calls IS 'Calls for service of the period and priority.';
COMMENT ON COLUMN kpi.response.timed IS 'Calls with both timestamps, the later not before received_at: what the percentiles are of.';
COMMENT ON COLUMN kpi.response.out_of_order IS 'Calls whose timestamp is earlier than received_at (left out of the percentiles).';
COMMENT ON COLUMN kpi.response.p50_minutes IS 'Median minutes (linear interpolation, as DuckDB quantile_cont); null when no call is timed.';
COMMENT ON COLUMN kpi.response.p90_minutes IS '90th percentile minutes (linear interpolation, as DuckDB quantile_cont); null when no call is timed.';
COMMENT ON COLUMN kpi.joint.period_start IS 'First local date of the period holding the events'' first received_at, in the agency''s time zone.';
COMMENT ON COLUMN kpi.joint.lead_agency IS 'Agency that led: the [[roles]] lead of the type when it took part, else the agency of the first record.';
COMMENT ON COLUMN kpi.joint.joint_events IS 'Joint events (records of several agencies linked as one real event) the agency took part in.';
COMMENT ON COLUMN kpi.joint.joint_records IS 'The agency''s own records in those events.';
COMMENT ON COLUMN kpi.joint.partner_agencies IS 'The other agencies in those events.';
COMMENT ON COLUMN kpi.joint.arrivals_known IS 'Events with an on_scene_at on any of their records.';
COMMENT ON COLUMN kpi.joint.lead_first_arrivals IS 'Events the lead agency reached first (its earliest on_scene_at is the event''s earliest; ties count for the lead).';
COMMENT ON COLUMN kpi.joint.lead_first_arrival_share IS 'lead_first_arrivals / arrivals_known; null when no arrival is known.';
COMMENT ON COLUMN kpi.sharing.agency_ids IS 'Agencies whose records the feed carries.';
COMMENT ON COLUMN kpi.sharing.period_start IS 'First local date (feed time zone) of the period in which the batches were loaded.';
COMMENT ON COLUMN kpi.sharing.failed_batches IS 'Batches that failed or were rejected.';
COMMENT ON COLUMN kpi.sharing.quarantined_share IS 'rows_quarantined / rows_read of the period''s batches.';
COMMENT ON COLUMN kpi.sharing.top_reasons IS 'The most frequent quarantine reason codes and their rows (a row with two reasons counts under each).';
COMMENT ON COLUMN kpi.sharing.records IS 'Records of core.incidents the period''s batches hold.';
COMMENT ON COLUMN kpi.sharing.latency_p50_minutes IS 'Median minutes from a record''s received_at to the load of its batch (linear interpolation).';
COMMENT ON COLUMN kpi.sharing.latency_p90_minutes IS '90th percentile minutes from received_at to load (linear interpolation).';
COMMENT ON COLUMN kpi.sharing.last_loaded_at IS 'The period''s last load, UTC.';
COMMENT ON COLUMN kpi.sharing.newest_received_at IS 'Newest received_at the feed had delivered by last_loaded_at: freshness is the time since.';
COMMENT ON COLUMN kpi.planning.period_start IS 'First local date of the period (shift date or scored local day).';
COMMENT ON COLUMN kpi.planning.shifts IS 'Published shifts (forecast.shift_totals) in the period.';
COMMENT ON COLUMN kpi.planning.recommended_units_mean IS 'Mean recommended units on duty per shift, summed over areas.';
COMMENT ON COLUMN kpi.planning.recommended_units_max IS 'Most recommended units on duty in one shift.';
COMMENT ON COLUMN kpi.planning.available_units IS 'The agency''s configured available_units; null when not given.';
COMMENT ON COLUMN kpi.planning.shifts_over_available IS 'Shifts recommending more units than available_units; null when not given.';
COMMENT ON COLUMN kpi.planning.scored_rows IS 'forecast.accuracy rows of the period''s local days.';
COMMENT ON COLUMN kpi.planning.actual_incidents IS 'Actual incidents of the scored rows; null when nothing was scored.';
COMMENT ON COLUMN kpi.planning.wape IS 'sum |forecast - actual| / sum actual over the scored rows.';
COMMENT ON COLUMN kpi.planning.bias IS 'sum (forecast - actual) / sum actual over the scored rows: positive is over-forecast.';
COMMENT ON COLUMN kpi.planning.coverage_80 IS 'Share of scored rows whose actual fell inside the forecast''s p10-p90 band.';
