"""Officials' reports: HTML with inline SVG charts, its PNG rendering by headless Chromium
(looked at: not blank), the XLSX statistical table, and the S3 destination (moto server)."""

from __future__ import annotations

import datetime as dt
import re
import socket

import pytest
from openpyxl import load_workbook
from PIL import Image, ImageStat
from pypdf import PdfReader

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
    assert {k: str(folder) in v for k, v in paths.items()} == {"html": True, "xlsx": True, "png": True, "pdf": True}

    html = (folder / "bao-cao-tien-do-so-hoa-quarter-2024-12-31.html").read_text(encoding="utf-8")
    assert "BÁO CÁO TIẾN ĐỘ SỐ HÓA KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH" in html
    assert "Quý 4/2024" in html and "Các đơn vị chậm tiến độ nhất" in html
    assert html.count("<svg") >= 4  # step chart + worst units, for each plan
    no_ns = re.sub(r'xmlns(:\w+)?="[^"]*"', "", html)
    assert "http://" not in no_ns and "https://" not in no_ns  # no CDN, nothing fetched

    # Officials read Vietnamese only: no table, source or plan identifiers, one decimal mark (comma).
    text = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", "", text, flags=re.S))
    for internal in ("ops.", "mart.", "core.", "pipeline_health", "DT-2022", "SD-2024", "civil_status", "dossiers:"):
        assert internal not in text, internal
    assert not re.search(r"\d\.\d{1,2}\b(?!\d)", text), re.findall(r".{20}\d\.\d{1,2}\b.{5}", text)[:3]
    # units named with their parent district: 'Phường 1' of Sa Đéc and of Cao Lãnh are told apart
    assert "Phường 1 (Thành phố Sa Đéc)" in html or "Thành phố Sa Đéc" in html
    # the dateline of an administrative document, in Vietnam time
    assert re.search(r"Đồng Tháp, ngày \d\d tháng \d\d năm 20\d\d", html)

    png = Image.open(paths["png"]).convert("L")
    # the whole page: as tall as the HTML (several thousand pixels for two plans), not a fixed window
    assert png.size[0] == 1280 and png.size[1] > 2500, png.size
    bottom = png.crop((0, png.size[1] - 400, 1280, png.size[1]))
    assert sum(1 for v in bottom.getdata() if v < 128) > 300, "the end of the page (notes) is missing"
    stat = ImageStat.Stat(png)
    assert stat.stddev[0] > 20, "the page looks blank"
    assert sum(1 for v in png.getdata() if v < 128) > 20_000, "too little ink: text and charts did not render"

    pdf = PdfReader(paths["pdf"])
    assert len(pdf.pages) >= 3
    box = pdf.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) in ((595, 842), (596, 842)), "A4 portrait"
    pdf_text = " ".join(" ".join(page.extract_text() for page in pdf.pages).split())
    assert pdf_text.count("BÁO CÁO TIẾN ĐỘ SỐ HÓA") == 2  # one document per plan, each with its header block
    assert "thành phố Sa Đéc giai đoạn" in pdf_text and "Lập ngày" in pdf_text  # to the last line

    wb = load_workbook(paths["xlsx"])
    assert wb.sheetnames[:2] == ["DT-2022", "DT-2022 (ĐV mới)"]
    ws = wb["DT-2022"]
    assert ws["A5"].value == "BIỂU THỐNG KÊ TIẾN ĐỘ SỐ HÓA KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
    assert ws["A1"].value == "UBND TỈNH ĐỒNG THÁP"
    assert any(re.fullmatch(r"Đồng Tháp, ngày \d\d tháng \d\d năm \d{4}", str(c.value or "")) for c in ws[3])
    header = [c.value for c in ws[9]]
    assert header[:11] == ["STT", "Mã đơn vị", "Tên đơn vị", "Thuộc huyện, thành phố", "Cấp", "Phạm vi (kết quả)",
                           "Đã số hóa", "Tỷ lệ (%)", "Chỉ tiêu (%)", "Còn thiếu (kết quả)", "Đánh giá"]
    assert [c.value for c in ws[10]] == [f"({j})" for j in range(1, 18)]
    # laid out for print: A4 landscape, one page wide, titles repeated
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 0 and ws.print_title_rows == "$9:$10"
    data = [r for r in ws.iter_rows(min_row=11, values_only=True) if isinstance(r[0], int)]
    want = fetch_all(snapshots, """
        SELECT s.unit_code, s.in_scope, s.pct_digitized, s.status, pu.name_vi
        FROM mart.progress_snapshot s JOIN core.admin_unit u USING (unit_key)
        LEFT JOIN core.admin_unit pu ON pu.unit_key = u.parent_key AND pu.level = 'district'
        WHERE s.period_end = '2024-12-31' AND s.plan_code = 'DT-2022' AND s.unit_view = 'issuing'""")
    assert len(data) == len(want) == 1 + 12 + 141
    by_code = {int(c): (n, float(p), s, parent) for c, n, p, s, parent in want}
    status_vi = {"met": "Đạt", "on_track": "Đúng tiến độ", "behind": "Chậm"}
    for row in data:
        n, p, s, parent = by_code[row[1]]
        assert (row[3], row[5], row[7], row[10]) == (parent, n, p, status_vi[s])
    assert sum(1 for r in data if r[4] == "Xã" and r[3]) == 141  # every commune with its district
    assert ws.cell(row=11, column=6).number_format == "#,##0"
    assert ws.cell(row=11, column=8).number_format == "0.00"
    assert any(r[2] == "Tổng cộng" for r in ws.iter_rows(min_row=11, values_only=True))


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
        from conftest import s3_connection_json

        monkeypatch.setenv("AIRFLOW_CONN_TTHC_S3", s3_connection_json(f"http://127.0.0.1:{port}"))
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
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
    compact = re.sub(r">\s+<", "><", section)
    assert "<td>CSDL hộ tịch điện tử</td><td>Bình thường</td>" in compact
    assert "<td>CSDL đăng ký hộ kinh doanh</td><td class='behind'>Lỗi</td>" in compact
    assert "civil_status" not in section and "household_business" not in section
    rows = list(load_workbook(paths["xlsx"])["Vận hành"].iter_rows(min_row=4, values_only=True))
    by_source = {r[0]: r for r in rows}
    assert by_source["CSDL hộ tịch điện tử"][1] == "Bình thường"
    assert by_source["CSDL hộ tịch điện tử"][3:6] == (120, 117, 3)
    assert by_source["CSDL đăng ký hộ kinh doanh"][1] == "Lỗi"
