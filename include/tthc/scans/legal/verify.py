"""Validation of a PDF's signatures against given trust roots: 'unsigned', 'valid' or 'invalid' with
the reasons."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

from tthc.scans.legal.common import SignatureCheck, iso_vn


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
