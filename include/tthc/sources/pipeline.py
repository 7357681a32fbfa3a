"""One batch of one legacy source: extract → land → clean → validate → quarantine → normalize → codes.

Idempotent per (source, data interval): the batch row is reused, staging is rebuilt,
raw rows and core results are upserted by content and natural key, quarantine
entries are deduplicated, and codes never change once assigned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import time
from dataclasses import dataclass

from psycopg2.extras import execute_values

from tthc.codes import assign_result_codes
from tthc.ops.batches import close_batch, open_batch
from tthc.ops.quarantine import Rejection, quarantine
from tthc.settings import Settings
from tthc.sources.clean import CANDIDATE_COLUMNS, CleanContext, clean_row
from tthc.sources.config import SourceConfig
from tthc.sources.exclusions import mark_digitized_elsewhere
from tthc.sources.fuzzy import resolve_fuzzy_matches
from tthc.sources.extract import extract
from tthc.warehouse.db import connect

log = logging.getLogger(__name__)


class QuarantineThresholdExceeded(RuntimeError):
    """The share of rejected rows passed the source's threshold: the task fails and operators are alerted.

    Carries what the data alert shows (tthc.alerts reads `alert_kind` and `alert_fields`).
    """

    alert_kind = "data_quality"

    def __init__(self, message: str, *, source: str | None = None, batch_id: int | None = None,
                 failed: int | None = None, evaluated: int | None = None, quarantined: int | None = None,
                 threshold: float | None = None, data_docs: str | None = None):
        super().__init__(message)
        self.source, self.batch_id, self.failed, self.evaluated = source, batch_id, failed, evaluated
        self.quarantined, self.threshold, self.data_docs = quarantined, threshold, data_docs

    @property
    def alert_fields(self) -> dict:
        return {"source": self.source, "batch_id": self.batch_id, "failed_rows": self.failed,
                "evaluated_rows": self.evaluated, "quarantine_count": self.quarantined,
                "threshold": self.threshold, "data_docs": self.data_docs}


def _threshold_context(url: str, batch_id: int) -> tuple[int, str | None]:
    """Open quarantine entries of the batch, and the Data Docs index (for the alert)."""
    from tthc.validation import default_data_docs_dir

    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ops.quarantine WHERE batch_id = %s AND resolved_at IS NULL", (batch_id,))
            count = cur.fetchone()[0]
    finally:
        conn.close()
    index = default_data_docs_dir() / "index.html"
    return count, (str(index) if index.exists() else None)


@dataclass
class BatchReport:
    source: str
    batch_id: int
    rows_in: int
    rows_loaded: int
    rows_quarantined: int
    results_new: int
    results_merged: int
    seconds: float

    @property
    def rejection_rate(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0


def canonical_payload(row: dict) -> tuple[str, str]:
    text = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def holder_key(id_type: str, id_value: str, secret: str) -> str:
    return hmac.new(secret.encode(), f"{id_type}:{id_value}".encode(), hashlib.sha256).hexdigest()


def effective_start(cur, source: str, interval_start: dt.datetime | None) -> dt.datetime | None:
    """A run covers [min(interval start, last watermark), interval end): the first run catches up on
    history, later runs leave no gap, and a backfill of an old interval re-reads just that interval."""
    if interval_start is None:
        return None
    cur.execute("SELECT last_value FROM ops.watermark WHERE source = %s", (source,))
    row = cur.fetchone()
    if row is None:
        return None
    watermark = dt.datetime.fromisoformat(row[0])
    return min(interval_start, watermark)


def stage_batch(cfg: SourceConfig, url: str, start: dt.datetime | None = None, end: dt.datetime | None = None,
                dag_id: str | None = None, run_id: str | None = None) -> int:
    """Extract the interval, land raw rows, clean them into staging. Returns the batch id."""
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            batch_id = open_batch(cur, cfg.name, start, end, dag_id, run_id)
            # A re-run of an interval repeats exactly the first run's extraction window.
            cur.execute("SELECT detail FROM ops.batch WHERE batch_id = %s", (batch_id,))
            detail = cur.fetchone()[0] or {}
            if "read_from" in detail:
                read_from = dt.datetime.fromisoformat(detail["read_from"]) if detail["read_from"] else None
            else:
                read_from = effective_start(cur, cfg.name, start) if start is not None else None
                cur.execute("UPDATE ops.batch SET detail = detail || %s::jsonb WHERE batch_id = %s",
                            (json.dumps({"read_from": read_from.isoformat() if read_from else None}), batch_id))
            cur.execute("DELETE FROM staging.result_candidate WHERE batch_id = %s", (batch_id,))
            ctx = CleanContext.load(cur)
        rows_in = 0
        for chunk in extract(cfg, read_from if start is not None else None, end):
            rows_in += len(chunk)
            with conn, conn.cursor() as cur:
                _land_and_stage(cur, cfg, batch_id, chunk, ctx)
            log.info("%s batch %s: %d rows landed and cleaned", cfg.name, batch_id, rows_in)
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE ops.batch SET rows_in = %s WHERE batch_id = %s", (rows_in, batch_id))
    finally:
        conn.close()
    return batch_id


def record_failed_checks(cur, batch_id: int, failures: dict) -> None:
    """Mark the batch's candidates with the checks they failed (NULL = passed): what normalize skips."""
    cur.execute("UPDATE staging.result_candidate SET failed_checks = NULL WHERE batch_id = %s", (batch_id,))
    if failures:
        execute_values(cur, """UPDATE staging.result_candidate c SET failed_checks = v.checks::jsonb
                               FROM (VALUES %s) AS v(candidate_id, checks)
                               WHERE c.candidate_id = v.candidate_id""",
                       [(cid, json.dumps(f, ensure_ascii=False)) for cid, f in failures.items()], page_size=5000)


def validate_and_quarantine(cfg: SourceConfig, url: str, batch_id: int) -> dict:
    """Great Expectations on the staged batch; failing rows go to ops.quarantine with their payload."""
    from tthc.validation import validate_batch

    outcome = validate_batch(url, batch_id)
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            record_failed_checks(cur, batch_id, outcome.failures)
            cur.execute("""SELECT c.source_pk, c.clean_problems, c.failed_checks, r.payload
                           FROM staging.result_candidate c
                           JOIN raw.source_row r ON (r.source, r.source_pk, r.row_hash) = (c.source, c.source_pk, c.row_hash)
                           WHERE c.batch_id = %s AND c.failed_checks IS NOT NULL ORDER BY c.candidate_id""", (batch_id,))
            rejections = [Rejection(cfg.name, pk, "validate", "; ".join(problems or failed), payload, failed)
                          for pk, problems, failed, payload in cur.fetchall()]
            quarantine(cur, rejections, batch_id)
    finally:
        conn.close()
    return {"batch_id": batch_id, "evaluated": outcome.evaluated_rows, "failed": len(outcome.failures),
            "suites": outcome.suites, "data_docs": str(outcome.data_docs_index) if outcome.data_docs_index else None}


def normalize_and_close(cfg: SourceConfig, url: str, batch_id: int) -> BatchReport:
    """Valid candidates into core, codes assigned, batch closed, watermark advanced; fail above threshold."""
    started = time.monotonic()
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""SELECT count(*), count(*) FILTER (WHERE failed_checks IS NOT NULL)
                           FROM staging.result_candidate WHERE batch_id = %s""", (batch_id,))
            staged, failed = cur.fetchone()
            cur.execute("SELECT rows_in, interval_end FROM ops.batch WHERE batch_id = %s", (batch_id,))
            rows_in, interval_end = cur.fetchone()
            new, merged = normalize_batch(cur, cfg, batch_id)
            assign_result_codes(cur)
            mark_digitized_elsewhere(cur)
            report = BatchReport(cfg.name, batch_id, rows_in, staged - failed, failed, new, merged,
                                 time.monotonic() - started)
            too_many = rows_in >= cfg.quarantine_min_rows and report.rejection_rate > cfg.quarantine_threshold
            status = "failed" if too_many else "succeeded"
            close_batch(cur, batch_id, status, rows_in, staged - failed, failed,
                        {"results_new": new, "results_merged": merged})
            if interval_end is not None and status == "succeeded":
                cur.execute("""INSERT INTO ops.watermark (source, last_value) VALUES (%s, %s)
                               ON CONFLICT (source) DO UPDATE SET last_value = GREATEST(ops.watermark.last_value,
                               EXCLUDED.last_value), updated_at = now()""", (cfg.name, interval_end.isoformat()))
    finally:
        conn.close()
    log.info("%s batch %s: %d in, %d loaded, %d quarantined (%.1f%%), %d new results, %d merged",
             cfg.name, batch_id, rows_in, report.rows_loaded, report.rows_quarantined, 100 * report.rejection_rate,
             new, merged)
    if status == "failed":
        quarantined, data_docs = _threshold_context(url, batch_id)
        raise QuarantineThresholdExceeded(
            f"source {cfg.name}: {failed} of {rows_in} rows ({100 * report.rejection_rate:.1f}%) were quarantined, "
            f"above the threshold of {100 * cfg.quarantine_threshold:.0f}%; the valid rows were loaded. "
            f"See ops.quarantine WHERE batch_id = {batch_id}",
            source=cfg.name, batch_id=batch_id, failed=failed, evaluated=rows_in, quarantined=quarantined,
            threshold=cfg.quarantine_threshold, data_docs=data_docs)
    return report


def run_batch(cfg: SourceConfig, url: str, start: dt.datetime | None = None, end: dt.datetime | None = None,
              dag_id: str | None = None, run_id: str | None = None) -> BatchReport:
    """All three steps in one call (CLI, tests, benchmarks)."""
    batch_id = stage_batch(cfg, url, start, end, dag_id, run_id)
    validate_and_quarantine(cfg, url, batch_id)
    return normalize_and_close(cfg, url, batch_id)


def _land_and_stage(cur, cfg: SourceConfig, batch_id: int, chunk: list[dict], ctx: CleanContext) -> None:
    raw_rows, staged = [], []
    for row in chunk:
        text, row_hash = canonical_payload(row)
        source_pk = "|".join(str(row.get(c)) for c in cfg.primary_key)
        raw_rows.append((cfg.name, source_pk, row_hash, batch_id, text))
        staged.append((source_pk, row_hash, row, clean_row(cfg, row, ctx)))
    execute_values(cur, """INSERT INTO raw.source_row (source, source_pk, row_hash, batch_id, payload)
                           VALUES %s ON CONFLICT DO NOTHING""", raw_rows, template="(%s, %s, %s, %s, %s::jsonb)",
                   page_size=5000)
    # Two identical rows in one batch (same key and content) are one landing.
    unique = {(pk, h): (pk, h, row, cand) for pk, h, row, cand in staged}
    buf = io.StringIO()
    columns = ("batch_id", "source", "source_pk", "row_hash") + CANDIDATE_COLUMNS
    for pk, h, _, cand in unique.values():
        values = [batch_id, cfg.name, pk, h] + [
            json.dumps(cand[c], ensure_ascii=False) if c == "clean_problems" else cand[c] for c in CANDIDATE_COLUMNS]
        buf.write("\t".join(_copy_text(v) for v in values) + "\n")
    buf.seek(0)
    cur.copy_expert(f"COPY staging.result_candidate ({', '.join(columns)}) FROM STDIN", buf)


def _copy_text(value) -> str:
    if value is None:
        return r"\N"
    text = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def normalize_batch(cur, cfg: SourceConfig, batch_id: int) -> tuple[int, int]:
    """Valid candidates → core.holder / core.result / core.result_source. Returns (new results, merged).

    A result a row says was signed electronically when issued (staging signed_copy) becomes
    born_digital, is_signed, digitized on its issue day (00:00 +07:00), with its e-copy in copy_ref."""
    cur.execute("ANALYZE staging.result_candidate")  # fresh statistics: the batch was just loaded
    resolve_fuzzy_matches(cur, batch_id)
    secret = Settings.from_env().holder_key_secret
    cur.execute("""SELECT candidate_id, holder_kind, holder_id_type, holder_id_value, holder_name
                   FROM staging.result_candidate WHERE batch_id = %s AND holder_id_value IS NOT NULL
                   AND failed_checks IS NULL""", (batch_id,))
    holders = {}
    for cid, kind, id_type, id_value, name in cur.fetchall():
        holders[(id_type, id_value)] = (holder_key(id_type, id_value, secret), kind, name)
    if holders:
        execute_values(cur, """INSERT INTO core.holder (holder_key, kind, display_name) VALUES %s
                               ON CONFLICT (holder_key) DO NOTHING""", list(holders.values()), page_size=5000)
        execute_values(cur, """INSERT INTO core.holder_identity (holder_id, id_type, id_value)
                               SELECT h.holder_id, v.id_type, v.id_value
                               FROM (VALUES %s) AS v(holder_key, id_type, id_value)
                               JOIN core.holder h ON h.holder_key = v.holder_key
                               ON CONFLICT DO NOTHING""",
                       [(key, t, v) for (t, v), (key, _, _) in holders.items()], page_size=5000)
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS tmp_holder_key (id_type text, id_value text, holder_key text) ON COMMIT DROP")
    cur.execute("TRUNCATE tmp_holder_key")
    if holders:
        execute_values(cur, "INSERT INTO tmp_holder_key VALUES %s",
                       [(t, v, key) for (t, v), (key, _, _) in holders.items()], page_size=5000)
    cur.execute("ANALYZE tmp_holder_key")
    # One row per natural key within the batch (exact duplicates merge here; the rest merges in the upsert).
    cur.execute("""
        WITH valid AS (
            SELECT DISTINCT ON (c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date) c.*,
                   min(c.source_recorded_at) OVER w AS first_recorded_at,
                   -- born digital: any row of the result says it was signed when issued (NULL = not stated)
                   coalesce(bool_or(c.signed_copy) OVER w, false) AS signed,
                   min(c.signed_copy_ref) FILTER (WHERE c.signed_copy) OVER w AS signed_ref
            FROM staging.result_candidate c
            WHERE c.batch_id = %(batch)s AND c.failed_checks IS NULL
            WINDOW w AS (PARTITION BY c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date)
            ORDER BY c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date, c.source_pk
        ), successor AS (
            SELECT DISTINCT ON (old_unit_key) old_unit_key, new_unit_key
            FROM core.unit_crosswalk ORDER BY old_unit_key, new_unit_key
        ), upserted AS (
            INSERT INTO core.result AS r (procedure_code, agency_id, issuing_unit_key, successor_unit_key, holder_id,
                                          holder_name_key, doc_book, doc_number, issue_date, valid_until, revoked_on,
                                          copy_kind, recorded_at, is_signed, digitized_at, copy_ref)
            SELECT v.document_type, v.agency_id, v.unit_key, s.new_unit_key, h.holder_id, v.holder_name_key,
                   v.doc_book, v.doc_number,
                   v.issue_date,
                   CASE WHEN p.is_permanent THEN NULL
                        ELSE coalesce(v.extended_until, (v.issue_date + make_interval(months =>
                             p.validity_months + coalesce(p.extension_months, 0)
                                                 * least(coalesce(v.extensions, 0), p.max_extensions)))::date)
                   END,
                   v.revoked_on, CASE WHEN v.signed THEN 'born_digital' ELSE 'data_only' END, v.first_recorded_at,
                   -- a signed result is on the province system, digitized, from the day it was issued
                   v.signed, CASE WHEN v.signed THEN v.issue_date::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh' END,
                   v.signed_ref
            FROM valid v
            JOIN core.procedure p ON p.code = v.document_type
            LEFT JOIN successor s ON s.old_unit_key = v.unit_key
            LEFT JOIN tmp_holder_key k ON k.id_type = v.holder_id_type AND k.id_value = v.holder_id_value
            LEFT JOIN core.holder h ON h.holder_key = k.holder_key
            ON CONFLICT (agency_id, procedure_code, doc_book, doc_number, issue_date) DO UPDATE
            SET holder_id = coalesce(r.holder_id, EXCLUDED.holder_id),
                holder_name_key = coalesce(r.holder_name_key, EXCLUDED.holder_name_key),
                revoked_on = coalesce(EXCLUDED.revoked_on, r.revoked_on),
                valid_until = EXCLUDED.valid_until,
                -- first time any source held it (least() skips NULLs)
                recorded_at = least(r.recorded_at, EXCLUDED.recorded_at),
                -- never downgrade a copy: scan > born_digital > what it was; signed if either says so;
                -- digitized at the earliest of the two
                copy_kind = CASE WHEN 'scan' IN (r.copy_kind, EXCLUDED.copy_kind) THEN 'scan'
                                 WHEN 'born_digital' IN (r.copy_kind, EXCLUDED.copy_kind) THEN 'born_digital'
                                 ELSE r.copy_kind END,
                is_signed = r.is_signed OR EXCLUDED.is_signed,
                digitized_at = least(r.digitized_at, EXCLUDED.digitized_at),
                copy_ref = coalesce(r.copy_ref, EXCLUDED.copy_ref),
                updated_at = CASE WHEN (r.holder_id, r.revoked_on, r.valid_until, r.is_signed, r.digitized_at, r.copy_ref)
                                       IS DISTINCT FROM (coalesce(r.holder_id, EXCLUDED.holder_id),
                                                         coalesce(EXCLUDED.revoked_on, r.revoked_on), EXCLUDED.valid_until,
                                                         r.is_signed OR EXCLUDED.is_signed,
                                                         least(r.digitized_at, EXCLUDED.digitized_at),
                                                         coalesce(r.copy_ref, EXCLUDED.copy_ref))
                                  THEN now() ELSE r.updated_at END
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted""",
                {"batch": batch_id})
    new, merged = cur.fetchone()
    # Lineage through core.result's unique natural-key index (a separate statement plans far better).
    cur.execute("""
        INSERT INTO core.result_source (result_id, source, source_pk, row_hash, batch_id, match_rule)
        SELECT r.result_id, c.source, c.source_pk, c.row_hash, c.batch_id, c.match_rule
        FROM staging.result_candidate c
        JOIN core.result r ON (r.agency_id, r.procedure_code, r.doc_book, r.doc_number, r.issue_date)
                            = (c.agency_id, c.document_type, c.doc_book, c.doc_number, c.issue_date)
        WHERE c.batch_id = %s AND c.failed_checks IS NULL
        ON CONFLICT DO NOTHING""", (batch_id,))
    return new, merged
