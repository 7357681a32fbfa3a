"""Valid staged candidates → core: fuzzy keys and codes planned for the batch, then chunk by chunk
staging.load_chunk (SQL); then exclusions.

Each chunk is one transaction: a run killed mid-way leaves whole chunks behind, and re-running the
batch upserts the same results again (natural key), adds no lineage twice and never changes a code.
"""

from __future__ import annotations

import io
import logging

from tthc.codes import CodeFormat, allocate_serial_blocks, assign_result_codes
from tthc.load.contract import LoadProfile, LoadTotals
from tthc.load.progress import Progress
from tthc.load.stage import copy_text
from tthc.sources.exclusions import mark_digitized_elsewhere
from tthc.sources.fuzzy import resolve_fuzzy_matches
from tthc.warehouse.db import connect

log = logging.getLogger("tthc.load")


MAX_CHUNKS = 1024  # Airflow's max_map_length: the DAG maps one task per chunk


def chunk_ranges(cur, batch_id: int, size: int) -> list[tuple[int, int]]:
    """[lo, hi] candidate-id ranges of about `size` rows each (ids of a batch are nearly contiguous),
    at most MAX_CHUNKS of them (larger chunks for a very large batch)."""
    cur.execute("SELECT min(candidate_id), max(candidate_id) FROM staging.result_candidate WHERE batch_id = %s",
                (batch_id,))
    lo, hi = cur.fetchone()
    if lo is None:
        return []
    size = max(size, -(-(hi - lo + 1) // MAX_CHUNKS))
    return [(start, min(start + size - 1, hi)) for start in range(lo, hi + 1, size)]


def plan_codes(conn, batch_id: int, fmt: CodeFormat, page: int = 50_000) -> int:
    """Codes for the batch's valid candidates whose natural key core does not hold and the plan does not
    have yet, into staging.result_code_plan (committed). Serials follow (issue_date, doc_book, doc_number)
    within each (agency, type, year), over the whole batch, as tthc.codes.assign_result_codes does: the
    codes do not depend on chunks or workers. Keys stream from a server-side cursor: memory stays flat.
    A key another batch inserts first keeps that batch's code (a code never changes); the serial planned
    here is then left unused. Returns the codes planned."""
    new_keys = """
        FROM staging.result_candidate c
        WHERE c.batch_id = %(b)s AND c.failed_checks IS NULL
          AND c.agency_id IS NOT NULL AND c.document_type IS NOT NULL AND c.issue_date IS NOT NULL
          AND c.doc_number IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM core.result r
                          WHERE (r.agency_id, r.procedure_code, r.doc_book, r.doc_number, r.issue_date)
                              = (c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date))
          AND NOT EXISTS (SELECT 1 FROM staging.result_code_plan k
                          WHERE (k.batch_id, k.agency_id, k.procedure_code, k.doc_book, k.doc_number, k.issue_date)
                              = (c.batch_id, c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date))"""
    with conn.cursor() as cur:
        cur.execute(f"""SELECT agency_id, document_type, year, count(*) FROM (
                            SELECT DISTINCT c.agency_id, c.document_type, extract(year FROM c.issue_date)::int AS year,
                                   c.issue_date, c.doc_book, c.doc_number {new_keys}) k
                        GROUP BY 1, 2, 3""", {"b": batch_id})
        counts = {(a, t, y): n for a, t, y, n in cur.fetchall()}
        if not counts:
            return 0
        blocks = {k: iter(r) for k, r in allocate_serial_blocks(cur, counts).items()}
    with conn.cursor(name=f"plan_codes_{batch_id}") as keys, conn.cursor() as cur:
        keys.itersize = page
        keys.execute(f"""SELECT DISTINCT c.agency_id, c.document_type, extract(year FROM c.issue_date)::int,
                                c.issue_date, c.doc_book, c.doc_number {new_keys}
                         ORDER BY 1, 2, 4, 5, 6""", {"b": batch_id})
        planned = 0
        while rows := keys.fetchmany(page):
            buf = io.StringIO()
            for agency, type_, year, issue, book, number in rows:
                code = fmt.render(agency, type_, year, next(blocks[(agency, type_, year)]))
                buf.write("\t".join(copy_text(v) for v in (batch_id, agency, type_, book, number, issue, code)) + "\n")
            buf.seek(0)
            cur.copy_expert("COPY staging.result_code_plan (batch_id, agency_id, procedure_code, doc_book, doc_number, "
                            "issue_date, result_code) FROM STDIN", buf)
            planned += len(rows)
    return planned


def normalize_chunk(cur, batch_id: int, lo: int, hi: int, totals: LoadTotals) -> int:
    """One chunk inside the caller's transaction (codes already planned). Returns the valid rows it held."""
    cur.execute("SELECT * FROM staging.load_chunk(%s, %s, %s)", (batch_id, lo, hi))
    new, valid, known = cur.fetchone()
    totals.add(new, valid, known)
    assign_result_codes(cur)  # results made elsewhere without a code (indexed: cheap when there are none)
    return valid


def prepare(conn, batch_id: int, size: int) -> list[tuple[int, int]]:
    """Before the chunks: fuzzy keys resolved and codes planned for the whole batch (each committed by the
    caller). Returns the chunks' candidate-id ranges; chunks may then run in any order, on any worker."""
    with conn.cursor() as cur:
        ranges = chunk_ranges(cur, batch_id, size)
        for lo, hi in ranges:
            resolve_fuzzy_matches(cur, batch_id, lo, hi)
    plan_codes(conn, batch_id, CodeFormat.from_env())
    return ranges


def normalize(url: str, batch_id: int, profile: LoadProfile, progress: Progress | None = None,
              conn=None) -> LoadTotals:
    """Every valid candidate of the batch into core. With `conn`, runs in the caller's transaction."""
    totals = LoadTotals()
    own = conn is None
    conn = conn or connect(url)
    progress = progress or Progress(f"{profile.source} batch {batch_id}")
    progress.begin("normalize")
    try:
        cur = conn.cursor()
        if own:
            cur.execute("ANALYZE staging.result_candidate")  # the batch was just loaded: fresh statistics
        ranges = prepare(conn, batch_id, profile.chunk_size)
        if own:
            conn.commit()
        for lo, hi in ranges:
            progress.tick(normalize_chunk(cur, batch_id, lo, hi, totals))
            if own:
                conn.commit()
        mark_digitized_elsewhere(cur)
        if own:
            conn.commit()
    finally:
        if own:
            conn.close()
    progress.done()
    return totals
