-- The lookup, statistics and sharing application (tthc.app): its accounts, API keys, login
-- throttling and the audit trail of personal-data reads. See docs/app.md.
CREATE SCHEMA IF NOT EXISTS app;
COMMENT ON SCHEMA app IS 'Accounts, API keys and audit trail of the lookup/statistics application';

-- People (official, analyst, admin) and the owners of machine keys (integration).
CREATE TABLE IF NOT EXISTS app.account (
    account_id      bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,64}$'),
    display_name    text NOT NULL,
    role            text NOT NULL CHECK (role IN ('official', 'analyst', 'integration', 'admin')),
    password_hash   text,                              -- argon2id; NULL = cannot log in (key-only client)
    scopes          text[] NOT NULL DEFAULT '{}',      -- e.g. pii:read
    units           text[] NOT NULL DEFAULT '{}',      -- unit_keys an official (or a client) is limited to
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'official' OR cardinality(units) > 0)
);

-- Machine credentials: the secret is shown once; only its SHA-256 is stored (it has 256 bits of
-- entropy, so a slow hash adds nothing). Revocation is immediate: every request reads this row.
CREATE TABLE IF NOT EXISTS app.api_key (
    key_id        bigserial PRIMARY KEY,
    prefix        text NOT NULL UNIQUE,                 -- public part, shown in lists and logs
    secret_sha256 text NOT NULL,
    account_id    bigint NOT NULL REFERENCES app.account (account_id),
    name          text NOT NULL,
    scopes        text[] NOT NULL DEFAULT '{}',         -- results:read, feed:read, progress:read, pii:read
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);

-- Failed logins and key attempts, for rate limiting (per user name and per client address).
CREATE TABLE IF NOT EXISTS app.auth_failure (
    failure_id   bigserial PRIMARY KEY,
    bucket       text NOT NULL,                        -- 'user:<name>' | 'ip:<address>'
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS auth_failure_bucket_idx ON app.auth_failure (bucket, at);

-- Who read personal data (holder name, personal ID, the copy itself), what, when, from where.
-- Append-only: no role may update or delete a row (the trigger stops even the owner by mistake).
CREATE TABLE IF NOT EXISTS app.audit_log (
    audit_id     bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    account_id   bigint REFERENCES app.account (account_id),
    username     text NOT NULL,
    role         text NOT NULL,
    via          text NOT NULL CHECK (via IN ('session', 'token', 'api_key')),
    key_prefix   text,
    client_addr  text,
    user_agent   text,
    action       text NOT NULL,                        -- read_pii | read_copy | copy_hash_mismatch | admin ...
    object_type  text NOT NULL,
    object_id    text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_object_idx ON app.audit_log (object_type, object_id, at);
CREATE INDEX IF NOT EXISTS audit_log_account_idx ON app.audit_log (account_id, at);

CREATE OR REPLACE FUNCTION app.forbid_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'app.audit_log is append-only (% refused)', TG_OP;
END $$;
DROP TRIGGER IF EXISTS audit_log_append_only ON app.audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON app.audit_log
    FOR EACH ROW EXECUTE FUNCTION app.forbid_audit_change();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON app.audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON app.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION app.forbid_audit_change();
