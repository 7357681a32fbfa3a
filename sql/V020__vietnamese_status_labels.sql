-- Officials read Vietnamese: a label column beside each status code of the snapshot tables
-- (the codes stay for queries and checks). Stored generated columns: always consistent, and the
-- snapshot INSERTs need no change.
ALTER TABLE mart.progress_snapshot ADD COLUMN IF NOT EXISTS status_vi text
    GENERATED ALWAYS AS (CASE status WHEN 'met' THEN 'Đạt' WHEN 'on_track' THEN 'Đúng tiến độ'
                                     WHEN 'behind' THEN 'Chậm' END) STORED;
ALTER TABLE mart.indicator_snapshot ADD COLUMN IF NOT EXISTS status_vi text
    GENERATED ALWAYS AS (CASE WHEN denominator = 0 THEN 'Chưa có số liệu'
                              WHEN status = 'met' THEN 'Đạt' WHEN status = 'behind' THEN 'Chưa đạt' END) STORED;

COMMENT ON COLUMN mart.progress_snapshot.status IS 'Mã đánh giá: met = đạt, on_track = đúng tiến độ, behind = chậm (nhãn tiếng Việt: cột status_vi)';
COMMENT ON COLUMN mart.progress_snapshot.status_vi IS 'Đánh giá bằng tiếng Việt: Đạt, Đúng tiến độ, Chậm (trống nếu kế hoạch không có chỉ tiêu cho năm này)';
COMMENT ON COLUMN mart.indicator_snapshot.status IS 'Mã đánh giá: met = đạt, behind = chưa đạt (nhãn tiếng Việt: cột status_vi)';
COMMENT ON COLUMN mart.indicator_snapshot.status_vi IS 'Đánh giá bằng tiếng Việt: Đạt, Chưa đạt, Chưa có số liệu (mẫu số bằng 0)';
