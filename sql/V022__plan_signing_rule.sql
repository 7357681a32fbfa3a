-- When each plan requires results of each level to be digitally signed as they are issued
-- (seeds/plans/*.yaml signing_required_from): the province plan from 01/01/2022 for every level,
-- the Sa Đéc plan from 01/01/2024 for district and commune results. A level without a row has
-- no signing requirement in that plan.
CREATE TABLE IF NOT EXISTS core.plan_signing_rule (
    plan_code      text NOT NULL REFERENCES core.plan (plan_code) ON DELETE CASCADE,
    level          text NOT NULL CHECK (level IN ('province', 'district', 'commune')),
    required_from  date NOT NULL,
    PRIMARY KEY (plan_code, level)
);

COMMENT ON COLUMN mart.progress_snapshot.issued_since_2022 IS 'Số kết quả cấp từ ngày kế hoạch bắt đầu yêu cầu ký số ở cấp của đơn vị đến ngày cuối kỳ (mẫu số tỷ lệ ký số; 0 nếu kế hoạch không yêu cầu)';
COMMENT ON COLUMN mart.progress_snapshot.signed_pct IS 'Tỷ lệ kết quả thuộc diện phải ký số đã được ký số (%), chỉ tiêu 100%';
