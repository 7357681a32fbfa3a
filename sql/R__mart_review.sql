-- The officials' review queue as a read-only overview: what waits, where, since when, and what
-- became of it. Officials act through `tthc scans review …` (tthc.scans.review).
-- Analysts read mart too (tthc_analyst), so no raw personal data: the personal ID is masked to its last
-- 3 digits, and neither the page text nor the holder's name or birth date is shown. The page text is the
-- whole paper (names, IDs, birth dates, parents): no excerpt either, the document type, number, date,
-- unit and file name are enough to find the paper or the archived copy. The free-text review reason is
-- replaced by its kind and the names of the fields to check (clean problems can quote birth dates).

DROP VIEW IF EXISTS mart.review_queue CASCADE;
CREATE VIEW mart.review_queue AS
WITH entry AS (
    SELECT q.review_id, q.document_id, q.status, q.reason, q.created_at, q.resolved_at, q.resolved_by,
           q.resolution, q.guessed_fields->>'unit_key' AS guessed_unit_key,
           coalesce(q.guessed_fields->'raw_row', '{}'::jsonb) AS raw,
           regexp_replace(coalesce(q.guessed_fields->'raw_row'->>'holder_id', ''), '[^0-9]', '', 'g') AS id_digits
    FROM ops.review_queue q
)
SELECT e.review_id,
       e.status,
       CASE e.status WHEN 'open' THEN 'Chờ xử lý' WHEN 'resolved' THEN 'Đã xử lý' ELSE 'Đã loại' END AS status_vi,
       CASE WHEN e.reason LIKE 'validation failed%' THEN 'Không đạt kiểm tra dữ liệu'
            ELSE 'Độ tin cậy nhận dạng thấp' END AS reason_kind_vi,
       ARRAY(SELECT DISTINCT m[1]
             FROM regexp_matches(e.reason, '(document_type|doc_number|doc_book|issue_date|holder_name|holder_id|'
                                           'holder_birth_date|holder_tax_code|unit|issuing_body|agency_id|'
                                           'business_name)', 'g') AS m
             ORDER BY 1) AS fields_to_check,
       e.created_at,
       CASE WHEN e.status = 'open'
            THEN (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date - (e.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
       END AS days_waiting,
       f.drop_zone,
       f.file_name,
       d.document_id,
       d.archive_uri,
       coalesce(r.procedure_code, e.raw->>'document_type', d.document_type) AS document_type,
       p.result_name_vi AS document_type_name_vi,
       e.raw->>'doc_number' AS guessed_doc_number,
       e.raw->>'doc_book' AS guessed_doc_book,
       e.raw->>'issue_date' AS guessed_issue_date,
       CASE WHEN e.id_digits = '' THEN NULL
            ELSE repeat('*', greatest(length(e.id_digits) - 3, 0)) || right(e.id_digits, 3) END AS holder_id_masked,
       d.field_confidence AS overall_confidence,
       u.unit_key,
       u.name_vi AS unit_name_vi,
       pu.name_vi AS parent_unit_name_vi,
       e.resolved_at,
       e.resolved_by,
       r.result_code,
       d.link_rule,
       CASE WHEN e.status = 'rejected' THEN e.resolution->>'reason' END AS rejection_reason
FROM entry e
JOIN core.document d ON d.document_id = e.document_id
-- The document's first file (not a duplicate copy): one pass over scan_file, not one lookup per entry.
LEFT JOIN (SELECT DISTINCT ON (s.document_id) s.document_id, s.drop_zone, s.file_name
           FROM ops.scan_file s WHERE s.document_id IS NOT NULL
           ORDER BY s.document_id, s.duplicate_of IS NOT NULL, s.file_id) f ON f.document_id = d.document_id
LEFT JOIN core.result r ON r.result_id = d.result_id
LEFT JOIN core.admin_unit u ON u.unit_key = coalesce(r.issuing_unit_key, e.guessed_unit_key)
LEFT JOIN core.admin_unit pu ON pu.unit_key = u.parent_key
LEFT JOIN core.procedure p ON p.code = coalesce(r.procedure_code, e.raw->>'document_type', d.document_type);

COMMENT ON VIEW mart.review_queue IS
    'Hàng chờ rà soát bản quét có độ tin cậy thấp: cán bộ sửa thông tin rồi liên kết, hoặc loại bản quét (không chứa số định danh đầy đủ, tên hay nội dung trang)';
COMMENT ON COLUMN mart.review_queue.review_id IS 'Mã mục rà soát (dùng trong lệnh review resolve / review reject)';
COMMENT ON COLUMN mart.review_queue.status IS 'Trạng thái: open = chờ xử lý, resolved = đã sửa và liên kết, rejected = đã loại';
COMMENT ON COLUMN mart.review_queue.status_vi IS 'Trạng thái bằng tiếng Việt';
COMMENT ON COLUMN mart.review_queue.reason_kind_vi IS 'Lý do cần rà soát: độ tin cậy nhận dạng thấp, hoặc không đạt kiểm tra dữ liệu';
COMMENT ON COLUMN mart.review_queue.fields_to_check IS 'Các trường cần kiểm tra (tên trường dùng với --set khi sửa)';
COMMENT ON COLUMN mart.review_queue.created_at IS 'Thời điểm bản quét vào hàng chờ';
COMMENT ON COLUMN mart.review_queue.days_waiting IS 'Số ngày đã chờ (chỉ với mục đang chờ xử lý)';
COMMENT ON COLUMN mart.review_queue.drop_zone IS 'Vùng thả nơi nhận bản quét';
COMMENT ON COLUMN mart.review_queue.file_name IS 'Tên tệp trong vùng thả';
COMMENT ON COLUMN mart.review_queue.document_id IS 'Mã bản số hóa (core.document)';
COMMENT ON COLUMN mart.review_queue.archive_uri IS 'Đường dẫn bản lưu trữ bất biến của tệp (để mở xem bản quét)';
COMMENT ON COLUMN mart.review_queue.document_type IS 'Mã loại kết quả (đã sửa nếu đã xử lý, nếu không là giá trị nhận dạng)';
COMMENT ON COLUMN mart.review_queue.document_type_name_vi IS 'Tên loại kết quả';
COMMENT ON COLUMN mart.review_queue.guessed_doc_number IS 'Số kết quả do máy nhận dạng (hoặc theo danh sách kèm theo)';
COMMENT ON COLUMN mart.review_queue.guessed_doc_book IS 'Quyển số do máy nhận dạng';
COMMENT ON COLUMN mart.review_queue.guessed_issue_date IS 'Ngày cấp do máy nhận dạng, như đọc được';
COMMENT ON COLUMN mart.review_queue.holder_id_masked IS 'Số định danh cá nhân đã che, chỉ hiện 3 chữ số cuối';
COMMENT ON COLUMN mart.review_queue.overall_confidence IS 'Độ tin cậy chung của việc nhận dạng (0–1)';
COMMENT ON COLUMN mart.review_queue.unit_key IS 'Đơn vị hành chính của kết quả (đã liên kết) hoặc đọc được từ bản quét';
COMMENT ON COLUMN mart.review_queue.unit_name_vi IS 'Tên đơn vị hành chính';
COMMENT ON COLUMN mart.review_queue.parent_unit_name_vi IS 'Tên đơn vị cấp trên (huyện của xã)';
COMMENT ON COLUMN mart.review_queue.resolved_at IS 'Thời điểm xử lý hoặc loại';
COMMENT ON COLUMN mart.review_queue.resolved_by IS 'Cán bộ đã xử lý hoặc loại';
COMMENT ON COLUMN mart.review_queue.result_code IS 'Ký hiệu riêng của kết quả được liên kết sau khi xử lý';
COMMENT ON COLUMN mart.review_queue.link_rule IS 'Cách liên kết: natural_key/fuzzy_name = khớp kết quả đã có, paper_only = kết quả chỉ có bản giấy, tạo mới';
COMMENT ON COLUMN mart.review_queue.rejection_reason IS 'Lý do loại do cán bộ ghi (bản quét cũng được đưa vào khu cách ly)';
