-- The Great Expectations run name of each suite run ("<feed> batch <id> <file>"), as its
-- Data Docs result shows it: validations/<suite>/<run_name>/<run time>/.
ALTER TABLE quality.validation_runs ADD COLUMN IF NOT EXISTS run_name VARCHAR;
