"""Scan-drop intake: list stable files → (per chunk) the zone's file steps → (per run) its batch
steps (validate, link), close the batch. The fixity check of the archive is tthc.scans.fixity.

The steps themselves are in tthc.scans.steps, one module each (docs/scans.md has the user-facing
version). Their idempotency:

- list_new_files: files whose size+mtime are stable and that no earlier run finished.
- process_chunk: per file, one transaction per step; a rerun resumes where a file stopped.
  The source is only read; it stays in the drop (after_commit: delete removes it only once
  its record is committed and it is linked, in review or a duplicate).
- finalize: documents with extracted fields → staging.result_candidate (the legacy
  sources' cleaning, tthc.sources.clean) → Great Expectations → core.result via
  the load stage (tthc.load) → link, digitized_at, codes. Low confidence or
  failed validation → ops.review_queue.

Exact duplicates: the first file recorded with a sha256 is processed; every later file
with the same content, in any drop zone, gets status 'duplicate' and duplicate_of.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field

from PIL import Image

from tthc.ops.batches import close_batch, open_batch
from tthc.ops.events import dumps as _dumps, event
from tthc.scans.config import DropZone
from tthc.scans.steps.base import (DONE, WAITING, BatchContext, ChunkReport, FileContext, archive_key,
                                   sha256_hex)
from tthc.scans.steps.chain import Chain
from tthc.scans.storage import ObjectInfo, Store, open_store
from tthc.scans.text import OcrPool
from tthc.scans.workdir import new_tmpdir, remove_leftovers
from tthc.settings import ScanLimits, require_holder_key_secret
from tthc.warehouse.db import connect

log = logging.getLogger(__name__)

__all__ = ["DONE", "WAITING", "ChunkReport", "ScanRunReport", "archive_key", "chunks", "event",
           "finalize", "ignored_files", "list_drop", "list_new_files", "load_manifest",
           "open_scan_batch", "process_chunk", "run_drop", "sha256_hex", "_dumps"]


# ------------------------------------------------------------------------------ helpers


def load_manifest(zone: DropZone, store: Store) -> dict[str, dict]:
    """The sidecar manifest (CSV or JSON) by file name; {} when the drop has none (yet)."""
    if not zone.manifest:
        return {}
    uri = store.uri(zone.manifest)
    if store.stat(uri) is None:
        return {}
    raw = store.read(uri).decode("utf-8-sig")
    key = zone.manifest_key
    if zone.manifest.lower().endswith(".json"):
        doc = json.loads(raw)
        rows = [dict(v, **{key: k}) for k, v in doc.items()] if isinstance(doc, dict) else list(doc)
    else:
        rows = list(csv.DictReader(io.StringIO(raw)))
    out = {}
    for row in rows:
        name = (row.get(key) or "").strip()
        if not name:
            raise ValueError(f"drop zone {zone.name}: a row of manifest {zone.manifest} has no {key!r}: {row}")
        out[name] = {k: (str(v).strip() if v not in (None, "") else None) for k, v in row.items() if k != key}
    return out


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# ------------------------------------------------------------------------------ list


def list_new_files(zone: DropZone, url: str, now: dt.datetime | None = None) -> list[dict]:
    """Stable files of the drop that no earlier run finished, oldest first, as JSON-able dicts."""
    return list_drop(zone, url, now)[0]


def waiting_note(zone: DropZone, waiting: int) -> str | None:
    """Why files of the drop were not taken yet, naming the settings that hold them back."""
    if not waiting:
        return None
    where = zone.path or zone.name
    return (f"{waiting} file{'s' if waiting != 1 else ''} not stable yet: younger than stability.min_age_seconds="
            f"{zone.min_age_seconds:g} and not seen unchanged for stability.settle_seconds={zone.settle_seconds:g} "
            f"({where}); they are taken by a later run")


def list_drop(zone: DropZone, url: str, now: dt.datetime | None = None) -> tuple[list[dict], dict]:
    """list_new_files, and what the listing saw: files in the drop, already done, waiting to settle (with
    the note naming the setting that holds them back)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    store = open_store(zone.location, zone.s3)
    objects = [o for o in store.list() if o.name != zone.manifest]
    ignored = _log_ignored(zone, store)
    # A run with nothing new never reaches process_chunk: a crash's temporary copies go here too.
    remove_leftovers(ScanLimits.from_env().work_dir)
    conn = connect(url)
    ready: list[ObjectInfo] = []
    unstable = 0
    try:
        with conn, conn.cursor() as cur:
            # A quarantined file is retried once operators resolve its quarantine entries (or it changes).
            cur.execute("""SELECT f.source_uri, f.size_bytes, f.source_mtime FROM ops.scan_file f
                           WHERE f.drop_zone = %s AND f.status IN %s
                             AND (f.status <> 'quarantined' OR EXISTS (
                                  SELECT 1 FROM ops.quarantine q WHERE q.source = %s AND q.source_key = f.source_uri
                                  AND q.resolved_at IS NULL))""", (zone.name, DONE + WAITING, zone.source))
            done = {(u, s, m) for u, s, m in cur.fetchall()}
            cur.execute("SELECT source_uri, size_bytes, source_mtime, seen_at FROM ops.scan_pending WHERE drop_zone = %s",
                        (zone.name,))
            pending = {u: (s, m, seen) for u, s, m, seen in cur.fetchall()}
            for obj in objects:
                if (obj.uri, obj.size, obj.mtime) in done:
                    continue
                age = (now - obj.mtime).total_seconds()
                previous = pending.get(obj.uri)
                stable = age >= zone.min_age_seconds or (
                    previous is not None and previous[:2] == (obj.size, obj.mtime)
                    and (now - previous[2]).total_seconds() >= zone.settle_seconds)
                if stable:
                    ready.append(obj)
                    if previous is not None:
                        cur.execute("DELETE FROM ops.scan_pending WHERE drop_zone = %s AND source_uri = %s",
                                    (zone.name, obj.uri))
                    continue
                unstable += 1
                if previous is None or previous[:2] != (obj.size, obj.mtime):
                    cur.execute("""INSERT INTO ops.scan_pending (drop_zone, source_uri, size_bytes, source_mtime, seen_at)
                                   VALUES (%s, %s, %s, %s, %s)
                                   ON CONFLICT (drop_zone, source_uri) DO UPDATE SET size_bytes = EXCLUDED.size_bytes,
                                   source_mtime = EXCLUDED.source_mtime, seen_at = EXCLUDED.seen_at""",
                                (zone.name, obj.uri, obj.size, obj.mtime, now))
    finally:
        conn.close()
    ready.sort(key=lambda o: (o.mtime, o.name))
    log.info("drop %s: %d files, %d ready, %d still settling", zone.name, len(objects), len(ready), unstable)
    note = waiting_note(zone, unstable)
    if note:
        log.warning("drop %s: %s", zone.name, note)
    seen = {"files_in_drop": len(objects), "files_done_before": len(objects) - len(ready) - unstable,
            "files_waiting": unstable, "waiting_note": note, "ignored": ignored}
    return [_listed(o) for o in ready], seen


def _listed(obj: ObjectInfo) -> dict:
    item = {"uri": obj.uri, "name": obj.name, "size": obj.size, "mtime": obj.mtime.isoformat()}
    if getattr(obj, "refused", None):
        item["refused"] = obj.refused   # never read: the hash step quarantines it with this reason
    return item


def _log_ignored(zone: DropZone, store: Store) -> list[dict]:
    ignored = [{"name": name, "rule": rule} for name, rule in getattr(store, "ignored", [])]
    for item in ignored:
        log.info("drop %s: ignored %s: %s", zone.name, item["name"], item["rule"])
    return ignored


def ignored_files(zone: DropZone) -> list[dict]:
    """What the drop's listing leaves alone (hidden files), each with the rule that ignores it."""
    store = open_store(zone.location, zone.s3)
    for _ in store.list():
        pass
    return _log_ignored(zone, store)


def open_scan_batch(zone: DropZone, url: str, start=None, end=None, dag_id=None, run_id=None) -> int:
    require_holder_key_secret()  # a drop's rows are matched to holders: no batch is opened without it
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            return open_batch(cur, zone.source, start, end, dag_id, run_id)
    finally:
        conn.close()


# ------------------------------------------------------------------------------ process


def process_chunk(zone: DropZone, url: str, batch_id: int, files: list[dict], pool: OcrPool | None = None) -> dict:
    """Run the zone's file steps (tthc.scans.steps: hash, check type, dedup, archive, text, copy quality,
    document, OCR in a process pool, fields, sign) over a chunk of files. One file never stops the
    others: its problems go to ops.quarantine."""
    started = time.monotonic()
    limits = ScanLimits.from_env()
    chain = Chain(zone.steps)
    store = open_store(zone.location, zone.s3)
    archive = open_store(zone.archive, zone.s3)
    manifest = load_manifest(zone, store)
    report = ChunkReport(files=len(files))
    tmpdir = new_tmpdir(limits.work_dir)
    # Pillow's own decompression-bomb guard (inherited by forked OCR workers) at the same limit.
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
    own_pool = pool is None
    conn = None
    try:
        pool = pool or OcrPool()
        window = max(2, 2 * pool.workers)   # documents in flight: bounded memory, busy workers
        conn = connect(url)
        inflight: list[FileContext] = []
        for n, info in enumerate(files, 1):
            ctx = FileContext(zone, conn, store, archive, manifest, batch_id, info, tmpdir, report, pool, limits)
            if chain.advance(ctx):
                inflight.append(ctx)
            while len(inflight) >= window or (inflight and n == len(files)):
                waiting = inflight.pop(0)
                if chain.advance(waiting):
                    inflight.append(waiting)
            if n % 50 == 0:
                log.info("drop %s batch %s: %d/%d files taken", zone.name, batch_id, n, len(files))
        while inflight:
            waiting = inflight.pop(0)
            if chain.advance(waiting):
                inflight.append(waiting)
    finally:
        if conn is not None:
            conn.close()
        if own_pool and pool is not None:
            pool.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
    report.seconds = round(time.monotonic() - started, 3)
    report.ocr_seconds = round(report.ocr_seconds, 3)
    log.info("drop %s batch %s: chunk of %d files: %d processed, %d skipped, %d duplicates, %d quarantined, "
             "%d text-layer pages, %d OCR pages in %.1fs", zone.name, batch_id, report.files, report.processed,
             report.skipped, report.duplicates, report.quarantined, report.pages_text_layer, report.pages_ocr,
             report.seconds)
    return asdict(report)


# ------------------------------------------------------------------------------ finalize


@dataclass
class ScanRunReport:
    drop_zone: str
    batch_id: int
    documents: int = 0
    staged: int = 0
    linked: int = 0
    linked_existing: int = 0
    paper_only: int = 0
    review: int = 0
    validation_failed: int = 0
    duplicates: list = field(default_factory=list)
    quarantined: int = 0
    ignored: list = field(default_factory=list)    # files the listing leaves alone, with the rule
    seconds: float = 0.0


def finalize(zone: DropZone, url: str, batch_id: int) -> dict:
    """Clean, validate and link every document of the drop whose fields are extracted; close the batch."""
    started = time.monotonic()
    report = ScanRunReport(zone.name, batch_id)
    steps = BatchContext(zone, url, batch_id)
    Chain(zone.steps).run_batch(steps)
    for key, value in steps.results.items():
        setattr(report, key, value)
    staged = report.staged
    review = report.review - report.validation_failed
    _after_commit(zone, url)
    report.ignored = ignored_files(zone)
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""SELECT file_name, source_uri, sha256, original_file_id, original_drop_zone,
                                  original_source_uri, result_code
                           FROM ops.scan_duplicate_report WHERE batch_id = %s ORDER BY source_uri""", (batch_id,))
            report.duplicates = [dict(zip(("file_name", "source_uri", "sha256", "original_file_id",
                                           "original_drop_zone", "original_source_uri", "result_code"), r))
                                 for r in cur.fetchall()]
            # The batch's counts are its files' state, not this run's work: a rerun that finds
            # nothing new leaves them as they were.
            cur.execute("""SELECT count(*) FILTER (WHERE status = 'quarantined'), count(*),
                                  count(*) FILTER (WHERE status = 'linked')
                           FROM ops.scan_file WHERE batch_id = %s""", (batch_id,))
            report.quarantined, files_in, files_linked = cur.fetchone()
            report.documents = staged + review  # review here: the low-confidence ones, not yet the failed
            report.seconds = round(time.monotonic() - started, 3)
            close_batch(cur, batch_id, "succeeded", files_in, files_linked, report.quarantined,
                        {"scan": {k: v for k, v in asdict(report).items() if k not in ("duplicates", "ignored")},
                         "duplicates": report.duplicates, "ignored": report.ignored})
    finally:
        conn.close()
    for dup in report.duplicates:
        log.warning("drop %s: %s is an exact duplicate of file %s (%s); recorded, not processed",
                    zone.name, dup["source_uri"], dup["original_file_id"], dup["original_source_uri"])
    log.info("drop %s batch %s: %d staged, %d linked (%d to known results, %d paper-only), %d to review, "
             "%d duplicates, %d quarantined", zone.name, batch_id, report.staged, report.linked,
             report.linked_existing, report.paper_only, report.review, len(report.duplicates), report.quarantined)
    return asdict(report)


def _after_commit(zone: DropZone, url: str) -> None:
    """after_commit: delete removes a source only once its record is committed and settled."""
    if zone.after_commit != "delete":
        return
    store = open_store(zone.location, zone.s3)
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""SELECT file_id, source_uri FROM ops.scan_file
                           WHERE drop_zone = %s AND status IN ('linked', 'review', 'duplicate')
                             AND source_deleted_at IS NULL""", (zone.name,))
            rows = cur.fetchall()
        for file_id, uri in rows:
            store.delete(uri)
            with conn, conn.cursor() as cur:
                cur.execute("UPDATE ops.scan_file SET source_deleted_at = now() WHERE file_id = %s", (file_id,))
    finally:
        conn.close()


def run_drop(zone: DropZone, url: str, start=None, end=None, dag_id=None, run_id=None,
             pool: OcrPool | None = None) -> dict:
    """The whole DAG in one call (tests, CLI, benchmarks): list → chunks → process → finalize."""
    files, seen = list_drop(zone, url)
    batch_id = open_scan_batch(zone, url, start, end, dag_id, run_id)
    chunk_reports = [process_chunk(zone, url, batch_id, c, pool) for c in chunks(files, zone.chunk_size)]
    result = finalize(zone, url, batch_id)
    result["files_listed"] = len(files)
    result.update(seen)
    # This run's own work, apart from the state of earlier files.
    result["processed_this_run"] = sum(c["processed"] for c in chunk_reports)
    result["quarantined_this_run"] = sum(c["quarantined"] for c in chunk_reports)
    result["chunks"] = chunk_reports
    if not files:
        result["note"] = ("nothing new to process: "
                          f"{seen['files_done_before']} file(s) already processed by earlier runs"
                          + (f"; {seen['waiting_note']}" if seen["waiting_note"] else ""))
        log.info("drop %s: %s", zone.name, result["note"])
    return result
