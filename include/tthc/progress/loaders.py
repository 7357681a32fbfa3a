"""Inputs of the other plan indicators: dossiers (did the citizen re-supply documents already
held?) and one-stop offices (Bộ phận Một cửa) with the day each started digitizing.

dossiers.csv may name the holder (``holder_id``: CCCD, CMND or tax code) and the result type the
dossier needed (``needed_procedure_code``). The ID is pseudonymized at once into the same
holder key as core.holder (it is never stored); with both, the reuse indicator is derived from
the warehouse and ``resupplied_documents`` may be empty. Without them the flag is required.

Both loaders are idempotent: dossiers upsert by dossier code, the one-stop list is replaced
by the file's content (it is a full list, not a delta). Bad rows go to ops.quarantine.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from pathlib import Path

from psycopg2.extras import execute_values

from tthc.ops.batches import close_batch, open_batch
from tthc.ops.quarantine import Rejection, quarantine
from tthc.settings import require_holder_key_secret
from tthc.warehouse.db import transaction

log = logging.getLogger(__name__)

DOSSIER_COLUMNS = ("dossier_code", "procedure_code", "agency_electronic_id", "received_date", "resupplied_documents")
# optional: holder_id, needed_procedure_code
ONE_STOP_COLUMNS = ("unit_era", "unit_level", "unit_code", "office", "started_digitization_on")
TRUE, FALSE = {"true", "1", "yes", "có", "x"}, {"false", "0", "no", "không", ""}


def _reader(path: Path, required: tuple[str, ...]):
    if not path.exists():
        raise FileNotFoundError(f"input file {path} does not exist")
    fh = path.open(encoding="utf-8-sig", newline="")
    reader = csv.DictReader(fh)
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        fh.close()
        raise ValueError(f"{path.name}: missing column(s) {missing}; header is {reader.fieldnames}")
    return fh, reader


def load_dossiers(path: Path | str, url: str | None = None) -> dict:
    """Upsert dossiers.csv into core.dossier. Returns counts: rows_in, loaded, quarantined."""
    path = Path(path)
    source = f"dossiers:{path.name}"
    secret = require_holder_key_secret()
    fh, reader = _reader(path, DOSSIER_COLUMNS)
    with fh, transaction(url) as cur:
        cur.execute("SELECT electronic_id, unit_key FROM core.agency")
        agency_unit = dict(cur.fetchall())
        cur.execute("SELECT code FROM core.procedure")
        procedures = {r[0] for r in cur.fetchall()}
        batch_id = open_batch(cur, source)
        rows, rejections, rows_in = {}, [], 0
        for line_no, row in enumerate(reader, start=2):
            rows_in += 1
            try:
                code = (row["dossier_code"] or "").strip()
                if not code:
                    raise ValueError("dossier_code is empty")
                agency = (row["agency_electronic_id"] or "").strip()
                if agency not in agency_unit:
                    raise ValueError(f"unknown agency_electronic_id {agency!r}")
                proc = (row["procedure_code"] or "").strip()
                if proc not in procedures:
                    raise ValueError(f"unknown procedure_code {proc!r}")
                received = dt.date.fromisoformat((row["received_date"] or "").strip())
                key, needed = _holder_and_need(row, procedures, secret)
                flag = (row["resupplied_documents"] or "").strip().lower()
                if flag not in TRUE | FALSE or (flag == "" and not (key and needed)):
                    raise ValueError(f"resupplied_documents {row['resupplied_documents']!r} is not true/false "
                                     "(it may be empty only when holder_id and needed_procedure_code are given)")
            except (ValueError, KeyError) as exc:
                rejections.append(Rejection(source, f"line {line_no}", "validate", str(exc), row))
                continue
            rows[code] = (code, proc, agency, agency_unit[agency], received, (row.get("channel") or "").strip(),
                          None if flag == "" else flag in TRUE, key, needed, path.name)
        execute_values(cur, """
            INSERT INTO core.dossier (dossier_code, procedure_code, agency_id, unit_key, received_date, channel,
                                      resupplied_documents, holder_match_key, needed_procedure_code, source_file)
            VALUES %s
            ON CONFLICT (dossier_code) DO UPDATE
            SET procedure_code = EXCLUDED.procedure_code, agency_id = EXCLUDED.agency_id, unit_key = EXCLUDED.unit_key,
                received_date = EXCLUDED.received_date, channel = EXCLUDED.channel,
                resupplied_documents = EXCLUDED.resupplied_documents, holder_match_key = EXCLUDED.holder_match_key,
                needed_procedure_code = EXCLUDED.needed_procedure_code, source_file = EXCLUDED.source_file
            WHERE (core.dossier.procedure_code, core.dossier.agency_id, core.dossier.received_date,
                   core.dossier.channel, core.dossier.resupplied_documents, core.dossier.holder_match_key,
                   core.dossier.needed_procedure_code)
                  IS DISTINCT FROM (EXCLUDED.procedure_code, EXCLUDED.agency_id, EXCLUDED.received_date,
                                    EXCLUDED.channel, EXCLUDED.resupplied_documents, EXCLUDED.holder_match_key,
                                    EXCLUDED.needed_procedure_code)""",
                       list(rows.values()), page_size=5000)
        quarantine(cur, rejections, batch_id)
        close_batch(cur, batch_id, "succeeded", rows_in, len(rows), len(rejections))
    log.info("dossiers %s: %d rows, %d loaded, %d quarantined", path.name, rows_in, len(rows), len(rejections))
    return {"file": str(path), "rows_in": rows_in, "loaded": len(rows), "quarantined": len(rejections)}


def _holder_and_need(row: dict, procedures: set[str], secret: str) -> tuple[str | None, str | None]:
    """(holder key, needed result type) of a dossier row; the raw ID goes no further than here."""
    from tthc.clean.identifiers import check_personal_id, check_tax_code
    from tthc.load import holder_key

    raw = (row.get("holder_id") or "").strip()
    needed = (row.get("needed_procedure_code") or "").strip() or None
    if needed is not None and needed not in procedures:
        raise ValueError(f"unknown needed_procedure_code {needed!r}")
    if not raw:
        return None, needed
    check = check_personal_id(raw)
    if check.ok:
        return holder_key(check.kind, check.value, secret), needed
    mst = check_tax_code(raw)
    if mst.ok:
        return holder_key("mst", mst.value, secret), needed
    raise ValueError("holder_id is neither a valid personal ID nor a tax code")  # the value itself stays out


def load_one_stop_offices(path: Path | str, url: str | None = None) -> dict:
    """Replace core.one_stop_office with the file's list (one transaction)."""
    path = Path(path)
    source = f"one_stop_offices:{path.name}"
    fh, reader = _reader(path, ONE_STOP_COLUMNS)
    with fh, transaction(url) as cur:
        cur.execute("SELECT unit_key FROM core.admin_unit")
        units = {r[0] for r in cur.fetchall()}
        batch_id = open_batch(cur, source)
        rows, rejections, rows_in = {}, [], 0
        for line_no, row in enumerate(reader, start=2):
            rows_in += 1
            try:
                key = f"{row['unit_era'].strip()}/{row['unit_level'].strip()}/{int(row['unit_code'])}"
                if key not in units:
                    raise ValueError(f"unknown unit {key!r}")
                office = (row["office"] or "").strip()
                if not office:
                    raise ValueError("office is empty")
                raw = (row["started_digitization_on"] or "").strip()
                started = dt.date.fromisoformat(raw) if raw else None
            except (ValueError, KeyError, AttributeError) as exc:
                rejections.append(Rejection(source, f"line {line_no}", "validate", str(exc), row))
                continue
            rows[(key, office)] = (key, office, started, path.name)
        cur.execute("DELETE FROM core.one_stop_office")
        execute_values(cur, """INSERT INTO core.one_stop_office (unit_key, office, started_digitization_on, source_file)
                               VALUES %s""", list(rows.values()), page_size=5000)
        quarantine(cur, rejections, batch_id)
        close_batch(cur, batch_id, "succeeded", rows_in, len(rows), len(rejections))
    log.info("one-stop offices %s: %d rows, %d loaded, %d quarantined", path.name, rows_in, len(rows), len(rejections))
    return {"file": str(path), "rows_in": rows_in, "loaded": len(rows), "quarantined": len(rejections)}
