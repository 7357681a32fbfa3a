-- Scans failing the copy rules of Nghị định 30/2020 do not count as digitized; snapshots count
-- them apart ("cần quét lại").
ALTER TABLE mart.progress_snapshot ADD COLUMN IF NOT EXISTS needs_rescan bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN mart.progress_snapshot.needs_rescan IS 'Số kết quả có bản quét không đạt Nghị định 30/2020 (dưới 200 dpi, không phải bản màu, PDF dưới 1.4 chưa chuyển đổi), cần quét lại; không tính là đã số hóa';
COMMENT ON COLUMN mart.progress_snapshot.data_only IS 'Số kết quả mới chỉ có dữ liệu chuẩn hóa, chưa có bản điện tử đạt yêu cầu (không gồm số cần quét lại)';
