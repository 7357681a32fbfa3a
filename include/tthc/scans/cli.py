"""Command line for scan drops (what the DAGs run, without a scheduler).

    python -m tthc.scans.cli list                 # drop zones of drops/*.yaml
    python -m tthc.scans.cli run demo_scans       # one whole run of a drop zone
    python -m tthc.scans.cli fixity               # re-hash every archived scan
    python -m tthc.scans.cli duplicates [BATCH]   # the duplicate report (all runs, or one batch)

    # the officials' review queue (docs/scans.md, "Review queue")
    python -m tthc.scans.cli review list [--unit 30022] [--limit 50] [--json]
    python -m tthc.scans.cli review show 12
    python -m tthc.scans.cli review resolve 12 --set doc_number=61/2015 --set issue_date=12/11/2015 --by "Nguyễn Văn A"
    python -m tthc.scans.cli review reject 13 --reason "không phải kết quả TTHC" --by "Nguyễn Văn A"

The warehouse is WAREHOUSE_URL (else the Airflow connection / embedded server, as for the DAGs).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tthc.scans.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the configured drop zones")
    run = sub.add_parser("run", help="list, OCR, validate and link one drop zone now")
    run.add_argument("zone")
    sub.add_parser("fixity", help="re-verify the sha256 of every archived scan (exit 1 on a problem)")
    dup = sub.add_parser("duplicates", help="the exact-duplicate report")
    dup.add_argument("batch_id", nargs="?", type=int)
    review = sub.add_parser("review", help="the officials' review queue: list, show, resolve, reject")
    rsub = review.add_subparsers(dest="review_command", required=True)
    rlist = rsub.add_parser("list", help="open entries, oldest first")
    rlist.add_argument("--unit", help="commune (5 digits) or district (3 digits) code")
    rlist.add_argument("--limit", type=int, default=50)
    rlist.add_argument("--json", action="store_true", help="everything, as JSON (page text included)")
    rshow = rsub.add_parser("show", help="one entry: guessed fields, problems, page text")
    rshow.add_argument("review_id", type=int)
    rres = rsub.add_parser("resolve", help="correct fields and link the document like a confident scan")
    rres.add_argument("review_id", type=int)
    rres.add_argument("--set", dest="fields", action="append", default=[], metavar="FIELD=VALUE",
                      help="a corrected field (repeatable); FIELD= clears a misread field")
    rres.add_argument("--by", required=True, help="the official's name")
    rrej = rsub.add_parser("reject", help="not a result / unreadable: the file goes to quarantine")
    rrej.add_argument("review_id", type=int)
    rrej.add_argument("--reason", required=True)
    rrej.add_argument("--by", required=True, help="the official's name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)

    from tthc.orchestration import warehouse_url
    from tthc.scans.config import drop_named, load_drops

    if args.command == "list":
        for zone in load_drops():
            print(f"{zone.name}\t{zone.location}\t→ {zone.archive}\t{zone.schedule}")
        return 0
    url = warehouse_url()
    if args.command == "run":
        from tthc.scans.intake import run_drop

        print(json.dumps(run_drop(drop_named(args.zone), url), default=str, ensure_ascii=False, indent=1))
        return 0
    if args.command == "review":
        return _review(args, url)
    if args.command == "fixity":
        from tthc.scans.fixity import FixityError, fixity_check

        try:
            print(json.dumps(fixity_check(url, load_drops()), default=str, indent=1))
        except FixityError as exc:
            print(f"FIXITY FAILED: {exc}", file=sys.stderr)
            return 1
        return 0
    from tthc.warehouse.db import fetch_all

    where, params = ("WHERE batch_id = %s", (args.batch_id,)) if args.batch_id else ("", None)
    for row in fetch_all(url, f"""SELECT batch_id, drop_zone, source_uri, original_source_uri, result_code
                                  FROM ops.scan_duplicate_report {where} ORDER BY batch_id, source_uri""", params):
        print("\t".join("" if v is None else str(v) for v in row))
    return 0


def _review(args, url: str) -> int:
    from tthc.scans.review import ReviewError, get_entry, list_open, reject, resolve

    try:
        if args.review_command == "list":
            entries = list_open(url, unit=args.unit, limit=args.limit)
            if args.json:
                print(json.dumps(entries, default=str, ensure_ascii=False, indent=1))
                return 0
            for e in entries:
                raw = e["raw_row"]
                unit = e["unit_name"] or "?"
                print(f"#{e['review_id']}\t{e['created_at']:%Y-%m-%d %H:%M}\t{e['drop_zone']}/{e['file_name']}\t"
                      f"{raw.get('document_type') or '?'} số {raw.get('doc_number') or '?'} "
                      f"ngày {raw.get('issue_date') or '?'}\t{unit}\t{e['reason']}")
            print(f"{len(entries)} open entr{'y' if len(entries) == 1 else 'ies'}", file=sys.stderr)
            return 0
        if args.review_command == "show":
            e = get_entry(url, args.review_id)
            print(f"#{e['review_id']} {e['status']}  document {e['document_id']}  {e['drop_zone']}/{e['file_name']}")
            print(f"archive: {e['archive_uri']}\nreason: {e['reason']}")
            for name, f in sorted(e["fields"].items()):
                print(f"  {name:18} {f['value']!s:40} confidence {float(f['confidence']):.2f}")
            if e["sidecar"]:
                print(f"manifest: {json.dumps(e['sidecar'], ensure_ascii=False)}")
            for problem in e["problems"]:
                print(f"problem: {problem}")
            print("---- page text ----\n" + (e["page_text"] or ""))
            return 0
        if args.review_command == "resolve":
            fields = {}
            for item in args.fields:
                if "=" not in item:
                    raise ReviewError(f"--set {item!r}: expected FIELD=VALUE")
                name, value = item.split("=", 1)
                fields[name.strip()] = value
            out = resolve(url, args.review_id, fields, args.by)
        else:
            out = reject(url, args.review_id, args.by, args.reason)
    except ReviewError as exc:
        print(f"REVIEW FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out, default=str, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
