-- Read-only analyst access (issue 5): a NOLOGIN group role that reads the mart schema and
-- nothing else. Personal identifiers stay out of reach: core.holder_identity, raw.source_row
-- payloads, staging, ops.quarantine payloads, core.document_page text, ops.review_queue.
-- Grant it to a login:  CREATE ROLE alice LOGIN PASSWORD '...'; GRANT tthc_analyst TO alice;
-- Roles are cluster-wide, grants are per database: creation is idempotent (and tolerates a
-- concurrent creator in another database), the grants run in every migrated database.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tthc_analyst') THEN
        CREATE ROLE tthc_analyst NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database's migration created it at the same moment
END $$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO tthc_analyst', current_database());
END $$;
-- Nothing outside mart: schemas created by the owner grant nothing to PUBLIC, but say it anyway.
REVOKE ALL ON SCHEMA core, raw, staging, ops FROM tthc_analyst;
REVOKE CREATE ON SCHEMA public FROM tthc_analyst;
GRANT USAGE ON SCHEMA mart TO tthc_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO tthc_analyst;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA mart TO tthc_analyst;
-- Views are re-created by the R__ files: new mart objects get the grant automatically.
ALTER DEFAULT PRIVILEGES IN SCHEMA mart GRANT SELECT ON TABLES TO tthc_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA mart GRANT EXECUTE ON FUNCTIONS TO tthc_analyst;
