-- Cleaned, typed candidates of one batch: the input of validation (Great Expectations)
-- and of normalization into core. Values that could not be cleaned are NULL, and
-- clean_problems says why; validation then fails them into ops.quarantine.
CREATE TABLE IF NOT EXISTS staging.result_candidate (
    candidate_id       bigserial PRIMARY KEY,
    batch_id           bigint NOT NULL REFERENCES ops.batch (batch_id),
    source             text NOT NULL,
    source_pk          text NOT NULL,
    row_hash           text NOT NULL,
    document_type      text,               -- core.procedure.code
    doc_number         text,
    doc_book           text NOT NULL DEFAULT '',
    issue_date         date,
    holder_name        text,               -- Unicode NFC, capitalized
    holder_name_key    text,               -- no diacritics, lowercase: fuzzy matching
    holder_kind        text CHECK (holder_kind IN ('citizen', 'organization')),
    holder_id_type     text,               -- cccd | cmnd | mst
    holder_id_value    text,
    holder_birth_date  date,
    unit_key           text,               -- issuing unit as at issue (pre2025 era)
    agency_id          text,
    status_in_source   text,
    revoked_on         date,
    extended_until     date,               -- explicit new end date, when the source has one
    extensions         integer,            -- number of extensions granted (construction permits)
    clean_problems     jsonb NOT NULL DEFAULT '[]'::jsonb,
    failed_checks      jsonb,              -- set by validation: NULL = passed
    UNIQUE (batch_id, source, source_pk, row_hash)
);
CREATE INDEX IF NOT EXISTS result_candidate_batch_idx ON staging.result_candidate (batch_id, document_type);

-- Stored validation results, one row per (batch, suite).
CREATE TABLE IF NOT EXISTS ops.validation_result (
    batch_id        bigint NOT NULL REFERENCES ops.batch (batch_id),
    suite           text NOT NULL,
    success         boolean NOT NULL,
    evaluated_rows  bigint NOT NULL,
    failed_rows     bigint NOT NULL,
    statistics      jsonb NOT NULL,
    result          jsonb NOT NULL,     -- the GX validation result, serialized
    validated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, suite)
);
