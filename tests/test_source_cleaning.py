"""Source config + extraction + cleaning against the generator's ground truth (not our own output)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tthc.clean.names import name_key
from tthc_dev.demo_data import generate
from tthc.sources.clean import CleanContext, clean_row
from tthc.sources.config import load_sources
from tthc.sources.extract import extract
from tthc.warehouse.db import connect


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "data"
    generate(out, seed=11, size=600, scans=12)
    truth = [json.loads(line) for line in (out / "ground_truth.jsonl").open(encoding="utf-8")]
    return out, truth


@pytest.fixture(scope="module")
def cleaned(demo, reference_warehouse):
    out, _ = demo
    mp = pytest.MonkeyPatch()
    mp.setenv("TTHC_DEMO_DATA_DIR", str(out))
    mp.delenv("TTHC_PERMITS_URL", raising=False)
    configs = {c.name: c for c in load_sources()}
    mp.undo()
    conn = connect(reference_warehouse)
    with conn, conn.cursor() as cur:
        ctx = CleanContext.load(cur)
    conn.close()
    by_source = {}
    for name, cfg in configs.items():
        rows = [row for chunk in extract(cfg) for row in chunk]
        key = "STT" if cfg.engine == "csv" else cfg.primary_key[0]  # the ground truth names CSV rows by STT
        by_source[name] = {int(row[key]): clean_row(cfg, row, ctx) for row in rows if row.get(key)}
    return by_source


def _truth_rows(truth, source):
    for t in truth:
        if t["kind"] != "result":
            continue
        for where in t["appears"]:
            table = {"civil_status": "SO_HO_TICH", "construction_permits": "giay_phep",
                     "alcohol_licences": "giay_phep_ban_le_ruou"}.get(source)
            source_name = "construction_permits" if source == "alcohol_licences" else source
            if where["source"] == source_name and where.get("table") == table:
                yield where.get("pk", where.get("row")), t, where.get("duplicate", False)


@pytest.mark.parametrize("source", ["civil_status", "construction_permits", "alcohol_licences", "household_business"])
def test_true_rows_clean_to_their_ground_truth(demo, cleaned, source):
    _, truth = demo
    rows = cleaned[source]
    checked = mismatches = 0
    problems = []
    for pk, t, duplicate in _truth_rows(truth, source):
        cand = rows[pk]
        checked += 1
        expected = {
            "document_type": t["procedure_code"], "doc_number": t["number"],
            "issue_date": dt.date.fromisoformat(t["issue_date"]),
            "unit_key": f"pre2025/{t['unit']['level']}/{int(t['unit']['code'])}", "agency_id": t["agency_electronic_id"],
            "holder_name": t["name"],
        }
        if source == "civil_status":
            expected["doc_book"] = t["book"]
        got = {k: cand[k] for k in expected}
        if duplicate:  # a re-entered copy may lack diacritics: same name, up to accents
            got["holder_name"], expected["holder_name"] = name_key(got["holder_name"]), name_key(t["name"])
        if got != expected:
            mismatches += 1
            problems.append((pk, {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}))
    assert checked > 20
    assert mismatches == 0, problems[:10]


def test_identifier_problems_are_reported(demo, cleaned):
    _, truth = demo
    flagged = [(pk, t) for pk, t, _ in _truth_rows(truth, "civil_status")
               if (t["flags"]["id_problem"] or {}).get("problem") in
               ("bad_length", "non_digit", "century_mismatch", "province_mismatch")]
    assert flagged, "the generator plants identifier flaws"
    for pk, t in flagged:
        assert any(p.startswith("holder_id") for p in cleaned["civil_status"][pk]["clean_problems"]), (pk, t["flags"])


def test_bad_input_rows_carry_a_problem(demo, cleaned):
    _, truth = demo
    bad = [t for t in truth if t["kind"] == "bad_input" and t["source"] == "civil_status" and t.get("pk")]
    assert bad
    for t in bad:
        cand = cleaned["civil_status"][int(t["pk"])]
        assert cand["clean_problems"] or cand["doc_number"] is None or cand["document_type"] is None, t
