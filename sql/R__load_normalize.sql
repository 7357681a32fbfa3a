-- The load stage's set-based SQL (tthc.load). Where a staged candidate becomes a core.result:
-- staging.load_chunk, run once per chunk of candidate ids of a batch.

-- The one copy-kind precedence rule: never downgrade a copy. scan > born_digital > data_only.
CREATE OR REPLACE FUNCTION core.stronger_copy_kind(a text, b text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN 'scan' IN (a, b) THEN 'scan'
                WHEN 'born_digital' IN (a, b) THEN 'born_digital'
                ELSE coalesce(a, b) END
$$;

-- Why a failed candidate was refused: its cleaning problems, else the checks it failed.
CREATE OR REPLACE FUNCTION staging.rejection_reason(problems jsonb, checks jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_array_length(coalesce(problems, '[]')) > 0
                THEN (SELECT string_agg(x, '; ') FROM jsonb_array_elements_text(problems) x)
                ELSE (SELECT string_agg(x, '; ') FROM jsonb_array_elements_text(coalesce(checks, '[]')) x) END
$$;

-- Failed candidates of a batch -> ops.quarantine with their raw payload, by SQL. The dedup key
-- (stage, row, content, reason) makes a re-run add nothing. Returns the rows inserted.
CREATE OR REPLACE FUNCTION staging.quarantine_failed(p_batch bigint, p_stage text DEFAULT 'validate')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO ops.quarantine (batch_id, source, source_key, stage, reason, failed_checks, payload, dedup_key)
    SELECT c.batch_id, c.source, c.source_pk, p_stage, x.reason, c.failed_checks, r.payload,
           encode(sha256(convert_to(concat_ws(E'\x1f', p_stage, c.source_pk, c.row_hash, x.reason), 'UTF8')), 'hex')
    FROM staging.result_candidate c
    JOIN raw.source_row r ON (r.source, r.source_pk, r.row_hash) = (c.source, c.source_pk, c.row_hash)
    CROSS JOIN LATERAL (SELECT staging.rejection_reason(c.clean_problems, c.failed_checks) AS reason) x
    WHERE c.batch_id = p_batch AND c.failed_checks IS NOT NULL
    ON CONFLICT (source, dedup_key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Valid candidates with ids in [p_from, p_to] of batch p_batch -> core.holder, core.holder_identity,
-- core.result (upsert on the natural key) and core.result_source (lineage). A new result takes its code
-- from the batch's plan (staging.result_code_plan, tthc.load.normalize.plan_codes).
-- Returns: results_new (results this chunk created), rows_valid (valid rows of the chunk),
-- rows_known (valid rows whose lineage was already recorded: a re-run's rows). The rest of the
-- valid rows were merged into a result another row made (rows_valid - results_new - rows_known).
CREATE OR REPLACE FUNCTION staging.load_chunk(p_batch bigint, p_from bigint, p_to bigint)
RETURNS TABLE (results_new bigint, rows_valid bigint, rows_known bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_new bigint;
    v_valid bigint;
    v_known bigint;
BEGIN
    SELECT count(*), count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM core.result_source s
               WHERE (s.source, s.source_pk, s.row_hash) = (c.source, c.source_pk, c.row_hash)))
    INTO v_valid, v_known
    FROM staging.result_candidate c
    WHERE c.batch_id = p_batch AND c.candidate_id BETWEEN p_from AND p_to AND c.failed_checks IS NULL;

    -- Holders: one per matching key; the first name seen is kept (identity conflicts were
    -- quarantined before this runs, see tthc.load.validate). A new holder draws its random holder_ref.
    -- A row of a result that already has its holder adds no holder: the result keeps its own, and a
    -- misread ID (one OCR digit) would otherwise leave a holder nobody's result points to.
    INSERT INTO core.holder (match_key, kind, display_name)
    SELECT DISTINCT ON (c.holder_key) c.holder_key, c.holder_kind, c.holder_name
    FROM staging.result_candidate c
    WHERE c.batch_id = p_batch AND c.candidate_id BETWEEN p_from AND p_to AND c.failed_checks IS NULL
      AND c.holder_key IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM core.result r
                      WHERE (r.agency_id, r.procedure_code, r.doc_book, r.doc_number, r.issue_date)
                          = (c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date)
                        AND r.holder_id IS NOT NULL)
    ORDER BY c.holder_key, c.candidate_id
    ON CONFLICT (match_key) DO NOTHING;

    -- Rows are written in key order in every statement: chunks running at once on several workers
    -- lock shared keys in the same order, so they wait for each other but cannot deadlock.
    INSERT INTO core.holder_identity (holder_id, id_type, id_value)
    SELECT DISTINCT h.holder_id, c.holder_id_type, c.holder_id_value
    FROM staging.result_candidate c JOIN core.holder h ON h.match_key = c.holder_key
    WHERE c.batch_id = p_batch AND c.candidate_id BETWEEN p_from AND p_to AND c.failed_checks IS NULL
      AND c.holder_key IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM core.result r
                      WHERE (r.agency_id, r.procedure_code, r.doc_book, r.doc_number, r.issue_date)
                          = (c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date)
                        AND r.holder_id <> h.holder_id)
    ORDER BY c.holder_id_type, c.holder_id_value
    ON CONFLICT DO NOTHING;

    -- One row per natural key within the chunk; later rows of the same key merge in the upsert.
    WITH valid AS (
        SELECT DISTINCT ON (c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date) c.*,
               min(c.source_recorded_at) OVER w AS first_recorded_at,
               -- born digital: any row of the result says it was signed when issued
               coalesce(bool_or(c.signed_copy) OVER w, false) AS signed,
               min(c.signed_copy_ref) FILTER (WHERE c.signed_copy) OVER w AS signed_ref
        FROM staging.result_candidate c
        WHERE c.batch_id = p_batch AND c.candidate_id BETWEEN p_from AND p_to AND c.failed_checks IS NULL
        WINDOW w AS (PARTITION BY c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date)
        ORDER BY c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date, c.source_pk
    ), successor AS (
        SELECT DISTINCT ON (old_unit_key) old_unit_key, new_unit_key
        FROM core.unit_crosswalk ORDER BY old_unit_key, new_unit_key
    ), upserted AS (
        INSERT INTO core.result AS r (procedure_code, agency_id, issuing_unit_key, successor_unit_key, holder_id,
                                      holder_name_key, doc_book, doc_number, issue_date, valid_until, revoked_on,
                                      copy_kind, recorded_at, is_signed, digitized_at, copy_ref, result_code)
        SELECT v.document_type, v.agency_id, v.unit_key, s.new_unit_key, h.holder_id, v.holder_name_key,
               v.doc_book, v.doc_number, v.issue_date,
               CASE WHEN p.is_permanent THEN NULL
                    ELSE coalesce(v.extended_until, (v.issue_date + make_interval(months =>
                         p.validity_months + coalesce(p.extension_months, 0)
                                             * least(coalesce(v.extensions, 0), p.max_extensions)))::date)
               END,
               v.revoked_on, CASE WHEN v.signed THEN 'born_digital' ELSE 'data_only' END, v.first_recorded_at,
               -- a signed result is on the province system, digitized, from the day it was issued
               v.signed, CASE WHEN v.signed THEN v.issue_date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh' END,
               v.signed_ref, k.result_code
        FROM valid v
        JOIN core.procedure p ON p.code = v.document_type
        LEFT JOIN successor s ON s.old_unit_key = v.unit_key
        LEFT JOIN core.holder h ON h.match_key = v.holder_key
        LEFT JOIN staging.result_code_plan k
               ON (k.batch_id, k.agency_id, k.procedure_code, k.doc_book, k.doc_number, k.issue_date)
                = (p_batch, v.agency_id, v.document_type, v.doc_book, v.doc_number, v.issue_date)
        ON CONFLICT (agency_id, procedure_code, doc_book, doc_number, issue_date) DO UPDATE
        SET holder_id = coalesce(r.holder_id, EXCLUDED.holder_id),
            holder_name_key = coalesce(r.holder_name_key, EXCLUDED.holder_name_key),
            revoked_on = coalesce(EXCLUDED.revoked_on, r.revoked_on),
            valid_until = EXCLUDED.valid_until,
            recorded_at = least(r.recorded_at, EXCLUDED.recorded_at),   -- least() skips NULLs
            copy_kind = core.stronger_copy_kind(r.copy_kind, EXCLUDED.copy_kind),
            is_signed = r.is_signed OR EXCLUDED.is_signed,
            digitized_at = least(r.digitized_at, EXCLUDED.digitized_at),
            copy_ref = coalesce(r.copy_ref, EXCLUDED.copy_ref),
            updated_at = CASE WHEN (r.holder_id, r.revoked_on, r.valid_until, r.is_signed, r.digitized_at, r.copy_ref,
                                    r.copy_kind)
                                   IS DISTINCT FROM (coalesce(r.holder_id, EXCLUDED.holder_id),
                                                     coalesce(EXCLUDED.revoked_on, r.revoked_on), EXCLUDED.valid_until,
                                                     r.is_signed OR EXCLUDED.is_signed,
                                                     least(r.digitized_at, EXCLUDED.digitized_at),
                                                     coalesce(r.copy_ref, EXCLUDED.copy_ref),
                                                     core.stronger_copy_kind(r.copy_kind, EXCLUDED.copy_kind))
                              THEN now() ELSE r.updated_at END
        RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted) INTO v_new FROM upserted;

    -- Lineage through core.result's unique natural-key index.
    INSERT INTO core.result_source (result_id, source, source_pk, row_hash, batch_id, match_rule)
    SELECT r.result_id, c.source, c.source_pk, c.row_hash, c.batch_id, c.match_rule
    FROM staging.result_candidate c
    JOIN core.result r ON (r.agency_id, r.procedure_code, r.doc_book, r.doc_number, r.issue_date)
                        = (c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date)
    WHERE c.batch_id = p_batch AND c.candidate_id BETWEEN p_from AND p_to AND c.failed_checks IS NULL
    ON CONFLICT DO NOTHING;

    RETURN QUERY SELECT v_new, v_valid, v_known;
END $$;
