-- A file refused without reading a byte of it (a symlink that leaves its drop zone, a file
-- above the size limit) is still recorded and quarantined, but it has no content hash.
ALTER TABLE ops.scan_file ALTER COLUMN sha256 DROP NOT NULL;
-- One record per location for such files (UNIQUE (drop_zone, source_uri, sha256) ignores NULLs).
CREATE UNIQUE INDEX IF NOT EXISTS scan_file_unread_uq ON ops.scan_file (drop_zone, source_uri)
    WHERE sha256 IS NULL;
