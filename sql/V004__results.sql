-- Landed source rows, exactly as they came. One row per distinct content of a
-- source record: re-landing the same content is a no-op (idempotent).
CREATE TABLE IF NOT EXISTS raw.source_row (
    source       text NOT NULL,
    source_pk    text NOT NULL,
    row_hash     text NOT NULL,            -- sha256 of the canonical JSON payload
    batch_id     bigint REFERENCES ops.batch (batch_id),
    payload      jsonb NOT NULL,
    landed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_pk, row_hash)
);

-- Holders (citizens and organizations). Analysts see only holder_key, an HMAC of
-- the identifier; the identifier itself sits in core.holder_identity, which the
-- analyst role cannot read.
CREATE TABLE IF NOT EXISTS core.holder (
    holder_id     bigserial PRIMARY KEY,
    holder_key    text NOT NULL UNIQUE,    -- pseudonymized key: HMAC-SHA256(secret, id_type:id_value)
    kind          text NOT NULL CHECK (kind IN ('citizen', 'organization')),
    display_name  text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS core.holder_identity (
    holder_id   bigint NOT NULL REFERENCES core.holder (holder_id),
    id_type     text NOT NULL CHECK (id_type IN ('cccd', 'cmnd', 'mst', 'other')),
    id_value    text NOT NULL,
    PRIMARY KEY (id_type, id_value)
);

-- One row per digitized TTHC result (kết quả giải quyết TTHC).
CREATE TABLE IF NOT EXISTS core.result (
    result_id              bigserial PRIMARY KEY,
    result_code            text UNIQUE,            -- the unique code (ký hiệu riêng)
    procedure_code         text NOT NULL REFERENCES core.procedure (code),
    agency_id              text NOT NULL REFERENCES core.agency (electronic_id),
    issuing_unit_key       text NOT NULL REFERENCES core.admin_unit (unit_key),   -- as at issue
    successor_unit_key     text REFERENCES core.admin_unit (unit_key),            -- today's unit
    holder_id              bigint REFERENCES core.holder (holder_id),
    doc_book               text NOT NULL DEFAULT '',
    doc_number             text NOT NULL,
    issue_date             date NOT NULL,
    valid_until            date,                   -- NULL = valid forever
    revoked_on             date,
    digitized_at           timestamptz,            -- when a validated electronic copy was linked
    copy_kind              text CHECK (copy_kind IN ('scan', 'born_digital', 'data_only')),
    is_signed              boolean NOT NULL DEFAULT false,
    digitized_elsewhere    text,                   -- external ref when another project already did it
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    -- natural key: a result is digitized once, whatever the number of sources
    UNIQUE (agency_id, procedure_code, doc_book, doc_number, issue_date)
);
CREATE INDEX IF NOT EXISTS result_unit_idx ON core.result (issuing_unit_key, procedure_code);

-- Lineage: every source row (every version of it, by content hash) that contributed to a result.
CREATE TABLE IF NOT EXISTS core.result_source (
    result_id    bigint NOT NULL REFERENCES core.result (result_id),
    source       text NOT NULL,
    source_pk    text NOT NULL,
    row_hash     text NOT NULL,
    batch_id     bigint REFERENCES ops.batch (batch_id),
    match_rule   text NOT NULL DEFAULT 'natural_key',
    PRIMARY KEY (source, source_pk, row_hash, result_id)
);
