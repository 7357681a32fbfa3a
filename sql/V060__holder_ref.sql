-- Holder pseudonyms that cannot be reversed. What leaves core is holder_ref: a random UUID given
-- to a holder when it is first seen and never derived from the ID, so no guess of an ID can be
-- checked against it, whatever secret leaks. The keyed hash that matches a landed row (or a
-- dossier) to its holder is match_key: it stays in core, which analysts cannot read, and it can
-- be recomputed under a new secret (`tthc rotate-holder-key`) without touching holder_ref.
DO $$
BEGIN
    IF EXISTS (SELECT FROM information_schema.columns
               WHERE table_schema = 'core' AND table_name = 'holder' AND column_name = 'holder_key') THEN
        ALTER TABLE core.holder RENAME COLUMN holder_key TO match_key;
    END IF;
    IF EXISTS (SELECT FROM information_schema.columns
               WHERE table_schema = 'core' AND table_name = 'dossier' AND column_name = 'holder_key') THEN
        ALTER TABLE core.dossier RENAME COLUMN holder_key TO holder_match_key;
    END IF;
END $$;

-- gen_random_uuid() is volatile: every existing holder gets its own value.
ALTER TABLE core.holder ADD COLUMN IF NOT EXISTS holder_ref uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX IF NOT EXISTS holder_ref_key ON core.holder (holder_ref);
-- A stable reference: a holder keeps the one it was given.
CREATE OR REPLACE FUNCTION core.keep_holder_ref() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.holder_ref := OLD.holder_ref;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS holder_ref_stable ON core.holder;
CREATE TRIGGER holder_ref_stable BEFORE UPDATE OF holder_ref ON core.holder
    FOR EACH ROW EXECUTE FUNCTION core.keep_holder_ref();

COMMENT ON COLUMN core.holder.holder_ref IS
    'Random surrogate reference of the holder, assigned at first sight; never computed from an ID';
COMMENT ON COLUMN core.holder.match_key IS
    'HMAC-SHA256(TTHC_HOLDER_KEY_SECRET, id_type:id_value): matching only, never leaves core';
COMMENT ON COLUMN core.dossier.holder_match_key IS
    'The dossier holder''s match_key (same keyed hash as core.holder.match_key); never leaves core';
COMMENT ON COLUMN staging.result_candidate.holder_key IS
    'The row holder''s match_key (keyed hash of the ID), matched against core.holder.match_key';

-- The application reads holders by column: the matching key is not among them.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'tthc_app') THEN
        REVOKE SELECT ON core.holder FROM tthc_app;
        GRANT SELECT (holder_id, holder_ref, kind, display_name, created_at) ON core.holder TO tthc_app;
    END IF;
END $$;
