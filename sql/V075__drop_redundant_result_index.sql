-- core.result_unit_idx (issuing_unit_key, procedure_code) is a prefix of result_progress_idx
-- (issuing_unit_key, procedure_code, issue_date, V010): every query it served, that one serves.
-- One index less to maintain for each result the load stage inserts.
DROP INDEX IF EXISTS core.result_unit_idx;
