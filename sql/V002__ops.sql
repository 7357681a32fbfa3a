-- Pipeline state lives in the warehouse: Airflow tasks cannot reach the metadata DB.

CREATE TABLE IF NOT EXISTS ops.batch (
    batch_id          bigserial PRIMARY KEY,
    source            text NOT NULL,
    dag_id            text,
    run_id            text,
    interval_start    timestamptz,
    interval_end      timestamptz,
    status            text NOT NULL DEFAULT 'running'
                      CHECK (status IN ('running', 'succeeded', 'failed')),
    rows_in           bigint NOT NULL DEFAULT 0,
    rows_out          bigint NOT NULL DEFAULT 0,
    rows_quarantined  bigint NOT NULL DEFAULT 0,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    detail            jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS batch_source_interval_idx ON ops.batch (source, interval_start);

-- Incremental extraction state per source.
CREATE TABLE IF NOT EXISTS ops.watermark (
    source       text PRIMARY KEY,
    last_value   text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Nothing is dropped silently: every rejected row or file lands here with its payload.
CREATE TABLE IF NOT EXISTS ops.quarantine (
    quarantine_id   bigserial PRIMARY KEY,
    batch_id        bigint REFERENCES ops.batch (batch_id),
    source          text NOT NULL,
    source_key      text,
    stage           text NOT NULL,            -- extract | clean | validate | normalize | intake | ocr ...
    reason          text NOT NULL,
    failed_checks   jsonb NOT NULL DEFAULT '[]'::jsonb,
    payload         jsonb,
    payload_ref     text,                     -- archive URI for binary payloads (files)
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolution      text,
    -- sha256(stage, source_key, reason, payload): re-running a batch never duplicates an entry
    dedup_key       text NOT NULL,
    UNIQUE (source, dedup_key)
);
CREATE INDEX IF NOT EXISTS quarantine_open_idx ON ops.quarantine (source) WHERE resolved_at IS NULL;

-- Per-object event log (ingested, validated, ocred, signed, linked, fixity_checked ...).
CREATE TABLE IF NOT EXISTS ops.object_event (
    event_id      bigserial PRIMARY KEY,
    object_type   text NOT NULL,              -- result | file | source_row | reference
    object_id     text NOT NULL,
    event         text NOT NULL,
    batch_id      bigint REFERENCES ops.batch (batch_id),
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS object_event_object_idx ON ops.object_event (object_type, object_id);

-- What reference datasets were loaded, from which version, with which content checksum.
CREATE TABLE IF NOT EXISTS ops.reference_load (
    dataset      text PRIMARY KEY,
    version      text NOT NULL,
    row_count    integer NOT NULL,
    checksum     text NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now()
);
