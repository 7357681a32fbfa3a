-- Scan intake (drop zones → archive → text → fields → validate → link): what V009 lacked.

-- Files seen in a drop but not yet stable: picked up once size and mtime stayed the same
-- over the drop zone's settle window (or once the file is older than min_age_seconds).
CREATE TABLE IF NOT EXISTS ops.scan_pending (
    drop_zone     text NOT NULL,
    source_uri    text NOT NULL,
    size_bytes    bigint NOT NULL,
    source_mtime  timestamptz NOT NULL,
    seen_at       timestamptz NOT NULL DEFAULT now(),   -- first seen with this size and mtime
    PRIMARY KEY (drop_zone, source_uri)
);

ALTER TABLE ops.scan_file ADD COLUMN IF NOT EXISTS file_name text;          -- path relative to the drop
ALTER TABLE ops.scan_file ADD COLUMN IF NOT EXISTS media_type text;         -- by magic bytes
ALTER TABLE ops.scan_file ADD COLUMN IF NOT EXISTS document_id bigint REFERENCES core.document (document_id);
ALTER TABLE ops.scan_file ADD COLUMN IF NOT EXISTS reason text;             -- quarantine / review reason
ALTER TABLE ops.scan_file ADD COLUMN IF NOT EXISTS source_deleted_at timestamptz;  -- after_commit: delete
CREATE INDEX IF NOT EXISTS scan_file_zone_status_idx ON ops.scan_file (drop_zone, status);

ALTER TABLE core.document ADD COLUMN IF NOT EXISTS captured_from text;     -- sidecar | pdf_creation_date | exif | mtime
ALTER TABLE core.document ADD COLUMN IF NOT EXISTS drop_zone text;         -- the drop it first came from
ALTER TABLE core.document ADD COLUMN IF NOT EXISTS ocr_seconds numeric;    -- time spent on OCR (cost accounting)
ALTER TABLE core.document ADD COLUMN IF NOT EXISTS field_confidence numeric;   -- overall, from tthc.scans.fields
ALTER TABLE core.document ADD COLUMN IF NOT EXISTS required_fields text[];     -- what its type requires

-- Per-run duplicate report: every exact copy (same sha256) of a file already taken, in the same
-- or another drop zone. The first copy is processed; later ones are recorded, never redone.
CREATE OR REPLACE VIEW ops.scan_duplicate_report AS
SELECT d.batch_id, d.drop_zone, d.file_name, d.source_uri, d.sha256, d.size_bytes, d.first_seen_at,
       o.file_id AS original_file_id, o.drop_zone AS original_drop_zone, o.source_uri AS original_source_uri,
       doc.document_id, r.result_code
FROM ops.scan_file d
JOIN ops.scan_file o ON o.file_id = d.duplicate_of
LEFT JOIN core.document doc ON doc.sha256 = d.sha256
LEFT JOIN core.result r ON r.result_id = doc.result_id
WHERE d.status = 'duplicate';
