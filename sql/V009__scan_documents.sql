-- Scan drops: files seen in drop zones, the archived documents (one per distinct content),
-- their pages and extracted fields, the officials' review queue and the fixity log.
-- The contract between intake (hash → dedup → text → fields → validate → link → store)
-- and progress reporting: a result is digitized when a document is linked to it.

-- Every file seen in a drop zone, one row per (drop zone, location, content).
CREATE TABLE IF NOT EXISTS ops.scan_file (
    file_id         bigserial PRIMARY KEY,
    drop_zone       text NOT NULL,                 -- name of the drop zone (drops/*.yaml)
    source_uri      text NOT NULL,                 -- file:///abs/path or s3://bucket/key in the drop
    sha256          text NOT NULL,
    size_bytes      bigint NOT NULL,
    source_mtime    timestamptz,
    sidecar         jsonb,                         -- the sidecar-manifest row for this file, if any
    status          text NOT NULL DEFAULT 'received'
                    CHECK (status IN ('received', 'archived', 'text_extracted', 'fields_extracted',
                                      'linked', 'review', 'quarantined', 'duplicate')),
    duplicate_of    bigint REFERENCES ops.scan_file (file_id),  -- exact duplicate policy: see README
    batch_id        bigint REFERENCES ops.batch (batch_id),
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (drop_zone, source_uri, sha256)
);
CREATE INDEX IF NOT EXISTS scan_file_sha_idx ON ops.scan_file (sha256);

-- One digitized copy per distinct content (sha256), archived immutably under its hash.
CREATE TABLE IF NOT EXISTS core.document (
    document_id       bigserial PRIMARY KEY,
    sha256            text NOT NULL UNIQUE,
    archive_uri       text NOT NULL,               -- immutable archive: folder or s3 prefix, by hash
    media_type        text NOT NULL,               -- application/pdf | image/tiff | image/jpeg | image/png
    page_count        integer,
    document_type     text REFERENCES core.procedure (code),
    captured_at       timestamptz,                 -- when it was scanned: sidecar, file metadata or mtime
    -- Nghị định 30/2020, Appendix I
    pdf_version       text,
    min_dpi           numeric,
    is_colour         boolean,
    quality_ok        boolean,
    quality_issues    text[] NOT NULL DEFAULT '{}',
    signature_status  text NOT NULL DEFAULT 'unsigned'
                      CHECK (signature_status IN ('unsigned', 'valid', 'invalid')),
    signature_detail  jsonb,
    signed_copy_uri   text,                        -- the copy signed with the agency's certificate
    signed_at         timestamptz,
    -- linking
    result_id         bigint REFERENCES core.result (result_id),
    link_rule         text,                        -- natural_key | fuzzy_name | paper_only | manual
    linked_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS document_result_idx ON core.document (result_id);

CREATE TABLE IF NOT EXISTS core.document_page (
    document_id     bigint NOT NULL REFERENCES core.document (document_id),
    page_no         integer NOT NULL,              -- 1-based
    method          text NOT NULL CHECK (method IN ('text_layer', 'ocr')),
    text            text NOT NULL,
    ocr_confidence  numeric,                       -- Tesseract mean word confidence 0–100; NULL for text layer
    dpi             numeric,
    width_px        integer,
    height_px       integer,
    PRIMARY KEY (document_id, page_no)
);

CREATE TABLE IF NOT EXISTS core.document_field (
    document_id     bigint NOT NULL REFERENCES core.document (document_id),
    field           text NOT NULL,                 -- document_type, doc_number, doc_book, issue_date, ...
    value           text,
    confidence      numeric NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    rule            text,                          -- which rule of seeds/scan_fields.yaml found it
    PRIMARY KEY (document_id, field)
);

-- Officials work through this: low-confidence scans, with the page text and the guessed fields.
CREATE TABLE IF NOT EXISTS ops.review_queue (
    review_id       bigserial PRIMARY KEY,
    document_id     bigint NOT NULL UNIQUE REFERENCES core.document (document_id),
    reason          text NOT NULL,
    page_text       text NOT NULL,
    guessed_fields  jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'rejected')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolved_by     text,
    resolution      jsonb
);
CREATE INDEX IF NOT EXISTS review_queue_open_idx ON ops.review_queue (status) WHERE status = 'open';

-- Scheduled re-verification of archived hashes.
CREATE TABLE IF NOT EXISTS ops.fixity_check (
    check_id        bigserial PRIMARY KEY,
    document_id     bigint NOT NULL REFERENCES core.document (document_id),
    checked_at      timestamptz NOT NULL DEFAULT now(),
    ok              boolean NOT NULL,
    detail          text
);
CREATE INDEX IF NOT EXISTS fixity_check_document_idx ON ops.fixity_check (document_id, checked_at DESC);
