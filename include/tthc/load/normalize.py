"""Valid staged candidates → core, chunk by chunk: fuzzy keys, staging.load_chunk (SQL), codes; then exclusions.

Each chunk is one transaction: a run killed mid-way leaves whole chunks behind, and re-running the
batch upserts the same results again (natural key), adds no lineage twice and never changes a code.
"""

from __future__ import annotations

import io
import logging

from tthc.codes import CodeFormat, allocate_serial_blocks, assign_result_codes
from tthc.load.contract import LoadProfile, LoadTotals
from tthc.load.progress import Progress
from tthc.sources.exclusions import mark_digitized_elsewhere
from tthc.sources.fuzzy import resolve_fuzzy_matches
from tthc.warehouse.db import connect

log = logging.getLogger("tthc.load")


def chunk_ranges(cur, batch_id: int, size: int) -> list[tuple[int, int]]:
    """[lo, hi] candidate-id ranges of about `size` valid rows each (ids of a batch are nearly contiguous)."""
    cur.execute("SELECT min(candidate_id), max(candidate_id) FROM staging.result_candidate WHERE batch_id = %s",
                (batch_id,))
    lo, hi = cur.fetchone()
    if lo is None:
        return []
    return [(start, min(start + size - 1, hi)) for start in range(lo, hi + 1, size)]


def codes_for_new_results(cur, batch_id: int, lo: int, hi: int, fmt: CodeFormat) -> int:
    """The codes of the chunk's results that core does not hold yet, into temp table load_code, so
    staging.load_chunk inserts each result with its code (no second write of the row).

    Serials follow (issue_date, doc_book, doc_number) within each (agency, type, year), as
    tthc.codes.assign_result_codes does. A key another worker inserts first keeps that worker's code
    (the upsert never changes a code); the serial reserved here is then left unused."""
    cur.execute("""CREATE TEMP TABLE IF NOT EXISTS load_code (agency_id text, procedure_code text, doc_book text,
                       doc_number text, issue_date date, result_code text) ON COMMIT DELETE ROWS""")
    cur.execute("TRUNCATE load_code")
    cur.execute("""
        SELECT DISTINCT c.agency_id, c.document_type, extract(year FROM c.issue_date)::int, c.issue_date,
               c.doc_book, c.doc_number
        FROM staging.result_candidate c
        WHERE c.batch_id = %s AND c.candidate_id BETWEEN %s AND %s AND c.failed_checks IS NULL
          AND c.agency_id IS NOT NULL AND c.document_type IS NOT NULL AND c.issue_date IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM core.result r
                          WHERE (r.agency_id, r.procedure_code, r.doc_book, r.doc_number, r.issue_date)
                              = (c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date))
        ORDER BY 1, 2, 4, 5, 6""", (batch_id, lo, hi))
    keys = cur.fetchall()
    if not keys:
        return 0
    counts: dict[tuple, int] = {}
    for agency, type_, year, *_ in keys:
        counts[(agency, type_, year)] = counts.get((agency, type_, year), 0) + 1
    blocks = {k: iter(r) for k, r in allocate_serial_blocks(cur, counts).items()}
    buf = io.StringIO()
    for agency, type_, year, issue, book, number in keys:
        code = fmt.render(agency, type_, year, next(blocks[(agency, type_, year)]))
        buf.write("\t".join(v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                            for v in (agency, type_, book, number, issue.isoformat(), code)) + "\n")
    buf.seek(0)
    cur.copy_expert("COPY load_code FROM STDIN", buf)
    return len(keys)


def normalize_chunk(cur, batch_id: int, lo: int, hi: int, totals: LoadTotals, fmt: CodeFormat | None = None) -> int:
    """One chunk inside the caller's transaction. Returns the valid rows it held."""
    resolve_fuzzy_matches(cur, batch_id, lo, hi)
    totals.codes_assigned += codes_for_new_results(cur, batch_id, lo, hi, fmt or CodeFormat.from_env())
    cur.execute("SELECT * FROM staging.load_chunk(%s, %s, %s)", (batch_id, lo, hi))
    new, valid, known = cur.fetchone()
    totals.add(new, valid, known)
    assign_result_codes(cur)  # results made elsewhere without a code (indexed: cheap when there are none)
    return valid


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
        ranges = chunk_ranges(cur, batch_id, profile.chunk_size)
        if own:
            conn.commit()
        fmt = CodeFormat.from_env()
        for lo, hi in ranges:
            progress.tick(normalize_chunk(cur, batch_id, lo, hi, totals, fmt))
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
