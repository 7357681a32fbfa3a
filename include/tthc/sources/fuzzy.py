"""Fuzzy duplicate matching: the same result reaching us with a slightly different natural key.

A candidate whose exact key (agency, type, book, number, issue date) is not in core.result is
merged into an existing result when the agency, type and issue date are equal, the numbers
are equal once normalized ('22/2013' = '22 / 2013'), the books are compatible (equal, or one
side has none), and the holders' names agree without diacritics (similarity ≥ NAME_THRESHOLD).
"""

from __future__ import annotations

import difflib
import re

from psycopg2.extras import execute_values

NAME_THRESHOLD = 0.85


def normalized_number(number: str | None) -> str:
    return re.sub(r"[^0-9a-z]", "", (number or "").lower())


def names_agree(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= NAME_THRESHOLD


def resolve_fuzzy_matches(cur, batch_id: int, lo: int | None = None, hi: int | None = None) -> int:
    """Rewrite matching candidates' keys to the existing result's; returns how many matched.
    lo/hi: only candidates with ids in [lo, hi] (one chunk of the load stage)."""
    cur.execute("""
        SELECT c.candidate_id, c.doc_book, c.doc_number, c.holder_name_key, r.doc_book, r.doc_number, r.holder_name_key
        FROM staging.result_candidate c
        JOIN core.result r ON (r.agency_id, r.procedure_code, r.issue_date) = (c.agency_id, c.document_type, c.issue_date)
        WHERE c.batch_id = %s AND c.failed_checks IS NULL
          AND c.candidate_id BETWEEN coalesce(%s, 0) AND coalesce(%s, 9223372036854775807)
          AND NOT EXISTS (SELECT 1 FROM core.result x
                          WHERE (x.agency_id, x.procedure_code, x.doc_book, x.doc_number, x.issue_date)
                              = (c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date))
          AND (c.doc_book = r.doc_book OR c.doc_book = '' OR r.doc_book = '')""", (batch_id, lo, hi))
    rewrites = {}
    for cid, book, number, name, r_book, r_number, r_name in cur.fetchall():
        if cid in rewrites or normalized_number(number) != normalized_number(r_number):
            continue
        if names_agree(name, r_name):
            rewrites[cid] = (r_book, r_number)
    if rewrites:
        execute_values(cur, """UPDATE staging.result_candidate c
                               SET doc_book = v.book, doc_number = v.number, match_rule = 'fuzzy_name'
                               FROM (VALUES %s) AS v(candidate_id, book, number)
                               WHERE c.candidate_id = v.candidate_id""",
                       [(cid, b, n) for cid, (b, n) in rewrites.items()], page_size=5000)
    return len(rewrites)
