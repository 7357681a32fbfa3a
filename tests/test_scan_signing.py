"""Optional signing of the digitized copy with the agency certificate, and the signature status of
scans that arrive signed (trust roots per drop zone)."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tthc_dev.demo_data import generate
from tthc.scans import legal
from tthc.scans.config import load_drop
from tthc.scans.intake import run_drop
from tthc.warehouse.db import fetch_all


def _cert(subject: str, issuer_key, issuer_name, key, ca: bool):
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=not ca, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    return builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert("TTHC Test Root CA", None, None, ca_key, True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _cert("Ủy ban nhân dân xã Mỹ Hội", ca_key, ca.subject, key, False)
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "agency.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (d / "agency.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.BestAvailableEncryption(b"mat-khau")))
    return d


def test_signing_and_signature_status(tmp_path, pki, make_database, monkeypatch):
    data = tmp_path / "demo"
    generate(data, seed=21, size=40, permits_url=None, scans=12)
    truth = [json.loads(x) for x in (data / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    scans = [a for r in truth if r["kind"] == "result" for a in r["appears"] if a["source"] == "scan_drop"]
    text_pdf = next(a["file"] for a in scans if a["format"] == "text_pdf")
    image = next(a["file"] for a in scans if a["format"] in ("png", "jpeg", "tiff"))
    drop = tmp_path / "drop"
    drop.mkdir()
    # One copy arrives already signed by the agency; one scan is an image.
    presigned = legal.sign_copy((data / "scan_drop" / text_pdf).read_bytes(), key_path=pki / "agency.key",
                                cert_path=pki / "agency.pem", passphrase=b"mat-khau",
                                signing_time=dt.datetime(2024, 1, 2, 9, 0))
    (drop / text_pdf).write_bytes(presigned)
    (drop / image).write_bytes((data / "scan_drop" / image).read_bytes())
    monkeypatch.setenv("TTHC_TEST_SIGN_PASS", "mat-khau")
    cfg = tmp_path / "signed_drop.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        name: signed_drop
        location: {drop}
        archive: {tmp_path / 'archive'}
        stability: {{min_age_seconds: 0}}
        trust_roots: [{pki / 'ca.pem'}]
        signing:
          enabled: true
          key_path: {pki / 'agency.key'}
          cert_path: {pki / 'agency.pem'}
          passphrase_env: TTHC_TEST_SIGN_PASS
        """), encoding="utf-8")
    zone = load_drop(cfg)
    url = make_database("scansign", migrated=True)
    run_drop(zone, url)
    rows = fetch_all(url, """SELECT f.file_name, d.signature_status, d.signed_copy_uri, d.signed_at, r.is_signed,
                                    f.status, f.reason
                             FROM ops.scan_file f JOIN core.document d ON d.document_id = f.document_id
                             LEFT JOIN core.result r ON r.result_id = d.result_id""")
    by_name = {r[0]: r for r in rows}
    assert by_name[text_pdf][1] == "valid"
    assert by_name[image][1] == "unsigned"
    assert by_name[text_pdf][5] == "linked"
    for name in (text_pdf, image):
        _, _, uri, signed_at, is_signed, status, reason = by_name[name]
        # Signing does not wait for linking; a linked result then counts as signed.
        assert status in ("linked", "review"), f"{name}: {status} ({reason})"
        assert is_signed is (True if status == "linked" else None)
        assert uri.startswith("file://") and uri.endswith(".signed.pdf")
        assert signed_at.utcoffset() is not None
        signed = Path(uri.removeprefix("file://")).read_bytes()
        check = legal.verify_signatures(signed, [pki / "ca.pem"])
        assert check.status == "valid", check.detail
    assert fetch_all(url, "SELECT count(*) FROM ops.object_event WHERE event = 'signed'") == [(2,)]
