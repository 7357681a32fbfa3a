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

Nothing here touches the database; the intake pipeline stores the results. One module per
concern: common (thresholds, result types), quality, images, signing, verify.
"""

from __future__ import annotations

from tthc.scans.legal.common import (FORMAT_ISSUES, MIN_DPI, MIN_PDF_VERSION, QUALITY_ISSUES, VN_TZ, CopyQuality,
                                     SignatureCheck, iso_vn)
from tthc.scans.legal.images import images_to_pdf
from tthc.scans.legal.quality import inspect_copy, sniff_format
from tthc.scans.legal.signing import sign_copy, signature_box, stamp_font_path
from tthc.scans.legal.verify import verify_signatures

__all__ = [
    "CopyQuality", "SignatureCheck", "inspect_copy", "verify_signatures", "sign_copy", "images_to_pdf",
    "MIN_DPI", "MIN_PDF_VERSION", "VN_TZ", "iso_vn", "QUALITY_ISSUES", "FORMAT_ISSUES", "sniff_format",
    "signature_box", "stamp_font_path",
]
