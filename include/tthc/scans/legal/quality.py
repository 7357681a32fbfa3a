"""Inspection of a copy against Nghị định 30/2020 Appendix I: PDF version, effective dpi of the page
scans, colour, for PDFs and for image files (TIFF/JPEG/PNG), with short English issue codes."""

from __future__ import annotations

import io
import logging
import math
import re

from PIL import Image, ImageChops

from tthc.scans.legal.common import (GREY_CHROMA_MAX, MIN_DPI, MIN_PDF_VERSION, PAGE_SCAN_MIN_AREA, QUALITY_ISSUES,
                                     CopyQuality)

log = logging.getLogger(__name__)


_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
_MEDIA = {"application/pdf": "pdf", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/pjpeg": "jpeg",
          "image/png": "png", "image/tiff": "tiff", "image/tif": "tiff"}


def sniff_format(data: bytes) -> str | None:
    head = data[:1024]
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if b"%PDF-" in head:  # junk before the header is tolerated by readers
        return "pdf"
    return None


def _finish(version, dpis, colours, issues, pages) -> CopyQuality:
    min_dpi = round(min(dpis), 1) if dpis else None
    is_colour = None if not colours else all(colours)
    if min_dpi is not None and min_dpi < MIN_DPI - 0.5:  # PNG pHYs stores 199.9996 for 200
        issues.append("dpi_below_200")
    if is_colour is False:
        issues.append("not_colour")
    if version is not None and _version_tuple(version) < MIN_PDF_VERSION:
        issues.append("pdf_version_below_1_4")
    issues = list(dict.fromkeys(issues))
    ok = not (set(issues) & QUALITY_ISSUES)
    return CopyQuality(version, min_dpi, is_colour, ok, issues, pages)


def _version_tuple(v: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", v or "")
    return (int(m[1]), int(m[2])) if m else (0, 0)


def inspect_copy(data: bytes, media_type: str) -> CopyQuality:
    """Check a scan/copy against Appendix I: PDF >= 1.4, >= 200 dpi, colour.

    ``media_type`` is what the file claims to be (from its extension or upload); the bytes
    decide. Never raises on bad input: unreadable files come back with ``unreadable``.
    """
    if not data:
        return CopyQuality(None, None, None, False, ["empty_file"], 0)
    claimed = _MEDIA.get((media_type or "").split(";")[0].strip().lower())
    actual = sniff_format(data)
    issues: list[str] = []
    if claimed and actual and claimed != actual:
        issues.append("media_type_mismatch")
    fmt = actual or claimed
    try:
        if fmt == "pdf":
            return _inspect_pdf(data, issues)
        return _inspect_image(data, issues)
    except Exception as exc:  # noqa: BLE001 - any parser failure means the file is unreadable
        log.info("inspect_copy: unreadable %s (%s): %s", fmt or media_type, type(exc).__name__, exc)
        return CopyQuality(None, None, None, False, issues + ["unreadable"], 0)


def _image_dpi(im: Image.Image) -> float | None:
    dpi = im.info.get("dpi")
    if dpi:
        try:
            vals = [float(v) for v in dpi]
        except (TypeError, ValueError):
            vals = []
        vals = [v for v in vals if v and v > 1]
        if vals:
            return min(vals)
    dens, unit = im.info.get("jfif_density"), im.info.get("jfif_unit")
    if dens and unit in (1, 2):
        vals = [float(v) * (2.54 if unit == 2 else 1.0) for v in dens if v]
        if vals:
            return min(vals)
    return None


def _really_colour(im: Image.Image) -> bool:
    """Colour mode and at least some pixels with distinct channels (not a grey page saved as RGB)."""
    if im.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return False
    if im.mode == "P":
        im = im.convert("RGB")
    elif im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGB")
    # Halve until small enough to be quick; averaging also removes JPEG chroma noise.
    im = im.convert("RGB")
    while im.width * im.height > 1_500_000:
        im = im.reduce(2)
    r, g, b = im.split()
    chroma = max(ImageChops.difference(r, g).getextrema()[1], ImageChops.difference(g, b).getextrema()[1],
                 ImageChops.difference(r, b).getextrema()[1])
    return chroma > GREY_CHROMA_MAX


def _inspect_image(data: bytes, issues: list[str]) -> CopyQuality:
    im = Image.open(io.BytesIO(data))
    issues.append("image_not_pdf")
    frames = getattr(im, "n_frames", 1)
    dpis, colours = [], []
    for i in range(frames):
        im.seek(i)
        d = _image_dpi(im)
        if d is None:
            issues.append("dpi_unknown")
        else:
            dpis.append(d)
        im.load()
        colours.append(_really_colour(im))
    return _finish(None, dpis, colours, issues, frames)


def _pdf_version(data: bytes, reader) -> str | None:
    m = re.search(rb"%PDF-(\d+\.\d+)", data[:1024])
    header = m.group(1).decode() if m else None
    try:  # an incremental update may raise the version in the catalog (/Version 1.7)
        cat = reader.trailer["/Root"].get("/Version")
        if cat is not None:
            cv = str(cat).lstrip("/")
            if header is None or _version_tuple(cv) > _version_tuple(header):
                return cv
    except Exception:  # noqa: BLE001
        pass
    return header


def _mat_mul(m, n):
    a, b, c, d, e, f = m
    A, B, C, D, E, F = n
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


def _colour_of_space(cs, xobj) -> bool | None:
    """True/False from a PDF colour space; None when unknown (then the pixels decide)."""
    from pypdf.generic import ArrayObject

    cs = cs.get_object() if hasattr(cs, "get_object") else cs
    if xobj.get("/ImageMask"):
        return False
    if isinstance(cs, ArrayObject) and cs:
        kind = cs[0]
        if kind == "/ICCBased":
            n = cs[1].get_object().get("/N")
            return None if n is None else n >= 3
        if kind == "/Indexed":
            return None
        if kind in ("/CalRGB", "/Lab"):
            return True
        if kind == "/CalGray":
            return False
        return None
    if cs in ("/DeviceRGB", "/DeviceCMYK", "/CalRGB"):
        return True
    if cs in ("/DeviceGray", "/CalGray"):
        return False
    return None


def _page_images(page, reader) -> list[tuple[object, float, float, float]]:
    """(xobject, dpi_x, dpi_y, placed area in pt²) for every image drawn on the page (Do and inline)."""
    from pypdf.generic import ContentStream

    found = []

    def walk(contents, resources, ctm, depth):
        if contents is None or depth > 4:
            return
        stack, cur = [], ctm
        xobjs = (resources or {}).get("/XObject") if resources else None
        xobjs = xobjs.get_object() if xobjs is not None else {}
        for operands, op in ContentStream(contents, reader).operations:
            if op == b"q":
                stack.append(cur)
            elif op == b"Q":
                cur = stack.pop() if stack else ctm
            elif op == b"cm":
                cur = _mat_mul(tuple(float(x) for x in operands), cur)
            elif op == b"Do":
                xo = xobjs.get(operands[0]) if xobjs else None
                if xo is None:
                    continue
                xo = xo.get_object()
                if xo.get("/Subtype") == "/Image":
                    found.append((xo, xo.get("/Width"), xo.get("/Height"), cur))
                elif xo.get("/Subtype") == "/Form":
                    m = tuple(float(x) for x in xo.get("/Matrix", [1, 0, 0, 1, 0, 0]))
                    walk(xo, xo.get("/Resources") or resources, _mat_mul(m, cur), depth + 1)
            elif op == b"INLINE IMAGE":
                settings = operands["settings"]
                w, h = settings.get("/W", settings.get("/Width")), settings.get("/H", settings.get("/Height"))
                found.append((settings, w, h, cur))

    walk(page.get_contents(), page.get("/Resources"), (1, 0, 0, 1, 0, 0), 0)
    out = []
    for xo, w, h, m in found:
        a, b, c, d = m[:4]
        width_pt, height_pt = math.hypot(a, b), math.hypot(c, d)
        if not (w and h and width_pt and height_pt):
            continue
        out.append((xo, float(w) * 72.0 / width_pt, float(h) * 72.0 / height_pt, width_pt * height_pt))
    return out


def _inspect_pdf(data: bytes, issues: list[str]) -> CopyQuality:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    version = _pdf_version(data, reader)
    if reader.is_encrypted:
        # Encrypted copies cannot be opened by the citizen or re-signed: not a usable copy.
        return _finish(version, [], [], issues + ["encrypted_pdf"], 0)
    pages = len(reader.pages)
    if pages == 0:
        return _finish(version, [], [], issues + ["no_pages"], 0)
    dpis, colours = [], []
    for page in reader.pages:
        box = page.mediabox
        page_area = abs(float(box.width) * float(box.height)) or 1.0
        scans = [(xo, dx, dy) for xo, dx, dy, area in _page_images(page, reader) if area >= PAGE_SCAN_MIN_AREA * page_area]
        for xo, dx, dy in scans:
            dpis.append(min(dx, dy))
            colour = _colour_of_space(xo.get("/ColorSpace"), xo) if hasattr(xo, "get") else None
            if colour is None or colour:
                # Decode to tell a real colour scan from a grey page stored as RGB.
                colour = _pdf_image_colour(page, xo, fallback=colour)
            colours.append(colour)
    # No page-sized image at all: a born-digital PDF (text layer), dpi and colour do not apply.
    return _finish(version, dpis, colours, issues, pages)


def _pdf_image_colour(page, xo, fallback: bool | None) -> bool:
    try:
        for img in page.images:
            if img.indirect_reference is not None and getattr(xo, "indirect_reference", None) == img.indirect_reference:
                return _really_colour(img.image)
        imgs = list(page.images)
        if len(imgs) == 1:
            return _really_colour(imgs[0].image)
    except Exception as exc:  # noqa: BLE001 - undecodable filters: trust the colour space
        log.debug("cannot decode PDF image for the colour check: %s", exc)
    return bool(fallback)
