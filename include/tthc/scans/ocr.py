"""OCR of one page, run in worker processes: render or decode → fix orientation → Tesseract.

Kept light (Pillow, pypdfium2, pytesseract) so spawned workers start fast. Each
tesseract runs single-threaded (OMP_THREAD_LIMIT=1): the parallelism is the pool's.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import time
from dataclasses import dataclass

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# Imported here, once, in the parent: forked workers inherit them instead of each paying
# pytesseract's optional pandas import (seconds on a busy machine) on their first page.
import pypdfium2 as pdfium  # noqa: E402
import pytesseract  # noqa: E402
from PIL import Image  # noqa: E402


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


def load_page_image(job: PageJob):
    """The page as a grayscale Pillow image, and its dpi."""
    if job.media_type == "application/pdf":
        pdf = pdfium.PdfDocument(job.path)
        try:
            page = pdf[job.index]
            bitmap = page.render(scale=(job.dpi or 300) / 72.0, grayscale=True)
            image = bitmap.to_pil().convert("L")
            page.close()
        finally:
            pdf.close()
        return image, job.dpi or 300
    with Image.open(job.path) as im:
        if job.index:
            im.seek(job.index)
        dpi = im.info.get("dpi")
        image = im.convert("L")
    dpi_value = float(dpi[0]) if dpi and dpi[0] else None
    return image, (round(dpi_value) if dpi_value else None)


_ROTATE = re.compile(r"Rotate:\s*(\d+)")


def orientation(image, lang: str) -> int:
    """Degrees (clockwise) to turn a sideways page upright. Only landscape images are checked:
    a portrait A4 page fed sideways comes out landscape, and OSD on every page would cost ~0.5 s."""
    if image.width <= image.height:
        return 0
    small = image.copy()
    small.thumbnail((1400, 1400))
    try:
        osd = pytesseract.image_to_osd(small, config="--psm 0 -c min_characters_to_try=10")
        m = _ROTATE.search(osd)
        if m and int(m.group(1)) in (90, 270):
            return int(m.group(1))
    except pytesseract.TesseractError:
        pass
    # OSD gave up: OCR a strip both ways and keep the more confident reading.
    best, best_conf = 90, -1.0
    for angle in (90, 270):
        turned = small.rotate(-angle, expand=True)
        strip = turned.crop((0, 0, turned.width, turned.height // 3))
        data = pytesseract.image_to_data(strip, lang=lang, config="--psm 6", output_type=pytesseract.Output.DICT)
        confs = [float(c) for c in data["conf"] if float(c) >= 0]
        conf = sum(confs) / len(confs) if confs else 0.0
        if conf > best_conf:
            best, best_conf = angle, conf
    return best


def ocr_page(job: PageJob) -> PageText:
    """Render/decode, orient and OCR one page; returns its text and mean word confidence."""
    started = time.perf_counter()
    image, dpi = load_page_image(job)
    rotation = orientation(image, job.lang)
    if rotation:
        image = image.rotate(-rotation, expand=True, fillcolor=255)
    # An uncompressed file for tesseract: PNG encoding of a 300 dpi page costs more than it saves.
    fd, tmp = tempfile.mkstemp(suffix=".pgm")
    os.close(fd)
    try:
        image.save(tmp, "PPM")
        config = f"--dpi {int(dpi)}" if dpi else ""
        data = pytesseract.image_to_data(tmp, lang=job.lang, config=config, output_type=pytesseract.Output.DICT)
    finally:
        os.unlink(tmp)
    text, confs = _assemble(data)
    return PageText(job.index, text, round(sum(confs) / len(confs), 2) if confs else 0.0, dpi,
                    image.width, image.height, rotation, time.perf_counter() - started)


def _assemble(data: dict) -> tuple[str, list[float]]:
    """Tesseract's words back into lines, and the confidences of the real words."""
    lines: dict[tuple, list[str]] = {}
    confs: list[float] = []
    for i, word in enumerate(data["text"]):
        if not word or not word.strip():
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append(word)
        conf = float(data["conf"][i])
        if conf >= 0:
            confs.append(conf)
    return "\n".join(" ".join(words) for _, words in sorted(lines.items())), confs


def init_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


def image_bytes_info(data: bytes) -> tuple[int, list[tuple[int, int, float | None]]]:
    """Frames of an image file: (count, [(width, height, dpi)])."""
    from PIL import ImageSequence

    with Image.open(io.BytesIO(data)) as im:
        frames = []
        for frame in ImageSequence.Iterator(im):
            dpi = frame.info.get("dpi") or im.info.get("dpi")
            frames.append((frame.width, frame.height, float(dpi[0]) if dpi and dpi[0] else None))
        return len(frames), frames
