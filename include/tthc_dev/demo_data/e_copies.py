"""The signed electronic copies of the demo's born-digital results, and the demo CA that signs them.

Every result the sources mark as signed at issue (``e_copy_ref``) gets a one-page PDF under
``e_copies/<ref>``, signed with pyHanko by a demo agency certificate issued by a demo root CA
(``e_copies_ca/ca.pem``, the demo's trust root), at 09:00 Vietnam time on its issue day. A few
are deliberately wrong so the check has something to find: the file is missing, it was changed
after signing (tampered) or it was never signed. ``e_copies_truth.jsonl`` says which.

Deterministic: the keys are Ed25519 keys derived from the seed (Ed25519 signatures are
deterministic), the certificates have fixed serials and validity, the signing time is fixed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tthc.scans.legal import VN_TZ, sign_copy

CA_DIR = "e_copies_ca"
COPIES_DIR = "e_copies"
TRUTH_FILE = "e_copies_truth.jsonl"
MAX_E_COPIES = 5000        # beyond this many (large --size), the rest are recorded as missing, not written
FLAWS = ("missing", "tampered", "unsigned")
FLAW_EVERY = 40            # besides the first three, one in FLAW_EVERY copies is flawed (in turn)
VALID_FROM = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
VALID_TO = dt.datetime(2046, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class DemoPki:
    ca_pem: Path
    key_path: Path
    cert_path: Path


def _ed25519(seed: int, label: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"{seed}:{label}".encode()).digest())


def make_pki(folder: Path, seed: int, ca_name: str = "Demo Root CA - Dong Thap",
             signer_name: str = "UBND tinh Dong Thap (demo)") -> DemoPki:
    """A root CA and one agency signing certificate under ``folder`` (ca.pem, agency.key, agency.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key, key = _ed25519(seed, f"ca:{ca_name}"), _ed25519(seed, f"agency:{signer_name}")
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder().subject_name(name(ca_name)).issuer_name(name(ca_name))
          .public_key(ca_key.public_key()).serial_number(1000 + seed % 10_000)
          .not_valid_before(VALID_FROM).not_valid_after(VALID_TO)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, None))
    leaf = (x509.CertificateBuilder().subject_name(name(signer_name)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2000 + seed % 10_000)
            .not_valid_before(VALID_FROM).not_valid_after(VALID_TO)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         **{**usage, "content_commitment": True}), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, None))
    folder.mkdir(parents=True, exist_ok=True)
    pki = DemoPki(folder / "ca.pem", folder / "agency.key", folder / "agency.pem")
    pki.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pki.key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return pki


def result_pdf(lines: list[str]) -> bytes:
    """A one-page A4 PDF 1.7 with the given ASCII lines (the e-copy's visible content)."""
    def esc(s: str) -> str:
        return s.encode("ascii", "replace").decode().replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    text = "BT /F1 12 Tf 56 760 Td 16 TL " + " ".join(f"({esc(x)}) Tj T*" for x in lines) + " ET"
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
            b"/Contents 5 0 R >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            f"<< /Length {len(text)} >>\nstream\n{text}\nendstream".encode()]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    doc_id = hashlib.md5(bytes(out)).hexdigest()  # noqa: S324 - a document ID, not security
    out += (f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R /ID [<{doc_id}> <{doc_id}>] >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


@contextmanager
def _pdf_clock(when: dt.datetime):
    """pyHanko stamps the document's modification date with the wall clock; the demo copies are
    dated at their signing time instead, so the generator's output is the same on every run."""
    from pyhanko.pdf_utils.metadata import info, xmp_xml

    class _Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return when.astimezone(tz) if tz else when.replace(tzinfo=None)

    saved = info.datetime, xmp_xml.datetime
    info.datetime = xmp_xml.datetime = _Clock
    try:
        yield
    finally:
        info.datetime, xmp_xml.datetime = saved


def flaw_for(index: int) -> str | None:
    """The deliberate flaw of the index-th e-copy (by reference order): the first three have one
    each, then one in FLAW_EVERY in turn."""
    if index < len(FLAWS):
        return FLAWS[index]
    if index % FLAW_EVERY == 0:
        return FLAWS[(index // FLAW_EVERY) % len(FLAWS)]
    return None


def write_e_copies(out: Path, ground_truth: Path, seed: int) -> dict:
    """Write the CA, the signed e-copies and their truth file; return counts per state."""
    pki = make_pki(out / CA_DIR, seed)
    signed = []
    with ground_truth.open(encoding="utf-8") as fh:
        for line in fh:
            g = json.loads(line)
            if g.get("kind") == "result" and g.get("e_copy_ref"):
                signed.append((g["e_copy_ref"], g["result_id"], g["issue_date"], g.get("number", "")))
    signed.sort()
    counts = {"signed": 0, "missing": 0, "tampered": 0, "unsigned": 0}
    with (out / TRUTH_FILE).open("w", encoding="utf-8") as truth:
        for i, (ref, result_id, issue_date, number) in enumerate(signed):
            state = flaw_for(i) or "signed"
            if i >= MAX_E_COPIES:
                state = "missing"
            counts[state] += 1
            truth.write(json.dumps({"result_id": result_id, "e_copy_ref": ref, "state": state}) + "\n")
            if state == "missing":
                continue
            pdf = result_pdf(["KET QUA GIAI QUYET THU TUC HANH CHINH", f"So: {number}", f"Ngay cap: {issue_date}",
                              f"Ban dien tu: {ref}"])
            if state != "unsigned":
                when = dt.datetime.fromisoformat(issue_date).replace(hour=9, tzinfo=VN_TZ)
                with _pdf_clock(when):
                    pdf = sign_copy(pdf, key_path=pki.key_path, cert_path=pki.cert_path, signing_time=when,
                                    reason="Ký số kết quả giải quyết TTHC khi cấp", embed_font=False,
                                    document_id=hashlib.sha256(f"{seed}:{ref}".encode()).digest()[:16])
            if state == "tampered":  # a changed character inside the signed bytes
                pdf = pdf.replace(b"KET QUA GIAI QUYET", b"KET QUA GIAI QUYEt", 1)
            target = out / COPIES_DIR / ref
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(pdf)
    return counts
