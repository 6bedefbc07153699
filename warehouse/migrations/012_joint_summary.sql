-- Each agency's joint events of its last weeks (features.joint_summary), published with each
-- publication so the report shows them without reading core.incidents.
CREATE TABLE forecast.joint_summary (
    agency_id           VARCHAR NOT NULL,
    incident_type       VARCHAR NOT NULL,
    lead_agency         VARCHAR NOT NULL,
    joint_events        BIGINT NOT NULL,
    joint_records       BIGINT NOT NULL,
    partner_agencies    VARCHAR[] NOT NULL,
    type_incidents      BIGINT NOT NULL,
    agency_incidents    BIGINT NOT NULL,
    window_start        TIMESTAMPTZ NOT NULL,
    window_end          TIMESTAMPTZ NOT NULL
);

COMMENT ON TABLE forecast.joint_summary IS 'One agency''s joint events of one incident type and lead agency over its last 28 days.';
COMMENT ON COLUMN forecast.joint_summary.agency_id IS 'Agency whose records took part in the joint events.';
COMMENT ON COLUMN forecast.joint_summary.incident_type IS 'Incident type of the joint events (linked records share it).';
COMMENT ON COLUMN forecast.joint_summary.lead_agency IS 'Agency that led them: the type''s [[roles]] lead when it took part, else the agency of the first record.';
COMMENT ON COLUMN forecast.joint_summary.joint_events IS 'Distinct joint events (records of several agencies linked as one real event).';
COMMENT ON COLUMN forecast.joint_summary.joint_records IS 'The agency''s own records in those events.';
COMMENT ON COLUMN forecast.joint_summary.partner_agencies IS 'The other agencies that took part in those events.';
COMMENT ON COLUMN forecast.joint_summary.type_incidents IS 'All the agency''s counted incidents of this type in the window, joint or not.';
COMMENT ON COLUMN forecast.joint_summary.agency_incidents IS 'All the agency''s counted incidents of every type in the window.';
COMMENT ON COLUMN forecast.joint_summary.window_start IS 'Start of the window (exclusive), UTC: 28 days before window_end.';
COMMENT ON COLUMN forecast.joint_summary.window_end IS 'End of the window, UTC: the agency''s newest incident when the features were built.';
