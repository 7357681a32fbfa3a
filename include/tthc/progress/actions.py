"""What the `tthc progress …` commands do (the commands are in tthc.commands):

    tthc progress snapshot --kind quarter --end 31/12/2024 [--report]
    tthc progress backfill --kind quarter --from 01/01/2022 --to 31/12/2025 [--report]
    tthc progress report --kind quarter --end 31/12/2024 [--out DIR_OR_S3] [--no-png] [--plan SD-2024] [--unit 29905]
    tthc progress deliver --kind quarter --end 31/12/2024 [--force]
    tthc progress load-inputs [--dir DEMO_DATA_DIR]

Dates are dd/mm/yyyy or yyyy-mm-dd. The warehouse is WAREHOUSE_URL (else the embedded server).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path


def periods(kind: str, start: dt.date, stop: dt.date) -> list[dt.date]:
    """The ends of every period of this kind from start to stop."""
    from tthc.progress.snapshot import period_end

    out, day = [], period_end(kind, start)
    while day <= stop:
        out.append(day)
        day = period_end(kind, day + dt.timedelta(days=1))
    return out


def run(url: str, command: str, kind: str, ends: list[dt.date], report: bool = False, out: str | None = None,
        png: bool = True, plan: str | None = None, unit: str | None = None) -> list[dict]:
    """snapshot / backfill (a snapshot per period, optionally its report) or report (the report only)."""
    from tthc.progress import reports, snapshot

    for end in ends:  # a wrong day is said before any work
        snapshot.check_period(kind, end)
    done = []
    for end in ends:
        item: dict = {"period_kind": kind, "period_end": end.isoformat()}
        if command != "report":
            rep = snapshot.take_snapshot(url, kind, end, run_id=f"cli:{command}")
            item.update(rows=rep.rows, seconds=round(rep.seconds, 2))
        if command == "report" or report:
            item["report"] = reports.write_report(url, kind, end, out, png=png, plan=plan, unit_code=unit)
        done.append(item)
    return done


def load_inputs(url: str, folder: Path | None = None) -> list:
    """The indicator inputs of config/progress_inputs.yaml (or the same file names in ``folder``)."""
    from tthc.progress.inputs import INPUTS, load_input

    return [load_input(name, url, folder) for name in INPUTS]
