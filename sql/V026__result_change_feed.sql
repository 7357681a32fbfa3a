-- Change feed (/api/v1/changes): every insert or real change of a result stamps the row with the
-- id of the writing transaction (xid8, never wraps). Transactions commit out of id order, so the
-- feed serves only rows whose stamp is below the oldest transaction still running
-- (pg_snapshot_xmin(pg_current_snapshot())): none of those can still commit, and no later
-- transaction can get an id below it. The cursor is (change_xid, result_id). See docs/app.md.
ALTER TABLE core.result ADD COLUMN IF NOT EXISTS change_xid xid8;
UPDATE core.result SET change_xid = pg_current_xact_id() WHERE change_xid IS NULL;
ALTER TABLE core.result ALTER COLUMN change_xid SET NOT NULL;
-- also for bulk loads that bypass triggers (session_replication_role = replica): inserts get stamped
ALTER TABLE core.result ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();
COMMENT ON COLUMN core.result.change_xid IS
    'transaction that inserted or last changed the row (change feed cursor, with result_id)';

CREATE OR REPLACE FUNCTION core.stamp_result_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- an upsert that changes nothing (a re-run) keeps its place in the feed
    IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NEW;
    END IF;
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS result_change_stamp ON core.result;
CREATE TRIGGER result_change_stamp BEFORE INSERT OR UPDATE ON core.result
    FOR EACH ROW EXECUTE FUNCTION core.stamp_result_change();
CREATE INDEX IF NOT EXISTS result_change_idx ON core.result (change_xid, result_id);
