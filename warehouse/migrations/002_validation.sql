-- Validation: what each expectation-suite run over a batch found.
CREATE TABLE IF NOT EXISTS quality.validation_runs (
    run_id          VARCHAR PRIMARY KEY,
    feed_id         VARCHAR NOT NULL,
    batch_id        BIGINT NOT NULL,
    suite           VARCHAR NOT NULL,
    success         BOOLEAN NOT NULL,
    statistics      JSON,
    failed_checks   VARCHAR[],
    warnings        VARCHAR[],
    rows_checked    BIGINT,
    rows_failed     BIGINT,
    docs_uri        VARCHAR,
    validated_at    TIMESTAMPTZ NOT NULL
);
