-- Digitization progress (issue 5): the time facts a snapshot AS OF a past date needs, the
-- other plan indicators' inputs (dossiers, one-stop offices) and the snapshot tables.
-- Definitions live in sql/R__mart_reporting.sql; docs/progress.md explains them.

-- When the record first reached a specialized database (the source row's own timestamp, its
-- incremental column); for a scan-only result, the scan's captured_at. A snapshot as of D
-- counts a result as known only when recorded_at <= D.
ALTER TABLE core.result ADD COLUMN IF NOT EXISTS recorded_at timestamptz;
ALTER TABLE staging.result_candidate ADD COLUMN IF NOT EXISTS source_recorded_at timestamptz;

-- Snapshots group results by unit and issue year; this index serves that scan and the queue.
CREATE INDEX IF NOT EXISTS result_progress_idx
    ON core.result (issuing_unit_key, procedure_code, issue_date);
CREATE INDEX IF NOT EXISTS result_elsewhere_idx
    ON core.result (digitized_elsewhere) WHERE digitized_elsewhere IS NOT NULL;

-- Dossiers (hồ sơ TTHC) received by agencies: the "did not re-supply documents" indicator.
CREATE TABLE IF NOT EXISTS core.dossier (
    dossier_code          text PRIMARY KEY,             -- TT 01/2018 Art. 19 format
    procedure_code        text NOT NULL REFERENCES core.procedure (code),
    agency_id             text NOT NULL REFERENCES core.agency (electronic_id),
    unit_key              text NOT NULL REFERENCES core.admin_unit (unit_key),
    received_date         date NOT NULL,
    channel               text NOT NULL,
    resupplied_documents  boolean NOT NULL,             -- the citizen had to re-supply held documents
    source_file           text NOT NULL,
    loaded_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dossier_unit_idx ON core.dossier (unit_key, procedure_code, received_date);

-- One-stop offices (Bộ phận Một cửa) and the day each started running the digitization process.
CREATE TABLE IF NOT EXISTS core.one_stop_office (
    unit_key                  text NOT NULL REFERENCES core.admin_unit (unit_key),
    office                    text NOT NULL,
    started_digitization_on   date,                     -- NULL: not yet
    source_file               text NOT NULL,
    loaded_at                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit_key, office)
);

-- Immutable snapshot rows: a run replaces one whole period (DELETE + INSERT in one transaction),
-- nothing ever updates a row.
CREATE TABLE IF NOT EXISTS mart.progress_snapshot (
    period_kind          text NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    period_end           date NOT NULL,
    plan_code            text NOT NULL,
    unit_view            text NOT NULL CHECK (unit_view IN ('issuing', 'successor')),
    unit_key             text NOT NULL,
    unit_code            text NOT NULL,
    unit_name            text NOT NULL,
    unit_level           text NOT NULL CHECK (unit_level IN ('province', 'district', 'commune')),
    in_scope             bigint NOT NULL,
    declared             bigint NOT NULL,
    known                bigint NOT NULL,
    digitized            bigint NOT NULL,
    data_only            bigint NOT NULL,
    digitized_elsewhere  bigint NOT NULL,
    pct_digitized        numeric,
    target_year          integer,
    target_pct           numeric,
    expected_pct         numeric,
    gap_records          bigint,
    status               text CHECK (status IN ('met', 'on_track', 'behind')),
    monthly_pace_needed  numeric,
    issued_since_2022    bigint NOT NULL DEFAULT 0,
    signed               bigint NOT NULL DEFAULT 0,
    signed_pct           numeric,
    run_id               text,
    taken_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (period_kind, period_end, plan_code, unit_view, unit_key)
);
CREATE INDEX IF NOT EXISTS progress_snapshot_plan_idx ON mart.progress_snapshot (plan_code, period_end);

CREATE TABLE IF NOT EXISTS mart.indicator_snapshot (
    period_kind   text NOT NULL CHECK (period_kind IN ('month', 'quarter', 'year')),
    period_end    date NOT NULL,
    plan_code     text NOT NULL,
    indicator     text NOT NULL,
    unit_level    text NOT NULL DEFAULT '',
    numerator     bigint NOT NULL,
    denominator   bigint NOT NULL,
    pct           numeric,
    target_year   integer,
    target_pct    numeric,
    status        text CHECK (status IN ('met', 'behind')),
    run_id        text,
    taken_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (period_kind, period_end, plan_code, indicator, unit_level)
);

CREATE OR REPLACE FUNCTION mart.forbid_snapshot_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'snapshot rows are immutable: re-run the period (tthc progress-snapshot) instead of updating %', TG_TABLE_NAME;
END $$;
DROP TRIGGER IF EXISTS progress_snapshot_immutable ON mart.progress_snapshot;
CREATE TRIGGER progress_snapshot_immutable BEFORE UPDATE ON mart.progress_snapshot
    FOR EACH ROW EXECUTE FUNCTION mart.forbid_snapshot_update();
DROP TRIGGER IF EXISTS indicator_snapshot_immutable ON mart.indicator_snapshot;
CREATE TRIGGER indicator_snapshot_immutable BEFORE UPDATE ON mart.indicator_snapshot
    FOR EACH ROW EXECUTE FUNCTION mart.forbid_snapshot_update();

COMMENT ON TABLE mart.progress_snapshot IS 'Ảnh chụp tiến độ số hóa theo kỳ (tháng, quý, năm), tính tại ngày cuối kỳ; không sửa, chỉ thay cả kỳ';
COMMENT ON COLUMN mart.progress_snapshot.period_kind IS 'Loại kỳ: tháng (month), quý (quarter), năm (year)';
COMMENT ON COLUMN mart.progress_snapshot.period_end IS 'Ngày cuối kỳ (số liệu tính đến hết ngày này, giờ Việt Nam)';
COMMENT ON COLUMN mart.progress_snapshot.plan_code IS 'Mã kế hoạch';
COMMENT ON COLUMN mart.progress_snapshot.unit_view IS 'Cách gán đơn vị: đơn vị cấp (issuing, mã cũ) hoặc đơn vị kế thừa sau 01/7/2025 (successor)';
COMMENT ON COLUMN mart.progress_snapshot.unit_key IS 'Khóa đơn vị hành chính (thời kỳ/cấp/mã)';
COMMENT ON COLUMN mart.progress_snapshot.unit_code IS 'Mã đơn vị hành chính';
COMMENT ON COLUMN mart.progress_snapshot.unit_name IS 'Tên đơn vị hành chính';
COMMENT ON COLUMN mart.progress_snapshot.unit_level IS 'Cấp: tỉnh (province), huyện (district), xã (commune)';
COMMENT ON COLUMN mart.progress_snapshot.in_scope IS 'Số kết quả thuộc phạm vi (mẫu số): tổng theo từng thủ tục, năm cấp của số lớn hơn giữa số kê khai và số đã biết';
COMMENT ON COLUMN mart.progress_snapshot.declared IS 'Số kết quả giấy đơn vị đã kê khai (rà soát, kiểm đếm) đến ngày cuối kỳ';
COMMENT ON COLUMN mart.progress_snapshot.known IS 'Số kết quả thuộc phạm vi đã có bản ghi riêng trong kho đến ngày cuối kỳ';
COMMENT ON COLUMN mart.progress_snapshot.digitized IS 'Số kết quả đã số hóa: có bản điện tử hợp lệ (bản quét hoặc bản điện tử gốc) gắn với bản ghi';
COMMENT ON COLUMN mart.progress_snapshot.data_only IS 'Số kết quả mới chỉ có dữ liệu chuẩn hóa, chưa có bản điện tử';
COMMENT ON COLUMN mart.progress_snapshot.digitized_elsewhere IS 'Số kết quả đã được dự án khác số hóa (không làm lại, tính là đã số hóa)';
COMMENT ON COLUMN mart.progress_snapshot.pct_digitized IS 'Tỷ lệ số hóa (%) = (đã số hóa + dự án khác đã số hóa) / phạm vi';
COMMENT ON COLUMN mart.progress_snapshot.target_year IS 'Năm của chỉ tiêu áp dụng';
COMMENT ON COLUMN mart.progress_snapshot.target_pct IS 'Chỉ tiêu (%) đến hết năm theo kế hoạch và cấp';
COMMENT ON COLUMN mart.progress_snapshot.expected_pct IS 'Tỷ lệ cần đạt tại ngày cuối kỳ nếu tiến độ đều trong năm (%)';
COMMENT ON COLUMN mart.progress_snapshot.gap_records IS 'Số kết quả còn thiếu để đạt chỉ tiêu cuối năm';
COMMENT ON COLUMN mart.progress_snapshot.status IS 'Đánh giá: đạt (met), đúng tiến độ (on_track), chậm (behind)';
COMMENT ON COLUMN mart.progress_snapshot.monthly_pace_needed IS 'Số kết quả cần số hóa mỗi tháng để đạt chỉ tiêu cuối năm';
COMMENT ON COLUMN mart.progress_snapshot.issued_since_2022 IS 'Số kết quả cấp từ 01/01/2022 đến ngày cuối kỳ (mẫu số tỷ lệ ký số)';
COMMENT ON COLUMN mart.progress_snapshot.signed IS 'Trong đó số kết quả đã ký số';
COMMENT ON COLUMN mart.progress_snapshot.signed_pct IS 'Tỷ lệ kết quả cấp từ 2022 đã ký số (%), chỉ tiêu 100%';
COMMENT ON COLUMN mart.progress_snapshot.run_id IS 'Lượt chạy đã tạo ảnh chụp (Airflow run_id hoặc dòng lệnh)';
COMMENT ON COLUMN mart.progress_snapshot.taken_at IS 'Thời điểm chụp';

COMMENT ON TABLE mart.indicator_snapshot IS 'Ảnh chụp các chỉ tiêu khác của kế hoạch theo kỳ (không phải nộp lại giấy tờ, Bộ phận Một cửa, ký số)';
COMMENT ON COLUMN mart.indicator_snapshot.period_kind IS 'Loại kỳ: tháng, quý, năm';
COMMENT ON COLUMN mart.indicator_snapshot.period_end IS 'Ngày cuối kỳ';
COMMENT ON COLUMN mart.indicator_snapshot.plan_code IS 'Mã kế hoạch';
COMMENT ON COLUMN mart.indicator_snapshot.indicator IS 'Chỉ tiêu: signed_share = ký số; no_resupply_share = không phải nộp lại giấy tờ; one_stop_running_share = Bộ phận Một cửa thực hiện số hóa';
COMMENT ON COLUMN mart.indicator_snapshot.unit_level IS 'Cấp hành chính (để trống nếu không phân cấp)';
COMMENT ON COLUMN mart.indicator_snapshot.numerator IS 'Tử số (số đạt yêu cầu)';
COMMENT ON COLUMN mart.indicator_snapshot.denominator IS 'Mẫu số';
COMMENT ON COLUMN mart.indicator_snapshot.pct IS 'Tỷ lệ (%)';
COMMENT ON COLUMN mart.indicator_snapshot.target_year IS 'Năm của chỉ tiêu áp dụng';
COMMENT ON COLUMN mart.indicator_snapshot.target_pct IS 'Chỉ tiêu (%)';
COMMENT ON COLUMN mart.indicator_snapshot.status IS 'Đánh giá: đạt (met) hoặc chưa đạt (behind)';
COMMENT ON COLUMN mart.indicator_snapshot.run_id IS 'Lượt chạy đã tạo ảnh chụp';
COMMENT ON COLUMN mart.indicator_snapshot.taken_at IS 'Thời điểm chụp';
