"""Legal checks on digitized copies (tthc.scans.legal): Appendix I of Nghị định 30/2020 and signatures.

A throwaway PKI (root CA + agency certificate, another CA, an expired agency certificate)
is made with `cryptography`; PDFs are signed and validated with pyhanko for real.
Copy quality is checked on Pillow images and on the generator's scan drop against its
ground truth.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from PIL import Image, ImageDraw
from pypdf import PdfReader

from tthc.scans.legal import (
    CopyQuality,
    SignatureCheck,
    images_to_pdf,
    inspect_copy,
    iso_vn,
    sign_copy,
    signature_box,
    verify_signatures,
)

MEDIA = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".png": "image/png", ".tif": "image/tiff"}
SIGNING_TIME = dt.datetime(2026, 11, 22, 15, 4, 5)  # naive = Vietnam time


# ------------------------------------------------------------------ test PKI


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _make_ca(cn: str):
    key, now = _key(), dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_leaf(ca_key, ca_cert, cn: str, *, valid_from_days: int, valid_to_days: int):
    key, now = _key(), dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=valid_from_days)).not_valid_after(now + dt.timedelta(days=valid_to_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _write(path: Path, cert, key=None, passphrase: bytes | None = None) -> None:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        enc = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca = _make_ca("TTHC Test Root CA")
    _write(d / "ca", ca)
    _, other = _make_ca("Some Other CA")
    _write(d / "other", other)
    key, leaf = _make_leaf(ca_key, ca, "Ủy ban nhân dân xã Mỹ Hội", valid_from_days=-1, valid_to_days=365)
    _write(d / "agency", leaf, key, b"mat-khau")
    key, old = _make_leaf(ca_key, ca, "Ủy ban nhân dân xã Cũ", valid_from_days=-400, valid_to_days=-30)
    _write(d / "expired", old, key)
    return d


@pytest.fixture(scope="module")
def drop(tmp_path_factory):
    from tthc_dev.demo_data import generate

    out = tmp_path_factory.mktemp("legal") / "demo"
    generate(out, seed=7, size=300, scans=24)
    rows = [json.loads(line) for line in (out / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    return out, rows


@pytest.fixture(scope="module")
def text_pdf(drop) -> bytes:
    out, rows = drop
    for r in rows:
        for a in r.get("appears", []):
            if a["source"] == "scan_drop" and a["text_layer"]:
                return (out / "scan_drop" / a["file"]).read_bytes()
    raise AssertionError("the drop holds no text-layer PDF")


@pytest.fixture(scope="module")
def signed(pki, text_pdf) -> bytes:
    return sign_copy(text_pdf, key_path=pki / "agency.key", cert_path=pki / "agency.pem", passphrase=b"mat-khau",
                     signing_time=SIGNING_TIME)


# ------------------------------------------------------------------ signatures


def _sig_widget(pdf: bytes):
    reader = PdfReader(io.BytesIO(pdf))
    page = reader.pages[0]
    for annot in page.get("/Annots", []):
        a = annot.get_object()
        if a.get("/FT") == "/Sig" or (a.get("/Parent") and a["/Parent"].get_object().get("/FT") == "/Sig"):
            return page, a
    raise AssertionError("no signature widget on page 1")


def test_signed_copy_is_valid_with_its_ca(pki, signed):
    check = verify_signatures(signed, [pki / "ca.pem"])
    assert check.status == "valid", check.detail
    [s] = check.signers
    assert s["signer"] == "Ủy ban nhân dân xã Mỹ Hội"
    assert s["intact"] and s["trusted"] and s["coverage"] == "ENTIRE_FILE"
    # The signing time recorded in the CMS is the requested one, in Vietnam time.
    assert s["signing_time"] == "2026-11-22T15:04:05+07:00"


def test_signature_dictionary_and_stamp(signed, text_pdf):
    page, widget = _sig_widget(signed)
    sig = widget["/V"].get_object()
    assert sig["/M"] == "D:20261122150405+07'00'"
    assert sig["/Reason"] == "Số hóa kết quả giải quyết TTHC" and sig["/Location"] == "Đồng Tháp"
    # Visible, top-right of page 1.
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    mb = page.mediabox
    w, h = float(mb.width), float(mb.height)
    assert x1 > w / 2 and y1 > h * 0.75 and x2 <= w and y2 <= h and w - x2 < 40 and h - y2 < 40
    assert x2 - x1 > 100 and y2 - y1 > 30
    assert (x1, y1, x2, y2) == signature_box(mb)
    assert widget["/AP"]["/N"].get_object().get_data()  # an appearance stream, not an empty box
    # The original revision is kept byte for byte (incremental update) and the version raised to 1.7.
    assert signed.startswith(text_pdf)
    q = inspect_copy(signed, "application/pdf")
    assert q.pdf_version == "1.7" and "pdf_version_below_1_4" not in q.issues and q.quality_ok


def test_visible_stamp_shows_signer_and_iso_time(signed, tmp_path, monkeypatch):
    """Render page 1 (poppler draws the widget appearance) and read the stamp with Tesseract."""
    import subprocess

    import pytesseract

    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    (tmp_path / "signed.pdf").write_bytes(signed)
    subprocess.run(["pdftoppm", "-r", "300", "-gray", "-singlefile", "-f", "1", "-l", "1",
                    str(tmp_path / "signed.pdf"), str(tmp_path / "p")], check=True)
    im = Image.open(tmp_path / "p.pgm")
    page, widget = _sig_widget(signed)
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    k, h = 300 / 72, im.height
    crop = im.crop((int(x1 * k), int(h - y2 * k), int(x2 * k), int(h - y1 * k)))
    text = pytesseract.image_to_string(crop.resize((crop.width * 2, crop.height * 2)), lang="vie")
    flat = text.replace(" ", "")
    assert "2026-11-22T15:04:05+07:00" in flat, text
    assert "Ủybannhândânxã" in flat and "Kýbởi" in flat, text   # Vietnamese marks render (embedded DejaVu)


def test_stamp_without_opentype_support_falls_back_to_ascii(pki, text_pdf, monkeypatch):
    from tthc.scans import legal

    monkeypatch.setattr(legal.signing, "_stamp_font_engine", lambda: None)  # as if fonttools/uharfbuzz were missing
    signed = sign_copy(text_pdf, key_path=pki / "agency.key", cert_path=pki / "agency.pem", passphrase=b"mat-khau",
                       signing_time=SIGNING_TIME)
    assert verify_signatures(signed, [pki / "ca.pem"]).status == "valid"
    _, widget = _sig_widget(signed)
    assert b"Uy ban nhan dan xa My Hoi" in widget["/AP"]["/N"].get_object().get_data() or \
        any(b"Uy ban nhan dan" in x.get_object().get_data()
            for x in widget["/AP"]["/N"].get_object()["/Resources"]["/XObject"].values())


def test_untrusted_root_is_invalid(pki, signed):
    check = verify_signatures(signed, [pki / "other.pem"])
    assert check.status == "invalid"
    assert "untrusted" in check.detail
    assert check.signers[0]["intact"] is True and check.signers[0]["trusted"] is False


def test_tampered_copy_is_invalid(pki, signed):
    # One flipped bit inside the first stream of the signed revision: the digest no longer matches.
    data = bytearray(signed)
    stream_at = signed.index(b"stream") + 20
    data[stream_at] ^= 0x01
    check = verify_signatures(bytes(data), [pki / "ca.pem"])
    assert check.status == "invalid"
    assert "tampered" in check.detail


def test_expired_certificate_is_invalid(pki, text_pdf):
    signed = sign_copy(text_pdf, key_path=pki / "expired.key", cert_path=pki / "expired.pem")
    check = verify_signatures(signed, [pki / "ca.pem"])
    assert check.status == "invalid" and "expired" in check.detail


def test_unsigned_and_malformed(pki, text_pdf):
    assert verify_signatures(text_pdf, [pki / "ca.pem"]).status == "unsigned"
    for junk in (b"", b"not a pdf at all", text_pdf[: len(text_pdf) // 2]):
        check = verify_signatures(junk, [pki / "ca.pem"])
        assert isinstance(check, SignatureCheck) and check.status == "invalid" and check.detail


def test_signing_time_defaults_to_now_in_vietnam_time(pki):
    pdf = images_to_pdf([_png(_colour_page(200), 200)])
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    signed = sign_copy(pdf, key_path=pki / "agency.key", cert_path=pki / "agency.pem", passphrase=b"mat-khau",
                       signing_time=None, field_name="ChuKySo")
    check = verify_signatures(signed, [pki / "ca.pem"])
    assert check.status == "valid", check.detail
    ts = check.signers[0]["signing_time"]
    assert check.signers[0]["field"] == "ChuKySo"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", ts)
    assert dt.datetime.fromisoformat(ts) >= before
    assert iso_vn(dt.datetime(2026, 11, 22, 8, 4, 5, tzinfo=dt.timezone.utc)) == "2026-11-22T15:04:05+07:00"


# ------------------------------------------------------------------ copy quality


def _colour_page(dpi: int) -> Image.Image:
    w, h = round(8.27 * dpi), round(11.69 * dpi)
    im = Image.new("RGB", (w, h), (250, 248, 240))
    d = ImageDraw.Draw(im)
    d.text((w // 10, h // 10), "GIẤY KHAI SINH", fill=(25, 25, 70))
    d.ellipse((w // 2, h // 2, w // 2 + dpi, h // 2 + dpi), outline=(200, 30, 30), width=max(2, dpi // 50))
    return im


def _grey_page(dpi: int) -> Image.Image:
    return _colour_page(dpi).convert("L")


def _png(im: Image.Image, dpi: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", dpi=(dpi, dpi), compress_level=1)
    return buf.getvalue()


def _jpeg(im: Image.Image, dpi: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", dpi=(dpi, dpi), quality=80)
    return buf.getvalue()


def test_grey_150_dpi_scan_is_flagged_and_colour_300_dpi_passes():
    bad = inspect_copy(_png(_grey_page(150), 150), "image/png")
    assert bad.quality_ok is False
    assert {"dpi_below_200", "not_colour", "image_not_pdf"} <= set(bad.issues)
    assert bad.min_dpi == 150.0 and bad.is_colour is False and bad.page_count == 1
    good = inspect_copy(_jpeg(_colour_page(300), 300), "image/jpeg")
    assert good.quality_ok is True and good.min_dpi == 300.0 and good.is_colour is True
    assert good.issues == ["image_not_pdf"]  # fixable: wrap it with images_to_pdf
    assert good.legal_ok is False


def test_colour_image_that_is_really_grey():
    grey_as_rgb = _grey_page(300).convert("RGB")
    q = inspect_copy(_jpeg(grey_as_rgb, 300), "image/jpeg")
    assert q.is_colour is False and "not_colour" in q.issues and not q.quality_ok


def test_tiff_dpi_metadata_and_unknown_dpi():
    buf = io.BytesIO()
    _colour_page(200).save(buf, "TIFF", compression="tiff_lzw", dpi=(200, 200))
    assert inspect_copy(buf.getvalue(), "image/tiff").min_dpi == 200.0
    buf = io.BytesIO()
    _colour_page(200).save(buf, "PNG")  # no pHYs chunk
    q = inspect_copy(buf.getvalue(), "image/png")
    assert "dpi_unknown" in q.issues and q.quality_ok is False


def test_images_to_pdf_keeps_pixels_and_dpi():
    jpeg = _jpeg(_colour_page(300), 300)
    grey = _grey_page(150)
    pdf = images_to_pdf([jpeg, _png(grey, 150)])
    assert pdf.startswith(b"%PDF-1.4")
    q = inspect_copy(pdf, "application/pdf")
    assert q == CopyQuality("1.4", 150.0, False, False, ["dpi_below_200", "not_colour"], 2)
    reader = PdfReader(io.BytesIO(pdf))
    page1, page2 = reader.pages
    assert float(page1.mediabox.width) == pytest.approx(595.44, abs=0.1)  # 2481 px at 300 dpi
    xobj = page1["/Resources"]["/XObject"]["/Im0"].get_object()
    assert xobj["/Filter"] == "/DCTDecode" and xobj.get_data() == jpeg  # JPEG as is, no second lossy pass
    [im2] = page2.images
    assert im2.image.mode == "L" and im2.image.tobytes() == grey.tobytes()  # lossless


def test_colour_pdf_passes_and_multipage_tiff():
    pdf = images_to_pdf([_jpeg(_colour_page(300), 300)])
    q = inspect_copy(pdf, "application/pdf")
    assert q.quality_ok and q.legal_ok and q.min_dpi == 300.0 and q.is_colour is True
    frames = [_colour_page(200), _colour_page(200)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:], dpi=(200, 200), compression="tiff_lzw")
    assert inspect_copy(buf.getvalue(), "image/tiff").page_count == 2
    assert inspect_copy(images_to_pdf([buf.getvalue()]), "application/pdf").page_count == 2
    # The dpi argument overrides missing metadata; without either it is an error naming the image.
    buf = io.BytesIO()
    _colour_page(100).save(buf, "PNG")
    assert inspect_copy(images_to_pdf([buf.getvalue()], dpi=100), "application/pdf").min_dpi == 100.0
    with pytest.raises(ValueError, match="image 0 has no dpi"):
        images_to_pdf([buf.getvalue()])
    with pytest.raises(ValueError, match="image 1 is not a readable image"):
        images_to_pdf([_png(_grey_page(50), 50), b"garbage"])


def test_image_pdf_from_images_to_pdf_can_be_signed(pki):
    pdf = images_to_pdf([_jpeg(_colour_page(200), 200)])
    signed = sign_copy(pdf, key_path=pki / "agency.key", cert_path=pki / "agency.pem", passphrase=b"mat-khau",
                       signing_time=SIGNING_TIME)
    assert verify_signatures(signed, [pki / "ca.pem"]).status == "valid"
    q = inspect_copy(signed, "application/pdf")
    assert q.quality_ok and q.min_dpi == 200.0 and q.legal_ok, q


def test_generator_scan_drop_matches_ground_truth(drop):
    """Every file of the drop: quality_ok as in the ground truth; broken files are flagged."""
    out, rows = drop
    truth = {}
    for r in rows:
        if r["kind"] == "result":
            for a in r["appears"]:
                if a["source"] == "scan_drop":
                    truth[a["file"]] = a
        elif r["kind"] == "bad_input" and r["source"] == "scan_drop":
            truth[r["file"]] = r
    expected_broken = {"empty_file": "empty_file", "encrypted_pdf": "encrypted_pdf",
                       "truncated_pdf": "unreadable", "wrong_extension": "media_type_mismatch"}
    seen = set()
    for f in sorted((out / "scan_drop").iterdir()):
        if f.name == "manifest.csv":
            continue
        t = truth[f.name]
        q = inspect_copy(f.read_bytes(), MEDIA[f.suffix])
        if "reason" in t:
            assert expected_broken[t["reason"]] in q.issues, (f.name, q)
            seen.add(t["reason"])
            continue
        assert q.quality_ok == t["quality_ok"], (f.name, q, t)
        if t["text_layer"]:
            assert q.min_dpi is None and q.pdf_version is not None
        else:
            assert q.min_dpi == pytest.approx(t["dpi"], abs=0.5), (f.name, q)
            assert q.is_colour == (t["color"] == "rgb"), (f.name, q)
    assert seen == set(expected_broken)
