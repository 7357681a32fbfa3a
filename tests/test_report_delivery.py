"""Report delivery through a real SMTP server on localhost (aiosmtpd): the plan's recipients and
each unit's own copy receive the PDF and the XLSX, opened and read back here; every sending is
recorded in ops.report_delivery; a re-run sends nothing unless forced."""

from __future__ import annotations

import datetime as dt
import email
import hashlib
import io
import textwrap
from email import policy

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from tthc.alerts.receivers import LocalReceivers
from tthc.progress.delivery import deliver_reports
from tthc.progress.report_config import ReportConfigError, load_report_config
from tthc.progress.snapshot import take_snapshot
from tthc.warehouse.db import fetch_all, transaction

END = dt.date(2024, 12, 31)


@pytest.fixture
def sa_dec_snapshot(warehouse):
    """Results of Sa Đéc's city and communes, some scanned, and the Q4/2024 snapshot."""
    with transaction(warehouse) as cur:
        cur.execute("""
            WITH a AS (
                SELECT a.electronic_id, a.unit_key, a.level FROM core.agency a
                JOIN core.admin_unit u ON u.unit_key = a.unit_key
                WHERE u.era = 'pre2025' AND a.kind = 'people_committee'
                  AND (u.code = 867 OR u.parent_key = 'pre2025/district/867')
            ), p AS (SELECT code, level FROM core.procedure WHERE is_permanent)
            INSERT INTO core.result (procedure_code, agency_id, issuing_unit_key, doc_number, issue_date,
                                     recorded_at, copy_kind, digitized_at, is_signed)
            SELECT p.code, a.electronic_id, a.unit_key, 'D' || g, date '2010-01-01' + g * 11,
                   timestamptz '2020-01-01 08:00+07', CASE WHEN g % 3 = 0 THEN 'scan' ELSE 'data_only' END,
                   CASE WHEN g % 3 = 0 THEN timestamptz '2023-05-01 09:00+07' END, false
            FROM a JOIN p ON p.level = a.level CROSS JOIN generate_series(1, 12) g""")
    take_snapshot(warehouse, "quarter", END)
    return warehouse


def write_config(path, extra_units: str = "") -> None:
    path.write_text(textwrap.dedent("""\
        settings: {smtp_conn_id: smtp_default, subject_prefix: "[TTHC]"}
        plans:
          DT-2022:
            authority: UBND TỈNH ĐỒNG THÁP
            reporting_unit: KHO DỮ LIỆU
            deliveries:
              - {kinds: [year], due: "11-15", to: [{name: Sở Thông tin và Truyền thông, emails: [sotttt@dongthap.gov.vn]}]}
          SD-2024:
            authority: UBND THÀNH PHỐ SA ĐÉC
            reporting_unit: KHO DỮ LIỆU
            deliveries:
              - kinds: [month, quarter, year]
                due: "11-15"
                to: [{name: Phòng Văn hóa và Thông tin thành phố Sa Đéc, emails: ["${TTHC_TEST_VHTT:-}"]}]
                cc: [{name: Văn phòng HĐND và UBND thành phố Sa Đéc, emails: [vanphong@sadec.gov.vn]}]
        units:
          "29905": {emails: ["vanthu.29905@sadec.gov.vn"], plans: [SD-2024]}
          "29908": {emails: ["${TTHC_TEST_UNSET_29908:-}"]}
        """) + extra_units, encoding="utf-8")


def attachments(raw: bytes) -> dict[str, bytes]:
    msg = email.message_from_bytes(raw, policy=policy.default)
    return {part.get_filename(): part.get_content() for part in msg.iter_attachments()}


def test_reports_reach_the_plan_office_and_each_unit_once(sa_dec_snapshot, tmp_path, monkeypatch):
    url = sa_dec_snapshot
    cfg = tmp_path / "reports.yaml"
    write_config(cfg)
    monkeypatch.setenv("TTHC_TEST_VHTT", "vhtt@sadec.gov.vn; lanhdao.vhtt@sadec.gov.vn")
    with LocalReceivers() as r:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", r.smtp_conn_uri)
        config = load_report_config(cfg)
        out = deliver_reports(url, "quarter", END, run_id="test", config=config, root=str(tmp_path / "out"))
        assert {o["audience"]: o["status"] for o in out} == {
            "plan:SD-2024:1": "sent", "unit:29905": "sent", "unit:29908": "no_recipients"}, \
            "the province plan's report is yearly only; an unset address is recorded, not sent"
        r.wait_for(emails=2)
        by_to = {tuple(sorted(m.rcpt_tos)): m for m in r.emails}
        office = by_to[("lanhdao.vhtt@sadec.gov.vn", "vanphong@sadec.gov.vn", "vhtt@sadec.gov.vn")]
        assert office.subject == "[TTHC] Báo cáo tiến độ số hóa kết quả giải quyết TTHC – Quý 4/2024"
        assert "Kính gửi: Phòng Văn hóa và Thông tin thành phố Sa Đéc." in office.body
        files = attachments(office.raw)
        assert sorted(files) == ["bao-cao-tien-do-so-hoa-sd-2024-quarter-2024-12-31.pdf",
                                 "bao-cao-tien-do-so-hoa-sd-2024-quarter-2024-12-31.xlsx"]
        pdf_text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(
            files["bao-cao-tien-do-so-hoa-sd-2024-quarter-2024-12-31.pdf"])).pages).split())
        assert "BÁO CÁO TIẾN ĐỘ SỐ HÓA" in pdf_text and "UBND THÀNH PHỐ SA ĐÉC" in pdf_text
        assert "Kính gửi: Phòng Văn hóa và Thông tin thành phố Sa Đéc" in pdf_text
        assert "tỉnh Đồng Tháp giai đoạn" not in pdf_text, "only the Sa Đéc plan"
        wb = load_workbook(io.BytesIO(files["bao-cao-tien-do-so-hoa-sd-2024-quarter-2024-12-31.xlsx"]))
        assert wb.sheetnames[0] == "SD-2024" and "DT-2022" not in wb.sheetnames
        codes = [row[1] for row in wb["SD-2024"].iter_rows(min_row=11, values_only=True) if isinstance(row[0], int)]
        assert sorted(codes) == [867, 29902, 29905, 29908, 29911, 29914, 29917, 29919, 29920, 29923]

        unit = by_to[("vanthu.29905@sadec.gov.vn",)]
        assert unit.subject.endswith("Quý 4/2024 – UBND Phường 1")
        ufiles = attachments(unit.raw)
        upath = [n for n in ufiles if n.endswith(".xlsx")][0]
        rows = [row for row in load_workbook(io.BytesIO(ufiles[upath]))["SD-2024"].iter_rows(min_row=11, values_only=True)
                if isinstance(row[0], int)]
        assert [(row[1], row[2], row[3]) for row in rows] == [(29905, "Phường 1", "Thành phố Sa Đéc")], \
            "a unit's copy holds only its own figures"
        upct = fetch_all(url, """SELECT pct_digitized FROM mart.progress_snapshot WHERE period_end = %s
                                 AND plan_code = 'SD-2024' AND unit_code = '29905' AND unit_view = 'issuing'""", (END,))
        assert rows[0][7] == float(upct[0][0])

        logged = fetch_all(url, """SELECT audience, status, recipients, cc, attachments, forced FROM ops.report_delivery
                                   ORDER BY delivery_id""")
        assert [(a, s) for a, s, *_ in logged] == [("plan:SD-2024:1", "sent"), ("unit:29905", "sent"),
                                                   ("unit:29908", "no_recipients")]
        office_log = logged[0]
        assert office_log[3] == ["vanphong@sadec.gov.vn"]
        assert {a["name"]: a["sha256"] for a in office_log[4]} == {
            n: hashlib.sha256(b).hexdigest() for n, b in files.items()}, "the log names exactly what was sent"

        again = deliver_reports(url, "quarter", END, run_id="rerun", config=config, root=str(tmp_path / "out"))
        assert {o["audience"]: o["status"] for o in again} == {
            "plan:SD-2024:1": "skipped", "unit:29905": "skipped", "unit:29908": "no_recipients"}
        forced = deliver_reports(url, "quarter", END, force=True, config=config, root=str(tmp_path / "out"))
        assert {o["audience"]: o["status"] for o in forced}["plan:SD-2024:1"] == "sent"
        r.wait_for(emails=4)
        assert len(r.emails) == 4, "a re-run sends nothing; a forced one sends once more to each"
        assert fetch_all(url, "SELECT count(*) FROM ops.report_delivery WHERE forced")[0][0] == 2


def test_yearly_report_names_its_due_date_and_failures_are_recorded(sa_dec_snapshot, tmp_path, monkeypatch):
    url = sa_dec_snapshot
    take_snapshot(url, "year", dt.date(2024, 11, 13))
    cfg = tmp_path / "reports.yaml"
    write_config(cfg)
    monkeypatch.setenv("TTHC_TEST_VHTT", "vhtt@sadec.gov.vn")
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", "smtp://127.0.0.1:9?disable_ssl=true&disable_tls=true"
                                                    "&timeout=2&retry_limit=0&from_email=a%40b.vn")
    with pytest.raises(RuntimeError, match="report delivery failed for 3 audience"):
        deliver_reports(url, "year", dt.date(2024, 11, 13), config=load_report_config(cfg), root=str(tmp_path))
    logged = fetch_all(url, "SELECT audience, status, due_on, error FROM ops.report_delivery ORDER BY audience")
    assert [(a, s) for a, s, _, _ in logged] == [("plan:DT-2022:1", "failed"), ("plan:SD-2024:1", "failed"),
                                                 ("unit:29905", "failed"), ("unit:29908", "no_recipients")]
    assert logged[0][2] == dt.date(2024, 11, 15) and "Connection" in logged[0][3]
    with LocalReceivers() as r:  # the retry sends what failed
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", r.smtp_conn_uri)
        out = deliver_reports(url, "year", dt.date(2024, 11, 13), config=load_report_config(cfg), root=str(tmp_path))
        assert sorted(o["status"] for o in out) == ["no_recipients", "sent", "sent", "sent"]
        r.wait_for(emails=3)
        province = [m for m in r.emails if m.rcpt_tos == ["sotttt@dongthap.gov.vn"]][0]
        assert "Hạn gửi theo kế hoạch: trước ngày 15/11/2024." in province.body


def test_config_errors_name_the_bad_input(tmp_path):
    bad = tmp_path / "reports.yaml"
    bad.write_text("plans:\n  SD-2024:\n    authority: X\n    reporting_unit: Y\n"
                   "    deliveries: [{kinds: [week], to: []}]\n", encoding="utf-8")
    with pytest.raises(ReportConfigError, match=r"reports.yaml: plans.SD-2024.deliveries\[0\].kinds\[0\]: 'week' is not allowed"):
        load_report_config(bad)
    bad.write_text("units:\n  '29905': {emails: [not-an-address]}\n", encoding="utf-8")
    with pytest.raises(ReportConfigError, match="not an email address: 'not-an-address'"):
        load_report_config(bad)
    assert load_report_config().plan("SD-2024").deliveries[0].cc[0].name.startswith("Văn phòng HĐND và UBND")
