"""Signing a copy as the agency with pyHanko: a visible stamp top-right on page 1 with the signer and
the signing time (ISO 8601, +07:00), the Vietnamese stamp font."""

from __future__ import annotations

import io
import logging
import unicodedata
from datetime import datetime
from pathlib import Path

from tthc.scans.legal.common import STAMP_FONT, VN_TZ
from tthc.scans.legal.verify import _cert_name

log = logging.getLogger(__name__)


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
