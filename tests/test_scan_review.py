"""The officials' review queue end to end, with real PostgreSQL, Great Expectations and Tesseract:
a drop whose review threshold sends every scan to the queue (a text-layer PDF of a civil-status
result with a misread number, a real OCRed PNG of a paper-only result, and a page that is not a
result), then list, bad corrections, resolve (→ the existing result / a coded paper-only one),
reject (→ quarantine), idempotency, the CLI and the masked mart view."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import psycopg2
import pytest

from tthc.codes import is_valid_code
from tthc_dev.demo_data import generate
from tthc_dev.demo_data.scans import MOTTO, text_pdf_bytes
from tthc.scans import cli
from tthc.scans.config import load_drop
from tthc.scans.intake import run_drop
from tthc.scans.review import ReviewError, list_open, reject, resolve
from tthc.sources.config import load_source
from tthc.sources.pipeline import run_batch
from tthc.warehouse.db import connect, fetch_all

ROOT = Path(__file__).resolve().parents[1]
OCR_FILE = "KS_30022_61-2015.png"   # paper-only KS of the seed-11 demo drop: read by Tesseract

# Everything a review action may write, without timestamps.
STATE = {
    "files": "SELECT file_id, status, reason FROM ops.scan_file ORDER BY file_id",
    "documents": "SELECT document_id, result_id, link_rule FROM core.document ORDER BY document_id",
    "results": """SELECT result_id, result_code, procedure_code, agency_id, doc_book, doc_number, issue_date,
                         copy_kind, digitized_at FROM core.result ORDER BY result_id""",
    "lineage": "SELECT result_id, source, source_pk, row_hash, match_rule FROM core.result_source ORDER BY 1, 2, 3, 4",
    "raw": "SELECT source, source_pk, row_hash, batch_id FROM raw.source_row WHERE source LIKE 'scan.%' ORDER BY 1, 2, 3",
    "staging": "SELECT count(*) FROM staging.result_candidate",
    "batches": "SELECT batch_id, source, status FROM ops.batch ORDER BY batch_id",
    "quarantine": "SELECT source, source_key, stage, reason, resolved_at FROM ops.quarantine ORDER BY 1, 2, 3, 4",
    "review": "SELECT review_id, status, resolved_at, resolved_by, resolution FROM ops.review_queue ORDER BY 1",
    "events": "SELECT object_type, object_id, event, count(*) FROM ops.object_event GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
}


def state(url):
    return {k: fetch_all(url, q) for k, q in STATE.items()}


def _misread(number: str) -> str:
    """What a bad scan makes of a number: 0 → O, 1 → l."""
    return number.replace("0", "O").replace("1", "l")


def _known_ks(url: str, truth: list[dict]) -> dict:
    """A KS result loaded from civil status (clean row), not in the scan drop."""
    for r in truth:
        if r["kind"] != "result" or r["procedure_code"] != "KS" or r["flags"]["id_problem"] \
                or r["flags"]["old_unit_name"] or r["unit"]["level"] != "commune" \
                or [a["source"] for a in r["appears"]] != ["civil_status"] or _misread(r["number"]) == r["number"]:
            continue
        pk = str(r["appears"][0]["pk"])
        found = fetch_all(url, "SELECT result_id FROM core.result_source WHERE source = 'civil_status' AND source_pk = %s",
                          (pk,))
        if found:
            return dict(r, db_result_id=found[0][0])
    raise AssertionError("the demo data should hold a clean, loaded KS result")


def _page(url: str, r: dict) -> list[tuple[str, str]]:
    (agency,), = fetch_all(url, "SELECT name_vi FROM core.agency WHERE electronic_id = %s", (r["agency_electronic_id"],))
    (commune, district), = fetch_all(url, """SELECT u.name_vi, p.name_vi FROM core.admin_unit u
                                             JOIN core.admin_unit p ON p.unit_key = u.parent_key
                                             WHERE u.unit_key = %s""", (f"pre2025/commune/{r['unit']['code']}",))
    dmy = lambda iso: "/".join(reversed(iso.split("-")))  # noqa: E731
    place = f"Ủy ban nhân dân {commune[0].lower() + commune[1:]}, {district[0].lower() + district[1:]}, tỉnh Đồng Tháp"
    return [("motto", MOTTO[0]), ("motto", MOTTO[1]), ("agency", agency.upper()), ("title", "GIẤY KHAI SINH"),
            ("field", f"Số: {_misread(r['number'])}"), ("field", f"Quyển số: {r['book']}"),
            ("field", f"Họ và tên: {r['name']}"), ("field", f"Giới tính: {'Nam' if r['gender'] == 'M' else 'Nữ'}"),
            ("field", f"Ngày sinh: {dmy(r['birth_date'])}"), ("field", f"Số định danh cá nhân: {r['person_id']}"),
            ("field", f"Nơi đăng ký: {place}"), ("field", f"Ngày cấp: {dmy(r['issue_date'])}"),
            ("field", f"Cơ quan cấp: {agency}"), ("sign", "TM. ỦY BAN NHÂN DÂN")]


@pytest.fixture(scope="module")
def env(tmp_path_factory, make_database):
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("review")
    data = base / "demo"
    generate(data, seed=11, size=150, permits_url=None, scans=12)
    mp.setenv("TTHC_DEMO_DATA_DIR", str(data))
    mp.setenv("TTHC_OCR_WORKERS", "2")
    mp.setenv("TTHC_DATA_DOCS_DIR", str(base / "data_docs"))
    truth = [json.loads(line) for line in (data / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    ocr_truth = next(r for r in truth if r["kind"] == "result"
                     and any(a.get("file") == OCR_FILE for a in r["appears"]))

    url = make_database("review", migrated=True)
    run_batch(load_source(ROOT / "sources" / "civil_status.yaml"), url)
    known = _known_ks(url, truth)

    drop = base / "drop"
    drop.mkdir()
    (drop / "known.pdf").write_bytes(text_pdf_bytes(_page(url, known), signer="Nguyễn Văn Ký",
                                                    scanned_at="2024-03-04T09:00:00+07:00"))
    shutil.copy2(data / "scan_drop" / OCR_FILE, drop / OCR_FILE)
    (drop / "notice.pdf").write_bytes(text_pdf_bytes(
        [("motto", MOTTO[0]), ("motto", MOTTO[1]), ("title", "THÔNG BÁO LỊCH TIẾP CÔNG DÂN"),
         ("field", "Bộ phận Một cửa tiếp công dân vào sáng thứ Hai và thứ Năm hằng tuần."),
         ("field", "Đề nghị công dân mang theo giấy tờ tùy thân khi đến làm thủ tục.")], signer="Văn phòng"))
    cfg = base / "review_drop.yaml"
    # A review threshold above 1: every scan waits for an official, whatever the OCR read.
    cfg.write_text(textwrap.dedent(f"""\
        name: review_drop
        description_vi: Vùng thả thử nghiệm hàng chờ rà soát
        location: {drop}
        archive: {base / 'archive'}
        stability: {{min_age_seconds: 0}}
        review: {{min_confidence: 1.01, min_field_confidence: 1.01}}
        """), encoding="utf-8")
    zone = load_drop(cfg)
    first = run_drop(zone, url)
    ids = {f: rid for f, rid in fetch_all(url, """SELECT f.file_name, q.review_id FROM ops.review_queue q
                                                   JOIN ops.scan_file f ON f.document_id = q.document_id""")}
    yield {"url": url, "zone": zone, "drop": drop, "first": first, "known": known, "ocr_truth": ocr_truth,
           "ids": ids}
    mp.undo()


def test_every_scan_waits_in_the_queue_with_its_guesses(env):
    url, ids = env["url"], env["ids"]
    assert env["first"]["linked"] == 0 and env["first"]["review"] == 3
    assert set(ids) == {"known.pdf", OCR_FILE, "notice.pdf"}
    entries = list_open(url)
    assert [e["review_id"] for e in entries] == sorted(ids.values())     # oldest first
    by_file = {e["file_name"]: e for e in entries}
    known = by_file["known.pdf"]
    assert known["drop_zone"] == "review_drop" and known["file_status"] == "review" and known["result_id"] is None
    assert known["fields"]["issue_date"]["confidence"] > 0 and "low confidence" in known["reason"]
    assert known["unit_code"] == env["known"]["unit"]["code"]
    ocr = by_file[OCR_FILE]
    pages = fetch_all(url, "SELECT method, ocr_confidence FROM core.document_page WHERE document_id = %s",
                      (ocr["document_id"],))
    assert pages and all(m == "ocr" and c > 50 for m, c in pages), pages     # really read by Tesseract
    assert ocr["fields"]["document_type"]["value"] == "KS"
    # By unit: the commune's code or its district's.
    commune, district = env["known"]["unit"]["code"], env["known"]["unit"]["district_code"]
    assert [e["file_name"] for e in list_open(url, unit=commune)] == ["known.pdf"]
    assert "known.pdf" in [e["file_name"] for e in list_open(url, unit=district)]
    assert list_open(url, unit="99999") == []


def test_cli_lists_the_queue(env, monkeypatch, capsys):
    monkeypatch.setenv("WAREHOUSE_URL", env["url"])
    assert cli.main(["review", "list", "--unit", env["known"]["unit"]["code"]]) == 0
    out = capsys.readouterr().out
    assert f"#{env['ids']['known.pdf']}\t" in out and "notice.pdf" not in out
    assert cli.main(["review", "show", str(env["ids"]["known.pdf"])]) == 0
    assert "GIẤY KHAI SINH" in capsys.readouterr().out


def test_bad_corrections_error_and_leave_the_entry_open(env, monkeypatch, capsys):
    url, rid, number = env["url"], env["ids"]["known.pdf"], env["known"]["number"]
    before = state(url)
    with pytest.raises(ReviewError, match=r"issue_date: impossible date '31/02/2001'"):
        resolve(url, rid, {"doc_number": number, "issue_date": "31/02/2001"}, "Cán bộ A")
    with pytest.raises(ReviewError, match=r"unknown field\(s\) \['so_hieu'\]"):
        resolve(url, rid, {"so_hieu": number}, "Cán bộ A")
    with pytest.raises(ReviewError, match=r"unit_code: .12. is not a commune"):
        resolve(url, rid, {"unit_code": "12"}, "Cán bộ A")
    with pytest.raises(ReviewError, match="reviewer.s name"):
        resolve(url, rid, {"doc_number": number}, " ")
    assert state(url) == before
    # Clean but refused by Great Expectations (an issue date in the future): no batch is left behind.
    with pytest.raises(ReviewError, match=r"issue_date: failed expect_column_values_to_be_between\(issue_date\)"):
        resolve(url, rid, {"doc_number": number, "issue_date": "01/01/2099"}, "Cán bộ A")
    after = state(url)
    assert fetch_all(url, "SELECT count(*) FROM ops.object_event WHERE event = 'review_failed'") == [(1,)]
    after["events"] = [e for e in after["events"] if e[2] != "review_failed"]
    assert after == before
    # The CLI says why and exits 1.
    monkeypatch.setenv("WAREHOUSE_URL", url)
    assert cli.main(["review", "resolve", str(rid), "--set", "issue_date=32/13/2001", "--by", "Cán bộ A"]) == 1
    assert "issue_date" in capsys.readouterr().err
    assert fetch_all(url, "SELECT status FROM ops.review_queue WHERE review_id = %s", (rid,)) == [("open",)]


def test_resolved_entry_links_to_the_existing_database_result(env):
    url, rid, known = env["url"], env["ids"]["known.pdf"], env["known"]
    guessed = fetch_all(url, "SELECT guessed_fields->'raw_row'->>'doc_number' FROM ops.review_queue WHERE review_id = %s",
                        (rid,))[0][0]
    assert guessed != known["number"]                     # the scan's number was misread…
    out = resolve(url, rid, {"number": known["number"]}, "Cán bộ A")   # …the official's value wins
    assert out["changed"] and out["status"] == "resolved"
    assert out["result_id"] == known["db_result_id"] and out["link_rule"] in ("natural_key", "fuzzy_name")
    (status, by, resolution, resolved_at), = fetch_all(
        url, "SELECT status, resolved_by, resolution, resolved_at FROM ops.review_queue WHERE review_id = %s", (rid,))
    assert (status, by, resolution["fields"]) == ("resolved", "Cán bộ A", {"doc_number": known["number"]})
    assert resolved_at is not None and resolution["result_code"] == out["result_code"]
    row, = fetch_all(url, """SELECT d.result_id, d.link_rule, f.status, r.copy_kind, r.digitized_at IS NOT NULL,
                                    r.doc_number, r.issue_date::text, r.result_code
                             FROM core.document d JOIN ops.scan_file f ON f.document_id = d.document_id
                             JOIN core.result r ON r.result_id = d.result_id WHERE f.file_name = 'known.pdf'""")
    assert row[:7] == (known["db_result_id"], out["link_rule"], "linked", "scan", True, known["number"],
                       known["issue_date"])
    assert is_valid_code(row[7])
    sources = {s for (s,) in fetch_all(url, "SELECT source FROM core.result_source WHERE result_id = %s",
                                       (known["db_result_id"],))}
    assert sources == {"civil_status", "scan.review_drop"}
    events = {e for (e,) in fetch_all(url, """SELECT event FROM ops.object_event WHERE object_type = 'document'
                                              AND object_id = %s""", (str(out["document_id"]),))}
    assert {"reviewed", "linked", "validated"} <= events
    assert fetch_all(url, """SELECT agency_id, procedure_code, doc_book, doc_number, issue_date, count(*)
                             FROM core.result GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1""") == []
    # Its own batch, apart from the drop's runs.
    assert fetch_all(url, "SELECT source, status, rows_out FROM ops.batch WHERE batch_id = %s",
                     (resolution["batch_id"],)) == [("scan.review_drop.review", "succeeded", 1)]


def test_resolving_again_changes_nothing(env):
    url, rid, known = env["url"], env["ids"]["known.pdf"], env["known"]
    before = state(url)
    again = resolve(url, rid, {"doc_number": known["number"]}, "Cán bộ A")
    assert not again["changed"] and again["result_id"] == known["db_result_id"]
    assert state(url) == before
    with pytest.raises(ReviewError, match="already resolved by Cán bộ A"):
        resolve(url, rid, {"doc_number": "1/2001"}, "Cán bộ B")
    assert state(url) == before


def test_ocr_scan_resolved_as_a_coded_paper_only_result(env):
    url, rid, truth = env["url"], env["ids"][OCR_FILE], env["ocr_truth"]
    unit = truth["unit"]["code"]
    out = resolve(url, rid, {"unit_code": unit, "document_type": "KS", "doc_number": truth["number"],
                             "issue_date": truth["issue_date"]}, "Cán bộ B")
    assert out["link_rule"] == "paper_only" and is_valid_code(out["result_code"])
    (proc, number, issued, agency, sources), = fetch_all(url, """
        SELECT r.procedure_code, r.doc_number, r.issue_date::text, r.agency_id, array_agg(s.source)
        FROM core.result r JOIN core.result_source s ON s.result_id = r.result_id
        WHERE r.result_id = %s GROUP BY 1, 2, 3, 4""", (out["result_id"],))
    assert (proc, number, issued, agency) == ("KS", truth["number"], truth["issue_date"],
                                              truth["agency_electronic_id"])
    assert sources == ["scan.review_drop"]


def test_reject_quarantines_the_file(env):
    url, rid, drop = env["url"], env["ids"]["notice.pdf"], env["drop"]
    with pytest.raises(ReviewError, match="reason is required"):
        reject(url, rid, "Cán bộ B", "  ")
    out = reject(url, rid, "Cán bộ B", "không phải kết quả TTHC")
    assert out["changed"] and out["status"] == "rejected" and out["quarantine_id"]
    (stage, reason, payload, ref, resolved), = fetch_all(url, """
        SELECT stage, reason, payload, payload_ref, resolved_at FROM ops.quarantine
        WHERE source = 'scan.review_drop' AND stage = 'review'""")
    assert "không phải kết quả TTHC" in reason and resolved is None
    assert payload["file_name"] == "notice.pdf" and payload["rejected_by"] == "Cán bộ B"
    assert payload["guessed_fields"]["raw_row"]["file_name"] == "notice.pdf"      # nothing lost
    assert ref.startswith("file://") and Path(ref.removeprefix("file://")).exists()
    assert (drop / "notice.pdf").exists()
    assert fetch_all(url, "SELECT status FROM ops.scan_file WHERE file_name = 'notice.pdf'") == [("quarantined",)]
    assert fetch_all(url, "SELECT status, resolved_by FROM ops.review_queue WHERE review_id = %s",
                     (rid,)) == [("rejected", "Cán bộ B")]
    before = state(url)
    assert not reject(url, rid, "Cán bộ B", "không phải kết quả TTHC")["changed"]
    with pytest.raises(ReviewError, match="was rejected"):
        resolve(url, rid, {"document_type": "KS"}, "Cán bộ A")
    with pytest.raises(ReviewError, match="already resolved"):
        reject(url, env["ids"]["known.pdf"], "Cán bộ B", "nhầm")
    assert state(url) == before
    assert list_open(url) == []


def test_rerun_of_the_drop_changes_nothing(env):
    url = env["url"]
    before = state(url)
    again = run_drop(env["zone"], url)
    assert again["files_listed"] == 0
    assert state(url) == before


def test_mart_view_is_vietnamese_and_masks_personal_ids(env):
    url, known = env["url"], env["known"]
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET ROLE tthc_analyst")
            cur.execute("SELECT * FROM mart.review_queue ORDER BY review_id")
            columns = [d.name for d in cur.description]
            rows = [dict(zip(columns, r)) for r in cur.fetchall()]
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT page_text FROM ops.review_queue")
    finally:
        conn.rollback()
        conn.close()
    assert "page_text" not in columns and "holder_name" not in columns
    text = json.dumps(rows, default=str, ensure_ascii=False)
    assert known["person_id"] not in text and known["name"] not in text
    row = next(r for r in rows if r["file_name"] == "known.pdf")
    assert row["holder_id_masked"].endswith(known["person_id"][-3:]) and row["holder_id_masked"].startswith("*")
    assert (row["status_vi"], row["result_code"]) == ("Đã xử lý", fetch_all(
        url, "SELECT result_code FROM core.result WHERE result_id = %s", (known["db_result_id"],))[0][0])
    assert {r["status"] for r in rows} == {"resolved", "rejected"}
    rejected = next(r for r in rows if r["status"] == "rejected")
    assert rejected["rejection_reason"] == "không phải kết quả TTHC" and rejected["status_vi"] == "Đã loại"
    comments = fetch_all(url, """SELECT a.attname, col_description(c.oid, a.attnum) FROM pg_class c
                                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                                 WHERE c.oid = 'mart.review_queue'::regclass""")
    assert all(comment for _, comment in comments)


def test_rejected_file_taken_again_comes_back_open(env):
    """Operators resolve the rejection's quarantine entry: the next run takes the file again, and its entry
    is open again (the documented retry of a quarantined file)."""
    url, rid = env["url"], env["ids"]["notice.pdf"]
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""UPDATE ops.quarantine SET resolved_at = now(), resolution = 'look again'
                           WHERE source = 'scan.review_drop' AND stage = 'review'""")
    finally:
        conn.close()
    again = run_drop(env["zone"], url)
    assert again["files_listed"] == 1 and again["review"] == 1
    assert fetch_all(url, "SELECT status, resolved_by FROM ops.review_queue WHERE review_id = %s",
                     (rid,)) == [("open", None)]
    assert [e["file_name"] for e in list_open(url)] == ["notice.pdf"]
    assert fetch_all(url, "SELECT status FROM ops.scan_file WHERE file_name = 'notice.pdf'") == [("review",)]
