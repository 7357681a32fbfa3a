"""Legal checks on digitized copies (Nghị định 30/2020/NĐ-CP, Phụ lục I) and their digital signatures.

A digitized copy of a result is a PDF (version >= 1.4), scanned in colour at >= 200 dpi,
signed by the agency with the signature image top-right on page 1 and the signing time
in ISO 8601 with the +07:00 offset.

- ``inspect_copy``: PDF version, effective dpi of the page scans, colour, for PDFs and
  for image files (TIFF/JPEG/PNG), with short English issue codes.
- ``images_to_pdf``: wrap image scans into one PDF 1.4 without touching their pixels
  (JPEG bytes are embedded as they are, other images losslessly).
- ``sign_copy`` / ``verify_signatures``: pyhanko signing with a visible top-right stamp,
  and validation against given trust roots ('unsigned' / 'valid' / 'invalid').

Nothing here touches the database; the intake pipeline stores the results.
"""

from __future__ import annotations

import io
import logging
import math
import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image, ImageChops

log = logging.getLogger(__name__)

__all__ = [
    "CopyQuality", "SignatureCheck", "inspect_copy", "verify_signatures", "sign_copy", "images_to_pdf",
    "MIN_DPI", "MIN_PDF_VERSION", "VN_TZ", "iso_vn", "QUALITY_ISSUES", "FORMAT_ISSUES",
]

MIN_DPI = 200.0
MIN_PDF_VERSION = (1, 4)
VN_TZ = timezone(timedelta(hours=7), "+07:00")
# A page image covering less than this share of the page is a logo or a photo, not a page scan.
PAGE_SCAN_MIN_AREA = 0.25
# A colour image whose channels never differ by more than this (0-255) is really grey.
GREY_CHROMA_MAX = 24
STAMP_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

# Issues that make the scan itself unusable as a legal copy (quality_ok False) ...
QUALITY_ISSUES = frozenset({"dpi_below_200", "dpi_unknown", "not_colour", "unreadable", "encrypted_pdf",
                            "empty_file", "no_pages"})
# ... and container issues the pipeline fixes itself (images_to_pdf, the signing update
# raises the PDF version), so they are reported but do not clear quality_ok.
FORMAT_ISSUES = frozenset({"image_not_pdf", "pdf_version_below_1_4", "media_type_mismatch"})


@dataclass
class CopyQuality:
    pdf_version: str | None
    min_dpi: float | None
    is_colour: bool | None
    quality_ok: bool
    issues: list[str] = field(default_factory=list)
    page_count: int = 0

    @property
    def legal_ok(self) -> bool:
        """Meets Appendix I as it is: good scan and already a PDF >= 1.4."""
        return self.quality_ok and not self.issues

    def as_dict(self) -> dict:
        return {"pdf_version": self.pdf_version, "min_dpi": self.min_dpi, "is_colour": self.is_colour,
                "quality_ok": self.quality_ok, "issues": list(self.issues), "page_count": self.page_count}


@dataclass
class SignatureCheck:
    status: str  # 'unsigned' | 'valid' | 'invalid'
    signers: list[dict] = field(default_factory=list)
    detail: str = ""

    def as_dict(self) -> dict:
        return {"status": self.status, "signers": self.signers, "detail": self.detail}


def iso_vn(ts: datetime) -> str:
    """ISO 8601 in Vietnam time, '2026-11-22T15:04:05+07:00' (naive datetimes are taken as Vietnam time)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=VN_TZ)
    return ts.astimezone(VN_TZ).replace(microsecond=0).isoformat()


# ------------------------------------------------------------------ inspection

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


# ------------------------------------------------------------------ images -> PDF


def images_to_pdf(images: list[bytes], dpi: float | None = None) -> bytes:
    """One PDF 1.4 page per image (per frame of a multi-page TIFF), sized from the image's dpi.

    Pixels are kept: JPEG data is embedded unchanged (DCTDecode); other images are stored
    losslessly (FlateDecode, 1-bit, grey or RGB). ``dpi`` overrides the images' own dpi;
    without it every image must carry dpi metadata. Output is deterministic (no dates).
    """
    if not images:
        raise ValueError("images_to_pdf: no images given")
    objs: list[bytes] = []   # object bodies; object number = index + 1

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    def stream(dict_body: str, payload: bytes) -> bytes:
        return f"<< {dict_body} /Length {len(payload)} >>\nstream\n".encode() + payload + b"\nendstream"

    add(b"")  # 1: catalog, filled in at the end
    add(b"")  # 2: page tree
    kids: list[int] = []
    for n, data in enumerate(images):
        if not data:
            raise ValueError(f"images_to_pdf: image {n} is empty")
        try:
            im = Image.open(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"images_to_pdf: image {n} is not a readable image: {exc}") from None
        for frame in range(getattr(im, "n_frames", 1)):
            im.seek(frame)
            res = dpi or _image_dpi(im)
            if not res:
                raise ValueError(f"images_to_pdf: image {n} has no dpi metadata; pass dpi=")
            res = round(float(res), 2)
            if im.format == "JPEG" and im.mode in ("L", "RGB") and frame == 0:
                cs = "/DeviceGray" if im.mode == "L" else "/DeviceRGB"
                body = stream(f"/Type /XObject /Subtype /Image /Width {im.width} /Height {im.height} "
                              f"/ColorSpace {cs} /BitsPerComponent 8 /Filter /DCTDecode", data)
            else:
                px = im
                if px.mode in ("RGBA", "LA", "PA") or (px.mode == "P" and "transparency" in px.info):
                    bg = Image.new("RGB", px.size, (255, 255, 255))
                    bg.paste(px.convert("RGBA"), mask=px.convert("RGBA").getchannel("A"))
                    px = bg
                elif px.mode == "P":
                    px = px.convert("RGB")
                elif px.mode in ("I", "I;16", "F"):
                    px = px.convert("L")
                elif px.mode not in ("1", "L", "RGB"):
                    px = px.convert("RGB")
                cs, bpc = ("/DeviceRGB", 8) if px.mode == "RGB" else ("/DeviceGray", 1 if px.mode == "1" else 8)
                body = stream(f"/Type /XObject /Subtype /Image /Width {px.width} /Height {px.height} "
                              f"/ColorSpace {cs} /BitsPerComponent {bpc} /Filter /FlateDecode",
                              zlib.compress(px.tobytes(), 6))
            img_no = add(body)
            w_pt, h_pt = im.width * 72.0 / res, im.height * 72.0 / res
            content = f"q {w_pt:.4f} 0 0 {h_pt:.4f} 0 0 cm /Im0 Do Q".encode()
            c_no = add(stream("", content))
            page_no = add(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.4f} {h_pt:.4f}] "
                          f"/Resources << /XObject << /Im0 {img_no} 0 R >> >> /Contents {c_no} 0 R >>".encode())
            kids.append(page_no)
    objs[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    info = add(b"<< /Producer (tthc.scans.legal.images_to_pdf) >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


# ------------------------------------------------------------------ signing

STAMP_WIDTH_PT, STAMP_HEIGHT_PT, STAMP_MARGIN_PT = 220, 56, 14
STAMP_FONT_SIZE = 10


def signature_box(mediabox) -> tuple[int, int, int, int]:
    """The stamp rectangle (x1, y1, x2, y2) in the top-right corner of a page's MediaBox."""
    x1, y1, x2, y2 = (float(v) for v in mediabox)
    left, right = min(x1, x2), max(x1, x2)
    bottom, top = min(y1, y2), max(y1, y2)
    w = min(STAMP_WIDTH_PT, (right - left) / 2)
    h = min(STAMP_HEIGHT_PT, (top - bottom) / 4)
    m = min(STAMP_MARGIN_PT, (right - left) / 20)
    return (int(right - m - w), int(top - m - h), int(right - m), int(top - m))


def _signing_time(ts: datetime | None) -> datetime:
    if ts is None:
        ts = datetime.now(VN_TZ)
    elif ts.tzinfo is None:
        ts = ts.replace(tzinfo=VN_TZ)
    return ts.astimezone(VN_TZ).replace(microsecond=0)


def sign_copy(
    pdf: bytes,
    *,
    key_path,
    cert_path,
    passphrase: bytes | None = None,
    signing_time: datetime | None = None,
    field_name: str = "Signature1",
    reason: str = "Số hóa kết quả giải quyết TTHC",
    location: str = "Đồng Tháp",
    ca_chain_paths: list | None = None,
    document_id: bytes | None = None,
    embed_font: bool = True,
) -> bytes:
    """Sign a PDF copy as the agency: a visible field top-right on page 1, stamp with the signer
    and the signing time (ISO 8601, +07:00), in an incremental update that also raises the
    PDF version to >= 1.7 when the input is older. Naive ``signing_time`` means Vietnam time."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    ts = _signing_time(signing_time)
    signer = signers.SimpleSigner.load(str(key_path), str(cert_path),
                                       ca_chain_files=[str(p) for p in (ca_chain_paths or [])] or None,
                                       key_passphrase=passphrase)
    if signer is None:
        raise ValueError(f"sign_copy: cannot load the key {key_path} / certificate {cert_path} (wrong passphrase?)")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    if writer.prev.encrypted:
        raise ValueError("sign_copy: the PDF is encrypted; decrypt it before signing")
    if document_id is not None:  # reproducible output (the demo); pyHanko draws the revision's ID at random
        from pyhanko.pdf_utils import generic

        writer._document_id[1] = generic.ByteStringObject(document_id[:16])
    writer.ensure_output_version((1, 7))
    page_ref, _ = writer.find_page_for_modification(0)
    mediabox = _inherited(page_ref.get_object(), "/MediaBox") or [0, 0, 595.28, 841.89]
    box = signature_box(mediabox)
    template = "Ký bởi: %(who)s\nThời gian ký: %(ts)s\n%(why)s"
    params = {"who": _cert_name(signer.signing_cert), "why": reason}
    # DejaVu Sans has the Vietnamese diacritics (the default Courier is Latin-1 only). The
    # engine and the text box must share one font size or lines drift (pyHanko issue #733);
    # pyHanko scales the text to fit the box.
    # embed_font=False: the built-in Courier, ASCII text; output then reproducible byte for byte
    # (the embedded subset carries a random name and the time it was made)
    font = _stamp_font_engine() if embed_font else None
    if font is None:  # no fontTools/uharfbuzz: readable ASCII rather than mojibake
        template = _ascii(template)
        params = {k: _ascii(v) for k, v in params.items()}
    style = TextStampStyle(
        stamp_text=template,
        timestamp_format="%Y-%m-%dT%H:%M:%S%:z",
        border_width=1,
        **({"text_box_style": TextBoxStyle(font=font, font_size=STAMP_FONT_SIZE)} if font else {}),
    )
    meta = signers.PdfSignatureMetadata(field_name=field_name, reason=reason, location=location)
    pdf_signer = _TimedPdfSigner(
        meta, signer=signer, stamp_style=style, signing_time=ts,
        new_field_spec=fields.SigFieldSpec(sig_field_name=field_name, on_page=0, box=box),
    )
    out = pdf_signer.sign_pdf(writer, appearance_text_params=params)
    return out.getvalue()


def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _stamp_font_engine():
    try:
        from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory

        font_file = stamp_font_path()
    except ImportError as exc:
        log.warning("signature stamp without Vietnamese font (%s): install fonttools and uharfbuzz", exc)
        return None
    return GlyphAccumulatorFactory(str(font_file), font_size=STAMP_FONT_SIZE) if font_file else None


_VI_UNICODES = [*range(0x20, 0x7F), *range(0xA0, 0x250), *range(0x300, 0x370), *range(0x1EA0, 0x1F00),
                *range(0x2000, 0x2070), 0x20AB]
_stamp_font_cache: dict[str, Path] = {}


def stamp_font_path() -> Path | None:
    """A copy of the stamp font (TTHC_STAMP_FONT or DejaVu Sans) with 1000 units per em.

    pyHanko 0.38 writes glyph widths and TJ kerning in font units as if every font had
    1000 units/em; DejaVu has 2048, which spreads the letters out. So we subset the font
    to Latin + Vietnamese and rescale it once (fontTools, < 1 s), cached in the temp folder.
    """
    import hashlib
    import os
    import tempfile

    from tthc.settings import settings

    src = Path(settings().stamp_font or STAMP_FONT)
    if not src.exists():
        log.warning("stamp font %s not found: the signature stamp falls back to Courier (no Vietnamese marks)", src)
        return None
    key = str(src)
    if key in _stamp_font_cache and _stamp_font_cache[key].exists():
        return _stamp_font_cache[key]
    st = src.stat()
    tag = hashlib.sha256(f"{src.resolve()}:{st.st_size}:{st.st_mtime_ns}:v1".encode()).hexdigest()[:16]
    out = Path(tempfile.gettempdir()) / "tthc-stamp-fonts" / f"{src.stem}-vi-1000upem-{tag}.ttf"
    if not out.exists():
        from fontTools import subset
        from fontTools.ttLib import TTFont
        from fontTools.ttLib.scaleUpem import scale_upem

        font = TTFont(str(src))
        opts = subset.Options()
        opts.layout_features, opts.name_IDs, opts.notdef_outline, opts.hinting = ["*"], ["*"], True, False
        sub = subset.Subsetter(opts)
        sub.populate(unicodes=_VI_UNICODES)
        sub.subset(font)
        if font["head"].unitsPerEm != 1000:
            scale_upem(font, 1000)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        font.save(str(tmp))
        os.replace(tmp, out)  # atomic: parallel workers never read a half-written font
    _stamp_font_cache[key] = out
    return out


def _inherited(page, key):
    node = page
    for _ in range(32):
        if node is None:
            return None
        if key in node:
            return [float(v) for v in node[key]]
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
    return None


def _timed_signer_class():
    from pyhanko.sign.signers import PdfSigner

    class TimedPdfSigner(PdfSigner):
        """PdfSigner whose signing time (CMS signingTime, /M, stamp) is a given time, not 'now'."""

        def __init__(self, *args, signing_time: datetime, **kwargs):
            super().__init__(*args, **kwargs)
            self._signing_time = signing_time

        def init_signing_session(self, *args, **kwargs):
            session = super().init_signing_session(*args, **kwargs)
            session.system_time = self._signing_time
            return session

    return TimedPdfSigner


def _TimedPdfSigner(*args, **kwargs):  # noqa: N802 - a lazily built class (pyhanko imports are slow)
    return _timed_signer_class()(*args, **kwargs)


# ------------------------------------------------------------------ verification


def _load_certs(paths: list[Path]) -> list:
    from asn1crypto import pem, x509

    certs = []
    for p in paths:
        raw = Path(p).read_bytes()
        if pem.detect(raw):
            for kind, _, der in pem.unarmor(raw, multiple=True):
                if kind == "CERTIFICATE":
                    certs.append(x509.Certificate.load(der))
        else:
            certs.append(x509.Certificate.load(raw))
    return certs


def _cert_name(cert) -> str:
    try:
        cn = cert.subject.native.get("common_name")
        return cn if isinstance(cn, str) else (cn[0] if cn else cert.subject.human_friendly)
    except Exception:  # noqa: BLE001
        return str(cert.subject.human_friendly)


def verify_signatures(pdf: bytes, trust_roots: list[Path]) -> SignatureCheck:
    """'unsigned' (no signed field), 'valid' (every signature intact, covering the document and
    chaining to one of ``trust_roots``), else 'invalid' with the reasons. Never raises on bad input."""
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation import validate_pdf_signature
        from pyhanko_certvalidator import ValidationContext

        roots = _load_certs(trust_roots)
    except Exception as exc:  # noqa: BLE001
        return SignatureCheck("invalid", [], f"cannot load trust roots: {type(exc).__name__}: {exc}")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        if reader.encrypted:
            return SignatureCheck("invalid", [], "encrypted PDF")
        sigs = list(reader.embedded_signatures)
    except Exception as exc:  # noqa: BLE001 - malformed PDF
        return SignatureCheck("invalid", [], f"unreadable PDF: {type(exc).__name__}: {exc}")
    if not sigs:
        return SignatureCheck("unsigned", [], "no signed signature field")
    signers_out, problems = [], []
    for sig in sigs:
        entry: dict = {"field": sig.field_name}
        try:
            vc = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
            st = validate_pdf_signature(sig, vc)
            cert = st.signing_cert
            entry.update(
                signer=_cert_name(cert),
                issuer=cert.issuer.human_friendly,
                serial=str(cert.serial_number),
                signing_time=iso_vn(st.signer_reported_dt) if st.signer_reported_dt else None,
                intact=bool(st.intact), valid=bool(st.valid), trusted=bool(st.trusted),
                revoked=bool(st.revoked),
                coverage=st.coverage.name if st.coverage else None,
                modification_level=st.modification_level.name if st.modification_level else None,
            )
            why = []
            if not st.intact:
                why.append("tampered: the signed bytes were changed (digest mismatch)")
            elif not st.valid:
                why.append("bad signature value")
            if st.revoked:
                why.append("revoked certificate")
            elif not st.trusted:
                nb, na = cert["tbs_certificate"]["validity"]["not_before"].native, cert["tbs_certificate"]["validity"]["not_after"].native
                now = datetime.now(timezone.utc)
                if na < now or nb > now:
                    why.append(f"expired or not yet valid certificate ({nb.isoformat()} .. {na.isoformat()})")
                else:
                    why.append("untrusted: the certificate does not chain to a trust root")
            if st.intact and st.valid and not st.bottom_line and not why:
                why.append(f"document modified after signing ({entry['coverage']}, {entry['modification_level']})")
            entry["ok"] = bool(st.bottom_line)
            entry["problems"] = why
        except Exception as exc:  # noqa: BLE001 - a broken CMS blob is an invalid signature, not a crash
            entry.update(ok=False, problems=[f"cannot validate: {type(exc).__name__}: {exc}"])
        if not entry["ok"]:
            problems.append(f"{sig.field_name}: {'; '.join(entry['problems']) or 'not valid'}")
        signers_out.append(entry)
    if problems:
        return SignatureCheck("invalid", signers_out, " | ".join(problems))
    return SignatureCheck("valid", signers_out, f"{len(sigs)} signature(s) intact and trusted")
