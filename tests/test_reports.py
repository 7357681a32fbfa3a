"""Officials' reports: HTML with inline SVG charts, its PNG rendering by headless Chromium
(looked at: not blank), the XLSX statistical table, and the S3 destination (moto server)."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from openpyxl import load_workbook
from PIL import Image, ImageStat

from tthc.progress.reports import write_report
from tthc.progress.snapshot import take_snapshot
from tthc.warehouse.db import fetch_all, transaction

QUARTER_ENDS = [dt.date(y, m, d) for y in (2022, 2023, 2024, 2025) for m, d in ((3, 31), (6, 30), (9, 30), (12, 31))]


@pytest.fixture
def snapshots(warehouse):
    """Synthetic results for every unit (pipeline-free: the report only reads snapshots),
    digitized progressively from 2022 on, and the 16 quarterly snapshots."""
    with transaction(warehouse) as cur:
        cur.execute("""
            WITH a AS (
                SELECT a.electronic_id, a.unit_key, a.level, row_number() OVER (ORDER BY a.unit_key) AS k
                FROM core.agency a JOIN core.admin_unit u ON u.unit_key = a.unit_key
                WHERE u.era = 'pre2025' AND a.kind = 'people_committee'
            ), p AS (SELECT code, level FROM core.procedure WHERE is_permanent)
            INSERT INTO core.result (procedure_code, agency_id, issuing_unit_key, doc_number, issue_date,
                                     recorded_at, copy_kind, digitized_at, is_signed)
            SELECT p.code, a.electronic_id, a.unit_key, 'S' || g, date '2000-01-01' + (g * 37 % 7000),
                   timestamptz '2015-01-01 08:00+07' + (g % 900) * interval '1 day',
                   CASE WHEN g % 100 < 30 + (a.k % 7) * 10 THEN 'scan' ELSE 'data_only' END,
                   CASE WHEN g % 100 < 30 + (a.k % 7) * 10
                        THEN timestamptz '2022-02-01 09:00+07' + ((g * 13) % 1400) * interval '1 day' END,
                   g % 100 < 30 + (a.k % 7) * 10
            FROM a JOIN p ON p.level = a.level CROSS JOIN generate_series(1, 40) g""")
    for end in QUARTER_ENDS:
        take_snapshot(warehouse, "quarter", end)
    return warehouse


def test_report_files_render_and_read_well(snapshots, tmp_path):
    paths = write_report(snapshots, "quarter", dt.date(2024, 12, 31), root=str(tmp_path))
    folder = tmp_path / "quarter-2024-12-31"
    assert {k: str(folder) in v for k, v in paths.items()} == {"html": True, "xlsx": True, "png": True}

    html = (folder / "bao-cao-tien-do-so-hoa-quarter-2024-12-31.html").read_text(encoding="utf-8")
    assert "BÁO CÁO TIẾN ĐỘ SỐ HÓA KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH" in html
    assert "Quý 4/2024" in html and "Các đơn vị chậm tiến độ nhất" in html
    assert html.count("<svg") >= 4  # step chart + worst units, for each plan
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html  # no CDN

    png = Image.open(paths["png"]).convert("L")
    assert png.size == (1280, 2000)
    stat = ImageStat.Stat(png)
    assert stat.stddev[0] > 20, "the page looks blank"
    assert sum(1 for v in png.getdata() if v < 128) > 20_000, "too little ink: text and charts did not render"

    wb = load_workbook(paths["xlsx"])
    assert wb.sheetnames[:2] == ["DT-2022", "DT-2022 (ĐV mới)"]
    ws = wb["DT-2022"]
    assert ws["A2"].value == "BIỂU THỐNG KÊ TIẾN ĐỘ SỐ HÓA KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
    header = [c.value for c in ws[6]]
    assert header[:10] == ["STT", "Mã đơn vị", "Tên đơn vị", "Cấp", "Phạm vi (kết quả)", "Đã số hóa", "Tỷ lệ (%)",
                           "Chỉ tiêu (%)", "Còn thiếu (kết quả)", "Đánh giá"]
    data = [r for r in ws.iter_rows(min_row=8, values_only=True) if isinstance(r[0], int)]
    want = fetch_all(snapshots, """SELECT unit_code, in_scope, pct_digitized, status FROM mart.progress_snapshot
                                   WHERE period_end = '2024-12-31' AND plan_code = 'DT-2022' AND unit_view = 'issuing'""")
    assert len(data) == len(want) == 1 + 12 + 141
    by_code = {int(c): (n, float(p), s) for c, n, p, s in want}
    status_vi = {"met": "Đạt", "on_track": "Đúng tiến độ", "behind": "Chậm"}
    for row in data:
        n, p, s = by_code[row[1]]
        assert (row[4], row[6], row[9]) == (n, p, status_vi[s])
    assert ws.cell(row=8, column=5).number_format == "#,##0"
    assert ws.cell(row=8, column=7).number_format == "0.00"
    assert any(r[2] == "Tổng cộng" for r in ws.iter_rows(min_row=8, values_only=True))


def test_report_needs_its_snapshot(warehouse, tmp_path):
    with pytest.raises(LookupError, match="no progress snapshot for quarter 2021-03-31"):
        write_report(warehouse, "quarter", dt.date(2021, 3, 31), root=str(tmp_path), png=False)


def test_report_to_s3_prefix(snapshots, monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        for k, v in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
                     "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(k, v)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="tthc-reports")
        uris = write_report(snapshots, "quarter", dt.date(2025, 12, 31), root="s3://tthc-reports/bao-cao", png=False)
        assert uris == {
            "html": "s3://tthc-reports/bao-cao/quarter-2025-12-31/bao-cao-tien-do-so-hoa-quarter-2025-12-31.html",
            "xlsx": "s3://tthc-reports/bao-cao/quarter-2025-12-31/bao-cao-tien-do-so-hoa-quarter-2025-12-31.xlsx"}
        body = s3.get_object(Bucket="tthc-reports",
                             Key="bao-cao/quarter-2025-12-31/bao-cao-tien-do-so-hoa-quarter-2025-12-31.html")
        assert body["ContentType"].startswith("text/html")
        assert "Quý 4/2025" in body["Body"].read().decode("utf-8")
    finally:
        server.stop()


def test_report_shows_pipeline_health(snapshots, tmp_path):
    """Issue 6: the quarterly report shows each source's health (ops.pipeline_health) too."""
    with transaction(snapshots) as cur:
        cur.execute("""INSERT INTO ops.batch (source, status, rows_in, rows_out, rows_quarantined, finished_at)
                       VALUES ('civil_status', 'succeeded', 120, 117, 3, now()),
                              ('household_business', 'failed', 50, 0, 50, now())""")
    paths = write_report(snapshots, "quarter", dt.date(2024, 12, 31), root=str(tmp_path), png=False)
    html = open(paths["html"], encoding="utf-8").read()
    section = html.split("Tình trạng vận hành các nguồn dữ liệu", 1)[1]
    assert "<td>civil_status</td><td>Bình thường</td>" in section
    assert "<td>household_business</td><td class='behind'>Lỗi</td>" in section
    rows = list(load_workbook(paths["xlsx"])["Vận hành"].iter_rows(min_row=4, values_only=True))
    by_source = {r[0]: r for r in rows}
    assert by_source["civil_status"][1] == "Bình thường" and by_source["civil_status"][3:6] == (120, 117, 3)
    assert by_source["household_business"][1] == "Lỗi"
