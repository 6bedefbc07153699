-- The planning loop's accuracy and drift: every published vintage scored against the actuals
-- that arrived (forecast.accuracy), and the alerts the monitor raised (quality.alerts).
-- `jointcast monitor` rescoring a vintage replaces its rows; an alert is keyed by what it says,
-- so the same data raise the same alerts once.

CREATE TABLE IF NOT EXISTS forecast.accuracy (
    vintage          BIGINT NOT NULL,
    agency_id        VARCHAR NOT NULL,
    area_id          VARCHAR NOT NULL,
    shift_name       VARCHAR NOT NULL,
    local_day        DATE NOT NULL,
    shift_start      TIMESTAMPTZ NOT NULL,
    shift_end        TIMESTAMPTZ NOT NULL,
    horizon          INTEGER NOT NULL,
    horizon_band     VARCHAR NOT NULL,
    hours_scored     INTEGER NOT NULL,
    actual           DOUBLE NOT NULL,
    forecast         DOUBLE NOT NULL,
    p10              DOUBLE NOT NULL,
    p90              DOUBLE NOT NULL,
    error            DOUBLE NOT NULL,
    abs_error        DOUBLE NOT NULL,
    inside_80        BOOLEAN NOT NULL,
    model_version    VARCHAR,
    PRIMARY KEY (vintage, agency_id, area_id, shift_start, shift_name)
);

COMMENT ON TABLE forecast.accuracy IS 'A published vintage scored against the actuals that arrived: one row per vintage, agency, area and whole shift.';
COMMENT ON COLUMN forecast.accuracy.vintage IS 'Publication whose forecast is scored (forecast.history.vintage).';
COMMENT ON COLUMN forecast.accuracy.agency_id IS 'Agency of the series.';
COMMENT ON COLUMN forecast.accuracy.area_id IS 'Area of the series.';
COMMENT ON COLUMN forecast.accuracy.shift_name IS 'The agency''s shift ([agencies.staffing] shifts), as staffing and the backtest count it.';
COMMENT ON COLUMN forecast.accuracy.local_day IS 'Local day (the agency''s time zone) the shift starts on.';
COMMENT ON COLUMN forecast.accuracy.shift_start IS 'Shift start, UTC.';
COMMENT ON COLUMN forecast.accuracy.shift_end IS 'Shift end (exclusive), UTC.';
COMMENT ON COLUMN forecast.accuracy.horizon IS 'Lead time of the shift''s first hour after the vintage''s data end (1: the first hour forecast).';
COMMENT ON COLUMN forecast.accuracy.horizon_band IS 'Lead-time band of that first hour, as the backtest''s metrics name it: h001_024, h025_168, h169_336.';
COMMENT ON COLUMN forecast.accuracy.hours_scored IS 'Hours of the shift scored: outage hours (features.demand.observed = false) are left out of actual and forecast alike.';
COMMENT ON COLUMN forecast.accuracy.actual IS 'Incidents counted in the scored hours (features.demand).';
COMMENT ON COLUMN forecast.accuracy.forecast IS 'Published mean for the scored hours, summed.';
COMMENT ON COLUMN forecast.accuracy.p10 IS 'p10 of the shift total, from the vintage''s shift-grain dispersion (meta.publications.dispersion).';
COMMENT ON COLUMN forecast.accuracy.p90 IS 'p90 of the shift total, likewise.';
COMMENT ON COLUMN forecast.accuracy.error IS 'forecast - actual (positive: over-forecast).';
COMMENT ON COLUMN forecast.accuracy.abs_error IS '|forecast - actual|.';
COMMENT ON COLUMN forecast.accuracy.inside_80 IS 'True when the actual lies inside p10..p90.';
COMMENT ON COLUMN forecast.accuracy.model_version IS 'Registered model version that made the forecast.';

CREATE TABLE IF NOT EXISTS quality.alerts (
    alert_id         VARCHAR PRIMARY KEY,
    raised_at        TIMESTAMPTZ NOT NULL,
    agency_id        VARCHAR NOT NULL,
    measure          VARCHAR NOT NULL,
    size             DOUBLE NOT NULL,
    threshold        DOUBLE NOT NULL,
    window_start     TIMESTAMPTZ NOT NULL,
    window_end       TIMESTAMPTZ NOT NULL,
    detail           VARCHAR NOT NULL,
    action           VARCHAR NOT NULL
);

COMMENT ON TABLE quality.alerts IS 'A drift or accuracy alert the monitor raised: what moved, by how much, over which window, and what was done.';
COMMENT ON COLUMN quality.alerts.alert_id IS 'Digest of agency, measure and window: the same data raise the same alert once.';
COMMENT ON COLUMN quality.alerts.raised_at IS 'When the monitor first raised it, UTC.';
COMMENT ON COLUMN quality.alerts.agency_id IS 'Agency whose forecast or input moved.';
COMMENT ON COLUMN quality.alerts.measure IS 'live_wape_shift | live_bias | coverage_80 | demand_level_psi | type_mix_psi | feature_psi:<model input>.';
COMMENT ON COLUMN quality.alerts.size IS 'The measure''s value over the window.';
COMMENT ON COLUMN quality.alerts.threshold IS 'The limit it crossed ([monitor] config).';
COMMENT ON COLUMN quality.alerts.window_start IS 'Start of the recent window compared, UTC.';
COMMENT ON COLUMN quality.alerts.window_end IS 'End (exclusive) of that window, UTC.';
COMMENT ON COLUMN quality.alerts.detail IS 'What was compared with what, in words.';
COMMENT ON COLUMN quality.alerts.action IS 'logged | retrain triggered.';

CREATE TABLE IF NOT EXISTS forecast.accuracy_weekly (
    agency_id            VARCHAR NOT NULL,
    week                 DATE NOT NULL,
    vintages             BIGINT NOT NULL,
    area_shifts          BIGINT NOT NULL,
    hours                BIGINT NOT NULL,
    actual               DOUBLE NOT NULL,
    forecast             DOUBLE NOT NULL,
    wape                 DOUBLE,
    bias                 DOUBLE,
    coverage_80          DOUBLE,
    backtest_wape        DOUBLE,
    backtest_bias        DOUBLE,
    backtest_coverage_80 DOUBLE,
    champion_version     VARCHAR,
    PRIMARY KEY (agency_id, week)
);

COMMENT ON TABLE forecast.accuracy_weekly IS 'Live accuracy per agency and week (forecast.accuracy summed) beside the current champion''s backtest figures; rewritten whole by each monitor run.';
COMMENT ON COLUMN forecast.accuracy_weekly.agency_id IS 'Agency.';
COMMENT ON COLUMN forecast.accuracy_weekly.week IS 'Monday of the local week the shifts start in.';
COMMENT ON COLUMN forecast.accuracy_weekly.vintages IS 'Published vintages that forecast those shifts.';
COMMENT ON COLUMN forecast.accuracy_weekly.area_shifts IS 'Scored rows (vintage x area x shift).';
COMMENT ON COLUMN forecast.accuracy_weekly.hours IS 'Area-hours scored.';
COMMENT ON COLUMN forecast.accuracy_weekly.actual IS 'Incidents counted, summed over the scored rows.';
COMMENT ON COLUMN forecast.accuracy_weekly.forecast IS 'Forecast means, summed likewise.';
COMMENT ON COLUMN forecast.accuracy_weekly.wape IS 'Shift WAPE: sum |error| / sum actual (null without incidents).';
COMMENT ON COLUMN forecast.accuracy_weekly.bias IS 'sum error / sum actual (positive: over-forecast).';
COMMENT ON COLUMN forecast.accuracy_weekly.coverage_80 IS 'Share of scored rows whose actual fell inside p10..p90.';
COMMENT ON COLUMN forecast.accuracy_weekly.backtest_wape IS 'The champion''s backtest shift WAPE for the agency (MLflow wape_<agency>).';
COMMENT ON COLUMN forecast.accuracy_weekly.backtest_bias IS 'The champion''s backtest bias (bias_<agency>).';
COMMENT ON COLUMN forecast.accuracy_weekly.backtest_coverage_80 IS 'The champion''s backtest coverage_80 (coverage_80_<agency>).';
COMMENT ON COLUMN forecast.accuracy_weekly.champion_version IS 'Registered model version that was champion at the monitor run.';
