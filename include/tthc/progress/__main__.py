"""Command line: snapshots, backfills, reports and the indicator inputs.

    python -m tthc.progress snapshot --kind quarter --end 2024-12-31 [--report]
    python -m tthc.progress backfill --kind quarter --from 2022-01-01 --to 2025-12-31 [--report]
    python -m tthc.progress report --kind quarter --end 2024-12-31 [--out DIR_OR_S3] [--no-png]
                                   [--plan SD-2024] [--unit 29905]
    python -m tthc.progress deliver --kind quarter --end 2024-12-31 [--force]
    python -m tthc.progress load-inputs [--dir FOLDER]

The warehouse is WAREHOUSE_URL (else the embedded server), as for every tthc command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path


def _periods(kind: str, start: dt.date, stop: dt.date) -> list[dt.date]:
    from tthc.progress.snapshot import period_end

    out, day = [], period_end(kind, start)
    while day <= stop:
        out.append(day)
        day = period_end(kind, day + dt.timedelta(days=1))
    return out


def main(argv: list[str] | None = None) -> int:
    from tthc.orchestration import warehouse_url
    from tthc.progress import reports, snapshot

    ap = argparse.ArgumentParser(prog="python -m tthc.progress", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("snapshot", "report"):
        p = sub.add_parser(name)
        p.add_argument("--kind", choices=snapshot.PERIOD_KINDS, required=True)
        p.add_argument("--end", type=dt.date.fromisoformat, required=True)
        p.add_argument("--out", default=None, help="reports folder or s3://bucket/prefix (default TTHC_REPORTS_DIR)")
        p.add_argument("--no-png", action="store_true", help="skip the PNG and PDF (no Chromium)")
        if name == "report":
            p.add_argument("--plan", default=None, help="only this plan (code of seeds/plans/*.yaml)")
            p.add_argument("--unit", default=None, help="a unit's own copy: only its figures (unit code)")
        if name == "snapshot":
            p.add_argument("--report", action="store_true", help="also render the report")
    p = sub.add_parser("backfill")
    p.add_argument("--kind", choices=snapshot.PERIOD_KINDS, required=True)
    p.add_argument("--from", dest="start", type=dt.date.fromisoformat, required=True)
    p.add_argument("--to", dest="stop", type=dt.date.fromisoformat, required=True)
    p.add_argument("--report", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--no-png", action="store_true")
    p = sub.add_parser("deliver", help="e-mail the period's reports to config/reports.yaml recipients")
    p.add_argument("--kind", choices=snapshot.PERIOD_KINDS, required=True)
    p.add_argument("--end", type=dt.date.fromisoformat, required=True)
    p.add_argument("--force", action="store_true", help="send again to recipients already served")
    p = sub.add_parser("load-inputs")
    p.add_argument("--dir", type=Path, default=None, help="folder with dossiers.csv and one_stop_offices.csv "
                   "(default: the files of config/progress_inputs.yaml)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = warehouse_url()
    out: list = []
    if args.cmd == "load-inputs":
        from tthc.progress.inputs import INPUTS, load_input

        out = [load_input(name, url, args.dir) for name in INPUTS]
    elif args.cmd == "deliver":
        from tthc.progress.delivery import deliver_reports

        out = deliver_reports(url, args.kind, args.end, force=args.force, run_id="cli:deliver")
    else:
        ends = [args.end] if args.cmd in ("snapshot", "report") else _periods(args.kind, args.start, args.stop)
        for end in ends:
            item: dict = {"period_kind": args.kind, "period_end": end.isoformat()}
            if args.cmd != "report":
                rep = snapshot.take_snapshot(url, args.kind, end, run_id=f"cli:{args.cmd}")
                item.update(rows=rep.rows, seconds=round(rep.seconds, 2))
            if args.cmd == "report" or args.report:
                item["report"] = reports.write_report(url, args.kind, end, args.out, png=not args.no_png,
                                                      plan=getattr(args, "plan", None),
                                                      unit_code=getattr(args, "unit", None))
            out.append(item)
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2, default=str)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
