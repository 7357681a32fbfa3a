"""Declared paper inventory (rà soát, kiểm đếm): what units counted, per procedure and issue year.

CSV columns (UTF-8, header row; aliases accepted):
  agency_id (alias electronic_id, agency_electronic_id)   issuing agency, QĐ 20/2020 ID
  procedure_code (alias procedure)                         code from seeds/procedures.yaml
  issue_year                                               year the results were issued
  declared_paper_count                                     still-valid paper results counted
  declared_on                                              date of the declaration (any format tthc.clean.dates reads)
  unit_era, unit_code (optional)                           must agree with the agency's unit
  declared_page_count (alias page_count; optional)         pages of those results (the cost estimate)

Valid rows upsert into core.inventory_declaration; a later declaration for the same
key replaces an earlier one. Bad rows go to ops.quarantine with the reason and the row.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from pathlib import Path

from psycopg2.extras import execute_values

from tthc.clean.dates import DateParseError, parse_date
from tthc.ops.batches import close_batch, open_batch
from tthc.ops.quarantine import Rejection, quarantine
from tthc.warehouse.db import transaction

log = logging.getLogger(__name__)

ALIASES = {
    "agency_id": ("agency_id", "electronic_id", "agency_electronic_id"),
    "procedure_code": ("procedure_code", "procedure"),
    "issue_year": ("issue_year", "year"),
    "declared_paper_count": ("declared_paper_count", "paper_count"),
    "declared_on": ("declared_on",),
    "unit_era": ("unit_era",),
    "unit_code": ("unit_code",),
    "declared_page_count": ("declared_page_count", "page_count"),
}
REQUIRED = ("agency_id", "procedure_code", "issue_year", "declared_paper_count", "declared_on")


def _pick(row: dict, field: str) -> str | None:
    for name in ALIASES[field]:
        if name in row and row[name] not in (None, ""):
            return row[name].strip()
    return None


def load_inventory(path: Path, url: str | None = None, source: str | None = None) -> dict:
    """Load one declaration file. Returns counts: rows_in, loaded, quarantined."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"inventory file {path} does not exist")
    source = source or f"inventory:{path.name}"
    with transaction(url) as cur:
        cur.execute("SELECT electronic_id, unit_key FROM core.agency")
        agency_unit = dict(cur.fetchall())
        cur.execute("SELECT code FROM core.procedure")
        procedures = {r[0] for r in cur.fetchall()}
        batch_id = open_batch(cur, source)

        good: dict[tuple, tuple] = {}
        rejections: list[Rejection] = []
        rows_in = 0
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [f for f in REQUIRED if not any(a in (reader.fieldnames or []) for a in ALIASES[f])]
            if missing:
                raise ValueError(f"{path.name}: missing column(s) {missing}; header is {reader.fieldnames}")
            for line_no, row in enumerate(reader, start=2):
                rows_in += 1
                try:
                    record = _validate(row, agency_unit, procedures)
                except ValueError as exc:
                    rejections.append(Rejection(source, f"line {line_no}", "validate", str(exc), row))
                    continue
                key = record[:4]
                # A later declaration of the same key replaces the earlier one.
                if key not in good or good[key][6] <= record[6]:
                    good[key] = record
        rows = [r + (path.name,) for r in good.values()]
        execute_values(cur, """
            INSERT INTO core.inventory_declaration
                (agency_id, unit_key, procedure_code, issue_year, declared_paper_count, declared_page_count,
                 declared_on, source_file)
            VALUES %s
            ON CONFLICT (agency_id, unit_key, procedure_code, issue_year) DO UPDATE
            SET declared_paper_count = EXCLUDED.declared_paper_count, declared_page_count = EXCLUDED.declared_page_count,
                declared_on = EXCLUDED.declared_on, source_file = EXCLUDED.source_file
            WHERE core.inventory_declaration.declared_on <= EXCLUDED.declared_on
              AND (core.inventory_declaration.declared_paper_count, core.inventory_declaration.declared_page_count,
                   core.inventory_declaration.source_file)
                  IS DISTINCT FROM (EXCLUDED.declared_paper_count, EXCLUDED.declared_page_count,
                                    EXCLUDED.source_file)""", rows, page_size=1000)
        quarantine(cur, rejections, batch_id)
        close_batch(cur, batch_id, "succeeded", rows_in, len(rows), len(rejections))
    report = {"file": str(path), "rows_in": rows_in, "loaded": len(rows), "quarantined": len(rejections)}
    log.info("inventory %s: %d rows, %d loaded, %d quarantined", path.name, rows_in, len(rows), len(rejections))
    return report


def _count(values: dict, field: str) -> int:
    try:
        n = int(values[field])
    except ValueError:
        raise ValueError(f"{field} {values[field]!r} is not a whole number") from None
    if n < 0:
        raise ValueError(f"{field} {n} is negative")
    return n


def _validate(row: dict, agency_unit: dict[str, str], procedures: set[str]) -> tuple:
    values = {f: _pick(row, f) for f in ALIASES}
    absent = [f for f in REQUIRED if values[f] is None]
    if absent:
        raise ValueError(f"missing value(s): {', '.join(absent)}")
    agency = values["agency_id"]
    if agency not in agency_unit:
        raise ValueError(f"unknown agency_id {agency!r}")
    if values["procedure_code"] not in procedures:
        raise ValueError(f"unknown procedure_code {values['procedure_code']!r}")
    try:
        year = int(values["issue_year"])
    except ValueError:
        raise ValueError(f"issue_year {values['issue_year']!r} is not a year") from None
    if not 1900 <= year <= dt.date.today().year:
        raise ValueError(f"issue_year {year} is out of range")
    count = _count(values, "declared_paper_count")
    pages = None if values["declared_page_count"] is None else _count(values, "declared_page_count")
    try:
        declared_on = parse_date(values["declared_on"])
    except DateParseError as exc:
        raise ValueError(f"declared_on: {exc}") from None
    unit_key = agency_unit[agency]
    if values["unit_code"] is not None:
        era = values["unit_era"] or "pre2025"
        if not unit_key.startswith(f"{era}/") or not unit_key.endswith(f"/{int(values['unit_code'])}"):
            raise ValueError(f"unit {era}/{values['unit_code']} does not match agency {agency} (unit {unit_key})")
    return (agency, unit_key, values["procedure_code"], year, count, pages, declared_on)
