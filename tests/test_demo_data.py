"""tthc_dev.demo_data: the deterministic demo-data generator.

These tests check properties of the generated data against each other (sources vs
ground truth vs manifest vs the files themselves), not values copied from a run.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import unicodedata
import uuid
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError
from stdnum.vn import mst as vn_mst

from tthc_dev.demo_data import default_scans, generate, permits_table_digests
from tthc_dev.demo_data.reference import load_reference
from tthc.text import legacy_encoding as le

SMALL = 300
SCANS_SMALL = 12
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306"


# ------------------------------------------------------------------ helpers


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_gt(out: Path) -> list[dict]:
    with (out / "ground_truth.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def results(gt: list[dict]) -> list[dict]:
    return [g for g in gt if g["kind"] == "result"]


def civil_rows(out: Path) -> dict[int, sqlite3.Row]:
    db = sqlite3.connect(out / "civil_status.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return {r["ID"]: r for r in db.execute("SELECT * FROM SO_HO_TICH")}
    finally:
        db.close()


def hkd_rows(out: Path) -> list[dict]:
    with (out / "household_business.csv").open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def primary(g: dict, source: str) -> dict | None:
    for a in g["appears"]:
        if a.get("source") == source and not a.get("duplicate"):
            return a
    return None


_VN_DATE_WORDS = re.compile(r"ngày (\d{1,2}) tháng (\d{1,2}) năm (\d{4})")


def parse_legacy_date(text: str) -> date:
    """Independent parser for the date styles the brief lists."""
    text = unicodedata.normalize("NFC", text)
    if m := _VN_DATE_WORDS.fullmatch(text):
        return date(int(m[3]), int(m[2]), int(m[1]))
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{1,2})[/-](\d{1,2})[/-](\d{4})", text):
        return date(int(m[3]), int(m[2]), int(m[1]))
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{2})", text):
        yy = int(m[3])
        return date(2000 + yy if yy < 50 else 1900 + yy, int(m[2]), int(m[1]))
    raise ValueError(text)


def decode_cell(value: str, encoding: str) -> str:
    if encoding in ("tcvn3", "vni"):
        return le.decode(value, encoding)
    return unicodedata.normalize("NFC", value)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The default demo: seed 42, 1000 results, default scan count, permits on SQLite."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    generate(out, seed=42, size=1000)
    return out


@pytest.fixture(scope="module")
def manifest(demo) -> dict:
    return json.loads((demo / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def gt(demo) -> list[dict]:
    return read_gt(demo)


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory) -> dict[str, Path]:
    """Two runs with the same seed (one through the CLI), one with another seed."""
    base = tmp_path_factory.mktemp("small")
    a, b, c = base / "a", base / "b", base / "c"
    generate(a, seed=42, size=SMALL, scans=SCANS_SMALL)
    cli = subprocess.run(
        [sys.executable, "-m", "tthc_dev.demo_data", "--seed", "42", "--size", str(SMALL), "--scans", str(SCANS_SMALL), "--out", str(b)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    generate(c, seed=43, size=SMALL, scans=SCANS_SMALL)
    return {"a": a, "b": b, "c": c}


# ------------------------------------------------------------------ determinism and layout


def test_same_seed_gives_identical_files(small_runs):
    ma = json.loads((small_runs["a"] / "manifest.json").read_text(encoding="utf-8"))
    mb = json.loads((small_runs["b"] / "manifest.json").read_text(encoding="utf-8"))
    assert ma["files"].keys() == mb["files"].keys()
    for name, entry in ma["files"].items():
        assert entry["sha256"] == mb["files"][name]["sha256"], name
    assert ma["permits_db"]["tables"] == mb["permits_db"]["tables"]
    assert (small_runs["a"] / "manifest.json").read_bytes() == (small_runs["b"] / "manifest.json").read_bytes()


def test_different_seed_differs(small_runs):
    ma = json.loads((small_runs["a"] / "manifest.json").read_text(encoding="utf-8"))
    mc = json.loads((small_runs["c"] / "manifest.json").read_text(encoding="utf-8"))
    for name in ("civil_status.sqlite", "household_business.csv", "ground_truth.jsonl", "dossiers.csv", "construction_permits.sqlite"):
        assert ma["files"][name]["sha256"] != mc["files"][name]["sha256"], name
    assert ma["permits_db"]["tables"] != mc["permits_db"]["tables"]


def test_manifest_hashes_match_files(demo, manifest):
    on_disk = {p.relative_to(demo).as_posix() for p in demo.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for name, entry in manifest["files"].items():
        path = demo / name
        assert path.stat().st_size == entry["bytes"], name
        assert sha256(path) == entry["sha256"], name
    assert manifest["seed"] == 42 and manifest["size"] == 1000
    assert manifest["scans"] == default_scans(1000)


def test_rerun_replaces_contents(tmp_path):
    out = tmp_path / "out"
    generate(out, seed=5, size=120, scans=SCANS_SMALL)
    (out / "stray.txt").write_text("left over")
    (out / "scan_drop" / "old_scan.pdf").write_bytes(b"%PDF-1.4")
    generate(out, seed=5, size=120, scans=SCANS_SMALL)
    assert not (out / "stray.txt").exists()
    assert not (out / "scan_drop" / "old_scan.pdf").exists()
    assert not list(tmp_path.glob(".out.*"))  # no temporary directories left behind
    # A directory that is not an earlier output is not wiped.
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        generate(other, seed=5, size=120, scans=SCANS_SMALL)
    assert (other / "notes.txt").read_text() == "keep me"


# ------------------------------------------------------------------ counts


def test_counts_match_size_and_manifest(demo, manifest, gt):
    counts = manifest["counts"]
    res = results(gt)
    paper = [g for g in res if g["flags"]["paper_only"]]
    assert len(res) == manifest["expected_distinct_results"] == 1000 + counts["paper_only_results"]
    assert len(paper) == counts["paper_only_results"]
    assert len({g["result_id"] for g in res}) == len(res)
    # Every result outside the scan drop's paper-only set sits in exactly one structured source.
    structured = Counter()
    for g in res:
        srcs = {a["source"] for a in g["appears"]} & {"civil_status", "household_business", "construction_permits"}
        assert len(srcs) == (0 if g["flags"]["paper_only"] else 1), g["result_id"]
        structured.update(srcs)
    src = counts["sources"]
    assert structured["civil_status"] == src["civil_status"]["true_rows"]
    assert structured["household_business"] == src["household_business"]["true_rows"]
    assert structured["construction_permits"] == src["construction_permits"]["true_rows"]
    assert sum(structured.values()) == 1000
    assert sum(counts["results_by_procedure"].values()) == 1000
    assert Counter(g["kind"] for g in gt) == Counter(counts["ground_truth"])


def test_every_source_row_is_accounted_for_once(demo, manifest, gt):
    """Each row of each source is either a result's appearance or a bad_input line, exactly once."""
    seen = Counter()
    for g in gt:
        if g["kind"] == "result":
            for a in g["appears"]:
                if a["source"] == "civil_status":
                    seen[("civil", a["pk"])] += 1
                elif a["source"] == "household_business":
                    seen[("hkd", a["row"])] += 1
                elif a["source"] == "construction_permits":
                    seen[(a["table"], a["pk"])] += 1
        elif g["kind"] == "bad_input" and g["source"] != "scan_drop":
            key = {"civil_status": "civil", "household_business": "hkd"}.get(g["source"], g.get("table"))
            seen[(key, g.get("pk", g.get("row")))] += 1
    assert all(n == 1 for n in seen.values())
    civil = civil_rows(demo)
    assert {k[1] for k in seen if k[0] == "civil"} == set(civil)
    assert len(civil) == manifest["counts"]["sources"]["civil_status"]["rows"]
    hkd = hkd_rows(demo)
    assert {k[1] for k in seen if k[0] == "hkd"} == set(range(1, len(hkd) + 1))
    assert len(hkd) == manifest["counts"]["sources"]["household_business"]["rows"]
    db = sqlite3.connect(demo / "construction_permits.sqlite")
    try:
        for table in ("giay_phep", "giay_phep_ban_le_ruou"):
            ids = {r[0] for r in db.execute(f"SELECT id FROM {table}")}
            assert {k[1] for k in seen if k[0] == table} == ids
            assert len(ids) == manifest["permits_db"]["tables"][table]["rows"]
    finally:
        db.close()


def test_every_flaw_category_is_present(manifest, gt):
    res = results(gt)
    flags = [g["flags"] for g in res]
    assert {f["legacy_encoding"] for f in flags} >= {"tcvn3", "vni", "nfd", "none"}
    problems = {f["id_problem"]["problem"] for f in flags if f["id_problem"]}
    assert problems >= {"null", "missing", "bad_length", "century_mismatch", "non_digit", "province_mismatch", "bad_mst_checksum"}
    kinds = {k for f in flags if f["old_unit_name"] for k in f["old_unit_name"]["kinds"]}
    assert kinds >= {"abbreviation", "pre_rename"}
    assert any(f["missing_unit_code"] for f in flags)
    assert any(f["expired"] for f in flags) and any(f["revoked"] for f in flags)
    assert any(f["already_digitized"] for f in flags)
    assert any(f["paper_only"] for f in flags)
    dup_sources = Counter(w["source"] for f in flags for w in f["duplicate_rows"]["where"])
    assert dup_sources["civil_status"] > 0 and dup_sources["scan_drop"] > 0
    cross = Counter()
    for g in res:
        srcs = {a["source"] for a in g["appears"]}
        if len(srcs) > 1:
            cross[frozenset(srcs)] += 1
    assert any({"civil_status", "scan_drop"} <= s for s in cross)
    assert any({"civil_status", "already_digitized"} <= s for s in cross)
    assert any({"construction_permits", "scan_drop"} <= s for s in cross)
    reasons = {g["reason"] for g in gt if g["kind"] == "bad_input"}
    assert reasons >= {"empty_row", "test_row", "summary_row", "truncated_pdf", "empty_file", "encrypted_pdf", "wrong_extension"}
    assert any(g["kind"] == "external_only" for g in gt)
    # Expired results of each kind the brief names.
    expired = {g["procedure_code"] for g in res if g["status"] == "expired"}
    assert {"XNHN", "GPXD", "BLR"} <= expired
    assert {g["procedure_code"] for g in res if g["status"] == "revoked"} <= {"GPXD", "BLR"}


def test_issue_dates_span_and_statuses(gt):
    res = results(gt)
    years = [int(g["issue_date"][:4]) for g in res]
    assert min(years) <= 1997 and max(years) == 2025
    assert min(years) >= 1995
    assert sum(y <= 2021 for y in years) / len(years) >= 0.8
    as_of = date(2025, 12, 31)
    for g in res:
        end = g["valid_until"]
        if g["status"] == "expired":
            assert end is not None and date.fromisoformat(end) < as_of
        elif g["status"] == "valid":
            assert end is None or date.fromisoformat(end) >= as_of
        if g["procedure_code"] in ("KS", "KH", "KT", "HKD", "DKDN"):
            assert end is None
        if g["procedure_code"] == "XNHN":
            assert (date.fromisoformat(end) - date.fromisoformat(g["issue_date"])).days in range(175, 186)
        assert g["in_scope_province_plan"] == (g["status"] == "valid" and g["issue_date"] <= "2021-12-31")


# ------------------------------------------------------------------ reference data


def test_units_and_agencies_come_from_the_reference(gt):
    ref = load_reference()
    communes = {c.code: c for c in ref.communes}
    districts = {d.code: d for d in ref.districts}
    agencies = {c.agency.electronic_id: c.code for c in ref.communes}
    agencies |= {d.agency.electronic_id: d.code for d in ref.districts}
    dept = {a.electronic_id: a.code for a in ref.departments.values()}
    assert len(communes) == 141 and set(districts) == set(range(866, 878))
    for g in results(gt):
        u = g["unit"]
        assert u["era"] == "pre2025" and u["province_code"] == "87"
        proc, eid = g["procedure_code"], g["agency_electronic_id"]
        if proc in ("KS", "KH", "KT", "XNHN"):
            assert u["level"] == "commune" and agencies[eid] == int(u["code"])
            assert communes[int(u["code"])].district_code == int(u["district_code"])
        elif proc in ("HKD", "GPXD", "BLR"):
            assert u["level"] == "district" and agencies[eid] == int(u["code"]) == int(u["district_code"])
        elif proc == "ATTP":
            assert dept[eid] in ("SYT", "SCT", "SNN")
        elif proc == "DKDN":
            assert dept[eid] == "SKHDT"


def test_names_come_from_the_names_file(gt):
    names = load_reference().names
    families = set(names["family_names"])
    given = set(names["given_names"]["male"]) | set(names["given_names"]["female"])
    for g in results(gt):
        parts = g["name"].split(" ")
        assert parts[0] in families and parts[-1] in given
        assert unicodedata.is_normalized("NFC", g["name"])


# ------------------------------------------------------------------ civil status


def test_civil_status_legacy_encodings_decode_to_ground_truth(demo, gt):
    rows = civil_rows(demo)
    checked = Counter()
    for g in results(gt):
        a = primary(g, "civil_status")
        if a is None:
            continue
        enc = g["flags"]["legacy_encoding"]
        raw = rows[a["pk"]]["HO_TEN"]
        decoded = decode_cell(raw, enc)
        if enc == "tcvn3":
            # TCVN3 has no capital toned letters but Ă Â Đ Ê Ô Ơ Ư (documented fallback).
            assert decoded.casefold() == g["name"].casefold()
        else:
            assert decoded == g["name"]
        if enc == "nfd":
            assert unicodedata.is_normalized("NFD", raw) and (raw != g["name"] or g["name"].isascii())
        if enc == "none":
            assert raw == g["name"]
        if enc in ("tcvn3", "vni"):
            assert raw != g["name"] or g["name"].isascii()
            assert all(ord(ch) <= 0xFF for ch in raw)  # bytes read as windows-1252
        checked[enc] += 1
    total = sum(checked.values())
    # About 25% TCVN3 and 15% VNI (a few NFD), as the brief asks.
    assert 0.18 <= checked["tcvn3"] / total <= 0.32
    assert 0.10 <= checked["vni"] / total <= 0.20
    assert checked["nfd"] > 0


def test_detect_recognizes_most_legacy_rows(demo, gt):
    """The heuristic detector, given the row's text fields together, finds the encoding."""
    rows = civil_rows(demo)
    hits = total = 0
    for g in results(gt):
        a = primary(g, "civil_status")
        if a is None or g["flags"]["legacy_encoding"] not in ("tcvn3", "vni"):
            continue
        r = rows[a["pk"]]
        text = " ".join(x for x in (r["HO_TEN"], r["NOI_DANG_KY"], r["NGUOI_KY"]) if x)
        total += 1
        hits += le.detect(text) == g["flags"]["legacy_encoding"]
    assert total > 100 and hits / total >= 0.97


def test_civil_status_fields_agree_with_ground_truth(demo, gt):
    rows = civil_rows(demo)
    styles = Counter()
    for g in results(gt):
        a = primary(g, "civil_status")
        if a is None:
            continue
        r = rows[a["pk"]]
        enc = g["flags"]["legacy_encoding"]
        assert r["LOAI_SO"] == g["procedure_code"]
        assert r["SO"] == g["number"] and r["QUYEN_SO"] == g["book"]
        assert parse_legacy_date(decode_cell(r["NGAY_DK"], enc)) == date.fromisoformat(g["issue_date"])
        styles[re.sub(r"\d", "9", decode_cell(r["NGAY_DK"], enc))[:6]] += 1
        assert r["MA_HUYEN"] == g["unit"]["district_code"]
        if g["flags"]["missing_unit_code"]:
            assert r["MA_XA"] is None
        else:
            assert r["MA_XA"] == g["unit"]["code"]
        place = decode_cell(r["NOI_DANG_KY"], enc)
        if g["flags"]["old_unit_name"]:
            assert place.casefold() == g["flags"]["old_unit_name"]["raw"].casefold()
        # UPDATED_AT is a proper ISO 8601 timestamp with the Vietnam offset.
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+07:00", r["UPDATED_AT"])
        assert r["UPDATED_AT"][:10] <= "2025-12-31"
        problem = g["flags"]["id_problem"]
        if problem is None:
            assert r["SO_GIAY_TO"] == g["person_id"]
        else:
            assert problem["value_in_source"] == r["SO_GIAY_TO"]
    assert len(styles) >= 5  # dd/mm/yyyy, yyyy-mm-dd, d/m/yy, dd-mm-yyyy, "ngày … tháng … năm …"


def test_identifier_flaws_are_real(demo, gt):
    for g in results(gt):
        if g["person_id_kind"] == "cccd":
            pid = g["person_id"]
            assert re.fullmatch(r"\d{12}", pid)
            by = int(g["birth_date"][:4])
            assert int(pid[3]) in ((0, 1) if by < 2000 else (2, 3))
            assert int(pid[3]) % 2 == (1 if g["gender"] == "F" else 0)
            assert pid[4:6] == f"{by % 100:02d}"
            if g["procedure_code"] == "KS":
                assert pid.startswith("087")
        else:
            assert re.fullmatch(r"\d{9}", g["person_id"])
        if "mst" in g:
            assert vn_mst.is_valid(g["mst"])
        p = g["flags"]["id_problem"]
        if p is None:
            continue
        v = p["value_in_source"]
        kind = p["problem"]
        if kind == "null":
            assert v is None
        elif kind == "missing":
            assert v == ""
        elif kind == "bad_length":
            assert v.isdigit() and len(v) not in (9, 12)
        elif kind == "century_mismatch":
            by = int(g["birth_date"][:4])
            assert len(v) == 12 and int(v[3]) not in ((0, 1) if by < 2000 else (2, 3))
        elif kind == "non_digit":
            assert not v.isdigit() and len(v) == len(g["person_id"])
        elif kind == "province_mismatch":
            assert g["procedure_code"] == "KS" and not v.startswith("087") and v[3:] == g["person_id"][3:]
        elif kind == "bad_mst_checksum":
            assert not vn_mst.is_valid(v) and v[:9] == g["mst"][:9]


def test_duplicates_are_the_same_result_with_a_variant(demo, gt):
    rows = civil_rows(demo)
    n = 0
    for g in results(gt):
        for w in g["flags"]["duplicate_rows"]["where"]:
            if w["source"] != "civil_status":
                continue
            n += 1
            r = rows[w["pk"]]
            orig = rows[primary(g, "civil_status")["pk"]]
            assert w["pk"] > orig["ID"]  # entered later
            assert (r["SO"], r["QUYEN_SO"], r["LOAI_SO"]) == (orig["SO"], orig["QUYEN_SO"], orig["LOAI_SO"])
            assert r["UPDATED_AT"] >= orig["UPDATED_AT"]
            name = decode_cell(r["HO_TEN"], w["encoding"])
            base = unicodedata.normalize("NFD", name).replace("đ", "d").replace("Đ", "D")
            canon = unicodedata.normalize("NFD", g["name"]).replace("đ", "d").replace("Đ", "D")
            strip = lambda s: "".join(ch for ch in s if not unicodedata.combining(ch)).casefold().replace("  ", " ")  # noqa: E731
            assert strip(base) == strip(canon)
        assert g["flags"]["duplicate_rows"]["count"] == len(g["flags"]["duplicate_rows"]["where"])
    assert n > 10


# ------------------------------------------------------------------ other structured sources


def test_household_business_csv_and_xlsx(demo, gt):
    raw = (demo / "household_business.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, as Excel exports
    rows = hkd_rows(demo)
    for header in ("Số GCN", "Tên hộ kinh doanh", "Chủ hộ", "Số CCCD", "Mã số thuế", "Ngày cấp", "Địa chỉ", "Cơ quan cấp"):
        assert header in rows[0]
    from openpyxl import load_workbook

    wb = load_workbook(demo / "household_business.xlsx", read_only=True)
    xrows = list(wb.active.iter_rows(values_only=True))
    assert list(xrows[0]) == list(rows[0].keys())
    assert len(xrows) - 1 == len(rows)
    width = len(xrows[0])
    for x, c in zip(xrows[1:], rows, strict=True):
        cells = ["" if v is None else str(v) for v in x]
        assert cells + [""] * (width - len(cells)) == list(c.values())  # empty cells are absent
    by_row = {i + 1: r for i, r in enumerate(rows)}
    n_valid = n_bad = 0
    for g in results(gt):
        a = primary(g, "household_business")
        if a is None:
            continue
        r = by_row[a["row"]]
        assert r["Số GCN"] == g["number"] and r["Tên hộ kinh doanh"] == g["business_name"]
        mst = r["Mã số thuế"]
        p = g["flags"]["id_problem"]
        if p and p["problem"] == "bad_mst_checksum":
            assert not vn_mst.is_valid(mst)
            n_bad += 1
        elif mst:
            assert vn_mst.is_valid(mst) and vn_mst.compact(mst)[:10] == g["mst"]
            n_valid += 1
    assert n_valid > 50 and n_bad > 0


def test_already_digitized_overlaps_civil_status(demo, gt):
    with (demo / "already_digitized.csv").open(encoding="utf-8", newline="") as fh:
        rows = {r["external_ref"]: r for r in csv.DictReader(fh)}
    res = results(gt)
    keys = {(g["agency_electronic_id"], g["procedure_code"], g["number"], g["book"], g["issue_date"]) for g in res}
    overlap = [g for g in res if g["flags"]["already_digitized"]]
    assert overlap
    for g in overlap:
        r = rows[g["flags"]["already_digitized"]]
        assert (r["agency_electronic_id"], r["procedure_code"], r["so"], r["quyen_so"], r["ngay_dang_ky"]) == (
            g["agency_electronic_id"], g["procedure_code"], g["number"], g["book"], g["issue_date"]
        )  # fmt: skip
        assert primary(g, "civil_status") is not None
    external = [g for g in gt if g["kind"] == "external_only"]
    assert external
    for e in external:
        r = rows[e["external_ref"]]
        assert (r["agency_electronic_id"], r["procedure_code"], r["so"], r["quyen_so"], r["ngay_dang_ky"]) not in keys
    assert len(rows) == len(overlap) + len(external)


def test_dossier_codes_and_resupply_trend(demo):
    with (demo / "dossiers.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    codes = [r["dossier_code"] for r in rows]
    assert len(set(codes)) == len(codes)
    by_year: dict[int, list[bool]] = defaultdict(list)
    for r in rows:
        m = re.fullmatch(r"(\d{3}\.\d{2}\.\d{2}\.H20)-(\d{2})(\d{2})(\d{2})-(\d{4})", r["dossier_code"])
        assert m, r["dossier_code"]
        assert m[1] == r["agency_electronic_id"]
        d = date.fromisoformat(r["received_date"])
        assert (int(m[2]), int(m[3]), int(m[4])) == (d.year % 100, d.month, d.day)
        assert date(2022, 1, 1) <= d <= date(2025, 12, 31)
        by_year[d.year].append(r["resupplied_documents"] == "true")
    shares = [sum(v) / len(v) for _, v in sorted(by_year.items())]
    assert sorted(by_year) == [2022, 2023, 2024, 2025]
    assert shares[0] > shares[-1] + 0.2


def test_inventory_declares_more_and_less_than_known(demo, gt):
    with (demo / "inventory_declared.csv").open(encoding="utf-8", newline="") as fh:
        declared = list(csv.DictReader(fh))
    campaign = {}
    for r in declared:
        assert r["unit_era"] == "pre2025"
        assert int(r["issue_year"]) < int(r["declared_on"][:4])
        assert campaign.setdefault(r["agency_electronic_id"], r["declared_on"]) == r["declared_on"]  # one campaign per agency
    # Results that exist and were still valid on the agency's declaration day.
    known = Counter()
    for g in results(gt):
        on = campaign.get(g["agency_electronic_id"])
        if on is None or g["status"] == "revoked" or int(g["issue_date"][:4]) >= int(on[:4]):
            continue
        if g["valid_until"] is None or g["valid_until"] >= on:
            known[(g["agency_electronic_id"], g["unit"]["code"], g["procedure_code"], g["issue_date"][:4])] += 1
    over = under = equal = 0
    for r in declared:
        k = known.pop((r["agency_electronic_id"], r["unit_code"], r["procedure_code"], r["issue_year"]), 0)
        n = int(r["declared_paper_count"])
        over += n > k
        under += n < k
        equal += n == k
    assert not known  # every (agency, procedure, year) with valid results was declared
    assert over and under and equal
    assert equal > over and equal > under


# ------------------------------------------------------------------ scan drop


def scan_entries(gt: list[dict]) -> dict[str, dict]:
    out = {}
    for g in results(gt):
        for a in g["appears"]:
            if a["source"] == "scan_drop":
                out[a["file"]] = {**a, "result": g}
    return out


def test_scan_drop_files_and_manifest(demo, manifest, gt):
    files = {p.name for p in (demo / "scan_drop").iterdir()} - {"manifest.csv"}
    assert len(files) == manifest["scans"]
    entries = scan_entries(gt)
    broken = {g["file"]: g for g in gt if g["kind"] == "bad_input" and g["source"] == "scan_drop"}
    assert set(entries) | set(broken) == files and not set(entries) & set(broken)
    assert {e["format"] for e in entries.values()} == {"text_pdf", "image_pdf", "jpeg", "tiff", "png"}
    matched = [e for e in entries.values() if not e["result"]["flags"]["paper_only"]]
    assert matched and any(e["result"]["flags"]["paper_only"] for e in entries.values())
    with (demo / "scan_drop" / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        listed = list(csv.DictReader(fh))
    assert 0 < len(listed) < len(files)  # the drop team's sidecar covers only part of the files
    for row in listed:
        e = entries[row["file_name"]]
        g = e["result"]
        assert e["in_manifest"]
        assert (row["unit_code"], row["procedure_code"], row["book"] or None, row["number"]) == (
            g["unit"]["code"], g["procedure_code"], g["book"], g["number"]
        )  # fmt: skip


def test_text_layer_pdfs_have_vietnamese_text(demo, gt):
    n = 0
    for name, e in scan_entries(gt).items():
        if e["format"] != "text_pdf":
            continue
        text = unicodedata.normalize("NFC", "".join(p.extract_text() for p in PdfReader(demo / "scan_drop" / name).pages))
        assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
        assert "Độc lập - Tự do - Hạnh phúc" in text
        g = e["result"]
        assert g["name"] in text and g["number"] in text
        d = date.fromisoformat(g["issue_date"])
        assert f"Ngày cấp: {d.day:02d}/{d.month:02d}/{d.year}" in text
        n += 1
    assert n >= 2


def test_image_scans_have_no_text_layer_and_their_artefacts(demo, gt):
    seen = Counter()
    for name, e in scan_entries(gt).items():
        path = demo / "scan_drop" / name
        if e["format"] == "image_pdf":
            reader = PdfReader(path)
            assert reader.pdf_header >= "%PDF-1.4"
            assert all(not (p.extract_text() or "").strip() for p in reader.pages)
            img = reader.pages[0].images[0].image
        elif e["format"] in ("jpeg", "tiff", "png"):
            img = Image.open(path)
            assert round(img.info["dpi"][0]) == e["dpi"]
        else:
            continue
        assert 150 <= e["dpi"] <= 300
        assert img.mode == ("RGB" if e["color"] == "rgb" else "L")
        if e["rotation"] in (90, 270):
            assert img.width > img.height
            seen["rotated"] += 1
        elif not e["skew_deg"]:
            assert img.height > img.width
        assert e["quality_ok"] == (e["color"] == "rgb" and e["dpi"] >= 200)
        seen[e["format"]] += 1
        seen["skewed"] += bool(e["skew_deg"])
    assert seen["image_pdf"] and seen["jpeg"] and seen["tiff"] and seen["png"] and seen["rotated"] and seen["skewed"]


def test_broken_files_fail_to_open(demo, gt):
    broken = {g["reason"]: g for g in gt if g["kind"] == "bad_input" and g["source"] == "scan_drop"}
    assert set(broken) == {"truncated_pdf", "empty_file", "encrypted_pdf", "wrong_extension"}
    path = lambda reason: demo / "scan_drop" / broken[reason]["file"]  # noqa: E731
    assert path("empty_file").stat().st_size == 0
    with pytest.raises((PdfReadError, ValueError)):
        PdfReader(path("empty_file"))
    with pytest.raises((PdfReadError, ValueError, KeyError)):
        r = PdfReader(path("truncated_pdf"))
        "".join(p.extract_text() for p in r.pages)
    enc = PdfReader(path("encrypted_pdf"))
    assert enc.is_encrypted
    with pytest.raises(FileNotDecryptedError):
        enc.pages[0].extract_text()
    wrong = path("wrong_extension")
    assert wrong.suffix == ".pdf"
    with pytest.raises(PdfReadError):
        PdfReader(wrong)
    assert Image.open(wrong).format == "JPEG"
    ids = {g["result_id"] for g in results(gt)}
    for reason in ("truncated_pdf", "encrypted_pdf", "wrong_extension"):
        assert broken[reason]["depicts_result_id"] in ids


# ------------------------------------------------------------------ permits on other engines


def _permits_check(url: str, small_runs) -> None:
    out = small_runs["a"].parent / f"db_{uuid.uuid4().hex[:6]}"
    m = generate(out, seed=42, size=SMALL, scans=SCANS_SMALL, permits_url=url)
    assert "construction_permits.sqlite" not in m["files"]
    sqlite_run = json.loads((small_runs["a"] / "manifest.json").read_text(encoding="utf-8"))
    # The same rows as the SQLite run, read back from the other engine.
    assert permits_table_digests(url) == m["permits_db"]["tables"] == sqlite_run["permits_db"]["tables"]
    # The other outputs do not depend on where the permits went.
    for name, entry in sqlite_run["files"].items():
        if name != "construction_permits.sqlite":
            assert m["files"][name]["sha256"] == entry["sha256"], name
    # Re-running drops and recreates the tables.
    m2 = generate(out, seed=42, size=SMALL, scans=SCANS_SMALL, permits_url=url)
    assert permits_table_digests(url) == m2["permits_db"]["tables"] == m["permits_db"]["tables"]


def test_permits_on_postgresql(make_database, small_runs):
    from sqlalchemy import create_engine, text

    url = make_database("permits")
    _permits_check(url, small_runs)
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            cols = dict(c.execute(text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'xaydung' AND table_name = 'giay_phep'"
            )).all())  # fmt: skip
            assert cols["ngay_cap"] == "date" and cols["last_modified"].startswith("timestamp")
            states = dict(c.execute(text("SELECT trang_thai, count(*) FROM xaydung.giay_phep GROUP BY 1")).all())
            assert "DA_CAP" in states
            n = c.execute(text("SELECT count(*) FROM xaydung.giay_phep_ban_le_ruou")).scalar()
            assert n > 0
    finally:
        engine.dispose()


def test_permits_on_mariadb(small_runs):
    import pymysql
    from sqlalchemy import create_engine, text

    name = f"tthc_test_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root")
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        url = f"{MARIADB_URL}/{name}"
        _permits_check(url, small_runs)
        engine = create_engine(url)
        try:
            with engine.connect() as c:
                rows = c.execute(text("SELECT chu_dau_tu FROM giay_phep WHERE chu_dau_tu <> 'TEST'")).scalars().all()
                assert rows and any(not r.isascii() for r in rows)  # Vietnamese survives utf8mb4
        finally:
            engine.dispose()
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def test_revoked_permits_in_source(demo, gt):
    db = sqlite3.connect(demo / "construction_permits.sqlite")
    try:
        status = {}
        for table in ("giay_phep", "giay_phep_ban_le_ruou"):
            for pk, st in db.execute(f"SELECT id, trang_thai FROM {table}"):
                status[(table, pk)] = st
    finally:
        db.close()
    revoked = 0
    for g in results(gt):
        a = primary(g, "construction_permits")
        if a is None:
            continue
        st = status[(a["table"], a["pk"])]
        assert (st == "THU_HOI") == (g["status"] == "revoked")
        revoked += st == "THU_HOI"
    assert revoked > 0


def test_sqlite_files_are_plain_sqlite(demo):
    for name in ("civil_status.sqlite", "construction_permits.sqlite"):
        db = sqlite3.connect(demo / name)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            db.close()


# ------------------------------------------------------------------ time facts and indicator inputs (issue 5)


def test_ground_truth_says_when_each_result_was_recorded(demo, gt):
    """recorded_at on an appearance is the source row's own timestamp (UPDATED_AT / last_modified)."""
    import sqlite3
    from datetime import datetime

    conn = sqlite3.connect(demo / "civil_status.sqlite")
    civil = dict(conn.execute("SELECT ID, UPDATED_AT FROM SO_HO_TICH"))
    conn.close()
    conn = sqlite3.connect(demo / "construction_permits.sqlite")
    permits = {(t, pk): v for t in ("giay_phep", "giay_phep_ban_le_ruou")
               for pk, v in conn.execute(f"SELECT id, last_modified FROM {t}")}
    conn.close()
    seen = 0
    for g in results(gt):
        for a in g["appears"]:
            if a["source"] == "civil_status":
                assert a["recorded_at"] == civil[a["pk"]]
            elif a["source"] == "construction_permits":
                local = datetime.fromisoformat(a["recorded_at"])
                assert local.utcoffset().total_seconds() == 7 * 3600
                assert local.strftime("%Y-%m-%d %H:%M:%S") == permits[(a["table"], a["pk"])]
            else:
                continue
            seen += 1
            assert a["recorded_at"][:10] >= "1999-01-01"
    assert seen > 800


def test_scans_carry_their_scan_date(demo, gt):
    """scanned_at: in the ground truth, the sidecar manifest, PDF /CreationDate and EXIF DateTime."""
    from datetime import datetime, timezone

    entries = scan_entries(gt)
    with (demo / "scan_drop" / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            assert row["scanned_at"] == entries[row["file_name"]]["scanned_at"]
    kinds = set()
    for name, e in entries.items():
        scanned = datetime.fromisoformat(e["scanned_at"])
        assert scanned.date() >= max(date(2022, 3, 3), date.fromisoformat(e["result"]["issue_date"]))
        path = demo / "scan_drop" / name
        if e["format"] in ("text_pdf", "image_pdf"):
            raw = PdfReader(path).metadata["/CreationDate"]  # D:YYYYMMDDHHmmSS+07'00' or ...Z
            stamp = datetime.strptime(raw[2:16], "%Y%m%d%H%M%S")
            if raw[16:17] == "Z":
                stamp = stamp.replace(tzinfo=timezone.utc)
            else:
                stamp = datetime.fromisoformat(f"{stamp.isoformat()}{raw[16:19]}:{raw[20:22]}")
            assert stamp == scanned, name
        else:
            with Image.open(path) as im:
                assert im.getexif().get(0x0132) == scanned.strftime("%Y:%m:%d %H:%M:%S"), name
        kinds.add(e["format"])
    assert kinds == {"text_pdf", "image_pdf", "jpeg", "tiff", "png"}


def test_one_stop_offices(demo, manifest):
    with (demo / "one_stop_offices.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12 + 141
    assert {r["unit_level"] for r in rows} == {"district", "commune"}
    assert all(r["office"].startswith("Bộ phận Một cửa ") for r in rows)
    started = lambda level, year: sum(  # noqa: E731
        1 for r in rows if r["unit_level"] == level and r["started_digitization_on"]
        and r["started_digitization_on"] <= f"{year}-12-31") / sum(1 for r in rows if r["unit_level"] == level)
    assert started("district", 2022) >= 0.5 and started("district", 2024) == 1.0
    assert 0.3 <= started("commune", 2022) < started("commune", 2023) < started("commune", 2024) < 1.0
    assert all(r["started_digitization_on"] == "" or r["started_digitization_on"] >= "2022-03-03" for r in rows)
    assert manifest["counts"]["sources"]["one_stop_offices"]["commune_offices"] == 141


# ------------------------------------------------------------------ born-digital, signed results (issue 5)

SIGNED_SOURCES = {"civil_status", "construction_permits"}


def _signature_columns(demo: Path) -> dict[tuple[str, int], tuple]:
    """(table, pk) -> (ky_so, file ref) for every row of the civil-status and permit tables."""
    out = {}
    db = sqlite3.connect(demo / "civil_status.sqlite")
    try:
        out.update({("SO_HO_TICH", pk): (k, f) for pk, k, f in db.execute("SELECT ID, KY_SO, FILE_DIEN_TU FROM SO_HO_TICH")})
    finally:
        db.close()
    db = sqlite3.connect(demo / "construction_permits.sqlite")
    try:
        for table in ("giay_phep", "giay_phep_ban_le_ruou"):
            out.update({(table, pk): (k, f) for pk, k, f in db.execute(f"SELECT id, ky_so, file_dien_tu FROM {table}")})
    finally:
        db.close()
    return out


def test_signed_results_from_2022_agree_with_sources(demo, gt, manifest):
    """KY_SO / ky_so and the e-copy reference follow the ground truth on every row (duplicates
    included); nothing issued before 2022 carries a signature; junk rows carry none."""
    cols = _signature_columns(demo)
    seen = set()
    per_year = Counter()
    for g in results(gt):
        year = int(g["issue_date"][:4])
        rows = [a for a in g["appears"] if a["source"] in SIGNED_SOURCES]
        if not rows:  # household business, paper only: never born digital here
            assert g["signed_electronically"] is False and g["e_copy_ref"] is None, g["result_id"]
            continue
        if year < 2022:
            assert g["signed_electronically"] is False and g["e_copy_ref"] is None, g["result_id"]
        per_year[(year, g["signed_electronically"])] += 1
        for a in rows:
            key = (a["table"], a["pk"])
            seen.add(key)
            ky_so, ref = cols[key]
            if year < 2022:
                assert (ky_so, ref) == (None, None), (g["result_id"], key)
            elif g["signed_electronically"]:
                assert str(ky_so) == "1" and ref == g["e_copy_ref"], (g["result_id"], key)
                prefix = "hotich/" if a["source"] == "civil_status" else "xaydung/"
                assert ref.startswith(f"{prefix}{year}/{g['agency_electronic_id']}/") and ref.endswith(".pdf")
            else:
                assert str(ky_so) == "0" and ref is None, (g["result_id"], key)
    assert all(v == (None, None) for k, v in cols.items() if k not in seen), "a junk row carries a signature"
    refs = [g["e_copy_ref"] for g in results(gt) if g["e_copy_ref"]]
    assert len(refs) == len(set(refs)), "two results share one e-copy reference"
    # The manifest counts the same thing, per source and year.
    flaws = manifest["counts"]["flaws"]
    for y in range(2022, 2026):
        eligible = sum(flaws[s].get(f"signing_eligible_{y}", 0) for s in SIGNED_SOURCES)
        signed = sum(flaws[s].get(f"signed_electronically_{y}", 0) for s in SIGNED_SOURCES)
        assert (eligible, signed) == (per_year[(y, True)] + per_year[(y, False)], per_year[(y, True)]), y
    # A realistic share on this small sample: most, not all, are signed.
    signed = sum(v for (y, s), v in per_year.items() if y >= 2022 and s)
    eligible = sum(v for (y, _), v in per_year.items() if y >= 2022)
    assert eligible >= 50 and 0.75 <= signed / eligible < 0.98, (signed, eligible)
    assert manifest["rates"]["signing"] == {"2022": 0.80, "2023": 0.86, "2024": 0.91, "2025": 0.95}


def test_signing_share_rises_by_year_and_starts_in_2022():
    """The per-year draw at scale (the demo is too small to see the slope): ~80 % in 2022 to ~95 % in 2025."""
    from tthc_dev.demo_data.gt import ResultGT
    from tthc_dev.demo_data.sources import RATES, Signing

    signing = Signing(7, "signing")
    share = {}
    for year in (2019, 2021, 2022, 2023, 2024, 2025):
        issue = date(year, 6, 1).toordinal()
        outcomes = [signing({"issue": issue, "year": year}, ResultGT("R1", "{}", paper_only=False, expired=False,
                                                                      revoked=False), "x.pdf") for _ in range(20_000)]
        share[year] = None if outcomes[0] is None else sum(outcomes) / len(outcomes)
        assert all((o is None) == (year < 2022) for o in outcomes)
    last_2021 = Signing(7, "signing")({"issue": date(2021, 12, 31).toordinal(), "year": 2021}, None, "x.pdf")
    assert last_2021 is None
    for year in (2022, 2023, 2024, 2025):
        assert share[year] == pytest.approx(RATES["signing"][str(year)], abs=0.012), (year, share)
    assert share[2022] < share[2023] < share[2024] < share[2025]


def test_signing_has_its_own_stream(small_runs, tmp_path, monkeypatch):
    """Nobody signs (rates 0): every other output is byte-identical, and the signature columns are the only
    difference in the civil-status and permit rows."""
    from tthc_dev.demo_data import sources

    monkeypatch.setitem(sources.RATES, "signing", {"2022": 0.0, "2023": 0.0, "2024": 0.0, "2025": 0.0})
    out = tmp_path / "unsigned"
    m = generate(out, seed=42, size=SMALL, scans=SCANS_SMALL)
    ref = json.loads((small_runs["a"] / "manifest.json").read_text(encoding="utf-8"))
    changed = {n for n, e in m["files"].items() if e["sha256"] != ref["files"][n]["sha256"]}
    assert changed == {"civil_status.sqlite", "construction_permits.sqlite", "ground_truth.jsonl",
                       "e_copies_truth.jsonl"}, changed
    # ... and no signed e-copy is written (the demo CA is the same)
    assert {n for n in ref["files"] if n not in m["files"]} == {n for n in ref["files"] if n.startswith("e_copies/")}
    assert (out / "e_copies_truth.jsonl").read_text() == "" and "e_copies_ca/ca.pem" in m["files"]
    signed_cols = _signature_columns(small_runs["a"])
    unsigned_cols = _signature_columns(out)
    assert signed_cols.keys() == unsigned_cols.keys()
    assert any(str(v[0]) == "1" for v in signed_cols.values())
    assert all(str(v[0]) != "1" and v[1] is None for v in unsigned_cols.values())
    for name, query in (("civil_status.sqlite", "SELECT * FROM SO_HO_TICH ORDER BY ID"),
                        ("construction_permits.sqlite", "SELECT * FROM giay_phep ORDER BY id"),
                        ("construction_permits.sqlite", "SELECT * FROM giay_phep_ban_le_ruou ORDER BY id")):
        rows = []
        for d in (small_runs["a"], out):
            db = sqlite3.connect(d / name)
            try:
                rows.append([r[:-2] for r in db.execute(query)])
            finally:
                db.close()
        assert rows[0] == rows[1], name
    strip = ("signed_electronically", "e_copy_ref")
    a = [{k: v for k, v in g.items() if k not in strip} for g in read_gt(small_runs["a"])]
    b = [{k: v for k, v in g.items() if k not in strip} for g in read_gt(out)]
    assert a == b


def test_e_copies_follow_the_ground_truth(demo, gt, manifest):
    """One e-copy per signed result's reference: signed ones verify against the demo CA; the flawed
    ones are missing, tampered or unsigned as e_copies_truth.jsonl says; the manifest counts them."""
    from tthc.scans.legal import verify_signatures

    truth = [json.loads(x) for x in (demo / "e_copies_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    by_ref = {g["e_copy_ref"]: g["result_id"] for g in results(gt) if g["e_copy_ref"]}
    assert {t["e_copy_ref"]: t["result_id"] for t in truth} == by_ref
    states = Counter(t["state"] for t in truth)
    assert manifest["counts"]["sources"]["e_copies"] == {k: states.get(k, 0)
                                                         for k in ("signed", "missing", "tampered", "unsigned")}
    assert min(states["missing"], states["tampered"], states["unsigned"]) >= 1 and states["signed"] > 10 * 3
    ca = [demo / "e_copies_ca" / "ca.pem"]
    expected = {"signed": "valid", "tampered": "invalid", "unsigned": "unsigned"}
    seen = Counter()
    for t in truth:
        path = demo / "e_copies" / t["e_copy_ref"]
        assert path.exists() == (t["state"] != "missing"), t
        if t["state"] == "missing" or seen[t["state"]] >= 5:
            continue
        seen[t["state"]] += 1
        check = verify_signatures(path.read_bytes(), ca)
        assert check.status == expected[t["state"]], (t, check.detail)
        if t["state"] == "tampered":
            assert "tampered" in check.detail
