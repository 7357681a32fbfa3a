-- The load stage (tthc.load): the pseudonymized holder key travels with the candidate, so
-- normalization into core is set-based SQL (staging.load_chunk) with no Python round trip.
ALTER TABLE staging.result_candidate ADD COLUMN IF NOT EXISTS holder_key text;
-- Identity-conflict checks and holder lookups read a holder's results.
CREATE INDEX IF NOT EXISTS result_holder_idx ON core.result (holder_id);
-- Lineage lookups by source row (already-known rows on a re-run).
CREATE INDEX IF NOT EXISTS result_source_row_idx ON core.result_source (source, source_pk, row_hash);
