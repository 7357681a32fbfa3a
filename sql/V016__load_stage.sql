-- The load stage (tthc.load): the pseudonymized holder key travels with the candidate, so
-- normalization into core is set-based SQL (staging.load_chunk) with no Python round trip.
ALTER TABLE staging.result_candidate ADD COLUMN IF NOT EXISTS holder_key text;
-- Identity-conflict checks and holder lookups read a holder's results.
CREATE INDEX IF NOT EXISTS result_holder_idx ON core.result (holder_id);
-- Results still without a code: found by index, not by scanning every result after each chunk.
CREATE INDEX IF NOT EXISTS result_code_missing_idx ON core.result (agency_id, procedure_code, issue_date)
    WHERE result_code IS NULL;
