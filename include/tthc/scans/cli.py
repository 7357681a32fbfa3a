"""Command line for scan drops (what the DAGs run, without a scheduler).

    python -m tthc.scans.cli list                 # drop zones of drops/*.yaml
    python -m tthc.scans.cli run demo_scans       # one whole run of a drop zone
    python -m tthc.scans.cli fixity               # re-hash every archived scan
    python -m tthc.scans.cli duplicates [BATCH]   # the duplicate report (all runs, or one batch)

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
    if args.command == "fixity":
        from tthc.scans.intake import FixityError, fixity_check

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


if __name__ == "__main__":
    sys.exit(main())
