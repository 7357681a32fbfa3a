-- Born-digital results (issue 5): results issued from 2022 on that were signed electronically
-- (ký số, Nghị định 30/2020) and kept on the province system as they were issued. A legacy source
-- says so per row (canonical fields signed_copy / signed_copy_ref, see sources/*.yaml); the
-- pipeline then records the result as digitized on its issue day. See docs/progress.md.

-- NULL = the source does not say (scan candidates, sources without the mapping): not signed.
ALTER TABLE staging.result_candidate ADD COLUMN IF NOT EXISTS signed_copy boolean;
ALTER TABLE staging.result_candidate ADD COLUMN IF NOT EXISTS signed_copy_ref text;
COMMENT ON COLUMN staging.result_candidate.signed_copy IS
    'the source says the result was signed electronically when issued (and names its e-copy); NULL = not stated';
COMMENT ON COLUMN staging.result_candidate.signed_copy_ref IS
    'reference of the signed electronic copy in the source system (e.g. hotich/2023/....pdf)';

-- Where the born-digital copy lives in the source system (a scan copy lives in core.document).
ALTER TABLE core.result ADD COLUMN IF NOT EXISTS copy_ref text;
COMMENT ON COLUMN core.result.copy_ref IS
    'reference of the signed born-digital copy in its source system; NULL for scans and data-only results';
