-- The application's own PostgreSQL role: least privilege, never the superuser. NOLOGIN group role;
-- `tthc serve` logs in as tthc_app_login (member of it) unless TTHC_APP_DATABASE_URL names another
-- login of this role. It reads the results and reference data, counts pipeline health, appends
-- audit rows and manages accounts and keys; it cannot change a result or an audit row.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tthc_app') THEN
        CREATE ROLE tthc_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database's migration created it at the same moment
END $$;
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO tthc_app', current_database());
END $$;
REVOKE CREATE ON SCHEMA public FROM tthc_app;
REVOKE ALL ON SCHEMA raw, staging FROM tthc_app;
GRANT USAGE ON SCHEMA core, mart, ops, app TO tthc_app;

GRANT SELECT ON core.result, core.holder, core.holder_identity, core.admin_unit, core.unit_crosswalk,
                core.agency, core.procedure, core.plan, core.plan_target, core.document, core.result_source
    TO tthc_app;
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO tthc_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA mart TO tthc_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA mart GRANT SELECT ON TABLES TO tthc_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA mart GRANT EXECUTE ON FUNCTIONS TO tthc_app;

-- Pipeline health: counts, never payloads (quarantine payloads and review page text hold PII).
GRANT SELECT ON ops.batch, ops.fixity_check, ops.schema_migration TO tthc_app;
GRANT SELECT (quarantine_id, source, stage, created_at, resolved_at) ON ops.quarantine TO tthc_app;
GRANT SELECT (review_id, document_id, status, created_at) ON ops.review_queue TO tthc_app;
GRANT SELECT (file_id, drop_zone, sha256, status) ON ops.scan_file TO tthc_app;
-- A copy whose hash no longer matches is recorded and alerted (tthc.alerts keeps its state in ops).
GRANT INSERT ON ops.fixity_check, ops.object_event TO tthc_app;
GRANT SELECT, INSERT, UPDATE ON ops.alert_log, ops.alert_group TO tthc_app;
GRANT USAGE ON SEQUENCE ops.fixity_check_check_id_seq, ops.object_event_event_id_seq,
                        ops.alert_log_alert_id_seq TO tthc_app;

GRANT SELECT, INSERT, UPDATE ON app.account, app.api_key TO tthc_app;
GRANT SELECT, INSERT, DELETE ON app.auth_failure TO tthc_app;
GRANT SELECT, INSERT ON app.audit_log TO tthc_app;          -- no UPDATE, DELETE, TRUNCATE
GRANT USAGE ON ALL SEQUENCES IN SCHEMA app TO tthc_app;

-- The analyst role reads mart only: nothing of app (accounts, keys, audit).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'tthc_analyst') THEN
        REVOKE ALL ON SCHEMA app FROM tthc_analyst;
    END IF;
END $$;
