-- The born-digital copy of a result is checked, not trusted: its file is fetched from the
-- reference the source gives (core.result.copy_ref), hashed, archived write-once like a scan and
-- its signature verified with pyhanko (tthc.born_digital). A born-digital result counts as signed
-- and digitized only when its check says 'verified'. See docs/sources.md#born-digital-copies.
CREATE TABLE IF NOT EXISTS core.result_e_copy (
    result_id         bigint PRIMARY KEY REFERENCES core.result (result_id),
    copy_ref          text NOT NULL,            -- the reference checked (a changed ref is checked again)
    source_uri        text,                     -- the ref resolved against TTHC_SIGNED_COPY_BASE
    sha256            text,
    size_bytes        bigint,
    archive_uri       text,                     -- write-once archive, addressed by sha256
    status            text NOT NULL CHECK (status IN ('verified', 'missing', 'unreadable', 'unsigned', 'invalid')),
    reason            text,                     -- why it is not verified (NULL when verified)
    signature_detail  jsonb,
    signed_at         timestamptz,              -- signing time the signer reported
    checked_at        timestamptz NOT NULL DEFAULT now(),
    attempts          integer NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS result_e_copy_verified_idx ON core.result_e_copy (result_id) WHERE status = 'verified';
COMMENT ON TABLE core.result_e_copy IS
    'Kiểm tra bản điện tử ký số của kết quả (tệp lấy theo tham chiếu của nguồn, lưu trữ theo sha256, xác thực chữ ký)';
COMMENT ON COLUMN core.result_e_copy.status IS
    'verified = chữ ký hợp lệ; missing = không lấy được tệp; unreadable = tệp hỏng; unsigned = không có chữ ký; invalid = chữ ký không hợp lệ hoặc không tin cậy';
