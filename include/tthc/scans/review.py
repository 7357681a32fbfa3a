"""The officials' review queue (ops.review_queue): list open entries, resolve one with corrected fields,
or reject it.

A resolved entry goes through exactly the path of a confident scan (tthc.scans.candidates): its raw
row (OCR guesses < manifest values < the official's corrections) is cleaned by
tthc.sources.clean.clean_row, staged in a batch of its own, validated by Great Expectations with the
drop's suites, normalized (the load stage, tthc.load) and linked to the matching result,
or to a new paper-only result that gets its code. Invalid corrections raise ReviewError naming the
field; nothing is written and the entry stays open. A rejected entry's file goes to ops.quarantine
(stage 'review') with the reason: nothing is lost.

Each action on one entry holds a PostgreSQL advisory lock on it: two officials cannot resolve the
same entry at once. Repeating an action with the same input changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from psycopg2.extras import Json

from tthc.ops.batches import close_batch, open_batch
from tthc.ops.quarantine import Rejection, quarantine
from tthc.warehouse.db import connect, transaction

log = logging.getLogger(__name__)

# Names officials may use for a field, beside the raw-row names of candidates.CORRECTABLE.
ALIASES = {"number": "doc_number", "book": "doc_book", "procedure_code": "document_type", "type": "document_type",
           "place": "unit_name", "agency_id": "issuing_body"}
# GX columns (staging.result_candidate) → the field an official corrects.
_COLUMN_FIELD = {"holder_name_key": "holder_name", "holder_id_value": "holder_id", "holder_id_type": "holder_id",
                 "agency_id": "unit_code / issuing_body", "unit_key": "unit_code / unit_name",
                 "source_pk": "the file itself"}
DEFAULT_LIMIT = 50


class ReviewError(ValueError):
    """A review action that cannot be done; the message names the entry and the bad input."""


@dataclass(frozen=True)
class ReviewZone:
    """What the cleaning/linking steps need of a drop zone: its name (the YAML is not needed to review)."""

    name: str
    description_vi: str = ""
    chunk_size: int = 1
    schedule: str = "@once"
    start_date: str = "2024-01-01"
    path: Path | None = None

    @property
    def source(self) -> str:
        return f"scan.{self.name}"

    @property
    def review_source(self) -> str:
        """ops.batch.source of the review batches: kept apart from the drop's runs (pipeline health)."""
        return f"scan.{self.name}.review"


def _dumps(obj) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False, sort_keys=True)


# ------------------------------------------------------------------------------ list


_ENTRY_SQL = """
    SELECT q.review_id, q.document_id, q.status, q.created_at, q.reason, q.guessed_fields, q.page_text,
           q.resolved_at, q.resolved_by, q.resolution,
           f.file_id, f.file_name, f.drop_zone, f.source_uri, f.sidecar, f.status,
           d.sha256, d.archive_uri, d.document_type, d.field_confidence, d.result_id,
           u.unit_key, u.code::text, u.name_vi, pu.code::text, pu.name_vi,
           (SELECT json_object_agg(x.field, json_build_object('value', x.value, 'confidence', x.confidence))
            FROM core.document_field x WHERE x.document_id = d.document_id)
    FROM ops.review_queue q
    JOIN core.document d ON d.document_id = q.document_id
    -- The document's first file (not a duplicate copy); one pass over scan_file, not one per entry.
    LEFT JOIN (SELECT DISTINCT ON (s.document_id) s.* FROM ops.scan_file s WHERE s.document_id IS NOT NULL
               ORDER BY s.document_id, s.duplicate_of IS NOT NULL, s.file_id) f ON f.document_id = d.document_id
    LEFT JOIN core.admin_unit u ON u.unit_key = q.guessed_fields->>'unit_key'
    LEFT JOIN core.admin_unit pu ON pu.unit_key = u.parent_key
"""
_ENTRY_KEYS = ("review_id", "document_id", "status", "created_at", "reason", "guessed_fields", "page_text",
               "resolved_at", "resolved_by", "resolution",
               "file_id", "file_name", "drop_zone", "source_uri", "sidecar", "file_status",
               "sha256", "archive_uri", "document_type", "overall_confidence", "result_id",
               "unit_key", "unit_code", "unit_name", "district_code", "district_name", "fields")


def _entry_dict(row) -> dict:
    e = dict(zip(_ENTRY_KEYS, row))
    e["fields"] = e["fields"] or {}
    guessed = e["guessed_fields"] or {}
    e["raw_row"] = guessed.get("raw_row") or {}
    e["problems"] = (guessed.get("clean_problems") or []) + (guessed.get("failed_checks") or [])
    e["overall_confidence"] = float(e["overall_confidence"]) if e["overall_confidence"] is not None else None
    return e


def list_open(url: str, unit: str | None = None, limit: int | None = DEFAULT_LIMIT) -> list[dict]:
    """Open entries, oldest first: document, file, drop zone, guessed fields with their confidences, the
    raw row as cleaning saw it (manifest values included), problems, page text. unit: a commune (5 digits)
    or district (3 digits) code, matched against the unit cleaning read from the guesses or the manifest."""
    where, params = ["q.status = 'open'"], []
    if unit:
        unit = str(unit).strip()
        where.append("(u.code::text = %s OR pu.code::text = %s OR f.sidecar->>'unit_code' = %s)")
        params += [unit, unit, unit]
    sql = _ENTRY_SQL + " WHERE " + " AND ".join(where) + " ORDER BY q.created_at, q.review_id"
    if limit:
        sql += " LIMIT %s"
        params.append(int(limit))
    with transaction(url) as cur:
        cur.execute(sql, params)
        return [_entry_dict(r) for r in cur.fetchall()]


def get_entry(url: str, review_id: int) -> dict:
    with transaction(url) as cur:
        return _entry(cur, review_id)


def _entry(cur, review_id: int) -> dict:
    cur.execute(_ENTRY_SQL + " WHERE q.review_id = %s", (int(review_id),))
    row = cur.fetchone()
    if row is None:
        raise ReviewError(f"review entry {review_id} does not exist in ops.review_queue")
    return _entry_dict(row)


# ------------------------------------------------------------------------------ resolve


def normalize_corrections(fields: dict) -> dict[str, str]:
    """The official's fields under their raw-row names, values stripped ("" clears a field).
    Unknown names raise ReviewError listing the known ones."""
    from tthc.scans.candidates import CORRECTABLE

    out: dict[str, str] = {}
    unknown = []
    for name, value in (fields or {}).items():
        key = ALIASES.get(str(name).strip(), str(name).strip())
        if key not in CORRECTABLE:
            unknown.append(name)
            continue
        out[key] = "" if value is None else str(value).strip()
        if key == "unit_code" and out[key] and not (out[key].isdigit() and len(out[key]) in (3, 5)):
            raise ReviewError(f"unit_code: {out[key]!r} is not a commune (5 digits) or district (3 digits) code")
    if unknown:
        raise ReviewError(f"unknown field(s) {sorted(unknown)}; fields that can be set: "
                          f"{sorted(set(CORRECTABLE) | set(ALIASES))}")
    if not out:
        raise ReviewError("no field given: set at least one field (e.g. doc_number=12/2015), "
                          "or give the guessed values that are right")
    return dict(sorted(out.items()))


def _who(reviewer: str) -> str:
    reviewer = (reviewer or "").strip()
    if not reviewer:
        raise ReviewError("the reviewer's name is required (--by NAME)")
    return reviewer


class _EntryLock:
    """Session advisory lock on one entry (its own autocommit connection), held for the whole action."""

    def __init__(self, url: str, review_id: int):
        self.conn = connect(url)
        self.conn.autocommit = True
        self.key = f"tthc.review:{int(review_id)}"

    def __enter__(self):
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (self.key,))
        return self

    def __exit__(self, *exc):
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (self.key,))
        finally:
            self.conn.close()


def _outcome(entry: dict, changed: bool) -> dict:
    res = entry.get("resolution") or {}
    return {"review_id": entry["review_id"], "status": entry["status"], "document_id": entry["document_id"],
            "result_id": res.get("result_id"), "result_code": res.get("result_code"),
            "link_rule": res.get("link_rule"), "fields": res.get("fields"), "resolved_by": entry["resolved_by"],
            "quarantine_id": res.get("quarantine_id"), "reason": res.get("reason"), "changed": changed}


def _fields_of(entry: dict) -> dict[str, tuple[str, float]]:
    return {k: (v["value"], float(v["confidence"])) for k, v in entry["fields"].items()}


def _check_row(url: str, entry: dict, corrections: dict, zone: ReviewZone) -> tuple[dict, dict]:
    """The corrected raw row and its cleaned candidate; ReviewError naming every bad field."""
    from tthc.scans.candidates import REQUIRED, clean_candidate, raw_row, row_mappings
    from tthc.sources.clean import CleanContext

    row, _ = raw_row(entry["sha256"], entry["file_name"], _fields_of(entry), entry["sidecar"], corrections)
    with transaction(url) as cur:
        ctx = CleanContext.load(cur)
    cand = clean_candidate(row_mappings(), row, ctx)
    problems = [f"{name}: missing (set it: --set {name}=…)" for name in REQUIRED if not row.get(name)]
    missing = {p.split(":")[0] for p in problems}
    problems += [p for p in cand["clean_problems"] if p.split(":")[0] not in missing]
    if problems:
        raise ReviewError(f"review entry {entry['review_id']}: the corrected fields are not valid, the entry stays "
                          "open: " + "; ".join(problems))
    return row, cand


def _failed_checks_message(checks: dict[int, list[str]]) -> str:
    """'suite:expect_…(column)' labels → 'field (expectation)' for the official."""
    parts = []
    for labels in checks.values():
        for label in labels:
            expectation = label.split(":", 1)[-1]
            column = expectation[expectation.find("(") + 1:-1] if "(" in expectation else ""
            field = _COLUMN_FIELD.get(column, column) or "row"
            parts.append(f"{field}: failed {expectation}")
    return "; ".join(sorted(set(parts)))


def _discard_batch(url: str, batch_id: int) -> None:
    """A correction GX refused leaves no batch behind (a typo is not a failed pipeline run). Nothing of the
    batch reached core: only its staging row, its raw row and the stored validation results go."""
    with transaction(url) as cur:
        cur.execute("DELETE FROM ops.validation_result WHERE batch_id = %s", (batch_id,))
        cur.execute("DELETE FROM staging.result_candidate WHERE batch_id = %s", (batch_id,))
        cur.execute("DELETE FROM staging.result_code_plan WHERE batch_id = %s", (batch_id,))
        cur.execute("DELETE FROM raw.source_row WHERE batch_id = %s", (batch_id,))
        cur.execute("DELETE FROM ops.batch WHERE batch_id = %s", (batch_id,))


def resolve(url: str, review_id: int, fields: dict, reviewer: str) -> dict:
    """Resolve an open entry with the official's fields (they win over the guesses and the manifest), then
    clean → GX → normalize → link (or a coded paper-only result), exactly as for a confident scan.
    Returns review_id, status, document_id, result_id, result_code, link_rule, fields, changed."""
    from tthc.load.validate import staged_failures
    from tthc.scans.candidates import check_staged, link_documents, stage_candidates
    from tthc.ops.events import event

    reviewer = _who(reviewer)
    corrections = normalize_corrections(fields)
    with _EntryLock(url, review_id):
        entry = get_entry(url, review_id)
        if entry["status"] == "resolved":
            if (entry["resolution"] or {}).get("fields") == corrections:
                log.info("review %s: already resolved with these fields by %s; nothing to do",
                         review_id, entry["resolved_by"])
                return _outcome(entry, changed=False)
            raise ReviewError(f"review entry {review_id} was already resolved by {entry['resolved_by']} at "
                              f"{entry['resolved_at']} with other fields {entry['resolution'].get('fields')}")
        if entry["status"] == "rejected":
            raise ReviewError(f"review entry {review_id} was rejected by {entry['resolved_by']} at "
                              f"{entry['resolved_at']} ({(entry['resolution'] or {}).get('reason')}); it cannot be "
                              "resolved (operators can resolve its quarantine entry to have the file taken again)")
        if entry["file_id"] is None or entry["drop_zone"] is None:
            raise ReviewError(f"review entry {review_id}: document {entry['document_id']} has no scan file")
        if entry["result_id"] is not None:
            raise ReviewError(f"review entry {review_id}: document {entry['document_id']} is already linked to "
                              f"result {entry['result_id']}")
        zone = ReviewZone(entry["drop_zone"])
        row, cand = _check_row(url, entry, corrections, zone)

        # Its own batch: the same staging → GX → normalize path as a run, without touching the drop's runs.
        now = dt.datetime.now(dt.timezone.utc)
        with transaction(url) as cur:
            batch_id = open_batch(cur, zone.review_source, now, now, "review", f"review:{review_id}")
            stage_candidates(cur, zone, batch_id, [(entry["sha256"], row, cand)])
        try:
            check_staged(zone, url, batch_id)
            failures = staged_failures(url, batch_id)
        except Exception:
            _discard_batch(url, batch_id)
            raise
        if failures:
            _discard_batch(url, batch_id)
            message = _failed_checks_message(failures)
            with transaction(url) as cur:
                event(cur, "document", entry["document_id"], "review_failed", None,
                      {"review_id": review_id, "reviewer": reviewer, "fields": corrections,
                       "failed_checks": failures})
            raise ReviewError(f"review entry {review_id}: the corrected fields fail validation, the entry stays "
                              f"open: {message}")

        try:
            with transaction(url) as cur:
                cur.execute("SELECT status FROM ops.review_queue WHERE review_id = %s FOR UPDATE", (review_id,))
                linked = link_documents(cur, zone, batch_id, file_status=entry["file_status"])
                if not linked["links"]:
                    raise RuntimeError(f"review entry {review_id}: document {entry['document_id']} was validated but "
                                       f"not linked (file status {entry['file_status']!r}); nothing was changed")
                (document_id, file_id, result_id, rule), = linked["links"]
                cur.execute("SELECT result_code FROM core.result WHERE result_id = %s", (result_id,))
                code = cur.fetchone()[0]
                resolution = {"fields": corrections, "result_id": result_id, "result_code": code, "link_rule": rule,
                              "batch_id": batch_id}
                cur.execute("""UPDATE ops.review_queue SET status = 'resolved', resolved_at = now(), resolved_by = %s,
                                      resolution = %s WHERE review_id = %s""",
                            (reviewer, Json(resolution, dumps=_dumps), review_id))
                # Its validation failure (if that is why it was here) is settled by the correction.
                cur.execute("""UPDATE ops.quarantine SET resolved_at = now(), resolution = %s
                               WHERE source = %s AND source_key = %s AND stage = 'validate' AND resolved_at IS NULL""",
                            (f"corrected in review {review_id} by {reviewer}: result {code}", zone.source,
                             entry["sha256"]))
                event(cur, "document", document_id, "reviewed", batch_id,
                      {"review_id": review_id, "outcome": "resolved", "reviewer": reviewer, "fields": corrections,
                       "result_id": result_id, "result_code": code, "link_rule": rule})
                close_batch(cur, batch_id, "succeeded", 1, 1, 0,
                            {"review": {"review_id": review_id, "reviewer": reviewer, "document_id": document_id,
                                        "result_id": result_id, "link_rule": rule}})
                entry = _entry(cur, review_id)
        except Exception:
            _discard_batch(url, batch_id)  # nothing of it reached core: the transaction rolled back
            raise
    log.info("review %s resolved by %s: document %s → result %s (%s, %s)", review_id, reviewer,
             entry["document_id"], code, rule, "known" if rule != "paper_only" else "new, paper only")
    return _outcome(entry, changed=True)


# ------------------------------------------------------------------------------ reject


def reject(url: str, review_id: int, reviewer: str, reason: str) -> dict:
    """Reject an open entry (not a result, unreadable, …): status 'rejected', the file in ops.quarantine
    (stage 'review', the reason, payload_ref = the archived copy), file status 'quarantined'."""
    from tthc.ops.events import event

    reviewer = _who(reviewer)
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError("a reason is required to reject an entry (--reason TEXT)")
    with _EntryLock(url, review_id):
        with transaction(url) as cur:
            entry = _entry(cur, review_id)
            if entry["status"] == "rejected":
                if (entry["resolution"] or {}).get("reason") == reason:
                    return _outcome(entry, changed=False)
                raise ReviewError(f"review entry {review_id} was already rejected by {entry['resolved_by']} at "
                                  f"{entry['resolved_at']}: {(entry['resolution'] or {}).get('reason')}")
            if entry["status"] == "resolved":
                raise ReviewError(f"review entry {review_id} was already resolved by {entry['resolved_by']} "
                                  f"(result {(entry['resolution'] or {}).get('result_code')}); it cannot be rejected")
            source = f"scan.{entry['drop_zone']}"
            text = f"rejected in review {review_id} by {reviewer}: {reason}"
            payload = {"review_id": review_id, "document_id": entry["document_id"], "file_id": entry["file_id"],
                       "file_name": entry["file_name"], "source_uri": entry["source_uri"],
                       "sha256": entry["sha256"], "review_reason": entry["reason"],
                       "guessed_fields": entry["guessed_fields"], "rejected_by": reviewer, "reason": reason}
            rejection = Rejection(source, entry["source_uri"], "review", text, payload, ["rejected_in_review"],
                                  entry["archive_uri"])
            quarantine(cur, [rejection], None)
            cur.execute("SELECT quarantine_id FROM ops.quarantine WHERE source = %s AND dedup_key = %s",
                        (source, rejection.dedup_key))
            quarantine_id = cur.fetchone()[0]
            cur.execute("""UPDATE ops.scan_file SET status = 'quarantined', reason = %s, updated_at = now()
                           WHERE file_id = %s""", (text, entry["file_id"]))
            cur.execute("""UPDATE ops.review_queue SET status = 'rejected', resolved_at = now(), resolved_by = %s,
                                  resolution = %s WHERE review_id = %s""",
                        (reviewer, Json({"reason": reason, "quarantine_id": quarantine_id}, dumps=_dumps), review_id))
            event(cur, "document", entry["document_id"], "reviewed", None,
                  {"review_id": review_id, "outcome": "rejected", "reviewer": reviewer, "reason": reason})
            event(cur, "file", entry["file_id"], "quarantined", None,
                  {"stage": "review", "reason": "rejected_in_review", "detail": reason, "quarantine_id": quarantine_id})
            entry = _entry(cur, review_id)
    log.info("review %s rejected by %s: %s (quarantine %s)", review_id, reviewer, reason, quarantine_id)
    return _outcome(entry, changed=True)
