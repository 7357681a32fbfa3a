"""The application's SQL. Every query over results carries the caller's unit scope (SCOPE) and
asks for personal data only when the caller may see it: the scoping lives in the queries."""

from __future__ import annotations

import datetime as dt
import re

from tthc.app.security import Principal
from tthc.masking import mask_id, mask_name

SCOPE = ("(%(all_units)s OR r.issuing_unit_key = ANY (%(scope_units)s::text[]) "
         "OR r.successor_unit_key = ANY (%(scope_units)s::text[]))")

RESULT = f"""
SELECT r.result_id, r.result_code, r.procedure_code, p.name_vi, p.result_name_vi, r.agency_id, ag.name_vi,
       r.issuing_unit_key, iu.name_vi, r.successor_unit_key, su.name_vi, r.doc_book, r.doc_number, r.issue_date,
       r.valid_until, r.revoked_on, core.result_status(r.valid_until, r.revoked_on, current_date), r.copy_kind,
       r.is_signed, r.digitized_at, r.digitized_elsewhere, r.copy_ref, h.holder_ref::text, h.kind,
       CASE WHEN %(pii)s THEN h.display_name END,
       CASE WHEN %(pii)s THEN (SELECT json_agg(json_build_object('type', i.id_type, 'value', i.id_value)
                                               ORDER BY i.id_type)
                               FROM core.holder_identity i WHERE i.holder_id = r.holder_id) END,
       (SELECT array_agg(DISTINCT s.source) FROM core.result_source s WHERE s.result_id = r.result_id),
       d.document_id, d.signature_status, d.media_type, d.page_count, r.change_xid::text, r.updated_at
FROM core.result r
JOIN core.procedure p ON p.code = r.procedure_code
JOIN core.agency ag ON ag.electronic_id = r.agency_id
JOIN core.admin_unit iu ON iu.unit_key = r.issuing_unit_key
LEFT JOIN core.admin_unit su ON su.unit_key = r.successor_unit_key
LEFT JOIN core.holder h ON h.holder_id = r.holder_id
LEFT JOIN LATERAL (SELECT dd.document_id, dd.signature_status, dd.media_type, dd.page_count FROM core.document dd
                   WHERE dd.result_id = r.result_id ORDER BY dd.linked_at DESC NULLS LAST, dd.document_id DESC
                   LIMIT 1) d ON true
WHERE {SCOPE}"""

STATUS_VI = {"valid": "còn hiệu lực", "expired": "hết hiệu lực", "revoked": "đã thu hồi"}
COPY_VI = {"scan": "bản quét", "born_digital": "bản điện tử gốc", "data_only": "chỉ có dữ liệu", None: "chưa có"}
FEED_CURSOR = re.compile(r"^(\d{1,20})-(\d{1,19})$")


def params(who: Principal, **extra) -> dict:
    return {**who.unit_filter(), "pii": who.sees_pii or who.sees_masked_pii, **extra}


def to_dict(row, who: Principal) -> dict:
    (rid, code, proc, proc_name, result_name, agency, agency_name, iu, iu_name, su, su_name, book, number, issued,
     valid_until, revoked_on, status, copy_kind, signed, digitized_at, elsewhere, copy_ref, holder_ref, holder_kind,
     holder_name, holder_ids, sources, document_id, sig, media, pages, change_xid, updated_at) = row
    holder = {"ref": holder_ref, "kind": holder_kind} if holder_ref else None
    if holder and (who.sees_pii or who.sees_masked_pii):
        ids = holder_ids or []
        if not who.sees_pii:
            holder_name = mask_name(holder_name)
            ids = [{"type": i["type"], "value": mask_id(i["value"])} for i in ids]
        holder.update(name=holder_name, ids=ids, masked=not who.sees_pii)
    return {
        "code": code, "procedure": {"code": proc, "name": proc_name, "result_name": result_name},
        "agency": {"id": agency, "name": agency_name},
        "issuing_unit": {"key": iu, "name": iu_name}, "successor_unit": {"key": su, "name": su_name} if su else None,
        "doc_book": book, "doc_number": number, "issue_date": issued, "valid_until": valid_until,
        "revoked_on": revoked_on, "status": status, "status_vi": STATUS_VI[status],
        "copy_kind": copy_kind, "copy_kind_vi": COPY_VI.get(copy_kind, copy_kind), "is_signed": signed,
        "digitized_at": digitized_at, "digitized_elsewhere": elsewhere, "copy_ref": copy_ref,
        "copy": {"document_id": document_id, "signature_status": sig, "media_type": media, "pages": pages}
        if document_id else None,
        "sources": sorted(sources or []), "holder": holder, "updated_at": updated_at,
        "_id": rid, "_xid": change_xid,
    }


def public(item: dict) -> dict:
    return {k: v for k, v in item.items() if not k.startswith("_")}


def result_by_code(cur, who: Principal, code: str) -> dict | None:
    cur.execute(RESULT + " AND r.result_code = %(code)s", params(who, code=code))
    row = cur.fetchone()
    return to_dict(row, who) if row else None


async def result_by_code_async(cur, who: Principal, code: str) -> dict | None:
    """result_by_code on the event loop's connection (tthc.app.db.AsyncReads), prepared: planning
    this statement costs the database several times running it."""
    await cur.execute(RESULT + " AND r.result_code = %(code)s", params(who, code=code), prepare=True)
    row = await cur.fetchone()
    return to_dict(row, who) if row else None


def existing_codes(cur, who: Principal, codes: list[str]) -> list[str]:
    """Which of `codes` exist within the caller's scope (suggestions never reveal other units' codes)."""
    if not codes:
        return []
    cur.execute(f"SELECT r.result_code FROM core.result r WHERE r.result_code = ANY (%(codes)s) AND {SCOPE}",
                {**who.unit_filter(), "codes": codes})
    return sorted(c for (c,) in cur.fetchall())


SEARCH_FILTERS = {
    "procedure": "r.procedure_code = %(procedure)s",
    "unit": "(r.issuing_unit_key = %(unit)s OR r.successor_unit_key = %(unit)s)",
    "year": "r.issue_date >= make_date(%(year)s, 1, 1) AND r.issue_date < make_date(%(year)s + 1, 1, 1)",
    "book": "r.doc_book = %(book)s",
    "number": "r.doc_number = %(number)s",
    "status": "core.result_status(r.valid_until, r.revoked_on, current_date) = %(status)s",
}


def search(cur, who: Principal, filters: dict, after: int | None, limit: int) -> tuple[list[dict], int | None]:
    """Results matching every given filter, by result_id after the cursor; (items, next cursor)."""
    given = {k: v for k, v in filters.items() if v not in (None, "")}
    where = "".join(f" AND {SEARCH_FILTERS[k]}" for k in given)
    cur.execute(RESULT + where + " AND r.result_id > %(after)s ORDER BY r.result_id LIMIT %(limit)s",
                params(who, after=after or 0, limit=limit + 1, **given))
    rows = [to_dict(r, who) for r in cur.fetchall()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["_id"] if more else None)


def changes(cur, who: Principal, xid: int, rid: int, limit: int) -> tuple[list[dict], str, bool]:
    """Results created or changed after the cursor (change_xid, result_id), in that order, only from
    transactions older than every one still running: a row served never gets a predecessor later."""
    cur.execute(RESULT + """ AND r.result_code IS NOT NULL
                  AND r.change_xid < pg_snapshot_xmin(pg_current_snapshot())
                  AND (r.change_xid, r.result_id) > (%(xid)s::text::xid8, %(rid)s)
                ORDER BY r.change_xid, r.result_id LIMIT %(limit)s""",
                params(who, xid=str(xid), rid=rid, limit=limit + 1))
    rows = [to_dict(r, who) for r in cur.fetchall()]
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = f"{rows[-1]['_xid']}-{rows[-1]['_id']}" if rows else f"{xid}-{rid}"
    return rows, cursor, more


def progress(cur, who: Principal, as_of: dt.date, plan: str | None, view: str, unit: str | None,
             parent: str | None) -> list[dict]:
    """mart.progress_as_of rows of one view: one unit, the children of `parent`, or all."""
    cur.execute("""
        SELECT p.plan_code, p.unit_view, p.unit_key, p.unit_code, p.unit_name, p.unit_level, u.parent_key,
               p.in_scope, p.declared, p.known, p.digitized, p.data_only, p.digitized_elsewhere, p.pct_digitized,
               p.target_year, p.target_pct, p.expected_pct, p.gap_records, p.status, p.monthly_pace_needed,
               p.issued_since_2022, p.signed, p.signed_pct
        FROM mart.progress_as_of(%(as_of)s) p
        JOIN core.admin_unit u ON u.unit_key = p.unit_key
        WHERE p.unit_view = %(view)s
          AND (%(plan)s::text IS NULL OR p.plan_code = %(plan)s)
          AND (%(unit)s::text IS NULL OR p.unit_key = %(unit)s)
          AND (%(parent)s::text IS NULL OR u.parent_key = %(parent)s)
          AND (%(all_units)s OR p.unit_key = ANY (%(scope_units)s::text[]))
        ORDER BY p.plan_code, CASE p.unit_level WHEN 'province' THEN 0 WHEN 'district' THEN 1 ELSE 2 END,
                 p.unit_code""", {**who.unit_filter(), "as_of": as_of, "view": view, "plan": plan, "unit": unit,
                                 "parent": parent})
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def snapshots(cur, who: Principal, plan: str | None, view: str, unit: str | None, kind: str) -> list[dict]:
    cur.execute("""
        SELECT s.period_kind, s.period_end, s.plan_code, s.unit_view, s.unit_key, s.unit_name, s.unit_level,
               s.in_scope, s.digitized, s.digitized_elsewhere, s.pct_digitized, s.target_year, s.target_pct,
               s.expected_pct, s.status, s.signed_pct, s.taken_at
        FROM mart.progress_snapshot s
        WHERE s.period_kind = %(kind)s AND s.unit_view = %(view)s
          AND (%(plan)s::text IS NULL OR s.plan_code = %(plan)s)
          AND (%(unit)s::text IS NULL OR s.unit_key = %(unit)s)
          AND (%(all_units)s OR s.unit_key = ANY (%(scope_units)s::text[]))
        ORDER BY s.plan_code, s.unit_key, s.period_end""",
                {**who.unit_filter(), "kind": kind, "view": view, "plan": plan, "unit": unit})
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def chart_inputs(cur, who: Principal, plan: str, view: str, unit: str | None) -> tuple[list[tuple], list[tuple]]:
    """(targets, history) in the shape of the report's step chart: the plan's stepped targets and the
    measured line from the quarterly snapshots (one unit's, else the province-level totals)."""
    cur.execute("SELECT plan_code, level, year, target_pct FROM core.plan_target WHERE plan_code = %s", (plan,))
    targets = cur.fetchall()
    cur.execute("""
        SELECT s.plan_code, s.unit_level, s.period_end, sum(s.in_scope)::bigint,
               sum(s.digitized + s.digitized_elsewhere)::bigint
        FROM mart.progress_snapshot s
        WHERE s.period_kind = 'quarter' AND s.plan_code = %(plan)s AND s.unit_view = %(view)s
          AND (CASE WHEN %(unit)s::text IS NULL THEN true ELSE s.unit_key = %(unit)s END)
          AND (%(all_units)s OR s.unit_key = ANY (%(scope_units)s::text[]))
        GROUP BY 1, 2, 3 ORDER BY 3""", {**who.unit_filter(), "plan": plan, "view": view, "unit": unit})
    history = cur.fetchall()
    if unit:
        targets = [t for t in targets if t[1] in {h[1] for h in history}] or targets
    return targets, history


def work_queue(cur, who: Principal, unit: str, limit: int = 200) -> list[dict]:
    cur.execute("""
        SELECT q.queue_rank, q.priority_tier, q.result_code, q.procedure_code, q.doc_book, q.doc_number,
               q.issue_date, q.valid_until, q.remaining_days, q.copy_kind
        FROM mart.work_queue q
        WHERE q.unit_key = %(unit)s AND (%(all_units)s OR q.unit_key = ANY (%(scope_units)s::text[]))
        ORDER BY q.queue_rank LIMIT %(limit)s""", {**who.unit_filter(), "unit": unit, "limit": limit})
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def units(cur, era: str | None, level: str | None, parent: str | None) -> list[dict]:
    cur.execute("""SELECT unit_key, era, level, code, name_vi, division_type, parent_key FROM core.admin_unit
                   WHERE (%(era)s::text IS NULL OR era = %(era)s) AND (%(level)s::text IS NULL OR level = %(level)s)
                     AND (%(parent)s::text IS NULL OR parent_key = %(parent)s)
                   ORDER BY era, level, code""", {"era": era, "level": level, "parent": parent})
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def plans(cur) -> list[tuple]:
    cur.execute("SELECT plan_code, name_vi FROM core.plan ORDER BY plan_code")
    return cur.fetchall()


def health(cur) -> list[dict]:
    """Per source: last run, open quarantine and review-queue counts (no payloads)."""
    cur.execute("""
        WITH b AS (SELECT DISTINCT ON (regexp_replace(source, '^scan:', 'scan.'))
                          regexp_replace(source, '^scan:', 'scan.') AS source, status, started_at, finished_at
                   FROM ops.batch ORDER BY regexp_replace(source, '^scan:', 'scan.'), started_at DESC, batch_id DESC),
             q AS (SELECT regexp_replace(source, '^scan:', 'scan.') AS source, count(*) AS n FROM ops.quarantine
                   WHERE resolved_at IS NULL GROUP BY 1),
             rv AS (SELECT 'scan.' || f.drop_zone AS source, count(DISTINCT rq.review_id) AS n
                    FROM ops.review_queue rq JOIN core.document d ON d.document_id = rq.document_id
                    JOIN ops.scan_file f ON f.sha256 = d.sha256 WHERE rq.status = 'open' GROUP BY 1),
             s AS (SELECT source FROM b UNION SELECT source FROM q UNION SELECT source FROM rv)
        SELECT s.source, b.status, b.started_at, b.finished_at, coalesce(q.n, 0) AS open_quarantine,
               coalesce(rv.n, 0) AS open_review
        FROM s LEFT JOIN b USING (source) LEFT JOIN q USING (source) LEFT JOIN rv USING (source)
        ORDER BY s.source""")
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
