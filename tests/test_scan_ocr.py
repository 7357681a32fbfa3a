"""OCR of one page (tthc.scans.ocr) with real Tesseract: the embedded-image shortcut for image-only
PDF pages, both engines (persistent tesserocr API and the pytesseract command line), rotation.

Pages come from the demo generator's renderer (tthc_dev.demo_data.scans.render_page); a few pages
only, each OCR ~0.3-1.5 s.
"""

from __future__ import annotations

import io
import random

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat

from tthc_dev.demo_data import scans as S
from tthc.scans import ocr
from tthc.scans.fields import extract_fields, fold
from tthc.scans.text import OcrPool, plan_pages

ENGINES = ["pytesseract"] + (["tesserocr"] if ocr.tesserocr is not None else [])


def _page(seed: int, dpi: int, rotate: int = 0):
    rng = random.Random(seed)
    name = f"{rng.choice(['Nguyễn', 'Trần', 'Lê'])} {rng.choice(['Văn', 'Thị'])} {rng.choice(['An', 'Bình', 'Hà'])}"
    number = f"{rng.randint(1, 400)}/{rng.randint(2000, 2020)}"
    lines = [("motto", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"), ("motto", "Độc lập - Tự do - Hạnh phúc"),
             ("agency", "ỦY BAN NHÂN DÂN XÃ TÂN PHƯỚC"), ("title", "GIẤY KHAI SINH"),
             ("field", f"Số: {number}"), ("field", f"Họ và tên: {name}"), ("field", "Giới tính: Nữ"),
             ("field", "Ngày sinh: 05/06/2010"), ("field", "Ngày cấp: 07/06/2010"),
             ("field", "Cơ quan cấp: Ủy ban nhân dân xã Tân Phước"), ("sign", "TM. ỦY BAN NHÂN DÂN")]
    im = S.render_page(lines, signer="Lê Văn Tâm", dpi=dpi, color=False)
    if rotate:
        im = im.rotate(rotate, expand=True)   # counter-clockwise: the page was fed sideways
    return im, {"doc_number": number, "holder_name": name}


def _pdf(tmp_path, im, dpi: int, name: str) -> str:
    buf = io.BytesIO()
    im.save(buf, "PDF", resolution=float(dpi))
    path = tmp_path / name
    path.write_bytes(buf.getvalue())
    return str(path)


def test_embedded_page_image_is_what_rendering_gives(tmp_path):
    im, _ = _page(1, 200)
    path = _pdf(tmp_path, im, 200, "scan.pdf")
    doc = pdfium.PdfDocument(path)
    page = doc[0]
    direct = ocr._full_page_image(page, 200)
    rendered = page.render(scale=200 / 72.0, grayscale=True).to_pil().convert("L")
    # The scan's own pixels; rendering rounds the page size to whole pixels (1655 vs 1654 here).
    assert direct is not None and direct.size == im.size
    assert abs(rendered.width - im.width) <= 1 and abs(rendered.height - im.height) <= 1
    box = (0, 0, min(direct.width, rendered.width), min(direct.height, rendered.height))
    diff = ImageStat.Stat(ImageChops.difference(direct.crop(box), rendered.crop(box))).mean[0]
    assert diff < 6.0, f"decoded and rendered pages differ by {diff:.2f} grey levels on average"
    truth = ImageStat.Stat(ImageChops.difference(direct, im.convert("L"))).mean[0]
    assert truth < 3.0, f"decoded page differs from the scan by {truth:.2f} grey levels (JPEG only)"
    # Not the planned resolution: rendering (resampling) stays in charge.
    assert ocr._full_page_image(page, 300) is None
    page.close()
    doc.close()


def test_page_with_text_is_rendered_not_decoded(tmp_path):
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(595.28, 841.89))
    img = Image.new("L", (827, 1169), 255)
    png = tmp_path / "bg.png"
    img.save(png)
    c.drawImage(str(png), 0, 0, width=595.28, height=841.89)
    c.drawString(72, 720, "GIAY KHAI SINH")   # text on top of the image: decoding alone would lose it
    c.save()
    doc = pdfium.PdfDocument(buf.getvalue())
    assert ocr._full_page_image(doc[0], 100) is None
    doc.close()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dpi, rotate", [(150, 90), (200, 270)])
def test_rotated_page_is_turned_and_read(tmp_path, monkeypatch, engine, dpi, rotate):
    monkeypatch.setenv("TTHC_OCR_ENGINE", engine)
    im, truth = _page(dpi + rotate, dpi, rotate)
    path = _pdf(tmp_path, im, dpi, "sideways.pdf")
    data = open(path, "rb").read()
    plan = plan_pages(data, "application/pdf", path, min_text_chars=40, ocr_dpi=300, lang="vie")
    job = plan.pages[0].job
    assert job is not None and job.dpi == dpi   # the scan's own resolution, not upsampled
    page = ocr.ocr_page(job)
    assert page.rotation == rotate
    assert page.width_px < page.height_px
    assert page.confidence > 80
    got = extract_fields([page.text], {"ocr_confidence": page.confidence})
    assert got.document_type.value == "KS"
    assert {k: got.fields[k].value for k in truth} == truth


def test_engine_setting_is_checked(monkeypatch):
    monkeypatch.setenv("TTHC_OCR_ENGINE", "cuneiform")
    with pytest.raises(ValueError, match="TTHC_OCR_ENGINE='cuneiform'"):
        ocr.ocr_engine()
    monkeypatch.setenv("TTHC_OCR_ENGINE", "pytesseract")
    assert ocr.ocr_engine() == "pytesseract"


def test_pool_of_two_workers_reads_every_page(tmp_path):
    """Forked workers each keep their own Tesseract; pages come back in order with confidences."""
    pages, truths = [], []
    for seed in (11, 12, 13):
        im, truth = _page(seed, 150)
        pages.append(im)
        truths.append(truth)
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", resolution=150.0, save_all=True, append_images=pages[1:])
    path = tmp_path / "three.pdf"
    path.write_bytes(buf.getvalue())
    plan = plan_pages(buf.getvalue(), "application/pdf", str(path), min_text_chars=40, ocr_dpi=300, lang="vie")
    with OcrPool(2) as pool:
        results = [pool.submit(p.job).result() for p in plan.pages]
    assert [r.index for r in results] == [0, 1, 2]
    for r, truth in zip(results, truths):
        assert r.confidence > 80 and r.dpi == 150
        got = extract_fields([r.text])
        assert got.fields["doc_number"].value == truth["doc_number"]


HEADER_ROWS = [[("agency", "UBND HUYỆN HỒNG NGỰ", 0.22, "c"), ("motto", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 0.69, "c")],
               [("agency", "UBND XÃ THƯỜNG THỚI TIỀN", 0.22, "c"), ("motto", "Độc lập - Tự do - Hạnh phúc", 0.69, "c")],
               [("field", "Số: 309/2024", 0.08, "l"), ("field", "Quyển số: 02", 0.42, "l")],
               [("title", "GIẤY KHAI SINH", 0.5, "c")]]


@pytest.mark.parametrize("engine", ENGINES)
def test_columns_come_back_as_segments(tmp_path, monkeypatch, engine):
    """The agency block beside the motto, and two labels on one line: OCR word boxes rebuild them as
    TAB-separated columns, never one run-on line (a page with only its header: one cheap OCR)."""
    monkeypatch.setenv("TTHC_OCR_ENGINE", engine)
    im = S.layout_image(HEADER_ROWS, "DejaVuSans", 200, color=False)   # a portrait page, mostly blank
    path = tmp_path / "header.png"
    im.save(path, dpi=(200, 200))
    text = ocr.ocr_page(ocr.PageJob(str(path), "image/png", 0, None)).text
    rows = [line.split("\t") for line in text.splitlines()]
    assert any(r[0].startswith("UBND HUYỆN HỒNG NGỰ") and r[-1].startswith("CỘNG HÒA") for r in rows), text
    assert ["Số: 309/2024", "Quyển số: 02"] in rows, text
    res = extract_fields([text])
    assert fold(res.fields["issuing_body"].value) == "uy ban nhan dan xa thuong thoi tien"
    assert (res.fields["doc_number"].value, res.fields["doc_book"].value) == ("309/2024", "02")


def test_text_layer_columns_from_character_boxes():
    """PDFium character boxes: a two-column header and two labels on one line, in several fonts."""
    from tthc.scans.layout import Word, join_line

    for font in S.installed_fonts():
        pdf = S.layout_pdf_bytes(HEADER_ROWS, font)
        text = plan_pages(pdf, "application/pdf", "", min_text_chars=10, ocr_dpi=300, lang="vie").pages[0].text
        assert text.splitlines()[:3] == ["UBND HUYỆN HỒNG NGỰ\tCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
                                         "UBND XÃ THƯỜNG THỚI TIỀN\tĐộc lập - Tự do - Hạnh phúc",
                                         "Số: 309/2024\tQuyển số: 02"], (font, text)
    words = [Word("Số:", 0, 0, 30, 20), Word("309/2024", 36, 0, 110, 20), Word("Quyển", 150, 0, 200, 20),
             Word("số:", 206, 0, 230, 20)]
    assert join_line(words) == "Số: 309/2024\tQuyển số:"


def test_low_resolution_scan_is_despecked_and_resampled_for_tesseract():
    """Below 270 dpi a page goes to Tesseract at 300 dpi, after a median filter took the dust specks
    off; a 300 dpi page keeps its pixels; a file without dpi but with A4's shape is taken for A4."""
    im = Image.new("L", (1240, 1754), 255)           # A4 at 150 dpi
    im.putpixel((600, 600), 0)                        # one speck
    out, dpi = ocr.prepare_image(im, 150)
    assert dpi == 300 and out.size == (2480, 3508)
    assert ImageStat.Stat(out).extrema[0][0] > 160, "the speck survived (it would read as a dark mark)"
    same, dpi = ocr.prepare_image(Image.new("L", (2480, 3508), 255), 300)
    assert dpi == 300 and same.size == (2480, 3508)
    guessed, dpi = ocr.prepare_image(Image.new("L", (1240, 1754), 255), None)
    assert dpi == 300 and guessed.size == (2480, 3508)
    odd, dpi = ocr.prepare_image(Image.new("L", (1000, 300), 255), None)   # not a page: left alone
    assert dpi is None and odd.size == (1000, 300)


def test_median3_gives_pillows_median_pixels():
    """The fast 3x3 median is Pillow's MedianFilter(3), pixel for pixel, borders included."""
    rng = random.Random(5)
    for w, h in ((1, 1), (2, 5), (37, 23)):
        im = Image.frombytes("L", (w, h), bytes(rng.randrange(256) for _ in range(w * h)))
        assert ocr.median3(im).tobytes() == im.filter(ImageFilter.MedianFilter(3)).tobytes(), (w, h)
    page, _ = _page(4, 150)
    page = S.degrade(page, random.Random(4), noisy=True, skew=0.9, rotation=0)
    assert ocr.median3(page).tobytes() == page.filter(ImageFilter.MedianFilter(3)).tobytes()


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_specked_150_dpi_scan_reads_names_and_numbers(tmp_path, seed):
    """A 150 dpi scan with dust specks and a small skew: the holder's name (diacritics) and the
    number come out exactly, and the page records the scan's own dpi and size."""
    im, truth = _page(seed, 150)
    im = S.degrade(im, random.Random(seed), noisy=True, skew=0.9, rotation=0)
    path = tmp_path / "specked.png"
    im.save(path, dpi=(150, 150))
    page = ocr.ocr_page(ocr.PageJob(str(path), "image/png", 0, None))
    assert (page.dpi, page.width_px, page.height_px) == (150, im.width, im.height)
    got = extract_fields([page.text])
    assert {k: got.fields[k].value for k in truth} == truth, page.text
