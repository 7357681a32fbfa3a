"""Extracted scan fields → the load stage (tthc.load) → core.result, then each document linked to its result.

A scan's fields (sidecar values win over OCR) are treated as one raw source row with
the columns below, and cleaned by tthc.sources.clean.clean_row with the RowMapping built
here, so dates, names, IDs, units and agencies are cleaned exactly like database rows.
Staging, GX, quarantine and normalization are the load stage's, as for legacy sources.
Source name: ``scan.<drop zone>``; source_pk: the sha256 of the file.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from psycopg2.extras import Json

from tthc.clean.names import name_key
from tthc.load import LoadProfile, Stager
from tthc.load.normalize import normalize
from tthc.load.validate import run_checks, validate
from tthc.ops.events import event
from tthc.scans.config import DropZone
from tthc.scans.confirm import warehouse_holder_problem
from tthc.settings import require_holder_key_secret
from tthc.sources.clean import CleanContext, clean_row
from tthc.sources.config import FieldRule, RowMapping
from tthc.warehouse.db import connect

log = logging.getLogger(__name__)

CIVIL_TYPES = {"KS", "KH", "KT", "XNHN"}
ORGANIZATION_TYPES = {"DKDN"}           # the holder is the enterprise, identified by its tax code
REQUIRED = ("document_type", "doc_number", "issue_date")
# Sidecar columns → raw-row columns (drop teams' manifest: file_name, unit_code, procedure_code, book, number).
SIDECAR_COLUMNS = {"procedure_code": "document_type", "number": "doc_number", "book": "doc_book",
                   "document_type": "document_type", "doc_number": "doc_number", "doc_book": "doc_book",
                   "issue_date": "issue_date", "holder_name": "holder_name", "holder_id": "holder_id",
                   "issuing_body": "issuing_body", "agency_id": "issuing_body"}
# What an official may set when resolving a review entry (tthc.scans.review): the sidecar's columns and
# the raw-row columns scan_source_config maps. unit_code: 5 digits = commune, 3 digits = district.
CORRECTABLE = sorted(set(SIDECAR_COLUMNS) | {"unit_code", "unit_name", "address", "holder_birth_date",
                                             "business_name", "tax_code"})
_COMMITTEE = re.compile(r"^\s*(ủy ban nhân dân|uỷ ban nhân dân|ubnd)\s+", re.IGNORECASE)


def scan_row_mapping(kind: str) -> RowMapping:
    """How a scan raw row is cleaned: 'civil' (commune committee issues), 'person', 'organization'."""
    mapping = {
        "document_type": FieldRule(column="document_type"), "doc_number": FieldRule(column="doc_number"),
        "doc_book": FieldRule(column="doc_book"), "issue_date": FieldRule(column="issue_date", parse="date"),
        "holder_id": FieldRule(column="holder_id"), "holder_birth_date": FieldRule(column="holder_birth_date", parse="date"),
        "holder_tax_code": FieldRule(column="tax_code"), "unit_code": FieldRule(column="unit_code"),
        "district_code": FieldRule(column="district_code"), "unit_name": FieldRule(column="place"),
    }
    if kind == "organization":
        mapping.pop("holder_id")
        mapping.pop("holder_birth_date")
    else:
        mapping["holder_name"] = FieldRule(column="holder_name")
    return RowMapping(mapping=mapping, agency_rule="commune_committee" if kind == "civil" else "column",
                      agency_value="issuing_body")


def scan_profile(zone: DropZone) -> LoadProfile:
    """Scans: the sources' suites plus the scan suite; failures go to the review queue, never fail a run."""
    return LoadProfile(source=zone.source, extra_suite=scan_suite_path(), quarantine_threshold=None,
                       chunk_size=zone.chunk_size)


def raw_row(sha: str, file_name: str, fields: dict[str, tuple[str, float]], sidecar: dict | None,
            corrections: dict[str, str] | None = None) -> tuple[dict, dict]:
    """(raw row, confidence per raw column). Sidecar values win over OCR and count as certain; an
    official's corrections (the review queue, keys of CORRECTABLE) win over both ("" clears a field)."""
    row = {"sha256": sha, "file_name": file_name}
    conf: dict[str, float] = {}
    for name, (value, c) in fields.items():
        row[name] = value
        conf[name] = c
    for col, target in SIDECAR_COLUMNS.items():
        value = (sidecar or {}).get(col)
        if value not in (None, ""):
            row[target] = value
            conf[target] = 1.0
    _unit_code(row, (sidecar or {}).get("unit_code"))
    for name, value in (corrections or {}).items():
        if name == "unit_code":
            row.pop("unit_code", None)
            row.pop("district_code", None)
            _unit_code(row, value)
            conf["unit_code"] = 1.0
            continue
        target = SIDECAR_COLUMNS.get(name, name)
        if value in (None, ""):
            row.pop(target, None)
        else:
            row[target] = value
        conf[target] = 1.0
    place = row.get("unit_name") or row.get("address")
    if place:
        # OCR reads stray ':' / ';' into places ("xã:Tân Phú Đông"); the committee prefix is not a place.
        row["place"] = _COMMITTEE.sub("", re.sub(r"\s*[:;]\s*", " ", place))
    return row, conf


def _unit_code(row: dict, code) -> None:
    """The manifest's (or an official's) unit: a commune (5 digits), a district (3) or the province (2)."""
    unit = str(code or "").strip()
    if unit.isdigit():
        if len(unit) == 5:
            row["unit_code"] = unit
        elif len(unit) == 3:
            row["district_code"] = unit


def _kind(document_type: str | None) -> str:
    if document_type in CIVIL_TYPES:
        return "civil"
    return "organization" if document_type in ORGANIZATION_TYPES else "person"


def review_reasons(zone: DropZone, doc_type_conf: float | None, required: list[str], conf: dict[str, float],
                   row: dict, rules: dict[str, str] | None = None) -> list[str]:
    """Why a document needs a human: a required field missing or below the thresholds, or (precision
    before recall, tthc.scans.confirm) its holder or key fields not confirmed. rules: the extraction
    rule of each OCR field; fields the manifest or an official gave have none (confirmed)."""
    from tthc.scans.confirm import confirmation_problems

    reasons = confirmation_problems(row.get("document_type"), required,
                                    {k: (v, (rules or {}).get(k)) for k, v in row.items()})
    for name in REQUIRED:
        if not row.get(name):
            reasons.append(f"{name} not found")
        elif conf.get(name, 1.0) < zone.review_min_field_confidence:
            reasons.append(f"{name} confidence {conf[name]:.2f} below {zone.review_min_field_confidence}")
    scores = [conf.get("document_type", doc_type_conf or 0.0)] + [
        conf.get(f, 0.0) if row.get(f) else 0.0 for f in required]
    overall = min(scores) if scores else 0.0
    if overall < zone.review_min_confidence:
        weakest = sorted((conf.get(f, 0.0) if row.get(f) else 0.0, f) for f in required)[:3]
        reasons.append(f"overall confidence {overall:.2f} below {zone.review_min_confidence} (weakest: "
                       + ", ".join(f"{f} {c:.2f}" for c, f in weakest) + ")")
    return reasons


def _to_review(cur, document_id: int, file_id: int, reason: str, pages: str, guessed: dict, batch_id: int) -> None:
    # A rejected entry comes back only when operators asked for its file again (its quarantine entry
    # resolved, tthc.scans.review.reject): then it is open again.
    cur.execute("""INSERT INTO ops.review_queue AS q (document_id, reason, page_text, guessed_fields)
                   VALUES (%s, %s, %s, %s)
                   ON CONFLICT (document_id) DO UPDATE SET status = 'open', reason = EXCLUDED.reason,
                       page_text = EXCLUDED.page_text, guessed_fields = EXCLUDED.guessed_fields,
                       created_at = now(), resolved_at = NULL, resolved_by = NULL, resolution = NULL
                   WHERE q.status = 'rejected'""",
                (document_id, reason, pages, Json(guessed, dumps=lambda o: json.dumps(o, default=str, ensure_ascii=False))))
    cur.execute("UPDATE ops.scan_file SET status = 'review', reason = %s, updated_at = now() WHERE file_id = %s",
                (reason, file_id))
    event(cur, "document", document_id, "validated", batch_id, {"outcome": "review", "reason": reason})


def clean_candidate(mappings: dict[str, RowMapping], row: dict, ctx: CleanContext) -> dict:
    """One scan raw row → a cleaned staging candidate (mappings: row_mappings())."""
    kind = _kind(row.get("document_type"))
    cand = clean_row(mappings[kind], row, ctx)
    if kind == "organization" and cand["document_type"] in ORGANIZATION_TYPES:
        # clean_row names organizations only through holder_name; the enterprise is the holder.
        cand["holder_kind"] = "organization"
        cand["holder_name"] = row.get("business_name")
        cand["holder_name_key"] = name_key(cand["holder_name"]) or None
    return cand


def row_mappings() -> dict[str, RowMapping]:
    return {k: scan_row_mapping(k) for k in ("civil", "person", "organization")}


def stage_candidates(cur, zone: DropZone, batch_id: int, items: list[tuple[str, dict, dict]]) -> None:
    """Land (sha256, raw row, candidate) items through the load stage: raw.source_row + staging."""
    if items:
        Stager(zone.source, batch_id, require_holder_key_secret()).add(cur, items)


def stage_documents(zone: DropZone, url: str, batch_id: int) -> tuple[int, int]:
    """Documents with extracted fields → review queue (low confidence) or staging. Returns (staged, review)."""
    conn = connect(url)
    staged = review = 0
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM staging.result_candidate WHERE batch_id = %s", (batch_id,))
            ctx = CleanContext.load(cur)
            mappings = row_mappings()
            cur.execute("""
                SELECT f.file_id, d.document_id, f.sidecar, f.file_name, d.sha256, d.field_confidence,
                       coalesce(d.required_fields, '{}'),
                       (SELECT string_agg(p.text, E'\\n\\f\\n' ORDER BY p.page_no) FROM core.document_page p
                        WHERE p.document_id = d.document_id),
                       (SELECT json_object_agg(x.field, json_build_array(x.value, x.confidence, x.rule))
                        FROM core.document_field x WHERE x.document_id = d.document_id)
                FROM ops.scan_file f JOIN core.document d ON d.document_id = f.document_id
                WHERE f.drop_zone = %s AND f.status = 'fields_extracted' AND d.result_id IS NULL
                ORDER BY f.file_id""", (zone.name,))
            docs = cur.fetchall()
            candidates = []
            for file_id, document_id, sidecar, file_name, sha, overall, required, pages, fields in docs:
                given = {SIDECAR_COLUMNS[c] for c, v in (sidecar or {}).items() if c in SIDECAR_COLUMNS and v}
                rules = {k: v[2] for k, v in (fields or {}).items() if k not in given}
                fields = {k: (v[0], float(v[1])) for k, v in (fields or {}).items()}
                row, conf = raw_row(sha, file_name, fields, sidecar)
                reasons = review_reasons(zone, conf.get("document_type"), list(required), conf, row, rules)
                if reasons:
                    # The unit as cleaning reads it: officials filter the queue by unit (mart.review_queue).
                    guess = clean_candidate(mappings, row, ctx)
                    guessed = {"fields": {k: {"value": v, "confidence": c} for k, (v, c) in fields.items()},
                               "sidecar": sidecar, "overall_confidence": overall, "raw_row": row,
                               "unit_key": guess["unit_key"], "agency_id": guess["agency_id"]}
                    _to_review(cur, document_id, file_id, "low confidence: " + "; ".join(reasons), pages or "",
                               guessed, batch_id)
                    review += 1
                    continue
                cand = clean_candidate(mappings, row, ctx)
                other = warehouse_holder_problem(cur, cand)
                if other:  # the warehouse's result with this number has another holder: never link it
                    _to_review(cur, document_id, file_id, "not confirmed: " + other, pages or "",
                               {"fields": {k: {"value": v, "confidence": c} for k, (v, c) in fields.items()},
                                "sidecar": sidecar, "overall_confidence": overall, "raw_row": row,
                                "unit_key": cand["unit_key"], "agency_id": cand["agency_id"]}, batch_id)
                    review += 1
                    continue
                candidates.append((sha, row, cand))
                staged += 1
            stage_candidates(cur, zone, batch_id, candidates)
    finally:
        conn.close()
    log.info("drop %s batch %s: %d documents staged, %d sent to review", zone.name, batch_id, staged, review)
    return staged, review


def scan_suite_path() -> Path:
    """expectations/scan_suites/scan_document.json: kept out of expectations/*.json, whose names
    tthc.validation reserves for common, document types and source__<name>."""
    from tthc.validation import default_suites_dir

    return default_suites_dir() / "scan_suites" / "scan_document.json"


def check_staged(zone: DropZone, url: str, batch_id: int):
    """Great Expectations over the staged scans of a batch (the sources' suites + the scan suite);
    staging.result_candidate.failed_checks is set, nothing is quarantined. Returns the ValidationOutcome."""
    return run_checks(url, batch_id, scan_profile(zone))


def validate_staged(zone: DropZone, url: str, batch_id: int) -> int:
    """The load stage's validation over the staged scans: failing documents go to ops.quarantine (stage
    validate, with the archived file) and to the review queue. Returns how many failed."""
    summary = validate(url, batch_id, scan_profile(zone))
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""UPDATE ops.quarantine q SET payload_ref = d.archive_uri
                           FROM core.document d
                           WHERE q.batch_id = %s AND q.source = %s AND q.payload_ref IS NULL
                             AND d.sha256 = q.source_key""", (batch_id, zone.source))
            cur.execute("""
                SELECT DISTINCT ON (d.document_id) c.clean_problems, c.failed_checks, r.payload, d.document_id,
                       f.file_id, c.unit_key, c.agency_id,
                       (SELECT string_agg(p.text, E'\\n\\f\\n' ORDER BY p.page_no) FROM core.document_page p
                        WHERE p.document_id = d.document_id)
                FROM staging.result_candidate c
                JOIN raw.source_row r ON (r.source, r.source_pk, r.row_hash) = (c.source, c.source_pk, c.row_hash)
                JOIN core.document d ON d.sha256 = c.source_pk
                JOIN ops.scan_file f ON f.document_id = d.document_id AND f.drop_zone = %s
                                     AND f.status = 'fields_extracted'
                WHERE c.batch_id = %s AND c.failed_checks IS NOT NULL ORDER BY d.document_id, c.candidate_id""",
                        (zone.name, batch_id))
            for problems, checks, payload, document_id, file_id, unit_key, agency_id, pages in cur.fetchall():
                _to_review(cur, document_id, file_id, "validation failed: " + "; ".join(problems or checks),
                           pages or "", {"raw_row": payload, "clean_problems": problems, "failed_checks": checks,
                                         "unit_key": unit_key, "agency_id": agency_id}, batch_id)
    finally:
        conn.close()
    log.info("drop %s batch %s: GX validated %d staged scans, %d failed", zone.name, batch_id,
             summary.evaluated, summary.failed)
    return summary.failed


def link_batch(zone: DropZone, url: str, batch_id: int) -> dict:
    """The load stage normalizes the valid candidates, then links each document to its result: an existing result
    (natural key or fuzzy name) is marked digitized; otherwise the result is new, paper-only. Codes assigned."""
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            out = link_documents(cur, zone, batch_id)
    finally:
        conn.close()
    out.pop("links")
    return out


def link_documents(cur, zone: DropZone, batch_id: int, file_status: str = "fields_extracted") -> dict:
    """link_batch inside the caller's transaction. file_status: the status of the files to link
    ('fields_extracted' for a run, 'review' for an entry an official resolved). Returns the counts and
    the links [(document_id, file_id, result_id, link_rule)]."""
    from tthc.codes import assign_result_codes

    out = {"linked": 0, "existing": 0, "paper_only": 0, "results_new": 0, "links": []}
    out["results_new"] = normalize(None, batch_id, scan_profile(zone), conn=cur.connection).results_new
    cur.execute("""
        SELECT d.document_id, f.file_id, r.result_id, c.match_rule,
               EXISTS (SELECT 1 FROM core.result_source s
                       WHERE s.result_id = r.result_id AND s.source NOT LIKE 'scan.%%') AS known
        FROM staging.result_candidate c
        JOIN core.result r ON (r.agency_id, r.procedure_code, r.doc_book, r.doc_number, r.issue_date)
                            = (c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date)
        JOIN core.document d ON d.sha256 = c.source_pk
        JOIN ops.scan_file f ON f.document_id = d.document_id AND f.drop_zone = %s
                             AND f.status = %s
        WHERE c.batch_id = %s AND c.failed_checks IS NULL AND d.result_id IS NULL""",
                (zone.name, file_status, batch_id))
    links = cur.fetchall()
    for document_id, file_id, result_id, match_rule, known in links:
        rule = (match_rule or "natural_key") if known else "paper_only"
        cur.execute("""UPDATE core.document SET result_id = %s, link_rule = %s, linked_at = now()
                       WHERE document_id = %s""", (result_id, rule, document_id))
        cur.execute("""UPDATE ops.scan_file SET status = 'linked', updated_at = now() WHERE file_id = %s""",
                    (file_id,))
        event(cur, "document", document_id, "validated", batch_id, {"outcome": "passed"})
        event(cur, "document", document_id, "linked", batch_id, {"result_id": result_id, "link_rule": rule})
        event(cur, "file", file_id, "linked", batch_id, {"document_id": document_id, "result_id": result_id})
        out["linked"] += 1
        out["existing" if known else "paper_only"] += 1
        out["links"].append((document_id, file_id, result_id, rule))
    if links:
        # A result is digitized when a scan is linked: when it was scanned, and whether the copy is signed.
        cur.execute("""
            UPDATE core.result r SET copy_kind = core.stronger_copy_kind(r.copy_kind, 'scan'),
                   digitized_at = least(coalesce(r.digitized_at, x.captured_at), x.captured_at),
                   -- a paper-only result becomes known when it is scanned (least() skips NULLs)
                   recorded_at = least(r.recorded_at, x.captured_at),
                   is_signed = r.is_signed OR x.signed, updated_at = now()
            FROM (SELECT result_id, min(captured_at) AS captured_at,
                         bool_or(signature_status = 'valid' OR signed_copy_uri IS NOT NULL) AS signed
                  FROM core.document WHERE result_id = ANY(%s) GROUP BY result_id) x
            WHERE r.result_id = x.result_id""", ([row[2] for row in links],))
    assign_result_codes(cur)
    return out
