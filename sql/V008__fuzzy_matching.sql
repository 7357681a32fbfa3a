-- Fuzzy deduplication: the holder's name without diacritics on each result, and the rule
-- by which each staged candidate matched (natural_key | fuzzy_name).
ALTER TABLE core.result ADD COLUMN IF NOT EXISTS holder_name_key text;
ALTER TABLE staging.result_candidate ADD COLUMN IF NOT EXISTS match_rule text NOT NULL DEFAULT 'natural_key';
CREATE INDEX IF NOT EXISTS result_fuzzy_idx ON core.result (agency_id, procedure_code, issue_date);
