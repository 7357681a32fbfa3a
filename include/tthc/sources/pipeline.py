"""One batch of one legacy source: extract → clean → the load stage (tthc.load) → close.

Streaming: each extracted chunk is cleaned and landed (COPY) before the next is read; GX then
validates the staged batch in the warehouse, and normalization runs chunk by chunk in SQL.
Idempotent per (source, data interval): the batch row is reused, staging is rebuilt, raw rows
and core results are upserted by content and natural key, quarantine entries are deduplicated,
and codes never change once assigned.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass

from tthc.load import LoadProfile, LoadTotals, Progress, Stager
from tthc.load.normalize import normalize_chunk, prepare
from tthc.load.validate import validate
from tthc.ops.batches import batch_lock, close_batch, failing_marks_batch, open_batch
from tthc.settings import Settings, require_holder_key_secret
from tthc.sources.clean import CleanContext, clean_row
from tthc.sources.config import SourceConfig
from tthc.sources.exclusions import mark_digitized_elsewhere
from tthc.sources.extract import extract, source_key
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
    """One batch's outcome. rows_loaded is ops.batch.rows_out: rows_loaded = results_new + results_merged
    + rows_already_known. results_merged counts rows merged into a result another row made (a true
    duplicate, exact or fuzzy); rows_already_known, rows a previous run of the interval already loaded."""

    source: str
    batch_id: int
    rows_in: int
    rows_loaded: int
    rows_quarantined: int
    results_new: int
    results_merged: int
    seconds: float
    rows_already_known: int = 0
    identity_conflicts: int = 0

    @property
    def rejection_rate(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0


def load_profile(cfg: SourceConfig) -> LoadProfile:
    return LoadProfile(source=cfg.name, quarantine_threshold=cfg.quarantine_threshold,
                       quarantine_min_rows=cfg.quarantine_min_rows, chunk_size=cfg.chunk_size)


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
                dag_id: str | None = None, run_id: str | None = None, progress: Progress | None = None) -> int:
    """Extract the interval, clean it, land raw rows and candidates chunk by chunk. Returns the batch id.

    A row that cannot be read cleanly is landed with its problem and quarantined by validation; an
    error of the source as a whole (tthc.sources.extract.SourceUnreadable) marks the batch failed."""
    secret = require_holder_key_secret()  # before a batch is opened: no batch left running without it
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            batch_id = open_batch(cur, cfg.name, start, end, dag_id, run_id)
    finally:
        conn.close()
    with batch_lock(url, batch_id), failing_marks_batch(url, batch_id, "stage"):
        _stage(cfg, url, batch_id, start, end, progress, secret)
    return batch_id


def _stage(cfg: SourceConfig, url: str, batch_id: int, start, end, progress: Progress | None, secret: str) -> None:
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
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
        progress = progress or Progress(f"{cfg.name} batch {batch_id}")
        progress.begin("extract+clean+land")
        settings = Settings.from_env()
        stager = Stager(cfg.name, batch_id, secret)
        cleaner = _Cleaner(cfg, url, stager, ctx, settings.clean_workers)
        rows_in = 0
        try:
            for chunk in extract(cfg, read_from if start is not None else None, end):
                rows_in += len(chunk)
                for raw, staged, n in cleaner.submit(chunk):
                    _land(conn, stager, raw, staged)
                    progress.tick(n)
            for raw, staged, n in cleaner.drain():
                _land(conn, stager, raw, staged)
                progress.tick(n)
        finally:
            cleaner.close()
        progress.done()
        warnings = dict(cleaner.warnings)
        for text, n in sorted(warnings.items()):
            log.warning("%s batch %s: %d row(s): %s", cfg.name, batch_id, n, text)
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE ops.batch SET rows_in = %s, detail = detail || %s::jsonb WHERE batch_id = %s",
                        (rows_in, json.dumps({"clean_warnings": warnings}, ensure_ascii=False), batch_id))
    finally:
        conn.close()


def _land(conn, stager: Stager, raw: str, staged: str) -> None:
    """One piece landed in its own transaction, committed without waiting for the WAL flush: only a
    crash of the PostgreSQL server (not of this process) can lose it, and then the batch is still
    open and its re-run lands it again (staging is rebuilt, raw rows are upserted by content). WAL
    order keeps every later synchronous commit (the batch's rows_in, validation, core) behind it."""
    with conn, conn.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")
        stager.copy(cur, raw, staged)


# --- cleaning in worker processes --------------------------------------------------------------

_WORKER: dict = {}
PIECE_ROWS = 5_000   # rows per piece of work sent to a cleaning process


def _worker_init(url: str, cfg: SourceConfig, stager: Stager) -> None:
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            _WORKER.update(ctx=CleanContext.load(cur), cfg=cfg, spec=cfg.row_mapping, stager=stager)
    finally:
        conn.close()


def _clean_encode(rows: list[dict]) -> tuple[str, str, int, dict]:
    """Clean rows and encode them for COPY, in a worker (or in process): (raw, staging, rows, warnings)."""
    return _clean_encode_with(_WORKER["cfg"], _WORKER["spec"], _WORKER["ctx"], _WORKER["stager"], rows)


def _clean_encode_with(cfg, spec, ctx, stager, rows):
    pk_cols = cfg.primary_key
    raw, staged, n = stager.encode((source_key(pk_cols, row), row, clean_row(spec, row, ctx)) for row in rows)
    warnings = dict(ctx.warnings)
    ctx.warnings.clear()
    return raw, staged, n, warnings


class _Cleaner:
    """Cleans extracted chunks in order: in process for a small source; once a full-size chunk shows the
    source is large, in `workers` processes (both cores) while this one reads and COPYs. At most
    2 × workers pieces are in flight: memory stays bounded."""

    def __init__(self, cfg: SourceConfig, url: str, stager: Stager, ctx: CleanContext, workers: int):
        self.cfg, self.url, self.stager, self.ctx = cfg, url, stager, ctx
        self.workers, self.pool, self.pending = workers, None, collections.deque()
        self.warnings: collections.Counter = collections.Counter()

    def _start_pool(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self.workers < 2 or multiprocessing.current_process().daemon:
            self.workers = 0  # a daemonic process (some task runners) cannot have children
            return
        self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"),
                                        initializer=_worker_init, initargs=(self.url, self.cfg, self.stager))

    def submit(self, chunk: list[dict]):
        if self.pool is None and self.workers >= 2 and len(chunk) >= self.cfg.chunk_size:
            self._start_pool()
        if self.pool is None:
            raw, staged, n, warnings = _clean_encode_with(self.cfg, self.cfg.row_mapping, self.ctx, self.stager, chunk)
            self.warnings.update(warnings)
            yield raw, staged, n
            return
        for i in range(0, len(chunk), PIECE_ROWS):
            self.pending.append(self.pool.submit(_clean_encode, chunk[i:i + PIECE_ROWS]))
            while len(self.pending) > 2 * self.workers:
                yield self._collect()

    def _collect(self):
        raw, staged, n, warnings = self.pending.popleft().result()
        self.warnings.update(warnings)
        return raw, staged, n

    def drain(self):
        while self.pending:
            yield self._collect()

    def close(self) -> None:
        if self.pool is not None:
            for future in self.pending:
                future.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)


def validate_and_quarantine(cfg: SourceConfig, url: str, batch_id: int) -> dict:
    """Great Expectations on the staged batch; failing rows go to ops.quarantine with their payload (SQL)."""
    with batch_lock(url, batch_id), failing_marks_batch(url, batch_id, "validate"):
        summary = validate(url, batch_id, load_profile(cfg))
    return {"batch_id": batch_id, "evaluated": summary.evaluated, "failed": summary.failed,
            "identity_conflicts": summary.identity_conflicts, "suites": summary.suites,
            "data_docs": summary.data_docs}


def plan_chunks(cfg: SourceConfig, url: str, batch_id: int) -> list[tuple[int, int]]:
    """Before normalization: fuzzy keys and codes for the whole batch; the chunks' candidate-id ranges
    (the DAG maps one task per range, over several workers)."""
    with batch_lock(url, batch_id), failing_marks_batch(url, batch_id, "plan"):
        conn = connect(url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("ANALYZE staging.result_candidate")  # the batch was just loaded: fresh statistics
            with conn:
                return prepare(conn, batch_id, load_profile(cfg).chunk_size)
        finally:
            conn.close()


def load_chunk(url: str, batch_id: int, lo: int, hi: int) -> dict:
    """One chunk of valid candidates into core (one transaction): what a mapped DAG task runs."""
    totals = LoadTotals()
    started = time.monotonic()
    with batch_lock(url, batch_id, shared=True), failing_marks_batch(url, batch_id, "normalize"):
        conn = connect(url)
        try:
            with conn, conn.cursor() as cur:
                rows = normalize_chunk(cur, batch_id, lo, hi, totals)
        finally:
            conn.close()
    seconds = time.monotonic() - started
    log.info("batch %s chunk [%d, %d]: normalize %d rows, %.0f rows/s", batch_id, lo, hi, rows,
             rows / max(seconds, 1e-9))
    return dataclasses.asdict(totals)


def close_and_report(cfg: SourceConfig, url: str, batch_id: int, totals: LoadTotals,
                     started: float | None = None) -> BatchReport:
    """Exclusions marked, the batch closed with its report, the watermark advanced; raises
    QuarantineThresholdExceeded above the source's threshold (the valid rows are loaded)."""
    with batch_lock(url, batch_id), failing_marks_batch(url, batch_id, "close"):
        return _close_and_report(cfg, url, batch_id, totals, started)


def _close_and_report(cfg: SourceConfig, url: str, batch_id: int, totals: LoadTotals,
                      started: float | None) -> BatchReport:
    started = time.monotonic() if started is None else started
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            mark_digitized_elsewhere(cur)
            cur.execute("""SELECT count(*) FILTER (WHERE failed_checks IS NOT NULL),
                                  count(*) FILTER (WHERE failed_checks ? %s)
                           FROM staging.result_candidate WHERE batch_id = %s""",
                        ("identity_conflict(holder_id)", batch_id))
            failed, conflicts = cur.fetchone()
            cur.execute("SELECT rows_in, interval_end FROM ops.batch WHERE batch_id = %s", (batch_id,))
            rows_in, interval_end = cur.fetchone()
            report = BatchReport(cfg.name, batch_id, rows_in, totals.rows_loaded, failed, totals.results_new,
                                 totals.rows_merged, time.monotonic() - started, totals.rows_already_known,
                                 conflicts)
            status = "failed" if load_profile(cfg).too_many_rejected(rows_in, failed) else "succeeded"
            close_batch(cur, batch_id, status, rows_in, report.rows_loaded, failed,
                        {"results_new": report.results_new, "results_merged": report.results_merged,
                         "rows_already_known": report.rows_already_known,
                         "identity_conflicts": report.identity_conflicts})
            if interval_end is not None and status == "succeeded":
                cur.execute("""INSERT INTO ops.watermark (source, last_value) VALUES (%s, %s)
                               ON CONFLICT (source) DO UPDATE SET last_value = GREATEST(ops.watermark.last_value,
                               EXCLUDED.last_value), updated_at = now()""", (cfg.name, interval_end.isoformat()))
    finally:
        conn.close()
    log.info("%s batch %s: %d in, %d loaded (%d new results, %d merged duplicates, %d already known), "
             "%d quarantined (%.1f%%, %d identity conflicts)", cfg.name, batch_id, rows_in, report.rows_loaded,
             report.results_new, report.results_merged, report.rows_already_known, failed,
             100 * report.rejection_rate, conflicts)
    if status == "failed":
        quarantined, data_docs = _threshold_context(url, batch_id)
        raise QuarantineThresholdExceeded(
            f"source {cfg.name}: {failed} of {rows_in} rows ({100 * report.rejection_rate:.1f}%) were quarantined, "
            f"above the threshold of {100 * cfg.quarantine_threshold:.0f}%; the valid rows were loaded. "
            f"See ops.quarantine WHERE batch_id = {batch_id}",
            source=cfg.name, batch_id=batch_id, failed=failed, evaluated=rows_in, quarantined=quarantined,
            threshold=cfg.quarantine_threshold, data_docs=data_docs)
    return report


def normalize_and_close(cfg: SourceConfig, url: str, batch_id: int, progress: Progress | None = None) -> BatchReport:
    """plan_chunks, every chunk in this process, close_and_report."""
    started = time.monotonic()
    progress = progress or Progress(f"{cfg.name} batch {batch_id}")
    ranges = plan_chunks(cfg, url, batch_id)
    progress.begin("normalize")
    totals = LoadTotals()
    with batch_lock(url, batch_id, shared=True), failing_marks_batch(url, batch_id, "normalize"):
        conn = connect(url)
        try:
            for lo, hi in ranges:
                with conn, conn.cursor() as cur:
                    progress.tick(normalize_chunk(cur, batch_id, lo, hi, totals))
        finally:
            conn.close()
    progress.done()
    return close_and_report(cfg, url, batch_id, totals, started)


def run_batch(cfg: SourceConfig, url: str, start: dt.datetime | None = None, end: dt.datetime | None = None,
              dag_id: str | None = None, run_id: str | None = None) -> BatchReport:
    """All three steps in one call (CLI `tthc source run`, tests, benchmarks).

    Two runs of one source at once take turns: a session advisory lock on the source name is held
    for the whole run (the DAG runs one interval at a time already: max_active_runs=1)."""
    lock = connect(url)
    try:
        with lock.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"tthc.source:{cfg.name}",))
        lock.commit()
        batch_id = stage_batch(cfg, url, start, end, dag_id, run_id)
        progress = Progress(f"{cfg.name} batch {batch_id}")
        validate_and_quarantine(cfg, url, batch_id)
        return normalize_and_close(cfg, url, batch_id, progress)
    finally:
        lock.close()  # ends the session: the lock goes with it
