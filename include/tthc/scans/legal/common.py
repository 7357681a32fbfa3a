"""What the legal checks of digitized copies share: the Nghị định 30/2020 Appendix I thresholds,
the result types and Vietnam time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

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
