"""Scan-drop intake end to end on a generated drop, with real Tesseract and PostgreSQL:
linking to a loaded legacy source, paper-only codes, quarantine of bad files, exact
duplicates, reruns that change nothing, stability, and fixity."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import stat
import textwrap
from pathlib import Path

import pytest

from tthc.codes import is_valid_code
from tthc_dev.demo_data import generate
from tthc.scans.config import load_drop
from tthc.scans.fixity import FixityError, fixity_check
from tthc.scans.intake import list_drop, list_new_files, run_drop
from tthc.sources.config import load_source
from tthc.sources.pipeline import run_batch
from tthc.warehouse.db import fetch_all

ROOT = Path(__file__).resolve().parents[1]

# Everything a run writes, without timestamps: a rerun must leave all of it unchanged.
STATE = {
    "files": """SELECT drop_zone, source_uri, sha256, size_bytes, status, duplicate_of, document_id, reason
                FROM ops.scan_file ORDER BY file_id""",
    "documents": """SELECT sha256, archive_uri, media_type, page_count, document_type, captured_at, quality_ok,
                           signature_status, result_id, link_rule FROM core.document ORDER BY sha256""",
    "pages": "SELECT document_id, page_no, method, md5(text), ocr_confidence FROM core.document_page ORDER BY 1, 2",
    "fields": "SELECT document_id, field, value, confidence, rule FROM core.document_field ORDER BY 1, 2",
    "results": """SELECT result_code, procedure_code, agency_id, doc_book, doc_number, issue_date, copy_kind,
                         digitized_at, is_signed FROM core.result ORDER BY result_code""",
    "lineage": "SELECT result_id, source, source_pk, row_hash, match_rule FROM core.result_source ORDER BY 1, 2, 3, 4",
    "quarantine": "SELECT source, source_key, stage, reason, payload_ref, resolved_at FROM ops.quarantine ORDER BY 1, 2, 3",
    "review": "SELECT document_id, reason, status FROM ops.review_queue ORDER BY 1",
    "events": "SELECT object_type, object_id, event, count(*) FROM ops.object_event GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
}


def state(url):
    return {k: fetch_all(url, q) for k, q in STATE.items()}


@pytest.fixture(scope="module")
def env(tmp_path_factory, make_database):
    """A generated drop (+ an exact copy and an oversized file), civil status loaded, then one run."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("scans")
    data = base / "demo"
    generate(data, seed=11, size=150, permits_url=None, scans=12)
    mp.setenv("TTHC_DEMO_DATA_DIR", str(data))
    mp.setenv("TTHC_OCR_WORKERS", "2")
    drop = data / "scan_drop"
    truth = [json.loads(line) for line in (data / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    good = {a["file"]: r for r in truth if r["kind"] == "result" for a in r["appears"] if a["source"] == "scan_drop"}
    bad = {r["file"]: r["reason"] for r in truth if r["kind"] == "bad_input" and r.get("source") == "scan_drop"}
    original = sorted(good)[0]
    copy_name = "copy_of_first" + Path(original).suffix
    shutil.copy2(drop / original, drop / copy_name)                       # the same content again
    (drop / "huge.tif").write_bytes(b"II*\x00" + b"\x00" * (2 * 1024 * 1024))  # above max_size_mb: 1.9
    # A sidecar scanned_at wins over the file's own dates.
    manifest = list(csv.DictReader((drop / "manifest.csv").open(encoding="utf-8")))
    columns = list(manifest[0]) if manifest else ["file_name", "unit_code", "procedure_code", "book", "number"]
    if "scanned_at" not in columns:
        columns.append("scanned_at")
    stamped = manifest[0]["file_name"] if manifest else None
    for row in manifest:
        row["scanned_at"] = "2024-05-06T09:10:11" if row["file_name"] == stamped else row.get("scanned_at", "")
    with (drop / "manifest.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(manifest)

    drops = base / "drops"
    drops.mkdir()
    (drops / "test_drop.yaml").write_text(textwrap.dedent(f"""\
        name: test_drop
        description_vi: Vùng thả thử nghiệm
        location: {drop}
        archive: {base / 'archive'}
        manifest: manifest.csv
        stability: {{min_age_seconds: 0}}
        max_size_mb: 1.9
        """), encoding="utf-8")
    zone = load_drop(drops / "test_drop.yaml")

    url = make_database("scan", migrated=True)
    run_batch(load_source(ROOT / "sources" / "civil_status.yaml"), url)
    first = run_drop(zone, url)
    yield {"url": url, "zone": zone, "drop": drop, "good": good, "bad": bad, "first": first, "original": original,
           "stamped": stamped, "base": base, "copy": copy_name}
    mp.undo()


def test_every_good_scan_becomes_a_linked_coded_result(env):
    url = env["url"]
    rows = fetch_all(url, """
        SELECT f.file_name, f.status, f.reason, d.document_id, d.link_rule, r.result_code, r.procedure_code,
               r.doc_number, r.issue_date, r.copy_kind, r.digitized_at = d.captured_at,
               (SELECT count(*) FROM core.document_page p WHERE p.document_id = d.document_id AND length(p.text) > 100),
               (SELECT count(*) FROM core.document_field x WHERE x.document_id = d.document_id)
        FROM ops.scan_file f JOIN core.document d ON d.document_id = f.document_id
        LEFT JOIN core.result r ON r.result_id = d.result_id
        WHERE f.status <> 'duplicate'""")
    by_file = {r[0]: r for r in rows}
    assert set(env["good"]) <= set(by_file), f"good scans without a document: {set(env['good']) - set(by_file)}"
    for name, truth in env["good"].items():
        _, status, reason, _, rule, code, proc, number, issued, copy_kind, digitized_ok, pages, fields = by_file[name]
        assert status == "linked", f"{name}: {status} ({reason})"
        assert is_valid_code(code), f"{name}: code {code!r}"
        assert (proc, number, issued.isoformat()) == (truth["procedure_code"], truth["number"], truth["issue_date"]), name
        assert copy_kind == "scan" and digitized_ok, name
        assert pages >= 1 and fields >= 5, f"{name}: {pages} pages with text, {fields} fields"
        # Known = its civil-status row was loaded (rows with a flaw were quarantined: then the scan fills the gap).
        pks = [str(a["pk"]) for a in truth["appears"] if a["source"] == "civil_status"]
        known = bool(pks) and fetch_all(url, """SELECT count(*) FROM core.result_source
                                                WHERE source = 'civil_status' AND source_pk = ANY(%s)""", (pks,))[0][0]
        if known:
            assert rule in ("natural_key", "fuzzy_name"), f"{name} should link to the civil-status result, got {rule}"
        else:
            assert rule == "paper_only", f"{name}: {rule}"


def test_rotated_and_skewed_scans_are_read(env):
    url = env["url"]
    looks = {a["file"]: a for t in env["good"].values() for a in t["appears"] if a["source"] == "scan_drop"}
    rotated = [n for n, a in looks.items() if a.get("rotation")]
    skewed = [n for n, a in looks.items() if a.get("skew_deg")]
    assert rotated and skewed, "the generated drop should hold rotated and skewed scans"
    for name in rotated:
        (w, h, status), = fetch_all(url, """SELECT p.width_px, p.height_px, f.status FROM ops.scan_file f
                                           JOIN core.document_page p ON p.document_id = f.document_id
                                           WHERE f.file_name = %s""", (name,))
        assert status == "linked" and w < h, f"{name} was not turned upright ({w}x{h})"


def test_scan_of_a_database_result_links_to_it(env):
    url = env["url"]
    linked = fetch_all(url, """
        SELECT d.link_rule, array_agg(DISTINCT s.source ORDER BY s.source)
        FROM core.document d JOIN core.result_source s ON s.result_id = d.result_id
        WHERE d.link_rule IN ('natural_key', 'fuzzy_name') GROUP BY d.document_id, d.link_rule""")
    civil_scans = [n for n, t in env["good"].items() if any(a["source"] == "civil_status" for a in t["appears"])]
    assert civil_scans, "the generated drop should hold scans of civil-status results"
    assert len(linked) >= min(2, len(civil_scans))  # the others had a quarantined civil-status row
    for _, sources in linked:
        assert "civil_status" in sources and any(s.startswith("scan.") for s in sources)
    paper = fetch_all(url, """SELECT r.result_code, r.recorded_at = d.captured_at
                              FROM core.document d JOIN core.result r ON r.result_id = d.result_id
                              WHERE d.link_rule = 'paper_only'""")
    assert paper and all(is_valid_code(c) for c, _ in paper)
    # A paper-only result became known when it was scanned: progress as of an earlier date leaves it out.
    assert all(known_when_scanned for _, known_when_scanned in paper)
    # Natural-key links did not create a second result for the same paper.
    dupes = fetch_all(url, """SELECT agency_id, procedure_code, doc_book, doc_number, issue_date, count(*)
                              FROM core.result GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1""")
    assert dupes == []


def test_bad_files_are_quarantined_and_stay_in_the_drop(env):
    url, drop = env["url"], env["drop"]
    expected = dict(env["bad"], **{"huge.tif": "too_large"})
    rows = fetch_all(url, """SELECT f.file_name, f.status, q.stage, q.reason, q.payload, q.payload_ref
                             FROM ops.scan_file f JOIN ops.quarantine q ON q.source_key = f.source_uri
                             WHERE q.source = 'scan.test_drop'""")
    got = {r[0]: r for r in rows}
    for name, reason in expected.items():
        assert name in got, f"{name} ({reason}) is not in ops.quarantine"
        _, status, stage, text, payload, ref = got[name]
        assert status == "quarantined" and stage in ("intake", "text")
        assert text.startswith(reason), f"{name}: {text}"
        assert payload["file_name"] == name and payload["size_bytes"] == (drop / name).stat().st_size
        assert ref.startswith("file://")
        assert (drop / name).exists(), f"{name} was removed from the drop"
    assert fetch_all(url, "SELECT count(*) FROM core.document WHERE sha256 = "
                          "'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'") == [(0,)]


def test_exact_duplicate_is_recorded_and_reported(env):
    url = env["url"]
    rows = fetch_all(url, """SELECT d.file_name, o.file_name, d.document_id = o.document_id
                             FROM ops.scan_file d JOIN ops.scan_file o ON o.file_id = d.duplicate_of
                             WHERE d.status = 'duplicate'""")
    assert rows == [(env["copy"], env["original"], True)]
    report = env["first"]["duplicates"]
    assert [d["file_name"] for d in report] == [env["copy"]]
    assert fetch_all(url, "SELECT file_name FROM ops.scan_duplicate_report") == [(env["copy"],)]
    detail = fetch_all(url, "SELECT detail->'duplicates' FROM ops.batch WHERE source = 'scan.test_drop'")
    assert detail[0][0][0]["original_file_id"] is not None
    events = fetch_all(url, "SELECT count(*) FROM ops.object_event WHERE event = 'duplicate'")
    assert events == [(1,)]


def test_events_pages_and_captured_at(env):
    url = env["url"]
    events = {e for (e,) in fetch_all(url, "SELECT DISTINCT event FROM ops.object_event")}
    assert {"received", "archived", "text_extracted", "ocred", "fields_extracted", "validated", "linked",
            "quarantined", "duplicate"} <= events
    ocr = fetch_all(url, "SELECT min(ocr_confidence), count(*) FROM core.document_page WHERE method = 'ocr'")
    assert ocr[0][1] >= 3 and ocr[0][0] > 50
    assert fetch_all(url, "SELECT count(*) FROM core.document_page WHERE method = 'text_layer'")[0][0] >= 1
    if env["stamped"]:
        got = fetch_all(url, """SELECT d.captured_at, d.captured_from FROM core.document d
                                JOIN ops.scan_file f ON f.document_id = d.document_id WHERE f.file_name = %s""",
                        (env["stamped"],))
        assert got[0][1] == "sidecar"
        assert got[0][0] == dt.datetime(2024, 5, 6, 2, 10, 11, tzinfo=dt.timezone.utc)  # 09:10:11 +07:00


def test_rerun_changes_nothing(env):
    url = env["url"]
    before = state(url)
    again = run_drop(env["zone"], url)
    assert again["files_listed"] == 0 and again["staged"] == 0
    assert state(url) == before
    # It says it did nothing, and counts no earlier quarantine as its own work.
    assert again["processed_this_run"] == 0 and again["quarantined_this_run"] == 0
    assert again["note"].startswith("nothing new to process: ")
    assert again["files_done_before"] == again["files_in_drop"] > 0


def test_stability_window(env, tmp_path):
    url = env["url"]
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "new.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    cfg = tmp_path / "slow_drop.yaml"
    cfg.write_text(f"name: slow_drop\nlocation: {drop}\narchive: {tmp_path / 'arch'}\n"
                   "stability: {min_age_seconds: 3600, settle_seconds: 30}\n", encoding="utf-8")
    zone = load_drop(cfg)
    now = dt.datetime.now(dt.timezone.utc)
    assert list_new_files(zone, url, now) == []                                  # just arrived
    assert list_new_files(zone, url, now + dt.timedelta(seconds=10)) == []       # not settled yet
    ready = list_new_files(zone, url, now + dt.timedelta(seconds=31))            # unchanged for 30 s
    assert [f["name"] for f in ready] == ["new.png"]
    (drop / "new.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 200)            # still being written
    assert list_new_files(zone, url, now + dt.timedelta(seconds=40)) == []
    # Held-back files are counted, with the settings that hold them back and the zone's file.
    files, seen = list_drop(zone, url, now + dt.timedelta(seconds=45))
    assert files == [] and seen["files_waiting"] == 1 and seen["files_in_drop"] == 1
    assert "stability.min_age_seconds=3600" in seen["waiting_note"]
    assert "stability.settle_seconds=30" in seen["waiting_note"] and "slow_drop.yaml" in seen["waiting_note"]


def test_zone_by_name_file_or_path_and_relative_folders(tmp_path, monkeypatch):
    from tthc.scans.config import DropConfigError, drop_named

    folder = tmp_path / "drops"
    folder.mkdir()
    (folder / "inbox_a.yaml").write_text("name: zone_a\nlocation: drops/inbox\narchive: /tmp/arch\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)   # the current directory must not matter
    by_name = drop_named("zone_a", folder)
    assert drop_named("inbox_a.yaml", folder) == by_name == drop_named("inbox_a", folder)
    assert drop_named(str(folder / "inbox_a.yaml")) == by_name
    assert by_name.location == str(ROOT / "drops" / "inbox")          # the project's drops/, not the cwd's
    with pytest.raises(DropConfigError, match="zone_a"):
        drop_named("nope", folder)


def test_fixity_detects_a_tampered_archive_file(env):
    url = env["url"]
    ok = fixity_check(url, [env["zone"]])
    assert ok["failed"] == 0 and ok["checked"] >= len(env["good"])
    uri = fetch_all(url, "SELECT archive_uri FROM core.document ORDER BY document_id LIMIT 1")[0][0]
    path = Path(uri.removeprefix("file://"))
    assert not os.access(path, os.W_OK) or not (path.stat().st_mode & stat.S_IWUSR)  # archived read-only
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(FixityError, match="sha256 mismatch"):
        fixity_check(url, [env["zone"]])
    bad = fetch_all(url, "SELECT count(*) FROM ops.fixity_check WHERE NOT ok")
    assert bad == [(1,)]
    path.unlink()
    with pytest.raises(FixityError, match=r"\(1 lost, 0 damaged\).*loss: archive file missing"):
        fixity_check(url, [env["zone"]])


def test_a_scan_is_never_linked_or_created_under_a_wrong_holder(env, tmp_path):
    """Precision before recall, end to end: text-layer scans (no OCR) of a result the warehouse holds.
    The right holder links; another holder's name on the same number goes to review (the warehouse
    cross-check); the mother's name with no holder label, a holder whose personal ID disagrees with
    the birth date, and a misread number (the same holder's result is in the warehouse) go to review
    with the reason; nothing is linked or created for them."""
    import random

    from tthc_dev.demo_data import scans as S
    from tthc_dev.demo_data.reference import load_reference as demo_reference
    from tthc_dev.demo_data.sources import UnitNamer

    url = env["url"]
    truth = [json.loads(x) for x in (Path(os.environ["TTHC_DEMO_DATA_DIR"]) / "ground_truth.jsonl")
             .read_text(encoding="utf-8").splitlines()]
    ref = demo_reference()
    held = fetch_all(url, "SELECT procedure_code, doc_number, issue_date::text, doc_book, holder_name_key FROM core.result")
    keys = {(p, n, d, b or "") for p, n, d, b, _ in held}
    recs = [r for r in S.records_from_truth(truth, ref) if r["proc"] == "KS" and
            (r["proc"], r["truth"]["number"], r["truth"]["issue_date"], r["truth"]["book"] or "") in keys
            and not any(a["source"] == "scan_drop" for a in r["truth"]["appears"])]
    assert recs, "the loaded civil-status source should hold birth registrations"
    rec = recs[0]
    drop = tmp_path / "drop"
    drop.mkdir()

    def page(name: str, edit) -> None:
        rows, _ = S.layout_rows(rec, UnitNamer(ref), ref.province_name, "tt04_2020", random.Random(1))
        rows = edit([[(st, tx, x, a) for st, tx, x, a in row] for row in rows])
        (drop / name).write_bytes(S.layout_pdf_bytes(rows, "DejaVuSans"))

    holder = rec["truth"]["name"]
    swap = lambda new: lambda rows: [[(st, tx.replace(holder, new), x, a) for st, tx, x, a in r] for r in rows]  # noqa: E731
    page("right.pdf", lambda rows: rows)
    page("other_holder.pdf", swap("Đinh Công Tráng"))
    page("mother_only.pdf", lambda rows: [r for r in rows if not r[0][1].startswith("Họ, chữ đệm, tên:")])
    pid = rec["truth"]["person_id"]
    bad_pid = pid[:4] + f"{(int(pid[4:6]) + 7) % 100:02d}" + pid[6:]
    page("id_disagrees.pdf", lambda rows: [[(st, tx.replace(pid, bad_pid), x, a) for st, tx, x, a in r] for r in rows])
    number = rec["truth"]["number"]
    misread = "9" + number        # OCR added (or lost) a digit: no such result, but the same holder's is there
    page("number_misread.pdf", lambda rows: [[(st, tx.replace(f"Số: {number}", f"Số: {misread}"), x, a)
                                              for st, tx, x, a in r] for r in rows])
    cfg = tmp_path / "precision_drop.yaml"
    cfg.write_text(f"name: precision_drop\nlocation: {drop}\narchive: {tmp_path / 'arch'}\n"
                   "stability: {min_age_seconds: 0}\n", encoding="utf-8")
    results_before = fetch_all(url, "SELECT count(*) FROM core.result")[0][0]
    run_drop(load_drop(cfg), url)
    got = {name: (status, result_id, reason) for name, status, result_id, reason in fetch_all(url, """
        SELECT f.file_name, f.status, d.result_id, q.reason FROM ops.scan_file f
        JOIN core.document d ON d.document_id = f.document_id
        LEFT JOIN ops.review_queue q ON q.document_id = d.document_id WHERE f.drop_zone = 'precision_drop'""")}
    assert got["right.pdf"][0] == "linked" and got["right.pdf"][1] is not None, got["right.pdf"]
    for name, why in (("other_holder.pdf", "has another holder than 'Đinh Công Tráng'"),
                      ("mother_only.pdf", "holder_name not found"),
                      ("id_disagrees.pdf", f"personal ID {bad_pid} does not agree with the birth date"),
                      ("number_misread.pdf", f"of the same holder with number {number}")):
        status, result_id, reason = got[name]
        assert status == "review" and result_id is None, (name, got[name])
        assert why in reason, (name, reason)
    assert fetch_all(url, "SELECT count(*) FROM core.result")[0][0] == results_before   # nothing created
