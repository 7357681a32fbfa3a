"""Valid staged candidates → core, chunk by chunk: fuzzy keys, staging.load_chunk (SQL), codes; then exclusions.

Each chunk is one transaction: a run killed mid-way leaves whole chunks behind, and re-running the
batch upserts the same results again (natural key), adds no lineage twice and never changes a code.
"""

from __future__ import annotations

import logging

from tthc.codes import assign_result_codes
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


def normalize_chunk(cur, batch_id: int, lo: int, hi: int, totals: LoadTotals) -> int:
    """One chunk inside the caller's transaction. Returns the valid rows it held."""
    resolve_fuzzy_matches(cur, batch_id, lo, hi)
    cur.execute("SELECT * FROM staging.load_chunk(%s, %s, %s)", (batch_id, lo, hi))
    new, valid, known = cur.fetchone()
    totals.add(new, valid, known)
    totals.codes_assigned += assign_result_codes(cur)
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
        cur.execute("ANALYZE staging.result_candidate")  # the batch was just loaded: fresh statistics
        ranges = chunk_ranges(cur, batch_id, profile.chunk_size)
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
