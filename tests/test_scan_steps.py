"""The scan intake chain as steps: a drop zone's `steps:` key, its errors, and a zone that leaves an
optional step out (real drop, real warehouse, real Tesseract)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from tthc.scans.config import DropConfigError, load_drop
from tthc.scans.intake import run_drop
from tthc.scans.steps.chain import STEPS, Chain
from tthc.scans.steps.names import OPTIONAL, ORDER, default_steps
from tthc.warehouse.db import fetch_all

ROOT = Path(__file__).resolve().parents[1]


def zone_yaml(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "zone.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: steps_drop
        location: {tmp_path / 'drop'}
        archive: {tmp_path / 'archive'}
        stability: {{min_age_seconds: 0}}
        """) + textwrap.dedent(extra), encoding="utf-8")
    return path


def test_every_step_has_its_own_module_and_the_contract():
    assert tuple(STEPS) == ORDER
    modules = {cls.__module__ for cls in STEPS.values()}
    assert len(modules) == len(STEPS), "one module per step"
    for name, cls in STEPS.items():
        assert cls.name == name
        assert all(callable(getattr(cls, m)) for m in ("can_run", "run", "cleanup"))


def test_without_steps_a_zone_runs_what_it_always_did(tmp_path):
    zone = load_drop(zone_yaml(tmp_path))
    assert zone.steps == default_steps(False) and "sign" not in zone.steps and "copy_quality" in zone.steps
    demo = load_drop(ROOT / "drops" / "demo_scans.yaml")
    assert demo.steps == zone.steps


def test_signing_enabled_adds_the_sign_step(tmp_path):
    zone = load_drop(zone_yaml(tmp_path, "signing: {enabled: true, key_path: /k.pem, cert_path: /c.pem}\n"))
    assert zone.steps[-3:] == ("sign", "validate", "link")


@pytest.mark.parametrize("steps, message", [
    ("[hash, check_type, dedup, archive, text, document, ocr, fields, validate, link, stamp]",
     "steps: unknown step 'stamp'; allowed: ['hash'"),
    ("[hash, check_type, archive, text, document, ocr, fields, validate, link]",
     "steps: required step 'dedup' is missing (only ['copy_quality', 'sign'] may be left out)"),
    ("hash", "steps: input should be a valid list, got 'hash'"),
    ("[hash, check_type, dedup, archive, text, document, ocr, fields, sign, validate, link]",
     "steps: sign needs signing.key_path and signing.cert_path"),
])
def test_a_bad_steps_list_names_the_file_and_the_step(tmp_path, steps, message):
    with pytest.raises(DropConfigError) as err:
        load_drop(zone_yaml(tmp_path, f"steps: {steps}\n"))
    assert str(err.value).startswith("zone.yaml: ") and message in str(err.value), str(err.value)


def test_steps_run_in_chain_order_whatever_the_list_order(tmp_path):
    listed = list(reversed([n for n in ORDER if n not in OPTIONAL]))
    zone = load_drop(zone_yaml(tmp_path, f"steps: [{', '.join(listed)}]\n"))
    assert zone.steps == tuple(n for n in ORDER if n not in OPTIONAL)
    chain = Chain(zone.steps)
    assert [s.name for s in chain.file_steps] == ["hash", "check_type", "dedup", "archive", "text", "document",
                                                  "ocr", "fields"]
    assert [s.name for s in chain.batch_steps] == ["validate", "link"]


def test_a_zone_without_copy_quality_skips_it_and_still_links_or_reviews(tmp_path, make_database, monkeypatch):
    drop = tmp_path / "drop"
    drop.mkdir()
    im = Image.new("RGB", (1654, 900), "white")
    ImageDraw.Draw(im).text((120, 120), "GIẤY KHAI SINH\nSố: 7/2024", fill="black",
                            font=ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40))
    im.save(drop / "scan.png", dpi=(200, 200))
    monkeypatch.setenv("TTHC_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("TTHC_OCR_WORKERS", "1")
    zone = load_drop(zone_yaml(tmp_path, "steps: [hash, check_type, dedup, archive, text, document, ocr, fields, "
                                         "validate, link]\n"))
    url = make_database("steps", migrated=True)
    result = run_drop(zone, url)
    assert result["processed_this_run"] == 1
    (status, quality_ok, issues, sig, detail, pages), = fetch_all(url, """
        SELECT f.status, d.quality_ok, d.quality_issues, d.signature_status, d.signature_detail->>'detail',
               (SELECT count(*) FROM core.document_page p WHERE p.document_id = d.document_id)
        FROM ops.scan_file f JOIN core.document d ON d.document_id = f.document_id""")
    assert status in ("linked", "review") and pages == 1
    assert quality_ok is None and issues == [] and sig == "unsigned" and "copy_quality" in detail
