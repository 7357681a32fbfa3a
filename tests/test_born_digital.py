"""Born-digital copies checked (tthc.born_digital): real files on a folder, on S3 (moto's server over
HTTP) and behind a local HTTP server, real pyHanko signatures from a test CA; missing, tampered,
unsigned and untrusted copies are quarantined and never count as signed or digitized."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from signedkit import register_source, write_register

from tthc.born_digital import check_e_copies, resolve
from tthc_dev.demo_data import generate
from tthc_dev.demo_data.e_copies import make_pki, result_pdf
from tthc.scans.legal import sign_copy
from tthc.settings import Settings
from tthc.sources.config import load_sources
from tthc.sources.pipeline import run_batch
from tthc.warehouse.db import fetch_all

AS_OF = "2025-06-30"


@pytest.fixture(scope="module")
def s3(moto_s3):
    moto_s3.create_bucket(Bucket="ecopies")
    return moto_s3


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """A plain HTTP file server on 127.0.0.1 (the province system's document store on the LAN)."""
    root = tmp_path_factory.mktemp("web")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("pki")
    return make_pki(base / "trusted", 101, "Test Root CA"), make_pki(base / "other", 202, "Some Other CA")


def _signed(pki, text: str) -> bytes:
    return sign_copy(result_pdf([text]), key_path=pki.key_path, cert_path=pki.cert_path,
                     signing_time=dt.datetime(2024, 5, 2, 9, 0))


def _source(tmp_path, monkeypatch, refs: dict[str, str]):
    """A legacy licence register whose rows are all flagged signed, with the given e-copy refs."""
    db = tmp_path / "gp.db"
    write_register(db, [(f"S{i}", number, f"2024-05-{i:02d}", f"Nguyễn Văn {chr(64 + i)}", "29902", "1", ref,
                         f"2024-05-{i:02d} 08:00:00") for i, (number, ref) in enumerate(refs.items(), 1)])
    return register_source(tmp_path, monkeypatch, db, "signed_copies_test")


def _checks(url) -> dict:
    return {r[0]: r[1:] for r in fetch_all(url, """
        SELECT r.doc_number, e.status, e.sha256, e.archive_uri, e.attempts, e.reason
        FROM core.result r LEFT JOIN core.result_e_copy e USING (result_id) ORDER BY 1""")}


def _signed_share(url) -> tuple[int, int]:
    return fetch_all(url, """SELECT numerator, denominator FROM mart.indicators_as_of(%s)
                             WHERE plan_code = (SELECT min(plan_code) FROM core.plan) AND indicator = 'signed_share'""",
                     (AS_OF,))[0]


def _progress_signed(url) -> tuple[int, int]:
    """(signed, issued since the signing start) summed over the first plan's issuing units."""
    return tuple(int(v) for v in fetch_all(url, """
        SELECT coalesce(sum(signed), 0), coalesce(sum(issued_since_2022), 0) FROM mart.progress_as_of(%s)
        WHERE unit_view = 'issuing' AND plan_code = (SELECT min(plan_code) FROM core.plan)""", (AS_OF,))[0])


def test_signed_copies_count_only_when_their_signature_verifies(warehouse, tmp_path, monkeypatch, s3, web, pki):
    trusted, other = pki
    folder = tmp_path / "copies"
    (folder / "gp").mkdir(parents=True)
    good = _signed(trusted, "1/2024/GPBLR")
    (folder / "gp" / "ok.pdf").write_bytes(good)
    tampered = _signed(trusted, "3/2024/GPBLR")
    (folder / "gp" / "tampered.pdf").write_bytes(tampered.replace(b"3/2024/GPBLR", b"8/2024/GPBLR", 1))
    (folder / "gp" / "unsigned.pdf").write_bytes(result_pdf(["4/2024/GPBLR"]))
    (folder / "gp" / "other.pdf").write_bytes(_signed(other, "5/2024/GPBLR"))
    (folder / "gp" / "junk.pdf").write_bytes(b"this is not a PDF at all")
    s3.put_object(Bucket="ecopies", Key="gp/s3.pdf", Body=_signed(trusted, "6/2024/GPBLR"))
    web_root, web_url = web
    (web_root / "gp").mkdir()
    (web_root / "gp" / "web.pdf").write_bytes(_signed(trusted, "7/2024/GPBLR"))
    refs = {"1/2024/GPBLR": "gp/ok.pdf", "2/2024/GPBLR": "gp/missing.pdf", "3/2024/GPBLR": "gp/tampered.pdf",
            "4/2024/GPBLR": "gp/unsigned.pdf", "5/2024/GPBLR": "gp/other.pdf", "6/2024/GPBLR": "s3://ecopies/gp/s3.pdf",
            "7/2024/GPBLR": f"{web_url}/gp/web.pdf", "8/2024/GPBLR": "gp/junk.pdf",
            "9/2024/GPBLR": f"{web_url}/gp/gone.pdf"}
    cfg = _source(tmp_path, monkeypatch, refs)
    run_batch(cfg, warehouse)
    archive = tmp_path / "archive"
    settings = Settings.from_env().model_copy(update=dict(
        signed_copy_base=str(folder), signed_copy_archive=str(archive), signed_copy_trust_roots=(trusted.ca_pem,)))

    # Flagged signed by the source but not checked yet: neither signed nor digitized.
    assert _signed_share(warehouse) == (0, 9)
    assert _progress_signed(warehouse) == (0, 9)

    report = check_e_copies(warehouse, settings=settings)
    assert report == {"checked": 9, "verified": 3, "missing": 2, "unreadable": 1, "unsigned": 1, "invalid": 2,
                      "archived": 7, "quarantined": 6}
    checks = _checks(warehouse)
    assert {k: v[0] for k, v in checks.items()} == {
        "1/2024/GPBLR": "verified", "2/2024/GPBLR": "missing", "3/2024/GPBLR": "invalid", "4/2024/GPBLR": "unsigned",
        "5/2024/GPBLR": "invalid", "6/2024/GPBLR": "verified", "7/2024/GPBLR": "verified", "8/2024/GPBLR": "unreadable",
        "9/2024/GPBLR": "missing"}
    assert "tampered" in checks["3/2024/GPBLR"][4] and "untrusted" in checks["5/2024/GPBLR"][4]
    # archived write-once by content hash, byte for byte
    status, sha, uri, attempts, reason = checks["1/2024/GPBLR"]
    assert sha == hashlib.sha256(good).hexdigest() and uri.endswith(f"{sha}.pdf")
    assert (archive / "sha256" / sha[:2] / sha[2:4] / f"{sha}.pdf").read_bytes() == good
    assert checks["2/2024/GPBLR"][1:3] == (None, None)
    # every finding is in the quarantine, naming the result code and the reference
    quarantined = {r[0]: (r[1], r[2]) for r in fetch_all(warehouse, """
        SELECT q.source_key, q.reason, q.payload FROM ops.quarantine q WHERE q.source = 'born_digital'""")}
    codes = {r[1]: r[0] for r in fetch_all(warehouse, "SELECT result_code, doc_number FROM core.result")}
    bad = {n for n, v in checks.items() if v[0] != "verified"}
    assert set(quarantined) == {codes[n] for n in bad}
    for n in bad:
        reason, payload = quarantined[codes[n]]
        assert reason.startswith(f"{codes[n]}: signed copy {refs[n]!r}: ") and payload["copy_ref"] == refs[n]
    # only verified copies count as signed, in the indicator and in the progress rows
    assert _signed_share(warehouse) == (3, 9)
    assert _progress_signed(warehouse) == (3, 9)
    queued = {r[0] for r in fetch_all(warehouse, "SELECT doc_number FROM mart.work_queue")}
    assert queued == bad

    # A rerun looks only at the missing copies again: nothing archived twice, nothing quarantined twice.
    events = fetch_all(warehouse, "SELECT count(*) FROM ops.object_event WHERE event = 'e_copy_archived'")[0][0]
    again = check_e_copies(warehouse, settings=settings)
    assert (again["checked"], again["missing"], again["archived"], again["quarantined"]) == (2, 2, 0, 0)
    after = _checks(warehouse)
    assert {k: v[:3] for k, v in after.items()} == {k: v[:3] for k, v in checks.items()}
    assert after["1/2024/GPBLR"][3] == 1 and after["2/2024/GPBLR"][3] == 2
    assert fetch_all(warehouse, "SELECT count(*) FROM ops.object_event WHERE event = 'e_copy_archived'")[0][0] == events

    # The missing file arrives; a changed reference is checked again.
    (folder / "gp" / "missing.pdf").write_bytes(_signed(trusted, "2/2024/GPBLR"))
    fetch_all(warehouse, """UPDATE core.result SET copy_ref = 'gp/ok.pdf' WHERE doc_number = '4/2024/GPBLR'
                            RETURNING 1""")
    third = check_e_copies(warehouse, settings=settings)
    assert (third["checked"], third["verified"], third["archived"]) == (3, 2, 1)
    assert _checks(warehouse)["4/2024/GPBLR"][:2] == ("verified", hashlib.sha256(good).hexdigest())
    assert _signed_share(warehouse) == (5, 9) and _progress_signed(warehouse) == (5, 9)


def test_resolve_relative_refs_against_each_kind_of_base():
    assert resolve("hotich/2023/a b.pdf", "http://docs.local/ecopies/") == "http://docs.local/ecopies/hotich/2023/a%20b.pdf"
    assert resolve("hotich/2023/a.pdf", "s3://bucket/prefix") == "s3://bucket/prefix/hotich/2023/a.pdf"
    assert resolve("/hotich/a.pdf", "/srv/ecopies") == "/hotich/a.pdf"
    assert resolve("hotich/a.pdf", "file:///srv/ecopies") == "/srv/ecopies/hotich/a.pdf"
    assert resolve("s3://other/x.pdf", "/srv") == "s3://other/x.pdf"


def test_demo_e_copies_are_checked_as_the_ground_truth_says(warehouse, tmp_path, monkeypatch):
    out = tmp_path / "data"
    generate(out, seed=5, size=300, scans=12)
    monkeypatch.setenv("TTHC_DEMO_DATA_DIR", str(out))
    for name in ("TTHC_SIGNED_COPY_BASE", "TTHC_SIGNED_COPY_TRUST_ROOTS", "TTHC_SCAN_TRUST_ROOTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TTHC_SIGNED_COPY_ARCHIVE", str(tmp_path / "archive"))
    configs = {c.name: c for c in load_sources()}
    for name in ("civil_status", "construction_permits", "alcohol_licences"):
        run_batch(configs[name], warehouse)
    report = check_e_copies(warehouse)   # the embedded defaults: the demo's e_copies/ and its CA
    truth = {t["e_copy_ref"]: t["state"] for t in map(json.loads, (out / "e_copies_truth.jsonl").open())}
    assert set(truth.values()) == {"signed", "missing", "tampered", "unsigned"}
    got = dict(fetch_all(warehouse, """SELECT r.copy_ref, e.status FROM core.result r
                                       JOIN core.result_e_copy e USING (result_id)"""))
    expected = {"signed": "verified", "missing": "missing", "tampered": "invalid", "unsigned": "unsigned"}
    assert got and set(got) <= set(truth)
    assert got == {ref: expected[truth[ref]] for ref in got}
    assert report["checked"] == len(got) and report["verified"] == sum(v == "verified" for v in got.values())
    assert Path(out / "e_copies_ca" / "ca.pem").exists()


def test_no_trust_roots_stops_before_recording_anything(warehouse, tmp_path, monkeypatch, pki):
    cfg = _source(tmp_path, monkeypatch, {"1/2024/GPBLR": "gp/ok.pdf"})
    run_batch(cfg, warehouse)
    settings = Settings.from_env().model_copy(update=dict(
        signed_copy_base=str(tmp_path), signed_copy_archive=str(tmp_path / "archive"),
        signed_copy_trust_roots=(tmp_path / "nowhere.pem",)))
    with pytest.raises(FileNotFoundError, match="TTHC_SIGNED_COPY_TRUST_ROOTS: .*nowhere.pem"):
        check_e_copies(warehouse, settings=settings)
    assert fetch_all(warehouse, "SELECT count(*) FROM core.result_e_copy")[0][0] == 0
    assert fetch_all(warehouse, "SELECT count(*) FROM ops.quarantine WHERE source = 'born_digital'")[0][0] == 0
