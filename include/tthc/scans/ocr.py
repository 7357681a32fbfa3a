"""OCR of one page, run in worker processes: decode → fix orientation → Tesseract.

Kept light (Pillow, pypdfium2, pytesseract/tesserocr) so workers start fast. Each
tesseract runs single-threaded (OMP_THREAD_LIMIT=1): the parallelism is the pool's.

Two engines (TTHC_OCR_ENGINE = auto | tesserocr | pytesseract, default auto):
- tesserocr (when importable): one persistent ``PyTessBaseAPI(lang=...)`` per worker process,
  fed raw 8-bit pixels (no temp file, no image encoding, no process start or model load per
  page); orientation through a second persistent API loaded with ``osd``.
- pytesseract: the tesseract command line per page (an uncompressed PGM temp file).
Image-only PDF pages that are one full-page image at the planned dpi are decoded straight
from the PDF's image object instead of being rendered (~10x cheaper than rendering).
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# Imported here, once, in the parent: forked workers inherit them instead of each paying
# pytesseract's optional pandas import (seconds on a busy machine) on their first page.
import numpy as np  # noqa: E402
import pypdfium2 as pdfium  # noqa: E402
import pytesseract  # noqa: E402
from PIL import Image  # noqa: E402

try:  # optional: a persistent in-process Tesseract (PyPI tesserocr)
    import tesserocr  # noqa: E402
except ImportError:  # pragma: no cover - depends on the installation
    tesserocr = None

from tthc.processes import die_with_parent  # noqa: E402
from tthc.scans.layout import Word, lines_text  # noqa: E402
from tthc.settings import settings

log = logging.getLogger(__name__)


@dataclass
class PageJob:
    path: str            # the file's bytes on local disk (a temporary copy)
    media_type: str      # application/pdf | image/tiff | image/jpeg | image/png
    index: int           # 0-based page (PDF) or frame (TIFF)
    dpi: float | None    # render dpi for PDF pages; None = the image's own
    lang: str = "vie"


@dataclass
class PageText:
    index: int
    text: str
    confidence: float | None   # Tesseract mean word confidence 0-100
    dpi: float | None
    width_px: int
    height_px: int
    rotation: int              # degrees clockwise applied to make the page upright
    seconds: float


def _full_page_image(page, dpi: float):
    """The page's only image, decoded at its own pixels, when that is what rendering at dpi would
    give: one image object covering the page, upright, no page /Rotate, pixels matching dpi (±2 %).
    None otherwise (text or vector content too, several images, rotated or resampled placement)."""
    import pypdfium2.raw as pdfium_c

    if page.get_rotation() % 360:
        return None
    objs = list(page.get_objects(max_depth=2))
    images = [o for o in objs if o.type == pdfium_c.FPDF_PAGEOBJ_IMAGE]
    if len(images) != 1 or len(objs) != 1:
        return None
    img = images[0]
    a, b, c, d, e, f = img.get_matrix().get()
    if abs(b) > 1e-6 or abs(c) > 1e-6 or a <= 0 or d <= 0:
        return None
    left, bottom, right, top = img.get_bounds()
    pw, ph = page.get_size()
    if abs(left) > 2 or abs(bottom) > 2 or abs(right - pw) > 2 or abs(top - ph) > 2:
        return None
    px_w, px_h = img.get_px_size()
    want_w, want_h = pw / 72.0 * dpi, ph / 72.0 * dpi
    if abs(px_w - want_w) > 0.02 * want_w or abs(px_h - want_h) > 0.02 * want_h:
        return None
    return img.get_bitmap(render=False).to_pil().convert("L")


def load_page_image(job: PageJob):
    """The page as a grayscale Pillow image, and its dpi."""
    if job.media_type == "application/pdf":
        dpi = job.dpi or 300
        pdf = pdfium.PdfDocument(job.path)
        try:
            page = pdf[job.index]
            image = None
            try:
                image = _full_page_image(page, dpi)
            except Exception as exc:  # noqa: BLE001 - an odd image object: render the page instead
                log.debug("page %d: embedded image not decodable (%s); rendering", job.index + 1, exc)
            if image is None:
                bitmap = page.render(scale=dpi / 72.0, grayscale=True)
                image = bitmap.to_pil().convert("L")
            page.close()
        finally:
            pdf.close()
        return image, dpi
    with Image.open(job.path) as im:
        if job.index:
            im.seek(job.index)
        dpi = im.info.get("dpi")
        image = im.convert("L")
    dpi_value = float(dpi[0]) if dpi and dpi[0] else None
    return image, (round(dpi_value) if dpi_value else None)


# Tesseract reads best at about 300 dpi (its documentation; x-height ~20-30 px): a 150/200 dpi scan
# loses diacritics and digits ("Thằnh" for "Thành", "17/2020" for "117/2020"). Pages below
# UPSCALE_BELOW_DPI are resampled to OCR_DPI, then a 3x3 median removes dust specks (at 300 dpi it
# leaves strokes and diacritics alone; at 150 dpi it would eat them).
OCR_DPI = 300
UPSCALE_BELOW_DPI = 270
# A4's short side in inches: the dpi of a page image whose file does not say (an A4 scan).
A4_SHORT_IN = 8.27


def prepare_image(image, dpi: float | None):
    """The grey page as Tesseract gets it, and the dpi to tell it: low-resolution scans resampled to
    OCR_DPI, specks removed. A file without a dpi is taken for an A4 page when it has A4's shape."""
    if not dpi:
        short, long_ = sorted((image.width, image.height))
        if 1.3 <= long_ / max(short, 1) <= 1.5:
            dpi = round(short / A4_SHORT_IN)
    if dpi and dpi < UPSCALE_BELOW_DPI:
        f = OCR_DPI / dpi
        image = image.resize((round(image.width * f), round(image.height * f)), Image.Resampling.LANCZOS)
        dpi = OCR_DPI
    return median3(image), dpi


def median3(image):
    """3x3 median of a grey page, borders replicated: the same pixels as Pillow's MedianFilter(3),
    3-5x faster (each column's three pixels sorted once, then min/max/median across columns,
    whole-array uint8 operations instead of a 9-value sort per pixel)."""
    a = np.pad(np.asarray(image.convert("L") if image.mode != "L" else image), 1, mode="edge")
    top, mid, bot = a[:-2], a[1:-1], a[2:]
    lo, hi = np.minimum(top, mid), np.maximum(top, mid)
    mid, hi = np.minimum(hi, bot), np.maximum(hi, bot)
    lo, mid = np.minimum(lo, mid), np.maximum(lo, mid)
    left, centre, right = slice(0, -2), slice(1, -1), slice(2, None)
    max_lo = np.maximum(np.maximum(lo[:, left], lo[:, centre]), lo[:, right])
    min_hi = np.minimum(np.minimum(hi[:, left], hi[:, centre]), hi[:, right])
    return Image.fromarray(_med3(max_lo, _med3(mid[:, left], mid[:, centre], mid[:, right]), min_hi), "L")


def _med3(x, y, z):
    return np.maximum(np.minimum(x, y), np.minimum(np.maximum(x, y), z))


_ROTATE = re.compile(r"Rotate:\s*(\d+)")
_OSD_CONF = re.compile(r"Orientation confidence:\s*([\d.]+)")
# OSD answers below this orientation confidence are guesses (seen: 0.05-0.2 with the wrong side on
# short pages); those pages get the strip check instead.
OSD_MIN_CONFIDENCE = 1.0


# ------------------------------------------------------------------ engines


def ocr_engine() -> str:
    """'tesserocr' or 'pytesseract', from TTHC_OCR_ENGINE (auto: tesserocr when importable)."""
    want = settings().ocr_engine.strip().lower()
    if want not in ("auto", "tesserocr", "pytesseract"):
        raise ValueError(f"TTHC_OCR_ENGINE={want!r}: use auto, tesserocr or pytesseract")
    if want == "tesserocr" and tesserocr is None:
        raise RuntimeError("TTHC_OCR_ENGINE=tesserocr but the tesserocr package is not installed")
    if want == "pytesseract" or tesserocr is None:
        return "pytesseract"
    return "tesserocr"


_tessdata: str | None = None


def tessdata_dir() -> str:
    """Where the traineddata files are: TESSDATA_PREFIX, else what the tesseract command reports."""
    global _tessdata
    if _tessdata is None:
        env = settings().tessdata_prefix
        if env:
            _tessdata = env.rstrip("/") + "/"
        else:
            out = subprocess.run([pytesseract.pytesseract.tesseract_cmd, "--list-langs"], capture_output=True,
                                 text=True, check=True).stdout
            m = re.search(r'"([^"]+)"', out)
            if not m:
                raise RuntimeError(f"cannot find the tessdata folder in `tesseract --list-langs` output: {out[:200]!r}")
            _tessdata = m.group(1).rstrip("/") + "/"
    return _tessdata


_local = threading.local()   # per thread (and so per worker process): APIs are not thread-safe


def _api(lang: str):
    """This thread's persistent Tesseract for lang: the model is loaded once, not per page."""
    apis = getattr(_local, "apis", None)
    if apis is None:
        apis = _local.apis = {}
    api = apis.get(lang)
    if api is None:
        api = tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang=lang, psm=tesserocr.PSM.AUTO)
        apis[lang] = api
    return api


def _set_gray(api, image, dpi: float | None) -> None:
    """8-bit grey pixels straight into Tesseract (no file, no encoding)."""
    if image.mode != "L":
        image = image.convert("L")
    api.SetImageBytes(image.tobytes(), image.width, image.height, 1, image.width)
    if dpi:
        api.SetSourceResolution(int(dpi))


def _read_words(api) -> tuple[str, list[float]]:
    """Text as lines rebuilt from the word boxes (tthc.scans.layout: a wide gap inside a line is a
    column, a TAB) and the confidences of the real words, the same shape _assemble gives for
    pytesseract's image_to_data."""
    api.Recognize()
    it = api.GetIterator()
    lines: list[list[Word]] = []
    confs: list[float] = []
    if it is None:
        return "", confs
    level = tesserocr.RIL.WORD
    new_line = True
    while True:
        if it.IsAtBeginningOf(tesserocr.RIL.TEXTLINE):
            new_line = True
        try:
            word = it.GetUTF8Text(level)
        except RuntimeError:  # an empty element ("No text returned")
            word = None
        if word and word.strip():
            if new_line or not lines:
                lines.append([])
                new_line = False
            box = it.BoundingBox(level)
            if box:
                lines[-1].append(Word(word, *box))
            conf = it.Confidence(level)
            if conf >= 0:
                confs.append(conf)
        if not it.Next(level):
            break
    return lines_text(lines), confs


def _osd_rotation_tesserocr(small) -> int | None:
    apis = getattr(_local, "apis", None)
    if apis is None:
        apis = _local.apis = {}
    osd = apis.get("\0osd")
    if osd is None:
        osd = tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang="osd", psm=tesserocr.PSM.OSD_ONLY)
        osd.SetVariable("min_characters_to_try", "10")
        apis["\0osd"] = osd
    _set_gray(osd, small, None)
    res = osd.DetectOrientationScript()
    if not res or float(res.get("orient_conf") or 0.0) < OSD_MIN_CONFIDENCE:
        return None
    # orient_deg: how far the page is turned (clockwise); turning back needs 360 - that.
    return (360 - int(res["orient_deg"])) % 360


def _osd_rotation_cli(small) -> int | None:
    try:
        osd = pytesseract.image_to_osd(small, config="--psm 0 -c min_characters_to_try=10")
    except pytesseract.TesseractError:
        return None
    m, c = _ROTATE.search(osd), _OSD_CONF.search(osd)
    if not m or (c and float(c.group(1)) < OSD_MIN_CONFIDENCE):
        return None
    return int(m.group(1))


def _strip_confidence(strip, lang: str, engine: str) -> float:
    if engine == "tesserocr":
        api = _api(lang)
        api.SetPageSegMode(tesserocr.PSM.SINGLE_BLOCK)
        try:
            _set_gray(api, strip, None)
            _, confs = _read_words(api)
        finally:
            api.SetPageSegMode(tesserocr.PSM.AUTO)
    else:
        data = pytesseract.image_to_data(strip, lang=lang, config="--psm 6", output_type=pytesseract.Output.DICT)
        confs = [float(c) for c in data["conf"] if float(c) >= 0]
    return sum(confs) / len(confs) if confs else 0.0


def orientation(image, lang: str, engine: str | None = None) -> int:
    """Degrees (clockwise) to turn a sideways page upright. Only landscape images are checked:
    a portrait A4 page fed sideways comes out landscape, and OSD on every page would cost time."""
    if image.width <= image.height:
        return 0
    engine = engine or ocr_engine()
    small = image.copy()
    small.thumbnail((1400, 1400))
    rotate = _osd_rotation_tesserocr(small) if engine == "tesserocr" else _osd_rotation_cli(small)
    if rotate in (90, 270):
        return rotate
    # OSD gave up: OCR a strip both ways and keep the more confident reading.
    best, best_conf = 90, -1.0
    for angle in (90, 270):
        turned = small.rotate(-angle, expand=True)
        strip = turned.crop((0, 0, turned.width, turned.height // 3))
        conf = _strip_confidence(strip, lang, engine)
        if conf > best_conf:
            best, best_conf = angle, conf
    return best


def ocr_page(job: PageJob) -> PageText:
    """Decode/render, orient and OCR one page; returns its text and mean word confidence."""
    started = time.perf_counter()
    engine = ocr_engine()
    image, dpi = load_page_image(job)
    rotation = orientation(image, job.lang, engine)
    if rotation:
        image = image.rotate(-rotation, expand=True, fillcolor=255)
    native = (dpi, image.width, image.height)
    image, ocr_dpi = prepare_image(image, dpi)
    if engine == "tesserocr":
        api = _api(job.lang)
        _set_gray(api, image, ocr_dpi)
        text, confs = _read_words(api)
        api.Clear()
    else:
        # An uncompressed file for tesseract: PNG encoding of a 300 dpi page costs more than it saves.
        # Beside the file's own temporary copy (the run's private work folder), never in /tmp.
        fd, tmp = tempfile.mkstemp(suffix=".pgm", dir=os.path.dirname(job.path) or None)
        os.close(fd)
        try:
            image.save(tmp, "PPM")
            config = f"--dpi {int(ocr_dpi)}" if ocr_dpi else ""
            data = pytesseract.image_to_data(tmp, lang=job.lang, config=config, output_type=pytesseract.Output.DICT)
        finally:
            os.unlink(tmp)
        text, confs = _assemble(data)
    return PageText(job.index, text, round(sum(confs) / len(confs), 2) if confs else 0.0, *native,
                    rotation, time.perf_counter() - started)


def _assemble(data: dict) -> tuple[str, list[float]]:
    """Tesseract's TSV words back into lines rebuilt from their boxes (tthc.scans.layout), and the
    confidences of the real words."""
    lines: dict[tuple, list[Word]] = {}
    confs: list[float] = []
    for i, word in enumerate(data["text"]):
        if not word or not word.strip():
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        x, y = float(data["left"][i]), float(data["top"][i])
        lines.setdefault(key, []).append(Word(word, x, y, x + float(data["width"][i]), y + float(data["height"][i])))
        conf = float(data["conf"][i])
        if conf >= 0:
            confs.append(conf)
    return lines_text([ln for _, ln in sorted(lines.items())]), confs


def init_worker(parent_pid: int | None = None) -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    die_with_parent(parent_pid)


def image_bytes_info(data: bytes) -> tuple[int, list[tuple[int, int, float | None]]]:
    """Frames of an image file: (count, [(width, height, dpi)])."""
    from PIL import ImageSequence

    with Image.open(io.BytesIO(data)) as im:
        frames = []
        for frame in ImageSequence.Iterator(im):
            dpi = frame.info.get("dpi") or im.info.get("dpi")
            frames.append((frame.width, frame.height, float(dpi[0]) if dpi and dpi[0] else None))
        return len(frames), frames
