-- Pipeline health per source, for operators and the officials' quarterly report.
-- A source is a legacy source (ops.batch.source) or a scan drop zone, named scan.<drop zone> as the
-- scan intake writes it (scan:<drop zone> is read as the same source). Scan documents belong to the
-- drop zones they arrived in (ops.scan_file → core.document by sha256).

CREATE OR REPLACE VIEW ops.pipeline_health AS
WITH batch AS (
    SELECT regexp_replace(source, '^scan:', 'scan.') AS source, batch_id, status, started_at, finished_at,
           rows_in, rows_out, rows_quarantined
    FROM ops.batch
), quarantine AS (
    SELECT regexp_replace(source, '^scan:', 'scan.') AS source FROM ops.quarantine WHERE resolved_at IS NULL
), sources AS (
    SELECT source FROM batch
    UNION SELECT 'scan.' || drop_zone FROM ops.scan_file
    UNION SELECT source FROM quarantine
), last_run AS (
    SELECT DISTINCT ON (source) source, batch_id, status, started_at, finished_at, rows_in, rows_out, rows_quarantined
    FROM batch
    ORDER BY source, started_at DESC, batch_id DESC
), totals AS (
    SELECT source, count(*) AS runs,
           max(coalesce(finished_at, started_at)) FILTER (WHERE status = 'succeeded') AS last_success_at,
           sum(rows_in) AS rows_in, sum(rows_out) AS rows_out, sum(rows_quarantined) AS rows_quarantined
    FROM batch GROUP BY source
), open_quarantine AS (
    SELECT source, count(*) AS n FROM quarantine GROUP BY source
), zone_document AS (
    SELECT DISTINCT 'scan.' || f.drop_zone AS source, d.document_id
    FROM ops.scan_file f JOIN core.document d ON d.sha256 = f.sha256
), open_review AS (
    SELECT z.source, count(*) AS n
    FROM zone_document z JOIN ops.review_queue q ON q.document_id = z.document_id AND q.status = 'open'
    GROUP BY z.source
), latest_fixity AS (
    SELECT DISTINCT ON (document_id) document_id, ok, checked_at
    FROM ops.fixity_check ORDER BY document_id, checked_at DESC, check_id DESC
), fixity AS (
    SELECT z.source, count(*) AS documents,
           count(*) FILTER (WHERE f.ok) AS ok, count(*) FILTER (WHERE NOT f.ok) AS failed,
           count(*) FILTER (WHERE f.document_id IS NULL) AS never_checked, max(f.checked_at) AS last_checked_at
    FROM zone_document z LEFT JOIN latest_fixity f ON f.document_id = z.document_id
    GROUP BY z.source
), last_alert AS (
    SELECT DISTINCT ON (1) regexp_replace(source, '^scan:', 'scan.') AS source, created_at, kind, subject
    FROM ops.alert_log WHERE status IN ('sent', 'partial') AND source IS NOT NULL
    ORDER BY 1, created_at DESC, alert_id DESC
)
SELECT s.source,
       CASE WHEN s.source LIKE 'scan.%' THEN 'scan' ELSE 'records' END AS source_kind,
       CASE WHEN lr.status = 'failed' OR coalesce(fx.failed, 0) > 0 THEN 'failed'
            WHEN lr.status = 'running' AND lr.started_at < now() - interval '1 day' THEN 'stuck'
            WHEN coalesce(q.n, 0) > 0 OR coalesce(rv.n, 0) > 0 THEN 'attention'
            ELSE 'ok' END AS health,
       t.last_success_at,
       lr.batch_id AS last_batch_id,
       lr.status AS last_run_status,
       lr.started_at AS last_run_started_at,
       lr.finished_at AS last_run_finished_at,
       coalesce(lr.rows_in, 0) AS last_rows_in,
       coalesce(lr.rows_out, 0) AS last_rows_out,
       coalesce(lr.rows_quarantined, 0) AS last_rows_quarantined,
       coalesce(t.runs, 0) AS total_runs,
       coalesce(t.rows_in, 0) AS total_rows_in,
       coalesce(t.rows_out, 0) AS total_rows_out,
       coalesce(t.rows_quarantined, 0) AS total_rows_quarantined,
       coalesce(q.n, 0) AS open_quarantine,
       coalesce(rv.n, 0) AS open_review,
       coalesce(fx.documents, 0) AS archived_documents,
       coalesce(fx.ok, 0) AS fixity_ok,
       coalesce(fx.failed, 0) AS fixity_failed,
       coalesce(fx.never_checked, 0) AS fixity_never_checked,
       fx.last_checked_at AS fixity_last_checked_at,
       la.created_at AS last_alert_at,
       la.kind AS last_alert_kind,
       la.subject AS last_alert_subject
FROM sources s
LEFT JOIN last_run lr ON lr.source = s.source
LEFT JOIN totals t ON t.source = s.source
LEFT JOIN open_quarantine q ON q.source = s.source
LEFT JOIN open_review rv ON rv.source = s.source
LEFT JOIN fixity fx ON fx.source = s.source
LEFT JOIN last_alert la ON la.source = s.source;

COMMENT ON VIEW ops.pipeline_health IS
    'Tình trạng vận hành theo từng nguồn dữ liệu (CSDL cũ, hoặc vùng tiếp nhận bản quét "scan.<tên vùng>"): lần chạy gần nhất, số bản ghi vào/ra/cách ly, hàng đợi rà soát, kiểm tra toàn vẹn lưu trữ, cảnh báo gần nhất';
COMMENT ON COLUMN ops.pipeline_health.source IS 'Tên nguồn dữ liệu (theo sources/*.yaml) hoặc vùng tiếp nhận bản quét dạng scan.<tên vùng>';
COMMENT ON COLUMN ops.pipeline_health.source_kind IS 'Loại nguồn: records = CSDL/tệp dữ liệu cũ, scan = bản quét giấy tờ';
COMMENT ON COLUMN ops.pipeline_health.health IS 'Đánh giá chung: ok = bình thường, attention = còn bản ghi cách ly hoặc hồ sơ chờ rà soát, failed = lần chạy gần nhất lỗi hoặc có tệp lưu trữ sai mã băm, stuck = đang chạy quá một ngày';
COMMENT ON COLUMN ops.pipeline_health.last_success_at IS 'Thời điểm kết thúc lần chạy thành công gần nhất';
COMMENT ON COLUMN ops.pipeline_health.last_batch_id IS 'Mã lô (ops.batch) của lần chạy gần nhất';
COMMENT ON COLUMN ops.pipeline_health.last_run_status IS 'Trạng thái lần chạy gần nhất: running = đang chạy, succeeded = thành công, failed = lỗi';
COMMENT ON COLUMN ops.pipeline_health.last_run_started_at IS 'Thời điểm bắt đầu lần chạy gần nhất';
COMMENT ON COLUMN ops.pipeline_health.last_run_finished_at IS 'Thời điểm kết thúc lần chạy gần nhất';
COMMENT ON COLUMN ops.pipeline_health.last_rows_in IS 'Số bản ghi đọc vào ở lần chạy gần nhất';
COMMENT ON COLUMN ops.pipeline_health.last_rows_out IS 'Số bản ghi hợp lệ được nạp ở lần chạy gần nhất';
COMMENT ON COLUMN ops.pipeline_health.last_rows_quarantined IS 'Số bản ghi bị cách ly (không đạt kiểm tra) ở lần chạy gần nhất';
COMMENT ON COLUMN ops.pipeline_health.total_runs IS 'Tổng số lần chạy (lô) đã ghi nhận';
COMMENT ON COLUMN ops.pipeline_health.total_rows_in IS 'Tổng số bản ghi đọc vào qua mọi lần chạy';
COMMENT ON COLUMN ops.pipeline_health.total_rows_out IS 'Tổng số bản ghi hợp lệ đã nạp qua mọi lần chạy';
COMMENT ON COLUMN ops.pipeline_health.total_rows_quarantined IS 'Tổng số bản ghi bị cách ly qua mọi lần chạy';
COMMENT ON COLUMN ops.pipeline_health.open_quarantine IS 'Số bản ghi đang bị cách ly, chưa được xử lý (ops.quarantine)';
COMMENT ON COLUMN ops.pipeline_health.open_review IS 'Số bản quét đang chờ cán bộ rà soát (hàng đợi rà soát, trạng thái mở)';
COMMENT ON COLUMN ops.pipeline_health.archived_documents IS 'Số tài liệu số hóa đã lưu trữ từ vùng tiếp nhận này';
COMMENT ON COLUMN ops.pipeline_health.fixity_ok IS 'Số tài liệu lưu trữ có lần kiểm tra toàn vẹn (mã băm) gần nhất đạt';
COMMENT ON COLUMN ops.pipeline_health.fixity_failed IS 'Số tài liệu lưu trữ có lần kiểm tra toàn vẹn gần nhất KHÔNG đạt (tệp bị thay đổi hoặc mất)';
COMMENT ON COLUMN ops.pipeline_health.fixity_never_checked IS 'Số tài liệu lưu trữ chưa được kiểm tra toàn vẹn lần nào';
COMMENT ON COLUMN ops.pipeline_health.fixity_last_checked_at IS 'Thời điểm kiểm tra toàn vẹn gần nhất';
COMMENT ON COLUMN ops.pipeline_health.last_alert_at IS 'Thời điểm gửi cảnh báo gần nhất liên quan đến nguồn này';
COMMENT ON COLUMN ops.pipeline_health.last_alert_kind IS 'Loại cảnh báo gần nhất (lỗi tác vụ, chất lượng dữ liệu, nguồn không cập nhật, chạy trễ...)';
COMMENT ON COLUMN ops.pipeline_health.last_alert_subject IS 'Tiêu đề cảnh báo gần nhất';
