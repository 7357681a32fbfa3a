"""Field extraction from scans (tthc.scans.fields), against real generated scans and noisy text.

The drop comes from the demo-data generator (seed 7, 300 results, 24 scan files); its
ground_truth.jsonl says what each scan shows. Text-layer PDFs are read with pypdf and must
give every field exactly; a handful of image scans (<= 6 pages) go through real Tesseract
(`vie`), with Tesseract's own orientation detection, and must give the key fields on most
pages (threshold below).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from tthc.paths import seeds_dir
from tthc.scans.fields import ExtractedFields, FieldGuess, RulesError, extract_fields, fold, load_rules

OCR_MAX_PAGES = 6
# Image scans: at least this share of pages (5 of 6) must give ALL key fields exactly, and
# the document type must be right on all but at most one page. Measured: 45 of 45 image
# pages of two generated drops are right (docs/scan_fields_and_legal.md); the slack is
# for Tesseract / generator rendering changes, not for flakiness (OCR is deterministic).
OCR_MIN_PAGE_SHARE = 0.8
KEY_FIELDS = ("doc_number", "issue_date", "holder_name", "holder_id")
MEDIA = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".png": "image/png", ".tif": "image/tiff"}


def dmy(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    from tthc_dev.demo_data import generate

    out = tmp_path_factory.mktemp("scans") / "demo"
    generate(out, seed=7, size=300, scans=24)
    rows = [json.loads(line) for line in (out / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    scans = [(r, a) for r in rows if r["kind"] == "result" for a in r["appears"] if a["source"] == "scan_drop"]
    return out, scans


@pytest.fixture(scope="module")
def agencies():
    with (seeds_dir() / "agencies.csv").open(encoding="utf-8") as fh:
        return {row["electronic_id"]: row for row in csv.DictReader(fh)}


def expected_fields(r: dict) -> dict[str, str]:
    """The fields a scan of result ``r`` prints, as printed."""
    proc = r["procedure_code"]
    exp = {"doc_number": r["number"], "issue_date": dmy(r["issue_date"]), "holder_name": r["name"]}
    if r.get("book"):
        exp["doc_book"] = r["book"]
    if proc != "DKDN":
        exp["holder_id"] = r["person_id"]
    if proc in ("KS", "KT", "XNHN", "KH"):
        exp["holder_birth_date"] = dmy(r["birth_date"])
    if proc == "KH":
        exp.update(holder2_name=r["name_2"], holder2_id=r["person_id_2"], holder2_birth_date=dmy(r["birth_date_2"]))
    if r.get("business_name"):
        exp["business_name"] = r["business_name"]
    if r.get("mst"):
        exp["tax_code"] = r["mst"]
    if r.get("address"):
        exp["address"] = r["address"]
    if r.get("valid_until") and proc in ("XNHN", "HKD", "BLR", "ATTP"):
        exp["valid_until"] = dmy(r["valid_until"])
    return exp


def check_agency(res: ExtractedFields, r: dict, agencies: dict) -> None:
    ag = agencies[r["agency_electronic_id"]]
    body = res.fields["issuing_body"].value
    if ag["level"] == "district":  # district committees print their name of the time (renames)
        assert fold(body).startswith("uy ban nhan dan "), body
    else:
        assert fold(body) == fold(ag["name_vi"]), (body, ag["name_vi"])
    if ag["level"] == "commune":  # "Nơi đăng ký: Ủy ban nhân dân xã X, huyện Y, tỉnh Đồng Tháp"
        unit = res.fields["unit_name"].value
        assert fold(unit).startswith(fold(ag["name_vi"]) + ","), (unit, ag["name_vi"])
        assert unit.endswith("tỉnh Đồng Tháp"), unit


# ------------------------------------------------------------------ real text-layer scans


def test_text_layer_scans_give_every_field(drop, agencies):
    out, scans = drop
    text_scans = [(r, a) for r, a in scans if a["text_layer"]]
    assert len(text_scans) >= 2, "the drop should hold text-layer PDFs"
    for r, a in text_scans:
        pages = [p.extract_text() for p in PdfReader(out / "scan_drop" / a["file"]).pages]
        res = extract_fields(pages)
        assert res.document_type is not None and res.document_type.value == r["procedure_code"], a["file"]
        assert res.missing_required == [], (a["file"], res.missing_required)
        got = {k: g.value for k, g in res.fields.items()}
        for k, v in expected_fields(r).items():
            assert got.get(k) == v, (a["file"], k, got.get(k), v)
        check_agency(res, r, agencies)
        assert res.confidence >= 0.95, (a["file"], res.as_dict())
        json.dumps(res.as_dict(), ensure_ascii=False)  # JSON-able for the pipeline's jsonb column


def _render_like_generator(r: dict, agencies: dict) -> bytes:
    """A text-layer PDF of result ``r`` printed by the generator's own page layout (tthc_dev.demo_data.scans)."""
    from types import SimpleNamespace

    from tthc_dev.demo_data import scans as S

    ag = agencies[r["agency_electronic_id"]]
    commune_name = ag["name_vi"].split(" nhân dân ", 1)[1] if ag["level"] == "commune" else "Xã Thử"

    class Namer:
        @staticmethod
        def agency_name(agency, year):
            return agency.name

        @staticmethod
        def district_name(code, year):
            return "Huyện Cao Lãnh", False

    def person(name, birth, pid):
        return {"name": name, "gender": r.get("gender") or "M", "birth": dt.date.fromisoformat(birth).toordinal(),
                "pid": pid, "pid_kind": "cccd" if len(pid) == 12 else "cmnd"}

    issue = dt.date.fromisoformat(r["issue_date"])
    rec = {
        "year": issue.year, "proc": r["procedure_code"], "number": r["number"], "book": r.get("book"),
        "issue": issue.toordinal(), "agency": SimpleNamespace(name=ag["name_vi"], level=ag["level"]),
        "commune": SimpleNamespace(name=commune_name[0].upper() + commune_name[1:], district_code=int(r["unit"].get("district_code") or 0)),
        "person": person(r["name"], r["birth_date"], r["person_id"]),
        "business_name": r.get("business_name"), "mst": r.get("mst"), "address": r.get("address"),
        "trade": "Bán lẻ", "area": "120.5", "floors": 2,
        "valid_until": dt.date.fromisoformat(r["valid_until"]).toordinal() if r.get("valid_until") else None,
    }
    if r.get("name_2"):
        rec["person2"] = person(r["name_2"], r["birth_date_2"], r["person_id_2"])
    return S.text_pdf_bytes(S.page_lines(rec, Namer, "Đồng Tháp"), signer="Nguyễn Văn Ký")


def test_every_document_type_in_generator_layout(drop, agencies):
    """One result of each procedure in the ground truth, printed with the generator's page layout."""
    from io import BytesIO

    _, scans = drop
    out_dir = drop[0]
    rows = [json.loads(line) for line in (out_dir / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    first: dict[str, dict] = {}
    for r in rows:
        if r["kind"] == "result" and r.get("person_id") and r["procedure_code"] not in first:
            if r["procedure_code"] == "KH" and not r.get("person_id_2"):
                continue
            first[r["procedure_code"]] = r
    # Structured sources hold these seven; ATTP and DKDN exist only on paper (when scanned).
    assert {"KS", "KH", "KT", "XNHN", "HKD", "GPXD", "BLR"} <= set(first), sorted(first)
    for code, r in sorted(first.items()):
        pdf = _render_like_generator(r, agencies)
        pages = [p.extract_text() for p in PdfReader(BytesIO(pdf)).pages]
        res = extract_fields(pages)
        assert res.document_type and res.document_type.value == code, (code, pages[0][:300])
        assert res.missing_required == [], (code, res.missing_required)
        got = {k: g.value for k, g in res.fields.items()}
        for k, v in expected_fields(r).items():
            assert got.get(k) == v, (code, k, got.get(k), v)
        assert fold(res.fields["issuing_body"].value) == fold(agencies[r["agency_electronic_id"]]["name_vi"])
        assert res.confidence == 1.0, (code, res.as_dict())


# ------------------------------------------------------------------ real OCR (Tesseract vie)


def _pick_ocr_pages(scans: list) -> list:
    """Up to OCR_MAX_PAGES image scans: a rotated one, every format, then other procedures; deterministic."""
    images = sorted(((r, a) for r, a in scans if not a["text_layer"]), key=lambda x: x[1]["file"])
    picked: list = []

    def take(pred):
        for item in images:
            if item not in picked and pred(item) and len(picked) < OCR_MAX_PAGES:
                picked.append(item)
                return

    take(lambda x: x[1]["rotation"] in (90, 270))
    for fmt in ("image_pdf", "jpeg", "tiff", "png"):
        if not any(a["format"] == fmt for _, a in picked):
            take(lambda x, f=fmt: x[1]["format"] == f)
    for _ in range(OCR_MAX_PAGES):
        done = {r["procedure_code"] for r, _ in picked}
        take(lambda x: x[0]["procedure_code"] not in done)
    while len(picked) < min(OCR_MAX_PAGES, len(images)):
        take(lambda x: True)
    return picked


def ocr_scan(path: Path, tmp: Path) -> tuple[str, float, int]:
    """(text, mean word confidence, rotation applied) of page 1 of a scan, with real Tesseract."""
    import pytesseract
    from PIL import Image

    from tthc.scans.legal import inspect_copy

    data = path.read_bytes()
    q = inspect_copy(data, MEDIA[path.suffix])
    dpi = q.min_dpi or 300
    if path.suffix == ".pdf":
        # Render at the scan's own resolution: upsampling a 150-dpi scan to 300 dpi blurs it for Tesseract.
        subprocess.run(["pdftoppm", "-r", str(round(dpi)), "-gray", "-singlefile", "-f", "1", "-l", "1",
                        str(path), str(tmp / "page")], check=True)
        img = Image.open(tmp / "page.pgm")
    else:
        img = Image.open(path)
    img.load()
    # Orientation (OSD) at >= 150 dpi; halve 300-dpi pages for speed.
    osd_img = img.reduce(2) if dpi >= 300 else img
    osd = pytesseract.image_to_osd(osd_img, config="--psm 0 -c min_characters_to_try=20")
    rotate = int(next(line for line in osd.splitlines() if line.startswith("Rotate:")).split(":")[1])
    if rotate:
        img = img.rotate(-rotate, expand=True)
    text, tsv = pytesseract.run_and_get_multiple_output(img, extensions=["txt", "tsv"], lang="vie")
    confs = []
    for line in tsv.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) >= 12 and cols[11].strip() and float(cols[10]) >= 0:
            confs.append(float(cols[10]))
    return text, (sum(confs) / len(confs) if confs else 0.0), rotate


def test_ocr_scans_give_key_fields(drop, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")  # 2 shared cores: no OpenMP oversubscription
    out, scans = drop
    picked = _pick_ocr_pages(scans)
    assert len(picked) == OCR_MAX_PAGES
    assert any(a["rotation"] in (90, 270) for _, a in picked), "the pick should include a page fed sideways"
    report, pages_ok, type_ok = [], 0, 0
    for i, (r, a) in enumerate(picked):
        work = tmp_path / str(i)
        work.mkdir()
        text, ocr_conf, rotate = ocr_scan(out / "scan_drop" / a["file"], work)
        # Tesseract's orientation detection undoes the generator's 90/270-degree feeds.
        assert rotate == a["rotation"], (a["file"], rotate, a["rotation"])
        res = extract_fields([text], {"ocr_confidence": ocr_conf})
        got = {k: g.value for k, g in res.fields.items()}
        exp = {k: v for k, v in expected_fields(r).items() if k in KEY_FIELDS}
        wrong = {k: (got.get(k), v) for k, v in exp.items() if got.get(k) != v}
        is_type = res.document_type is not None and res.document_type.value == r["procedure_code"]
        type_ok += is_type
        pages_ok += is_type and not wrong
        report.append((a["file"], a["format"], a["dpi"], a["rotation"], round(ocr_conf), res.confidence, wrong))
        # Confidence carries the OCR hint: never above the OCR factor.
        assert all(g.confidence <= 0.5 + 0.5 * ocr_conf / 100 + 1e-4 for g in res.fields.values())
    print("OCR pages:", *report, sep="\n  ")
    assert type_ok >= len(picked) - 1, report
    assert pages_ok >= math.ceil(OCR_MIN_PAGE_SHARE * len(picked)), report


# ------------------------------------------------------------------ noisy text (unit tests)

KS_CLEAN = """CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
ỦY BAN NHÂN DÂN XÃ TÂN DƯƠNG
GIẤY KHAI SINH
Số: 330/2010
Quyển số: 02
Họ và tên: Lưu Thành Hùng
Giới tính: Nam
Ngày sinh: 21/03/2001
Số định danh cá nhân: 087201856100
Nơi đăng ký: Ủy ban nhân dân xã Tân Dương, huyện Lai Vung, tỉnh Đồng
Tháp
Ngày cấp: 05/10/2010
Cơ quan cấp: Ủy ban nhân dân xã Tân Dương
TM. ỦY BAN NHÂN DÂN
Nguyễn Quốc Phước
"""


def values(res: ExtractedFields) -> dict[str, str]:
    return {k: g.value for k, g in res.fields.items()}


def test_clean_page_exact_confidence():
    res = extract_fields([KS_CLEAN])
    assert res.document_type == FieldGuess("KS", 1.0, "title_exact")
    assert values(res) == {
        "doc_number": "330/2010", "doc_book": "02", "issue_date": "05/10/2010",
        "issuing_body": "Ủy ban nhân dân xã Tân Dương", "holder_name": "Lưu Thành Hùng",
        "holder_id": "087201856100", "holder_birth_date": "21/03/2001",
        "unit_name": "Ủy ban nhân dân xã Tân Dương, huyện Lai Vung, tỉnh Đồng Tháp", "gender": "Nam",
    }
    assert res.confidence == 1.0 and res.missing_required == []
    assert all(g.rule.startswith("label_exact") for g in res.fields.values())


def test_missing_diacritics_semicolons_case_and_spaces():
    noisy = """CONG HOA XA HOI CHU NGHIA VIET NAM
UY BAN NHAN DAN XA TAN DUONG
GIAY KHAI SINH
SO ; 330/2010
QUYỂN  SỐ:02
HỌ   VÀ  TÊN :  Lưu   Thành  Hùng
Ngay sinh; 21/03/2001
So dinh danh ca nhan: 087 201 856 100
Noi dang ky: Ủy ban nhân dân xã Tân Dương, huyện Lai Vung, tỉnh Đồng Tháp
Ngay cap: 05/10/2010
Co quan cap: Ủy ban nhân dân xã Tân Dương
"""
    res = extract_fields([noisy])
    assert res.document_type.value == "KS" and res.document_type.rule == "title_folded"
    v = values(res)
    assert v["doc_number"] == "330/2010" and v["doc_book"] == "02"
    assert v["holder_name"] == "Lưu Thành Hùng"          # whitespace normalized
    assert v["holder_id"] == "087201856100"              # digit groups joined
    assert v["issue_date"] == "05/10/2010" and v["holder_birth_date"] == "21/03/2001"
    assert res.fields["doc_number"].rule == "label_folded"
    assert res.fields["holder_name"].rule == "label_exact"   # case and spaces are no mistake
    assert res.fields["holder_birth_date"].confidence == 0.9  # no diacritics, ';'
    assert res.missing_required == []
    assert 0.8 <= res.confidence < 1.0


def test_ocr_letter_digit_confusion_is_repaired_with_lower_confidence():
    text = KS_CLEAN.replace("Số: 330/2010", "Số: 33O/2Ol0").replace("087201856100", "O872Ol856lOO") \
        .replace("Ngày cấp: 05/10/2010", "Ngày cấp: O5/1O/2O1O.")
    res = extract_fields([text])
    assert res.fields["doc_number"].value == "330/2010"
    assert res.fields["holder_id"].value == "087201856100"
    assert res.fields["issue_date"].value == "05/10/2010"
    assert "+digit_fix" in res.fields["doc_number"].rule
    assert res.fields["doc_number"].confidence < res.fields["doc_book"].confidence == 1.0


def test_broken_lines_missing_colon_and_fuzzy_labels():
    text = """GIẤY KHAI SINH
Số: 330/2010
Quyển số: 02
Họ và tên:
Lưu Thành Hùng
Ngày sinh 21/03/2001
Sổ đinh danh cá nhăn: 087201856100
Nơi đăng ký: Ủy ban nhân dân xã Tân Dương, huyện Lai Vung, tỉnh Đồng
Tháp
Ngày cấp 05/10/2010
Cơ quan cấp: Ủy ban nhân dân xã Tân Dương
"""
    res = extract_fields([text])
    v = values(res)
    assert v["holder_name"] == "Lưu Thành Hùng" and "+next_line" in res.fields["holder_name"].rule
    assert v["holder_birth_date"] == "21/03/2001" and res.fields["holder_birth_date"].rule.startswith("label_no_separator")
    assert v["issue_date"] == "05/10/2010"
    assert v["holder_id"] == "087201856100"
    assert v["unit_name"].endswith("tỉnh Đồng Tháp")
    exact = res.fields["doc_number"].confidence
    assert exact > res.fields["holder_birth_date"].confidence  # no separator scores lower


def test_fallbacks_agency_header_and_date_in_words():
    text = """CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
ỦY BAN NHÂN DÂN
XÃ TÂN DƯƠNG
TRÍCH LỤC KHAI TỬ
Số: 12/2019
Quyển số: 01
Họ và tên người chết: Lê Văn Tám
Nơi đăng ký: Ủy ban nhân dân xã Tân Dương
Tân Dương, ngày 3 tháng 4 năm 2019
"""
    res = extract_fields([text])
    assert res.document_type.value == "KT"
    # The agency block and the registration place name the same committee: they confirm each other.
    assert res.fields["issuing_body"] == FieldGuess("ỦY BAN NHÂN DÂN XÃ TÂN DƯƠNG", 0.9,
                                                    "agency_header+agrees_with_unit_name")
    assert res.fields["issue_date"].value == "ngày 3 tháng 4 năm 2019"
    assert res.fields["issue_date"].rule == "date_words"
    assert res.fields["holder_name"].value == "Lê Văn Tám"
    assert res.confidence == 0.7 and res.missing_required == []


def test_marriage_certificate_assigns_both_spouses():
    text = """GIẤY CHỨNG NHẬN KẾT HÔN
Số: 73/2020
Quyển số: 01
Họ và tên chồng: Nguyễn Thành Hải
Ngày sinh: 14/04/1981
Số CMND: 397114448
Họ và tên vợ: Phan Thu Lan
Ngày sinh: 28/01/1999
Số định danh cá nhân: 086199522872
Nơi đăng ký: Ủy ban nhân dân xã Mỹ Hội
Ngày cấp: 03/03/2020
Cơ quan cấp: Ủy ban nhân dân xã Mỹ Hội
"""
    v = values(extract_fields([text]))
    assert (v["holder_name"], v["holder_birth_date"], v["holder_id"]) == ("Nguyễn Thành Hải", "14/04/1981", "397114448")
    assert (v["holder2_name"], v["holder2_birth_date"], v["holder2_id"]) == ("Phan Thu Lan", "28/01/1999", "086199522872")


def test_business_page_tax_code_and_wrapped_address():
    text = """ỦY BAN NHÂN DÂN HUYỆN CAO LÃNH
GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH
Số: 31/2013/DKHKD
Tên hộ kinh doanh: Tiệm may Sen Hồng
Chủ hộ: Lê Tuyết Phượng
Số CMND: 356989625
Mã số thuế: 8688283164
Ngành nghề kinh doanh: May mặc
Địa chỉ: Ấp 2, Xã Phương Thịnh, huyện Cao Lãnh, tỉnh Đồng
Tháp
Ngày cấp: 13/12/2013
Cơ quan cấp: Ủy ban nhân dân huyện Cao Lãnh
TM. ỦY BAN NHÂN DÂN
"""
    res = extract_fields([text])
    v = values(res)
    assert res.document_type.value == "HKD"
    assert v["business_name"] == "Tiệm may Sen Hồng" and v["holder_name"] == "Lê Tuyết Phượng"
    assert v["address"] == "Ấp 2, Xã Phương Thịnh, huyện Cao Lãnh, tỉnh Đồng Tháp"
    assert v["tax_code"] == "8688283164"
    assert "+bad_checksum" in res.fields["tax_code"].rule   # printed as is, flagged by its check digit
    assert res.fields["tax_code"].confidence == 0.85
    assert "unit_name" not in v


def test_ocr_hint_scales_confidence_and_missing_required():
    res = extract_fields([KS_CLEAN], {"ocr_confidence": 60})
    assert res.fields["doc_number"].confidence == pytest.approx(0.8)
    assert res.confidence == pytest.approx(0.8)
    partial = extract_fields(["GIẤY KHAI SINH\nSố: 330/2010\nHọ và tên: Lưu Thành Hùng\n"])
    assert set(partial.missing_required) == {"doc_book", "issue_date", "issuing_body", "holder_birth_date", "unit_name"}
    assert partial.confidence == 0.0
    d = partial.as_dict()
    assert d["missing_required"] == partial.missing_required and d["document_type"]["value"] == "KS"
    json.dumps(d)


def test_unknown_type_uses_hint_or_reports_none():
    body = "Số: 12/2019\nHọ và tên: Lê Văn Tám\n"
    none = extract_fields([body])
    assert none.document_type is None and none.confidence == 0.0
    assert none.fields["doc_number"].value == "12/2019"
    hinted = extract_fields([body], {"procedure_code": "KT"})
    assert hinted.document_type == FieldGuess("KT", 0.6, "hint")
    assert extract_fields([]).fields == {}


def test_name_with_speck_punctuation_and_trailing_debris():
    text = KS_CLEAN.replace("Họ và tên: Lưu Thành Hùng", "Họ và tên: Lưu Thành.Hùng ~").replace("Số: 330/2010", "Số: 330/2010 _ :")
    v = values(extract_fields([text]))
    assert v["holder_name"] == "Lưu Thành Hùng" and v["doc_number"] == "330/2010"


# ------------------------------------------------------------------ rules file


def test_rules_file_loads_and_covers_all_procedures():
    import yaml

    rules = load_rules()
    procs = {p["code"] for p in yaml.safe_load((seeds_dir() / "procedures.yaml").read_text(encoding="utf-8"))["procedures"]}
    assert set(rules["document_types"]) == procs


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda d: d.pop("fields"), "fields"),
        (lambda d: d["document_types"]["KS"]["required"].append("nonsense"), "document_types.KS.required[7]"),
        (lambda d: d["formats"]["date"].update(patterns=["(unclosed"]), "formats.date.patterns[0]"),
        (lambda d: d["fields"]["doc_number"].update(format="roman"), "fields.doc_number.format"),
        (lambda d: d["document_types"]["KH"]["anchors"]["holder2_id"].update(after="spouse"), "document_types.KH.anchors.holder2_id.after"),
        (lambda d: d["confidence"]["label"].update(exact=1.5), "confidence.label.exact"),
        (lambda d: d["confirmation"]["key_fields"].append("shoe_size"), "confirmation.key_fields[7]"),
        (lambda d: d["document_types"]["KH"]["rows"][0]["fields"].append("spouse"), "document_types.KH.rows[0].fields"),
        (lambda d: d["settings"].update(date_words=["ngày", "tháng"]), "settings.date_words"),
    ],
)
def test_malformed_rules_name_file_and_key(tmp_path, mutate, key):
    import yaml

    data = yaml.safe_load((seeds_dir() / "scan_fields.yaml").read_text(encoding="utf-8"))
    mutate(data)
    bad = tmp_path / "bad_rules.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RulesError) as exc:
        load_rules(bad)
    assert str(bad) in str(exc.value) and key in str(exc.value)


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("fields: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesError, match="broken.yaml: not valid YAML"):
        load_rules(bad)
    with pytest.raises(RulesError, match="nope.yaml"):
        load_rules(tmp_path / "nope.yaml")


# ------------------------------------------------------------------ rules cache and speed


def test_edited_rules_file_is_reloaded_with_its_titles_and_labels(tmp_path):
    """The prepared titles/labels are cached per rules load (path + mtime): an edit must show."""
    import os

    import yaml

    data = yaml.safe_load((seeds_dir() / "scan_fields.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    text = "GIẤY CHỨNG NHẬN THỬ NGHIỆM\nSố hiệu văn bản: 12/2020\nHọ và tên: Trần Văn Bình"
    first = extract_fields([text], {"rules_path": str(path)})
    assert first.document_type is None and "doc_number" not in first.fields
    data["document_types"]["KS"]["titles"].append("Giấy chứng nhận thử nghiệm")
    data["fields"]["doc_number"]["labels"].append("Số hiệu văn bản")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    second = extract_fields([text], {"rules_path": str(path)})
    assert second.document_type.value == "KS" and second.document_type.rule == "title_exact"
    assert second.fields["doc_number"] == FieldGuess("12/2020", 1.0, "label_exact")
    assert second.fields["holder_name"].value == "Trần Văn Bình"


def test_fuzzy_title_and_label_still_found_after_exact_lookup():
    """Exact/folded matching is a table lookup now; OCR-garbled titles and labels must still fall
    back to the fuzzy match."""
    text = "GIAY KHAl SlNH\nSo: 12/2015\nHo va tenn: Nguyen Van An\nNgày sinh: 01/02/2015"
    got = extract_fields([text])
    assert got.document_type.value == "KS" and got.document_type.rule == "title_fuzzy"
    assert got.fields["holder_name"].value == "Nguyen Van An" and got.fields["holder_name"].rule == "label_fuzzy"
    assert got.fields["doc_number"].value == "12/2015"


def test_field_extraction_throughput():
    """Field extraction must not be the bottleneck of text-layer intake (goal: >= 200 pages/s end to
    end, PDFium alone does ~250-450 pages/s here); it did ~9-20 pages/s before the rules were
    prepared once per load. 200 pages/s for extraction alone leaves a wide margin for a busy machine."""
    import time

    pages = _bench_pages(200)
    extract_fields([pages[0]])  # rules load and preparation are once per file, not per page
    started = time.perf_counter()
    results = [extract_fields([p]) for p in pages]
    rate = len(pages) / (time.perf_counter() - started)
    assert all(r.document_type.value == "KS" and r.confidence > 0.9 for r in results)
    assert rate >= 200, f"extract_fields ran at {rate:.0f} pages/s"


def _bench_pages(n: int) -> list[str]:
    import random

    rng = random.Random(3)
    names = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hữu Cường", "Phạm Ngọc Hà"]
    pages = []
    for i in range(n):
        year = rng.randint(1996, 2021)
        pages.append("\n".join([
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "ỦY BAN NHÂN DÂN XÃ TÂN PHƯỚC",
            "GIẤY KHAI SINH", f"Số: {rng.randint(1, 400)}/{year}", "Quyển số: 01", f"Họ và tên: {rng.choice(names)}",
            "Giới tính: Nam", f"Ngày sinh: 0{rng.randint(1, 9)}/0{rng.randint(1, 9)}/{year}",
            f"Số định danh cá nhân: 0873{year % 100:02d}{rng.randint(0, 999999):06d}",
            "Nơi đăng ký: Ủy ban nhân dân xã Tân Phước, huyện Lai Vung, tỉnh", "Đồng Tháp",
            f"Ngày cấp: 1{rng.randint(0, 9)}/0{rng.randint(1, 9)}/{year}", "Cơ quan cấp: Ủy ban nhân dân xã Tân Phước",
            "TM. ỦY BAN NHÂN DÂN", "Nguyễn Văn Bình"]))
    return pages


# ------------------------------------------------------------------ official 2020 forms, layout, precision

KS_2020 = ("UBND HUYỆN HỒNG NGỰ\tCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
           "UBND XÃ THƯỜNG THỚI TIỀN\tĐộc lập - Tự do - Hạnh phúc\n"
           "Số: 309/2024\tQuyển số: 02\n"
           "GIẤY KHAI SINH\n"
           "Họ, chữ đệm, tên: Trần Gia Bảo\n"
           "Ngày, tháng, năm sinh: 05/03/2024\n"
           "Giới tính: Nam\tDân tộc: Kinh\tQuốc tịch: Việt Nam\n"
           "Số định danh cá nhân: 087224001234\n"
           "Họ, chữ đệm, tên người mẹ: Nguyễn Thị Hoa\tNăm sinh: 1995\n"
           "Họ, chữ đệm, tên người cha: Trần Văn Hải\tNăm sinh: 1990\n"
           "Người đi đăng ký khai sinh: Lê Thị Út\n"
           "Nơi đăng ký khai sinh: Ủy ban nhân dân xã Thường Thới Tiền, huyện Hồng Ngự, tỉnh Đồng Tháp\n"
           "Ngày, tháng, năm đăng ký: ngày 31 tháng 8 nắm 2024\n")


def test_official_2020_birth_form_columns_and_other_people():
    res = extract_fields([KS_2020])
    v = values(res)
    assert res.document_type.value == "KS" and res.missing_required == []
    assert (v["doc_number"], v["doc_book"]) == ("309/2024", "02")      # two labels on one line, two fields
    assert v["holder_name"] == "Trần Gia Bảo" and res.fields["holder_name"].rule == "label_exact"
    assert (v["mother_name"], v["father_name"], v["declarant_name"]) == ("Nguyễn Thị Hoa", "Trần Văn Hải", "Lê Thị Út")
    assert v["holder_birth_date"] == "05/03/2024" and v["holder_id"] == "087224001234"
    assert (v["gender"], v["ethnicity"], v["nationality"]) == ("Nam", "Kinh", "Việt Nam")
    # The agency block's last tier, beside the motto, abbreviation expanded; the place agrees with it.
    assert v["issuing_body"] == "Ủy ban nhân dân XÃ THƯỜNG THỚI TIỀN"
    assert res.fields["issuing_body"].rule == "agency_header+agrees_with_unit_name"
    # A date in words with an OCR slip in its fixed words, in the template's words again.
    assert v["issue_date"] == "ngày 31 tháng 8 năm 2024" and "+words_fixed" in res.fields["issue_date"].rule


@pytest.mark.parametrize("line", ["Số: 309/2024    Quyển số: 02", "Số: 309/2024 Quyển số: 02", "Số: 309/2024\tQuyển số: 02"])
def test_number_and_book_on_one_line_give_two_fields(line):
    v = values(extract_fields([KS_2020.replace("Số: 309/2024\tQuyển số: 02", line)]))
    assert (v["doc_number"], v["doc_book"]) == ("309/2024", "02")


@pytest.mark.parametrize("mother", ["Họ và tên mẹ: Nguyễn Thị Hoa", "Họ và tên mẹ Nguyễn Thị Hoa",
                                    "Ho va ten me: Nguyễn Thị Hoa", "Họ, chữ đệm, tên người mẹ: Nguyễn Thị Hoa",
                                    "Họ và tèn mẹ: Nguyễn Thị Hoa"])
def test_the_mothers_label_is_never_the_holder(mother):
    """The holder's label is unreadable: the mother's name (exact, folded, fuzzy, no colon) is never taken."""
    page = KS_2020.replace("Họ, chữ đệm, tên: Trần Gia Bảo\n", "").replace(
        "Họ, chữ đệm, tên người mẹ: Nguyễn Thị Hoa", mother)
    res = extract_fields([page])
    assert "holder_name" not in res.fields, res.fields.get("holder_name")
    assert "holder_name" in res.missing_required and res.confidence == 0.0


def test_issuing_body_derived_from_the_place_when_the_header_is_unreadable():
    page = KS_2020.replace("UBND HUYỆN HỒNG NGỰ\t", "").replace("UBND XÃ THƯỜNG THỚI TIỀN\t", "")
    res = extract_fields([page])
    assert res.fields["issuing_body"] == FieldGuess("Ủy ban nhân dân xã Thường Thới Tiền", 0.7, "derived_from_unit_name")
    assert res.missing_required == []


KH_2020 = ("UBND HUYỆN LAI VUNG\tCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nUBND XÃ TÂN DƯƠNG\tĐộc lập - Tự do - Hạnh phúc\n"
           "Số: 73/2020\tQuyển số: 01\nGIẤY CHỨNG NHẬN KẾT HÔN\nThông tin\tChồng\tVợ\n"
           "Họ, chữ đệm, tên:\tNguyễn Thành Hải\tPhan Thu Lan\n"
           "Ngày, tháng, năm sinh:\t14/04/1981\t28/01/1999\n"
           "Số định danh cá nhân:\t087081114448\t087199522872\n"
           "Nơi đăng ký: Ủy ban nhân dân xã Tân Dương, huyện Lai Vung, tỉnh Đồng Tháp\n"
           "Ngày, tháng, năm đăng ký: ngày 03 tháng 03 năm 2020\n")


def test_marriage_table_columns_give_each_spouse():
    res = extract_fields([KH_2020])
    v = values(res)
    assert (v["holder_name"], v["holder_birth_date"], v["holder_id"]) == ("Nguyễn Thành Hải", "14/04/1981", "087081114448")
    assert (v["holder2_name"], v["holder2_birth_date"], v["holder2_id"]) == ("Phan Thu Lan", "28/01/1999", "087199522872")
    assert res.fields["holder_name"].rule == "label_exact+column" and res.missing_required == []


def test_marriage_table_row_read_as_one_line_gives_no_names():
    """Columns lost (a run-on line, or a speck between them): no name made of both spouses' names."""
    for row in ("Họ, chữ đệm, tên: Nguyễn Thành Hải Phan Thu Lan", "Họ, chữ đệm, tên:\tNguyễn Thành Hải\tX\tPhan Thu Lan"):
        res = extract_fields([KH_2020.replace("Họ, chữ đệm, tên:\tNguyễn Thành Hải\tPhan Thu Lan", row)])
        assert "holder_name" not in res.fields and "holder2_name" not in res.fields, row


def test_marriage_table_lone_lower_case_speck_is_no_column():
    """A speck read as a lone small or accented letter ("ị", "l", "Ỗ") between the label and the names
    is no column: the row still gives each spouse. A plain capital there still blocks the row (above)."""
    for speck in ("ị", "l", "Ỗ"):
        row = f"Họ, chữ đệm, tên:\t{speck}\tNguyễn Thành Hải\tPhan Thu Lan"
        v = values(extract_fields([KH_2020.replace("Họ, chữ đệm, tên:\tNguyễn Thành Hải\tPhan Thu Lan", row)]))
        assert (v["holder_name"], v["holder2_name"]) == ("Nguyễn Thành Hải", "Phan Thu Lan"), speck


def test_label_with_one_garbled_inner_word_is_a_fuzzy_hit_never_another_persons():
    """"Họ, chữ at, tên" is the holder's label with its middle word garbled: read, as a fuzzy label
    (lower confidence). The same garble on the mother's label never gives the holder, and two
    garbled words, or a garbled first or last word beside it, are no match."""
    page = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nGIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN\nSố: 324/2019\tQuyển số: 02\n"
            "{label}: Lê Trung Duy\nNgày, tháng, năm sinh: 15/03/1991\nSố định danh cá nhân: 087091597391\n"
            "Nơi đăng ký: Ủy ban nhân dân xã Tân Hòa, huyện Thanh Bình, tỉnh Đồng Tháp\n")
    res = extract_fields([page.format(label="Họ, chữ at, tên")])
    assert res.fields["holder_name"].value == "Lê Trung Duy" and res.fields["holder_name"].rule == "label_fuzzy"
    assert res.fields["holder_name"].confidence < 1
    for label in ("Họ, chữ at, tên người mẹ", "Họ, chữ đệm, tên người mẹ", "Họ, xy at, tên", "Hà, chữ at, tên",
                  "Họ, chữ at, tàn"):
        assert "holder_name" not in extract_fields([page.format(label=label)]).fields, label


def test_confirmation_rules():
    from tthc.scans.confirm import confirmation_problems

    res = extract_fields([KS_2020])
    stored = {k: (g.value, g.rule) for k, g in res.fields.items()} | {"document_type": ("KS", "title_exact")}
    assert confirmation_problems("KS", res.required, stored) == []
    fuzzy = dict(stored, holder_name=("Trần Gia Bảo", "label_fuzzy"))
    assert "holder_name 'Trần Gia Bảo' not confirmed" in confirmation_problems("KS", res.required, fuzzy)[0]
    wrong_id = dict(stored, holder_id=("087195001234", "label_exact"))          # born 1995 by its digits
    assert confirmation_problems("KS", res.required, wrong_id) == [
        "personal ID 087195001234 does not agree with the birth date 05/03/2024"]
    assert confirmation_problems("KS", res.required, dict(stored, gender=("Nữ", "label_exact"))) == [
        "personal ID 087224001234 does not agree with the gender Nữ"]                # 2: a boy born 2000-2099
    words = dict(stored, holder_birth_date=("05/08/2024", "label_exact+found_in_text+disagrees_with_words"))
    assert confirmation_problems("KS", res.required, words) == [
        "holder_birth_date '05/08/2024': the date in figures and the date in words disagree"]
    hinted = dict(stored, document_type=("KS", "hint"))
    assert confirmation_problems("KS", res.required, hinted) == ["document type KS only given as a hint"]
    slash = extract_fields([KS_2020.replace("Số: 309/2024", "Số: 3092024")]).fields["doc_number"]
    assert (slash.value, slash.rule) == ("309/2024", "label_exact+slash_fixed")
    assert confirmation_problems("KS", res.required, dict(stored, doc_number=(slash.value, slash.rule))) == [
        "doc_number '309/2024' not confirmed: a slash OCR lost was put back"]
    for printed, read, fixed in (("309/2024", "3092024", "309/2024"),
                                 ("332/2015/DKHKD", "332/2015DKHKD", "332/2015/DKHKD")):   # a year glued to letters
        got = extract_fields([KS_2020.replace("Số: 309/2024", f"Số: {read}")]).fields["doc_number"]
        assert (got.value, got.rule) == (fixed, "label_exact+slash_fixed"), read
    for kept in ("45/GPXD", "31/2013/DKHKD"):     # numbers as printed stay as they are
        got = extract_fields([KS_2020.replace("Số: 309/2024", f"Số: {kept}")]).fields["doc_number"]
        assert (got.value, got.rule) == (kept, "label_exact"), kept
    bad_number = dict(stored, doc_number=("3092024", "label_exact+format_failed"))
    assert "doc_number '3092024' not confirmed: not in the field's format" in confirmation_problems(
        "KS", res.required, bad_number)
    # A value the manifest or an official gave (no rule) is confirmed.
    assert confirmation_problems("KS", res.required, dict(stored, holder_name=("Trần Gia Bảo", None))) == []


# ------------------------------------------------------------------ layout-template pages (text layers, no OCR)


@pytest.fixture(scope="module")
def layout_pages(drop):
    """One page of every tuned layout for each result type the seed-7 data has, as text-layer PDFs."""
    from tthc_dev.demo_data import scans as S
    from tthc_dev.demo_data.reference import load_reference
    from tthc_dev.demo_data.sources import UnitNamer

    out, _ = drop
    rows = [json.loads(line) for line in (out / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    ref = load_reference()
    by_type: dict[str, list] = {}
    for rec in S.records_from_truth(rows, ref):
        by_type.setdefault(rec["proc"], []).append(rec)
    pages = []
    for code, recs in sorted(by_type.items()):
        tuned = [x for x in S.LAYOUTS[code] if x not in S.HELD_OUT]
        for i, layout in enumerate(tuned):
            rec = recs[i % len(recs)]
            rows_, printed = S.layout_rows(rec, UnitNamer(ref), ref.province_name, layout, __import__("random").Random(i))
            font = S.installed_fonts()[i % len(S.installed_fonts())]
            pages.append((rec, printed, font, S.layout_pdf_bytes(rows_, font)))
    return pages


def test_every_tuned_layout_gives_its_fields_from_the_text_layer(layout_pages):
    from tthc.scans.text import plan_pages

    assert {p["layout"] for _, p, _, _ in layout_pages} >= {"tt04_2020", "tt15_2015", "pre2016", "trich_luc"}
    for rec, printed, font, data in layout_pages:
        plan = plan_pages(data, "application/pdf", "", min_text_chars=40, ocr_dpi=300, lang="vie")
        res = extract_fields([p.text for p in plan.pages])
        where = (rec["proc"], printed["layout"], font)
        t = rec["truth"]
        assert res.document_type.value == rec["proc"] and res.missing_required == [], (where, res.missing_required)
        v = values(res)
        assert v["doc_number"] == t["number"] and v["holder_name"] == t["name"], (where, v)
        if rec["proc"] != "DKDN":   # an enterprise's paper names its representative, without an ID
            assert v["holder_id"] == t["person_id"], where
        assert fold(v["issuing_body"]).replace(" ", "") == fold(printed["issuing_body"]).replace(" ", ""), (where, v)
        if rec["proc"] in ("KS", "KH", "KT", "XNHN"):
            assert v["doc_book"] == t["book"] and v["unit_name"] == printed["unit_name"], (where, v)
        if rec["proc"] == "KH":
            assert v["holder2_name"] == t["name_2"], (where, v)
        from tthc.clean.dates import parse_date

        assert parse_date(v["issue_date"]).isoformat() == t["issue_date"], (where, v["issue_date"])


@pytest.mark.parametrize("words, date", [
    ("ngày năm, tháng ba, năm một nghìn chín trăm chín mươi", (5, 3, 1990)),
    ("Ngày mười lăm tháng mười hai năm hai nghìn không trăm linh tư", (15, 12, 2004)),
    ("ngày hai mươi mốt tháng giêng năm hai nghìn hai mươi tư", (21, 1, 2024)),
    ("ngày ba mươi mốt, tháng tám, năm một nghìn chín trăm tám mươi lăm", (31, 8, 1985)),
    ("ngày mười tháng mười một năm hai nghìn không trăm mười", (10, 11, 2010)),
])
def test_dates_spelled_out_in_words(words, date):
    from tthc.scans.fields import date_spelled_out

    assert date_spelled_out(words) == date


def test_date_in_figures_checked_against_the_date_in_words():
    page = "GIẤY KHAI SINH\nNgày, tháng, năm sinh: {} (bằng chữ: ngày năm, tháng ba, năm một nghìn chín trăm chín mươi)\n"
    agree = extract_fields([page.format("05/03/1990")]).fields["holder_birth_date"]
    assert agree.value == "05/03/1990" and agree.rule.endswith("+agrees_with_words")
    disagree = extract_fields([page.format("05/08/1990")]).fields["holder_birth_date"]
    assert disagree.value == "05/08/1990" and disagree.rule.endswith("+disagrees_with_words")


def test_other_peoples_names_never_become_a_confirmed_holder(drop):
    """Property test over every layout (held-out ones too: this checks no value, it tunes nothing):
    the holder's label removed, garbled by OCR-like edits, or left without its colon. Whatever the
    extractor then returns as the holder is either the real holder or fails confirmation; it is never
    a confirmed mother, father, declarant, requester or signer."""
    import random

    from tthc_dev.demo_data import scans as S
    from tthc_dev.demo_data.reference import load_reference
    from tthc_dev.demo_data.sources import UnitNamer
    from tthc.scans.confirm import confirmation_problems

    out, _ = drop
    rows = [json.loads(line) for line in (out / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    ref = load_reference()
    namer = UnitNamer(ref)
    rng = random.Random(11)
    others = set(S._MOTHERS + S._FATHERS + S._DECLARANTS + S._SIGNERS)
    checked = 0
    seen: dict = __import__("collections").Counter()
    for i, rec in enumerate(S.records_from_truth(rows, ref)[:60]):
        layout = S.LAYOUTS[rec["proc"]][i % len(S.LAYOUTS[rec["proc"]])]
        page_rows, _ = S.layout_rows(rec, namer, ref.province_name, layout, random.Random(i))
        lines = ["\t".join(c[1] for c in r if c[1]) for r in page_rows]
        holder_line = next((k for k, ln in enumerate(lines) if rec["person"]["name"] in ln), None)
        if holder_line is None:
            continue
        label = lines[holder_line].split(rec["person"]["name"])[0]
        for mode in ("drop", "garble", "no_colon"):
            page = list(lines)
            if mode == "drop":
                page[holder_line] = ""
            elif mode == "garble":
                chars = list(label)
                for _ in range(3):
                    k = rng.randrange(len(chars))
                    chars[k] = rng.choice("aeiouxyz ")
                page[holder_line] = "".join(chars) + lines[holder_line][len(label):]
            else:
                page[holder_line] = lines[holder_line].replace(":", "", 1)
            res = extract_fields(["\n".join(page)])
            got = res.fields.get("holder_name")
            seen[mode, "none" if got is None else "holder" if got.value == rec["person"]["name"] else "other"] += 1
            if got is None or got.value == rec["person"]["name"]:
                continue
            stored = {k: (g.value, g.rule) for k, g in res.fields.items()}
            if res.document_type:
                stored["document_type"] = (res.document_type.value, res.document_type.rule)
            problems = confirmation_problems(res.document_type.value if res.document_type else None,
                                             res.required, stored)
            assert problems, (layout, mode, got, "\n".join(page))
            assert got.value not in others or any("holder_name" in p for p in problems), (layout, mode, got)
            checked += 1
    # Every mode ran on many pages; a dropped label never yields somebody else's name at all.
    assert sum(n for (m, _), n in seen.items() if m == "drop") >= 50, seen
    assert seen["drop", "other"] == 0 and seen["no_colon", "holder"] >= 40, seen


@pytest.mark.parametrize("printed, fixed", [
    ("Ủy ban nhân dân xã Tân Phú, huyện Châu Thành, SIỂI Đồng Tháp", "Ủy ban nhân dân xã Tân Phú, huyện Châu Thành, tỉnh Đồng Tháp"),
    ("Ủy ban nhân dần xã Phú Long, huyện Châu Thành, tỉnh ¡ ĐÓN Tháp", "Ủy ban nhân dân xã Phú Long, huyện Châu Thành, tỉnh Đồng Tháp"),
    ("Ủy ban nhần dân xã Tân Hòa, huyện Thanh Bình, tỉnh Đồng Tháp", "Ủy ban nhân dân xã Tân Hòa, huyện Thanh Bình, tỉnh Đồng Tháp"),
    ("Uỷ ban nhân dân xã A, huyện B, Đồng Tháp", None),      # old tone placement, no "tỉnh": as printed
])
def test_fixed_phrases_misread_by_ocr_are_repaired(printed, fixed):
    got = extract_fields([f"GIẤY KHAI SINH\nNơi đăng ký: {printed}\n"]).fields["unit_name"]
    if fixed is None:
        assert (got.value, got.rule) == (printed, "label_exact")
    else:
        assert (got.value, got.rule) == (fixed, "label_exact+phrase_fixed")
