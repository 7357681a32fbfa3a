-- Retention of digitized copies per result type ("lưu trữ điện tử đúng thời hạn theo quy định",
-- both plans) and the cost estimate's inputs (dự trù kinh phí, province plan §III.2).

-- Years a digitized copy is kept after its result stops being valid; NULL: permanently.
ALTER TABLE core.procedure ADD COLUMN IF NOT EXISTS retention_years integer CHECK (retention_years > 0);

-- The day a result's copy may leave the archive: NULL while it must be kept (permanent type, or
-- a result still valid forever).
CREATE OR REPLACE FUNCTION core.retained_until(p_valid_until date, p_revoked_on date, p_retention_years integer)
RETURNS date LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_retention_years IS NULL OR least(p_valid_until, p_revoked_on) IS NULL THEN NULL
                ELSE (least(p_valid_until, p_revoked_on) + make_interval(years => p_retention_years))::date END
$$;

-- Nothing leaves the archive before its period ends: deleting a document row is refused while its
-- result's retention runs (an unlinked document, whose type is unknown, is kept).
CREATE OR REPLACE FUNCTION core.forbid_early_document_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_until date;
    v_known boolean := false;
BEGIN
    SELECT true, core.retained_until(r.valid_until, r.revoked_on, p.retention_years) INTO v_known, v_until
    FROM core.result r JOIN core.procedure p ON p.code = r.procedure_code
    WHERE r.result_id = OLD.result_id;
    IF NOT coalesce(v_known, false) OR v_until IS NULL OR v_until > current_date THEN
        RAISE EXCEPTION 'document % (sha256 %) is under retention % : it cannot be deleted',
            OLD.document_id, OLD.sha256,
            CASE WHEN v_until IS NULL THEN 'permanently' ELSE 'until ' || v_until END;
    END IF;
    RETURN OLD;
END $$;
DROP TRIGGER IF EXISTS document_retention_guard ON core.document;
CREATE TRIGGER document_retention_guard BEFORE DELETE ON core.document
    FOR EACH ROW EXECUTE FUNCTION core.forbid_early_document_delete();

-- Pages the unit counted with its paper inventory (optional on the form).
ALTER TABLE core.inventory_declaration ADD COLUMN IF NOT EXISTS declared_page_count integer
    CHECK (declared_page_count >= 0);

-- Unit costs of digitization, versioned (seeds/cost_rates.yaml): per page (scanning, checking,
-- signing) and per record (data entry, linking), by result type or '*' for every type.
CREATE TABLE IF NOT EXISTS core.cost_rate (
    version            text NOT NULL,
    valid_from         date NOT NULL,
    procedure_code     text NOT NULL DEFAULT '*',
    per_page_vnd       numeric(12, 2) NOT NULL CHECK (per_page_vnd >= 0),
    per_record_vnd     numeric(12, 2) NOT NULL CHECK (per_record_vnd >= 0),
    pages_per_record   numeric(6, 2) NOT NULL CHECK (pages_per_record > 0),  -- when the unit gave no page count
    basis              text NOT NULL,
    PRIMARY KEY (version, procedure_code)
);

-- Reuse share derived from the warehouse: a dossier may name its holder (pseudonymized key, the
-- same HMAC as core.holder.holder_key; never the ID itself) and the result type it needed. When
-- both are present, "did not have to re-supply" is derived: that document was already digitized
-- for that holder before the dossier was received. Otherwise the source's flag stays the input.
ALTER TABLE core.dossier ADD COLUMN IF NOT EXISTS holder_key text;
ALTER TABLE core.dossier ADD COLUMN IF NOT EXISTS needed_procedure_code text REFERENCES core.procedure (code);
ALTER TABLE core.dossier ALTER COLUMN resupplied_documents DROP NOT NULL;
ALTER TABLE mart.indicator_snapshot ADD COLUMN IF NOT EXISTS derived bigint;
COMMENT ON COLUMN mart.indicator_snapshot.derived IS 'Số hồ sơ (trong mẫu số) có kết quả suy ra từ kho dữ liệu; phần còn lại theo cờ của nguồn (chỉ tiêu không phải nộp lại giấy tờ)';
