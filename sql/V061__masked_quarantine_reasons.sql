-- A quarantine reason is read by people who may not read the payload (operators' dashboards,
-- alerts, the application's health counts). Whatever path writes it (Python or SQL), an ID-like
-- run of 9 to 12 digits in it keeps its last 3 digits only; the payload keeps the value whole.
-- tthc.masking.mask_ids_in_text is the same rule, and also masks IDs typed with separators.
CREATE OR REPLACE FUNCTION ops.mask_ids(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(t,
        '(?<![0-9])[0-9]{9}([0-9]{3})(?![0-9])', '*********\1', 'g'),
        '(?<![0-9])[0-9]{8}([0-9]{3})(?![0-9])', '********\1', 'g'),
        '(?<![0-9])[0-9]{7}([0-9]{3})(?![0-9])', '*******\1', 'g'),
        '(?<![0-9])[0-9]{6}([0-9]{3})(?![0-9])', '******\1', 'g')
$$;

CREATE OR REPLACE FUNCTION ops.quarantine_mask_reason() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.reason := ops.mask_ids(NEW.reason);
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS quarantine_mask_reason ON ops.quarantine;
CREATE TRIGGER quarantine_mask_reason BEFORE INSERT OR UPDATE OF reason ON ops.quarantine
    FOR EACH ROW EXECUTE FUNCTION ops.quarantine_mask_reason();

-- Reasons already stored get the same mask.
UPDATE ops.quarantine SET reason = ops.mask_ids(reason) WHERE reason ~ '[0-9]{9}';
