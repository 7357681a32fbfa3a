-- The application caches verified API keys per process (tthc.app.auth.KeyCache) so that a request
-- needs no extra database round trip for its credential. Revocation stays immediate: every change
-- that can withdraw or alter a credential NOTIFYs the channel the cache listens on, in the same
-- transaction (delivered at commit), and the cache forgets everything it holds.
-- last_used_at, written by the application itself, does not notify (it changes no right).
CREATE OR REPLACE FUNCTION app.notify_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tthc_app_credentials', TG_TABLE_NAME);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS api_key_changed ON app.api_key;
CREATE TRIGGER api_key_changed
    AFTER UPDATE OF prefix, secret_sha256, account_id, scopes, expires_at, revoked_at OR DELETE OR TRUNCATE
    ON app.api_key FOR EACH STATEMENT EXECUTE FUNCTION app.notify_credentials_changed();

DROP TRIGGER IF EXISTS account_changed ON app.account;
CREATE TRIGGER account_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON app.account
    FOR EACH STATEMENT EXECUTE FUNCTION app.notify_credentials_changed();

-- A key's scope covers the units under the account's units: a change to the unit tree alters it.
DROP TRIGGER IF EXISTS admin_unit_changed ON core.admin_unit;
CREATE TRIGGER admin_unit_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON core.admin_unit
    FOR EACH STATEMENT EXECUTE FUNCTION app.notify_credentials_changed();

-- The notification arrives asynchronously: a request sent right after a revocation commits could be
-- served before it. So a request on a cached key still proves its key in the database, inside the
-- round trip of its first statement (prepended to it, tthc.app.db): this raises 28000 (invalid
-- authorization) unless the key is unrevoked, unexpired, with the same scopes, and its account
-- enabled and unchanged since the key was cached.
CREATE OR REPLACE FUNCTION app.assert_key(p_key_id bigint, p_scopes text[], p_account_version bigint)
RETURNS void LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM app.api_key k JOIN app.account a ON a.account_id = k.account_id
                   WHERE k.key_id = p_key_id AND k.revoked_at IS NULL
                     AND (k.expires_at IS NULL OR k.expires_at > now()) AND k.scopes = p_scopes
                     AND a.disabled_at IS NULL
                     AND (extract(epoch FROM a.updated_at) * 1000000)::bigint = p_account_version) THEN
        RAISE EXCEPTION 'API key % revoked, expired or changed', p_key_id USING ERRCODE = '28000';
    END IF;
END $$;
REVOKE ALL ON FUNCTION app.assert_key(bigint, text[], bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.assert_key(bigint, text[], bigint) TO tthc_app;
