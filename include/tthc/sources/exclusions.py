"""Exclusion sources: results already digitized by another project. A source YAML with
`kind: exclusion` and a mapping for `external_ref` (plus the natural-key fields)."""

from __future__ import annotations

import logging

from psycopg2.extras import execute_values

from tthc.sources.clean import CleanContext, clean_row
from tthc.sources.config import SourceConfig
from tthc.sources.extract import extract
from tthc.warehouse.db import transaction

log = logging.getLogger(__name__)

MARK_SQL = """
UPDATE core.result r SET digitized_elsewhere = e.external_ref, updated_at = now()
FROM core.external_digitization e
WHERE (r.agency_id, r.procedure_code, r.doc_book, r.doc_number, r.issue_date)
    = (e.agency_id, e.procedure_code, e.doc_book, e.doc_number, e.issue_date)
  AND r.digitized_elsewhere IS DISTINCT FROM e.external_ref
"""


def mark_digitized_elsewhere(cur) -> int:
    """Mark every result that an exclusion source lists; runs after each load, so order never matters."""
    cur.execute(MARK_SQL)
    return cur.rowcount


def load_exclusions(cfg: SourceConfig, url: str) -> dict:
    from tthc.ops.quarantine import Rejection, quarantine
    from tthc.sources.extract import EXTRACT_PROBLEMS, source_key

    rows_in, records, rejected = 0, {}, []
    with transaction(url) as cur:
        ctx = CleanContext.load(cur)
        for chunk in extract(cfg):
            for row in chunk:
                rows_in += 1
                if EXTRACT_PROBLEMS in row:  # unreadable in part: kept in quarantine, never listed
                    rejected.append(Rejection(cfg.name, source_key(cfg.primary_key, row), "extract",
                                              "; ".join(row[EXTRACT_PROBLEMS]), row))
                    continue
                cand = clean_row(cfg, row, ctx)
                ref = row.get(cfg.mapping["external_ref"].column) if "external_ref" in cfg.mapping else None
                if not ref:
                    continue
                records[ref] = (cfg.name, ref, cand["agency_id"], cand["document_type"], cand["doc_book"],
                                cand["doc_number"], cand["issue_date"], cand["holder_name"],
                                row.get("source_system"), row.get("digitized_on"))
        if records:
            execute_values(cur, """
                INSERT INTO core.external_digitization (source, external_ref, agency_id, procedure_code, doc_book,
                    doc_number, issue_date, holder_name, source_system, digitized_on)
                VALUES %s ON CONFLICT (source, external_ref) DO UPDATE
                SET agency_id = EXCLUDED.agency_id, procedure_code = EXCLUDED.procedure_code,
                    doc_book = EXCLUDED.doc_book, doc_number = EXCLUDED.doc_number, issue_date = EXCLUDED.issue_date,
                    holder_name = EXCLUDED.holder_name""", list(records.values()), page_size=5000)
        quarantine(cur, rejected)
        marked = mark_digitized_elsewhere(cur)
        cur.execute("""SELECT count(*) FILTER (WHERE r.result_id IS NOT NULL), count(*)
                       FROM core.external_digitization e LEFT JOIN core.result r
                         ON (r.agency_id, r.procedure_code, r.doc_book, r.doc_number, r.issue_date)
                          = (e.agency_id, e.procedure_code, e.doc_book, e.doc_number, e.issue_date)
                       WHERE e.source = %s""", (cfg.name,))
        matched, total = cur.fetchone()
    report = {"source": cfg.name, "rows_in": rows_in, "listed": total, "matched_known_results": matched,
              "not_in_our_sources": total - matched, "newly_marked": marked, "quarantined": len(rejected)}
    log.info("exclusions %s: %s", cfg.name, report)
    return report
