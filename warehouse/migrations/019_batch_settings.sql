-- The feed settings each batch was judged under, as digests (warehouse.ingest.read_digest,
-- expectations.validate.check_digest): a rejected batch is received again when the settings its
-- file is read with change, and validated again when those it is mapped and checked with change.
-- Batches from before have neither: a rejected one among them is received again once.
ALTER TABLE meta.batches ADD COLUMN IF NOT EXISTS read_digest VARCHAR;
ALTER TABLE meta.batches ADD COLUMN IF NOT EXISTS check_digest VARCHAR;

COMMENT ON COLUMN meta.batches.read_digest IS 'Digest of the feed settings its file was read with at ingest (format, delimiter, encoding, pii).';
COMMENT ON COLUMN meta.batches.check_digest IS 'Digest of the feed settings it was validated under (mapping, codes, checks, its agencies'' bbox, hand-written expectations); null until validated.';
