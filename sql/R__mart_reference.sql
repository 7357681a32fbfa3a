-- Analyst-facing reference views. Repeatable: re-applied whenever this file changes.
-- Every mart object and column carries a Vietnamese comment (tests enforce it).

CREATE OR REPLACE FUNCTION core.result_status(valid_until date, revoked_on date, as_of date)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN revoked_on IS NOT NULL AND revoked_on <= as_of THEN 'revoked'
        WHEN valid_until IS NOT NULL AND valid_until < as_of THEN 'expired'
        ELSE 'valid'
    END
$$;
COMMENT ON FUNCTION core.result_status(date, date, date) IS
    'Status of a result as of a date: valid, expired or revoked';

DROP VIEW IF EXISTS mart.dim_unit CASCADE;
CREATE VIEW mart.dim_unit AS
SELECT u.unit_key, u.era, u.level, u.code, u.name_vi, u.division_type,
       u.parent_key, p.name_vi AS parent_name_vi, u.province_code, u.valid_from, u.valid_to
FROM core.admin_unit u
LEFT JOIN core.admin_unit p ON p.unit_key = u.parent_key;
COMMENT ON VIEW mart.dim_unit IS 'Danh mục đơn vị hành chính của cả hai thời kỳ (trước và sau sắp xếp 01/7/2025)';
COMMENT ON COLUMN mart.dim_unit.unit_key IS 'Khóa đơn vị: thời kỳ/cấp/mã';
COMMENT ON COLUMN mart.dim_unit.era IS 'Thời kỳ: pre2025 = trước 01/7/2025, post2025 = từ 01/7/2025';
COMMENT ON COLUMN mart.dim_unit.level IS 'Cấp hành chính: tỉnh (province), huyện (district), xã (commune)';
COMMENT ON COLUMN mart.dim_unit.code IS 'Mã đơn vị hành chính (mã thống kê GSO); cùng số có thể chỉ nơi khác ở thời kỳ khác';
COMMENT ON COLUMN mart.dim_unit.name_vi IS 'Tên đơn vị hành chính';
COMMENT ON COLUMN mart.dim_unit.division_type IS 'Loại đơn vị (tỉnh, thành phố, huyện, thị xã, phường, xã, thị trấn)';
COMMENT ON COLUMN mart.dim_unit.parent_key IS 'Khóa đơn vị cấp trên trực tiếp';
COMMENT ON COLUMN mart.dim_unit.parent_name_vi IS 'Tên đơn vị cấp trên trực tiếp';
COMMENT ON COLUMN mart.dim_unit.province_code IS 'Mã tỉnh của thời kỳ tương ứng (87 trước 2025, 82 từ 2025)';
COMMENT ON COLUMN mart.dim_unit.valid_from IS 'Ngày bắt đầu hiệu lực của mã (nếu biết)';
COMMENT ON COLUMN mart.dim_unit.valid_to IS 'Ngày hết hiệu lực của mã (30/6/2025 với đơn vị cũ)';

DROP VIEW IF EXISTS mart.unit_successor CASCADE;
CREATE VIEW mart.unit_successor AS
SELECT c.old_unit_key, o.level AS old_level, o.code AS old_code, o.name_vi AS old_name_vi,
       c.new_unit_key, n.code AS new_code, n.name_vi AS new_name_vi,
       c.is_partly_merged, c.successor_count, c.effective_date
FROM core.unit_crosswalk c
JOIN core.admin_unit o ON o.unit_key = c.old_unit_key
JOIN core.admin_unit n ON n.unit_key = c.new_unit_key;
COMMENT ON VIEW mart.unit_successor IS 'Bảng chuyển đổi đơn vị hành chính cũ sang đơn vị mới từ 01/7/2025';
COMMENT ON COLUMN mart.unit_successor.old_unit_key IS 'Khóa đơn vị cũ (trước 01/7/2025)';
COMMENT ON COLUMN mart.unit_successor.old_level IS 'Cấp của đơn vị cũ';
COMMENT ON COLUMN mart.unit_successor.old_code IS 'Mã đơn vị cũ';
COMMENT ON COLUMN mart.unit_successor.old_name_vi IS 'Tên đơn vị cũ';
COMMENT ON COLUMN mart.unit_successor.new_unit_key IS 'Khóa đơn vị kế thừa (từ 01/7/2025)';
COMMENT ON COLUMN mart.unit_successor.new_code IS 'Mã đơn vị kế thừa';
COMMENT ON COLUMN mart.unit_successor.new_name_vi IS 'Tên đơn vị kế thừa';
COMMENT ON COLUMN mart.unit_successor.is_partly_merged IS 'Đơn vị cũ bị chia cho nhiều đơn vị mới (sáp nhập một phần)';
COMMENT ON COLUMN mart.unit_successor.successor_count IS 'Số đơn vị mới nhận một phần của đơn vị cũ';
COMMENT ON COLUMN mart.unit_successor.effective_date IS 'Ngày hiệu lực của việc sắp xếp';

DROP VIEW IF EXISTS mart.dim_agency CASCADE;
CREATE VIEW mart.dim_agency AS
SELECT a.electronic_id, a.code, a.name_vi, a.level, a.kind, a.unit_key, u.name_vi AS unit_name_vi,
       a.parent_electronic_id, a.is_placeholder_id
FROM core.agency a
JOIN core.admin_unit u ON u.unit_key = a.unit_key;
COMMENT ON VIEW mart.dim_agency IS 'Danh mục cơ quan giải quyết TTHC với mã định danh điện tử (QĐ 20/2020/QĐ-TTg)';
COMMENT ON COLUMN mart.dim_agency.electronic_id IS 'Mã định danh điện tử của cơ quan (dạng 000.00.00.H20)';
COMMENT ON COLUMN mart.dim_agency.code IS 'Mã viết tắt nội bộ của cơ quan';
COMMENT ON COLUMN mart.dim_agency.name_vi IS 'Tên cơ quan';
COMMENT ON COLUMN mart.dim_agency.level IS 'Cấp của cơ quan: tỉnh, huyện, xã';
COMMENT ON COLUMN mart.dim_agency.kind IS 'Loại cơ quan: UBND (people_committee) hoặc sở, ban, ngành (department)';
COMMENT ON COLUMN mart.dim_agency.unit_key IS 'Khóa đơn vị hành chính nơi cơ quan đóng';
COMMENT ON COLUMN mart.dim_agency.unit_name_vi IS 'Tên đơn vị hành chính nơi cơ quan đóng';
COMMENT ON COLUMN mart.dim_agency.parent_electronic_id IS 'Mã định danh của cơ quan cấp trên';
COMMENT ON COLUMN mart.dim_agency.is_placeholder_id IS 'Mã định danh là giá trị tạm (chưa đối chiếu với danh mục chính thức)';

DROP VIEW IF EXISTS mart.dim_procedure CASCADE;
CREATE VIEW mart.dim_procedure AS
SELECT code, national_code, name_vi, result_name_vi, level, is_permanent,
       validity_months, extension_months, max_extensions, source_system
FROM core.procedure;
COMMENT ON VIEW mart.dim_procedure IS 'Danh mục thủ tục hành chính và loại kết quả được số hóa';
COMMENT ON COLUMN mart.dim_procedure.code IS 'Mã loại kết quả (dùng trong ký hiệu riêng)';
COMMENT ON COLUMN mart.dim_procedure.national_code IS 'Mã thủ tục trên Cổng Dịch vụ công quốc gia (chưa đối chiếu)';
COMMENT ON COLUMN mart.dim_procedure.name_vi IS 'Tên thủ tục hành chính';
COMMENT ON COLUMN mart.dim_procedure.result_name_vi IS 'Tên kết quả giải quyết';
COMMENT ON COLUMN mart.dim_procedure.level IS 'Cấp có thẩm quyền giải quyết';
COMMENT ON COLUMN mart.dim_procedure.is_permanent IS 'Kết quả có giá trị vĩnh viễn';
COMMENT ON COLUMN mart.dim_procedure.validity_months IS 'Thời hạn hiệu lực (tháng) kể từ ngày cấp';
COMMENT ON COLUMN mart.dim_procedure.extension_months IS 'Thời gian mỗi lần gia hạn (tháng)';
COMMENT ON COLUMN mart.dim_procedure.max_extensions IS 'Số lần gia hạn tối đa';
COMMENT ON COLUMN mart.dim_procedure.source_system IS 'Cơ sở dữ liệu chuyên ngành lưu kết quả';

DROP VIEW IF EXISTS mart.plan_target CASCADE;
CREATE VIEW mart.plan_target AS
SELECT p.plan_code, p.name_vi AS plan_name_vi, p.decision_ref, t.level, t.year, t.target_pct,
       p.issue_cutoff, p.valid_after
FROM core.plan p
JOIN core.plan_target t ON t.plan_code = p.plan_code;
COMMENT ON VIEW mart.plan_target IS 'Chỉ tiêu số hóa theo kế hoạch, cấp hành chính và năm';
COMMENT ON COLUMN mart.plan_target.plan_code IS 'Mã kế hoạch';
COMMENT ON COLUMN mart.plan_target.plan_name_vi IS 'Tên kế hoạch';
COMMENT ON COLUMN mart.plan_target.decision_ref IS 'Văn bản ban hành kế hoạch';
COMMENT ON COLUMN mart.plan_target.level IS 'Cấp hành chính áp dụng chỉ tiêu';
COMMENT ON COLUMN mart.plan_target.year IS 'Năm (chỉ tiêu tính đến hết năm)';
COMMENT ON COLUMN mart.plan_target.target_pct IS 'Tỷ lệ số hóa tối thiểu (%)';
COMMENT ON COLUMN mart.plan_target.issue_cutoff IS 'Phạm vi: kết quả cấp đến hết ngày này';
COMMENT ON COLUMN mart.plan_target.valid_after IS 'Phạm vi: kết quả còn hiệu lực sau ngày này';

DROP VIEW IF EXISTS mart.plan_indicator_target CASCADE;
CREATE VIEW mart.plan_indicator_target AS
SELECT p.plan_code, p.name_vi AS plan_name_vi, i.indicator, i.level, i.year, i.target_pct
FROM core.plan p
JOIN core.plan_indicator_target i ON i.plan_code = p.plan_code;
COMMENT ON VIEW mart.plan_indicator_target IS 'Các chỉ tiêu khác của kế hoạch (ký số, không yêu cầu nộp lại giấy tờ, Bộ phận Một cửa)';
COMMENT ON COLUMN mart.plan_indicator_target.plan_code IS 'Mã kế hoạch';
COMMENT ON COLUMN mart.plan_indicator_target.plan_name_vi IS 'Tên kế hoạch';
COMMENT ON COLUMN mart.plan_indicator_target.indicator IS 'Chỉ tiêu: signed_share = tỷ lệ ký số; no_resupply_share = tỷ lệ không phải nộp lại giấy tờ; one_stop_running_share = tỷ lệ Bộ phận Một cửa thực hiện số hóa';
COMMENT ON COLUMN mart.plan_indicator_target.level IS 'Cấp hành chính (để trống nếu không phân cấp)';
COMMENT ON COLUMN mart.plan_indicator_target.year IS 'Năm';
COMMENT ON COLUMN mart.plan_indicator_target.target_pct IS 'Tỷ lệ mục tiêu (%)';

DROP VIEW IF EXISTS mart.inventory_declared CASCADE;
CREATE VIEW mart.inventory_declared AS
SELECT d.agency_id, a.name_vi AS agency_name_vi, d.unit_key, u.name_vi AS unit_name_vi,
       d.procedure_code, d.issue_year, d.declared_paper_count, d.declared_on
FROM core.inventory_declaration d
JOIN core.agency a ON a.electronic_id = d.agency_id
JOIN core.admin_unit u ON u.unit_key = d.unit_key;
COMMENT ON VIEW mart.inventory_declared IS 'Số lượng kết quả giấy còn hiệu lực do đơn vị rà soát, kiểm đếm và kê khai';
COMMENT ON COLUMN mart.inventory_declared.agency_id IS 'Mã định danh cơ quan kê khai';
COMMENT ON COLUMN mart.inventory_declared.agency_name_vi IS 'Tên cơ quan kê khai';
COMMENT ON COLUMN mart.inventory_declared.unit_key IS 'Khóa đơn vị hành chính';
COMMENT ON COLUMN mart.inventory_declared.unit_name_vi IS 'Tên đơn vị hành chính';
COMMENT ON COLUMN mart.inventory_declared.procedure_code IS 'Mã loại kết quả';
COMMENT ON COLUMN mart.inventory_declared.issue_year IS 'Năm cấp kết quả';
COMMENT ON COLUMN mart.inventory_declared.declared_paper_count IS 'Số kết quả giấy kê khai';
COMMENT ON COLUMN mart.inventory_declared.declared_on IS 'Ngày kê khai';

DROP VIEW IF EXISTS mart.result CASCADE;
CREATE VIEW mart.result AS
SELECT r.result_code, r.procedure_code, r.agency_id, r.issuing_unit_key, r.successor_unit_key,
       h.holder_ref, h.kind AS holder_kind, r.doc_book, r.doc_number, r.issue_date, r.valid_until,
       r.revoked_on, core.result_status(r.valid_until, r.revoked_on, current_date) AS status_today,
       r.digitized_at, r.copy_kind, r.is_signed, r.digitized_elsewhere, r.copy_ref
FROM core.result r
LEFT JOIN core.holder h ON h.holder_id = r.holder_id;
COMMENT ON VIEW mart.result IS 'Kết quả giải quyết TTHC đã chuẩn hóa (không chứa số định danh cá nhân)';
COMMENT ON COLUMN mart.result.result_code IS 'Ký hiệu riêng của kết quả số hóa';
COMMENT ON COLUMN mart.result.procedure_code IS 'Mã loại kết quả';
COMMENT ON COLUMN mart.result.agency_id IS 'Mã định danh cơ quan cấp';
COMMENT ON COLUMN mart.result.issuing_unit_key IS 'Đơn vị hành chính cấp kết quả (theo mã tại thời điểm cấp)';
COMMENT ON COLUMN mart.result.successor_unit_key IS 'Đơn vị hành chính kế thừa hiện nay (sau 01/7/2025)';
COMMENT ON COLUMN mart.result.holder_ref IS 'Mã tham chiếu ngẫu nhiên của chủ thể, cấp khi chủ thể xuất hiện lần đầu; không tính từ số định danh nên không thể suy ngược ra người';
COMMENT ON COLUMN mart.result.holder_kind IS 'Loại chủ thể: công dân hoặc tổ chức';
COMMENT ON COLUMN mart.result.doc_book IS 'Quyển số';
COMMENT ON COLUMN mart.result.doc_number IS 'Số, ký hiệu văn bản kết quả';
COMMENT ON COLUMN mart.result.issue_date IS 'Ngày cấp';
COMMENT ON COLUMN mart.result.valid_until IS 'Ngày hết hiệu lực (để trống nếu vĩnh viễn)';
COMMENT ON COLUMN mart.result.revoked_on IS 'Ngày bị thu hồi, hủy bỏ';
COMMENT ON COLUMN mart.result.status_today IS 'Tình trạng hôm nay: còn hiệu lực (valid), hết hiệu lực (expired), bị thu hồi (revoked)';
COMMENT ON COLUMN mart.result.digitized_at IS 'Thời điểm được số hóa (gắn bản điện tử hợp lệ)';
COMMENT ON COLUMN mart.result.copy_kind IS 'Hình thức bản điện tử: bản quét, bản điện tử gốc, chỉ có dữ liệu';
COMMENT ON COLUMN mart.result.is_signed IS 'Đã ký số';
COMMENT ON COLUMN mart.result.digitized_elsewhere IS 'Mã tham chiếu nếu đã được số hóa bởi dự án khác';
COMMENT ON COLUMN mart.result.copy_ref IS 'Tham chiếu tệp điện tử gốc đã ký số (kết quả cấp điện tử từ năm 2022)';
