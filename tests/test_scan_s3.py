"""A drop zone and archive on S3, over real HTTP (moto's standalone server on 127.0.0.1):
JSON sidecar, archive by hash, quarantine, duplicates, after_commit: delete, rerun, fixity."""

from __future__ import annotations

import hashlib
import json
import textwrap

import pytest

from tthc_dev.demo_data import generate
from tthc.scans.config import load_drop
from tthc.scans.fixity import FixityError, fixity_check
from tthc.scans.intake import run_drop
from tthc.warehouse.db import fetch_all


@pytest.fixture(scope="module")
def s3(moto_s3):
    moto_s3.create_bucket(Bucket="scans")
    return moto_s3


@pytest.fixture(scope="module")
def env(s3, tmp_path_factory, make_database):
    base = tmp_path_factory.mktemp("s3scans")
    data = base / "demo"
    generate(data, seed=5, size=60, permits_url=None, scans=12)
    truth = [json.loads(x) for x in (data / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    scans = [a for r in truth if r["kind"] == "result" for a in r["appears"] if a["source"] == "scan_drop"]
    text_pdf = next(a["file"] for a in scans if a["format"] == "text_pdf")
    image = next(a["file"] for a in scans if a["format"] in ("png", "jpeg"))
    drop = data / "scan_drop"
    uploads = {
        f"incoming/{text_pdf}": (drop / text_pdf).read_bytes(),
        f"incoming/{image}": (drop / image).read_bytes(),
        f"incoming/late/again_{text_pdf}": (drop / text_pdf).read_bytes(),   # an exact copy, another path
        "incoming/empty.pdf": b"",
        "incoming/manifest.json": json.dumps({text_pdf: {"scanned_at": "2024-03-02T08:00:00+07:00"}}).encode(),
    }
    for key, body in uploads.items():
        s3.put_object(Bucket="scans", Key=key, Body=body)
    cfg = base / "s3_drop.yaml"
    cfg.write_text(textwrap.dedent("""\
        name: s3_drop
        location: s3://scans/incoming
        archive: s3://scans/archive
        s3: {conn_id: tthc_s3}
        manifest: manifest.json
        stability: {min_age_seconds: 0}
        after_commit: delete
        """), encoding="utf-8")
    zone = load_drop(cfg)
    url = make_database("scans3", migrated=True)
    first = run_drop(zone, url)
    return {"url": url, "zone": zone, "first": first, "text_pdf": text_pdf, "image": image, "uploads": uploads}


def _keys(s3, prefix):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket="scans", Prefix=prefix).get("Contents", []))


def test_archive_by_hash_and_links(env, s3):
    url = env["url"]
    docs = fetch_all(url, """SELECT d.sha256, d.archive_uri, d.captured_from, d.link_rule, r.result_code
                             FROM core.document d LEFT JOIN core.result r ON r.result_id = d.result_id""")
    assert len(docs) == 2
    for sha, uri, _, rule, code in docs:
        assert uri.startswith(f"s3://scans/archive/sha256/{sha[:2]}/{sha[2:4]}/{sha}.")
        key = uri.removeprefix("s3://scans/")
        body = s3.get_object(Bucket="scans", Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sha
        assert rule == "paper_only" or rule in ("natural_key", "fuzzy_name")
        assert code
    sha_pdf = hashlib.sha256(env["uploads"][f"incoming/{env['text_pdf']}"]).hexdigest()
    assert dict((d[0], d[2]) for d in docs)[sha_pdf] == "sidecar"


def test_quarantine_duplicate_and_after_commit_delete(env, s3):
    url = env["url"]
    files = dict(fetch_all(url, "SELECT file_name, status FROM ops.scan_file"))
    assert files[env["text_pdf"]] == "linked" and files[env["image"]] == "linked"
    assert files[f"late/again_{env['text_pdf']}"] == "duplicate"
    assert files["empty.pdf"] == "quarantined"
    q = fetch_all(url, "SELECT stage, reason, payload_ref FROM ops.quarantine")
    assert q == [("intake", "empty_file: empty.pdf is zero bytes", "s3://scans/incoming/empty.pdf")]
    # Linked and duplicate sources were deleted after their records were committed; the bad file stays.
    assert _keys(s3, "incoming/") == ["incoming/empty.pdf", "incoming/manifest.json"]
    assert [d["file_name"] for d in env["first"]["duplicates"]] == [f"late/again_{env['text_pdf']}"]


def test_rerun_changes_nothing(env):
    url = env["url"]
    query = """SELECT (SELECT count(*) FROM ops.scan_file), (SELECT count(*) FROM core.document),
                      (SELECT count(*) FROM core.result), (SELECT count(*) FROM ops.quarantine),
                      (SELECT count(*) FROM ops.object_event), (SELECT count(*) FROM core.document_page)"""
    before = fetch_all(url, query)
    again = run_drop(env["zone"], url)
    assert again["files_listed"] == 0
    assert fetch_all(url, query) == before


def test_fixity_on_s3(env, s3):
    url = env["url"]
    assert fixity_check(url, [env["zone"]])["failed"] == 0
    uri = fetch_all(url, "SELECT archive_uri FROM core.document ORDER BY document_id LIMIT 1")[0][0]
    key = uri.removeprefix("s3://scans/")
    s3.put_object(Bucket="scans", Key=key, Body=b"not the scan")
    with pytest.raises(FixityError, match="mismatch"):
        fixity_check(url, [env["zone"]])
    s3.delete_object(Bucket="scans", Key=key)
    with pytest.raises(FixityError, match="missing"):
        fixity_check(url, [env["zone"]])
    assert fetch_all(url, "SELECT count(*) FROM ops.fixity_check WHERE NOT ok") == [(2,)]
