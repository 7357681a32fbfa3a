"""Scan fields on official-template layouts: per-field exact accuracy, share to review, links and
holders, pages/s; against the same pipeline reading the same text without its layout.

    .venv/bin/python bench/bench_scan_fields.py --per-type 6 --seed 3

Generates the demo data (seed, --size results), loads the legacy sources a scanning team would
find in the warehouse (civil status, household business, construction permits) into a fresh
PostgreSQL database, then writes a drop of --per-type scans of each result type in the layouts of
tthc_dev.demo_data.scans (2020/2015/older civil-status forms, business and permit papers; five fonts
when installed; text-layer PDF, image PDF, JPEG, PNG; 150-300 dpi, grey or colour, noise, skew;
dates in words with slips). Layouts in tthc_dev.demo_data.scans.HELD_OUT are used by no test: the
figures are reported for them apart.

One run_drop (list, OCR, fields, clean, GX, link) is timed; then, from the warehouse:
  fields    per field, the share of scans whose extracted value is exactly what the page prints
            (dates compared as dates, agency and place names without case/diacritics)
  review    the share of the good scans sent to the review queue
  links     scans of results the warehouse holds: linked to that result (right), to another (wrong),
            not linked (missed); scans of results it does not hold: paper-only results created,
            and those created under a wrong holder
  baseline  the same extraction on the same page text with the layout removed (columns joined by a
            space, as a plain text layer or OCR line would read): field accuracy ratio ours/baseline
Goals: >= 97% exact on every field, <= 10% of good scans to review, 0 wrong holders, 0 wrong links.
Ends with a JSON summary (stable keys).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import textwrap
import time
import uuid
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
# The warehouse is a throwaway database: a random holder-matching key unless one is set.
os.environ.setdefault("TTHC_HOLDER_KEY_SECRET", "bench-" + uuid.uuid4().hex)
ROOT = Path(__file__).resolve().parents[1]
ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
FIELDS = ("doc_number", "doc_book", "issue_date", "holder_name", "holder_id", "holder_birth_date", "holder2_name",
          "issuing_body", "unit_name", "business_name", "tax_code", "address")


def expected(rec: dict, printed: dict) -> dict:
    t = rec["truth"]
    out = {"doc_number": t["number"], "issue_date": t["issue_date"], "holder_name": t["name"],
           "holder_id": t["person_id"], "issuing_body": printed["issuing_body"]}
    if rec["proc"] in ("KS", "KH", "KT", "XNHN"):
        out.update(doc_book=t["book"], holder_birth_date=t["birth_date"], unit_name=printed["unit_name"])
    if rec["proc"] == "KH":
        out["holder2_name"] = t["name_2"]
    for k, f in (("business_name", "business_name"), ("tax_code", "mst"), ("address", "address")):
        if t.get(f) and rec["proc"] in ("HKD", "BLR", "ATTP", "DKDN", "GPXD"):
            out[k] = t[f]
    return out


def same(field: str, got: str | None, want: str) -> bool:
    from tthc.clean.dates import parse_date
    from tthc.scans.rules import squash

    if got is None:
        return False
    if field in ("issue_date", "holder_birth_date"):
        try:
            return parse_date(got).isoformat() == want
        except Exception:  # noqa: BLE001
            return False
    if field in ("issuing_body", "unit_name"):
        return squash(got) == squash(want)
    return got == want


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-type", type=int, default=6, help="scans per result type (types with enough results)")
    ap.add_argument("--size", type=int, default=150, help="results in the generated demo data")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--verbose", action="store_true", help="print the page text of every scan with a miss")
    args = ap.parse_args()
    os.environ["TTHC_OCR_WORKERS"] = str(args.workers)

    from tthc_dev.demo_data import generate
    from tthc_dev.demo_data import scans as S
    from tthc_dev.demo_data.reference import load_reference as demo_reference
    from tthc_dev.demo_data.sources import UnitNamer
    from tthc.reference.load import load_reference
    from tthc.scans.config import load_drop
    from tthc.scans.fields import extract_fields
    from tthc.scans.intake import run_drop
    from tthc.clean.names import name_key
    from tthc.sources.config import load_source
    from tthc.sources.pipeline import run_batch
    from tthc.warehouse.db import fetch_all
    from tthc.warehouse.migrate import migrate
    from tthc.warehouse.server import drop_database, ensure_database, with_database

    work = Path(tempfile.mkdtemp(prefix="bench-scan-fields-"))
    data = work / "demo"
    generate(data, seed=args.seed, size=args.size, permits_url=None, scans=12)
    os.environ["TTHC_DEMO_DATA_DIR"] = str(data)
    truth_rows = [json.loads(x) for x in (data / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    ref = demo_reference()
    by_type: dict[str, list] = defaultdict(list)
    for rec in S.records_from_truth(truth_rows, ref):
        if not any(a["source"] == "scan_drop" for a in rec["truth"]["appears"]):
            by_type[rec["proc"]].append(rec)
    recs = [r for code in sorted(by_type) for r in by_type[code][:args.per_type]]
    drop = work / "drop"
    printed = S.layout_drop(drop, recs, UnitNamer(ref), ref.province_name, args.seed)

    name = f"bench_fields_{uuid.uuid4().hex[:8]}"
    ensure_database(ADMIN, name)
    url = with_database(ADMIN, name)
    try:
        migrate(url)
        load_reference(url)
        for src in ("civil_status", "household_business", "construction_permits"):
            run_batch(load_source(ROOT / "sources" / f"{src}.yaml"), url)
        known = {}   # does the warehouse hold the result each scan shows (before the drop)?
        for rec in recs:
            t = rec["truth"]
            rows = fetch_all(url, """SELECT result_id FROM core.result WHERE procedure_code = %s AND doc_number = %s
                                     AND issue_date = %s AND coalesce(doc_book, '') = %s""",
                             (rec["proc"], t["number"], t["issue_date"], t.get("book") or ""))
            known[t["result_id"]] = {r[0] for r in rows}
        (work / "zone.yaml").write_text(textwrap.dedent(f"""\
            name: bench_fields
            location: {drop}
            archive: {work / 'archive'}
            stability: {{min_age_seconds: 0}}
            """), encoding="utf-8")
        zone = load_drop(work / "zone.yaml")
        load1 = os.getloadavg()
        started = time.perf_counter()
        report = run_drop(zone, url)
        seconds = time.perf_counter() - started
        load2 = os.getloadavg()

        docs = {r[0]: r[1:] for r in fetch_all(url, """
            SELECT f.file_name, f.status, d.result_id,
                   json_build_array(r.procedure_code, r.doc_number, r.issue_date::text, coalesce(r.doc_book, '')), r.holder_name_key,
                   EXISTS (SELECT 1 FROM core.result_source s WHERE s.result_id = r.result_id
                           AND s.source NOT LIKE 'scan.%%'),
                   (SELECT string_agg(p.text, E'\\n\\f\\n' ORDER BY p.page_no) FROM core.document_page p
                    WHERE p.document_id = d.document_id),
                   (SELECT json_object_agg(x.field, x.value) FROM core.document_field x
                    WHERE x.document_id = d.document_id),
                   q.reason
            FROM ops.scan_file f JOIN core.document d ON d.document_id = f.document_id
            LEFT JOIN core.result r ON r.result_id = d.result_id
            LEFT JOIN ops.review_queue q ON q.document_id = d.document_id""")}
    finally:
        drop_database(ADMIN, name)

    groups = {"all": lambda p: True, "tuned": lambda p: not p["held_out"], "held_out": lambda p: p["held_out"]}
    res: dict = {g: {"fields": defaultdict(lambda: [0, 0]), "baseline": defaultdict(lambda: [0, 0]), "files": 0,
                     "review": 0, "links_right": 0, "links_wrong": 0, "links_missed": 0, "paper_only": 0,
                     "wrong_holder": 0} for g in groups}
    misses = []
    for rec, p in zip(recs, printed):
        tag = f"{p['file']} [{p['layout']}{' held-out' if p['held_out'] else ''}, {p['font']}, {p['format']}" \
              f"{'' if p['dpi'] is None else ' ' + str(p['dpi']) + ' dpi'}]"
        status, result_id, linked_key, holder_key, known_result, text, fields, reason = docs[p["file"]]
        fields = fields or {}
        want = expected(rec, p)
        base = extract_fields([x.replace("\t", " ") for x in (text or "").split("\n\f\n")]).fields
        t = rec["truth"]
        held = known[t["result_id"]]             # results the warehouse held with the scan's key
        right_key = linked_key == [rec["proc"], t["number"], t["issue_date"], t.get("book") or ""]
        for g, pick in groups.items():
            if not pick(p):
                continue
            r = res[g]
            r["files"] += 1
            r["review"] += status == "review"
            for f, v in want.items():
                r["fields"][f][1] += 1
                r["baseline"][f][1] += 1
                r["fields"][f][0] += same(f, fields.get(f), v)
                r["baseline"][f][0] += same(f, base[f].value if f in base else None, v)
            if result_id is not None:
                right_holder = holder_key == name_key(rec["truth"]["name"] if rec["proc"] != "DKDN" else
                                                      rec["truth"].get("business_name"))
                if known_result:   # linked to a result a legacy source gave: right when it is the one shown
                    r["links_right" if result_id in held and right_key and right_holder else "links_wrong"] += 1
                else:
                    r["paper_only"] += 1
                    r["links_wrong"] += bool(held)   # a new result for one the warehouse already holds
                r["wrong_holder"] += not right_holder
            elif held:
                r["links_missed"] += 1
        if result_id is not None and not (known_result and result_id in held and right_key):
            if known_result or held:
                misses.append(f"{tag} link: to result {result_id} {linked_key} (legacy: {known_result}), "
                              f"the page shows {[rec['proc'], t['number'], t['issue_date'], t.get('book') or '']} "
                              f"held as {sorted(held)}")
        for f, v in want.items():
            if not same(f, fields.get(f), v):
                misses.append(f"{tag} {f}: got {fields.get(f)!r}, want {v!r}")
        if status == "review":
            misses.append(f"{tag} review: {reason}")
        if args.verbose and (status == "review" or any(not same(f, fields.get(f), v) for f, v in want.items())):
            misses.append(f"{tag} page text:\n{text}")

    summary = {"files": len(recs), "seconds": round(seconds, 2), "pages_per_s": round(len(recs) / seconds, 3),
               "workers": args.workers, "loadavg_before": [round(x, 2) for x in load1],
               "loadavg_after": [round(x, 2) for x in load2], "run": {k: report.get(k) for k in
                                                                     ("linked", "linked_existing", "paper_only", "review")}}
    for g, r in res.items():
        acc = {f: round(a / n, 4) for f, (a, n) in sorted(r["fields"].items()) if n}
        base = {f: round(a / n, 4) for f, (a, n) in sorted(r["baseline"].items()) if n}
        ours_all = sum(a for a, _ in r["fields"].values()) / max(1, sum(n for _, n in r["fields"].values()))
        base_all = sum(a for a, _ in r["baseline"].values()) / max(1, sum(n for _, n in r["baseline"].values()))
        summary[g] = {"files": r["files"], "field_exact": acc, "field_exact_min": min(acc.values()) if acc else None,
                      "field_exact_all": round(ours_all, 4), "baseline_field_exact": base,
                      "baseline_field_exact_all": round(base_all, 4),
                      "ratio_vs_baseline": round(ours_all / base_all, 3) if base_all else None,
                      "review_share": round(r["review"] / r["files"], 4) if r["files"] else None,
                      **{k: r[k] for k in ("links_right", "links_wrong", "links_missed", "paper_only", "wrong_holder")}}
    for line in misses:
        print("  miss:", line)
    for g in groups:
        s = summary[g]
        print(f"{g:9} {s['files']:3} files  exact (all fields) {s['field_exact_all']:.3f} (baseline "
              f"{s['baseline_field_exact_all']:.3f}, x{s['ratio_vs_baseline']})  min field {s['field_exact_min']}  "
              f"review {s['review_share']}  links right/wrong/missed {s['links_right']}/{s['links_wrong']}/"
              f"{s['links_missed']}  paper-only {s['paper_only']}  wrong holder {s['wrong_holder']}")
    print(f"{len(recs)} pages in {seconds:.1f}s: {len(recs) / seconds:.2f} pages/s "
          f"(load {load1[0]:.2f} -> {load2[0]:.2f})")
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
