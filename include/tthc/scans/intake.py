"""Scan-drop intake: list stable files → (per chunk) hash, archive, text, fields → (per run) clean,
validate, link to results, codes; plus the fixity check of the archive.

Steps and their idempotency (docs/scans.md has the user-facing version):

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
import hashlib
import io
import json
import logging
import shutil
import tempfile
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from psycopg2.extras import Json, execute_values

from tthc.ops.batches import close_batch, open_batch
from tthc.ops.events import dumps as _dumps, event
from tthc.ops.quarantine import Rejection, quarantine
from tthc.scans.config import DropZone
from tthc.scans.storage import ObjectInfo, Store, open_store, store_for_uri
from tthc.scans.text import ARCHIVE_EXTENSION, BadFile, FileText, OcrPool, captured_at, check_file, plan_pages
from tthc.settings import require_holder_key_secret
from tthc.warehouse.db import connect

log = logging.getLogger(__name__)

# Statuses after which a file needs nothing more from a run.
DONE = ("linked", "review", "quarantined", "duplicate")
WAITING = ("fields_extracted",)         # waiting for finalize


# ------------------------------------------------------------------------------ helpers


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_key(sha: str, media_type: str) -> str:
    return f"sha256/{sha[:2]}/{sha[2:4]}/{sha}.{ARCHIVE_EXTENSION.get(media_type, 'bin')}"




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


def _sidecar_for(manifest: dict[str, dict], name: str) -> dict | None:
    return manifest.get(name) or manifest.get(PurePosixPath(name).name)


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
            "files_waiting": unstable, "waiting_note": note}
    return [{"uri": o.uri, "name": o.name, "size": o.size, "mtime": o.mtime.isoformat()} for o in ready], seen


def open_scan_batch(zone: DropZone, url: str, start=None, end=None, dag_id=None, run_id=None) -> int:
    require_holder_key_secret()  # a drop's rows are matched to holders: no batch is opened without it
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            return open_batch(cur, zone.source, start, end, dag_id, run_id)
    finally:
        conn.close()


# ------------------------------------------------------------------------------ process


@dataclass
class _InFlight:
    file_id: int
    document_id: int
    sha: str
    name: str
    data: bytes
    media_type: str
    plan: FileText
    sidecar: dict | None
    futures: dict = field(default_factory=dict)   # page index -> Future
    started: float = 0.0


@dataclass
class ChunkReport:
    files: int = 0
    processed: int = 0
    skipped: int = 0
    duplicates: int = 0
    quarantined: int = 0
    pages_text_layer: int = 0
    pages_ocr: int = 0
    ocr_seconds: float = 0.0
    seconds: float = 0.0


def process_chunk(zone: DropZone, url: str, batch_id: int, files: list[dict], pool: OcrPool | None = None) -> dict:
    """Hash, record, dedup, archive, read text (OCR in a process pool) and extract fields of a chunk
    of files. One file never stops the others: problems go to ops.quarantine."""
    started = time.monotonic()
    store = open_store(zone.location, zone.s3)
    archive = open_store(zone.archive, zone.s3)
    manifest = load_manifest(zone, store)
    report = ChunkReport(files=len(files))
    own_pool = pool is None
    pool = pool or OcrPool()
    window = max(2, 2 * pool.workers)   # documents in flight: bounded memory, busy workers
    tmpdir = Path(tempfile.mkdtemp(prefix="tthc-scan-"))
    conn = connect(url)
    inflight: list[_InFlight] = []
    try:
        for n, info in enumerate(files, 1):
            try:
                item = _intake_file(zone, conn, store, archive, manifest, batch_id, info, tmpdir, report)
            except Exception:
                conn.rollback()
                raise
            if item is not None:
                item.started = time.perf_counter()
                for page in item.plan.pages:
                    if page.job is not None:
                        item.futures[page.index] = pool.submit(page.job)
                inflight.append(item)
            while len(inflight) >= window or (inflight and n == len(files)):
                _finish_file(zone, conn, archive, batch_id, inflight.pop(0), report)
            if n % 50 == 0:
                log.info("drop %s batch %s: %d/%d files taken", zone.name, batch_id, n, len(files))
        while inflight:
            _finish_file(zone, conn, archive, batch_id, inflight.pop(0), report)
    finally:
        conn.close()
        if own_pool:
            pool.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
    report.seconds = round(time.monotonic() - started, 3)
    report.ocr_seconds = round(report.ocr_seconds, 3)
    log.info("drop %s batch %s: chunk of %d files: %d processed, %d skipped, %d duplicates, %d quarantined, "
             "%d text-layer pages, %d OCR pages in %.1fs", zone.name, batch_id, report.files, report.processed,
             report.skipped, report.duplicates, report.quarantined, report.pages_text_layer, report.pages_ocr,
             report.seconds)
    return asdict(report)


def _quarantine_file(cur, zone: DropZone, batch_id: int, file_id: int, info: dict, stage: str, bad: BadFile,
                     payload_ref: str, extra: dict | None = None) -> None:
    payload = {"file_name": info["name"], "source_uri": info["uri"], "size_bytes": info["size"],
               "source_mtime": info["mtime"], "reason": bad.reason, **(extra or {})}
    rejection = Rejection(zone.source, info["uri"], stage, f"{bad.reason}: {bad.detail}", payload, [bad.reason],
                          payload_ref)
    if not quarantine(cur, [rejection], batch_id):
        # The same problem again after operators resolved it (and asked for a retry): reopen the entry.
        cur.execute("""UPDATE ops.quarantine SET resolved_at = NULL, resolution = NULL
                       WHERE source = %s AND dedup_key = %s AND resolved_at IS NOT NULL""",
                    (zone.source, rejection.dedup_key))
    cur.execute("""UPDATE ops.scan_file SET status = 'quarantined', reason = %s, updated_at = now()
                   WHERE file_id = %s""", (f"{bad.reason}: {bad.detail}", file_id))
    event(cur, "file", file_id, "quarantined", batch_id, {"stage": stage, "reason": bad.reason, "detail": bad.detail})


def _resolved(cur, zone: DropZone, uri: str) -> bool:
    """Every quarantine entry of this file is resolved: operators want it taken again."""
    cur.execute("""SELECT count(*) FILTER (WHERE resolved_at IS NULL) = 0 FROM ops.quarantine
                   WHERE source = %s AND source_key = %s""", (zone.source, uri))
    return bool(cur.fetchone()[0])


def _intake_file(zone, conn, store, archive, manifest, batch_id, info, tmpdir, report) -> _InFlight | None:
    """Record → check → dedup → archive → plan pages → document row. None when nothing is left to OCR."""
    data = store.read(info["uri"])
    sha = sha256_hex(data)
    sidecar = _sidecar_for(manifest, info["name"])
    mtime = dt.datetime.fromisoformat(info["mtime"])
    with conn, conn.cursor() as cur:
        # Same content under one lock: two copies in two mapped tasks cannot both be "first".
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (sha,))
        cur.execute("""SELECT file_id, status FROM ops.scan_file
                       WHERE drop_zone = %s AND source_uri = %s AND sha256 = %s""", (zone.name, info["uri"], sha))
        row = cur.fetchone()
        if row and row[1] in DONE + WAITING and not (row[1] == "quarantined" and _resolved(cur, zone, info["uri"])):
            report.skipped += 1
            return None
        if row is None:
            cur.execute("""INSERT INTO ops.scan_file (drop_zone, source_uri, file_name, sha256, size_bytes, source_mtime,
                                                      sidecar, batch_id)
                           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING file_id""",
                        (zone.name, info["uri"], info["name"], sha, len(data), mtime,
                         Json(sidecar) if sidecar else None, batch_id))
            file_id = cur.fetchone()[0]
            event(cur, "file", file_id, "received", batch_id,
                  {"drop_zone": zone.name, "source_uri": info["uri"], "sha256": sha, "size_bytes": len(data)})
        else:
            file_id = row[0]
        try:
            media_type = check_file(info["name"], data, zone.max_size_bytes)
        except BadFile as bad:
            _quarantine_file(cur, zone, batch_id, file_id, info, "intake", bad, info["uri"], {"sha256": sha})
            report.quarantined += 1
            return None
        cur.execute("UPDATE ops.scan_file SET media_type = %s WHERE file_id = %s", (media_type, file_id))
        cur.execute("""SELECT file_id FROM ops.scan_file
                       WHERE sha256 = %s AND file_id < %s AND duplicate_of IS NULL AND status <> 'quarantined'
                       ORDER BY file_id LIMIT 1""", (sha, file_id))
        original = cur.fetchone()
        if original:
            cur.execute("""UPDATE ops.scan_file SET status = 'duplicate', duplicate_of = %s, updated_at = now(),
                           document_id = (SELECT document_id FROM core.document WHERE sha256 = %s)
                           WHERE file_id = %s""", (original[0], sha, file_id))
            event(cur, "file", file_id, "duplicate", batch_id, {"duplicate_of": original[0], "sha256": sha})
            report.duplicates += 1
            return None
    # Archive first: a file that fails later is still kept, immutable, for the quarantine.
    archive_uri, written = archive.put_immutable(archive_key(sha, media_type), data)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE ops.scan_file SET status = 'archived', updated_at = now() WHERE file_id = %s", (file_id,))
        event(cur, "file", file_id, "archived", batch_id, {"archive_uri": archive_uri, "written": written})
    local = tmpdir / f"{sha}.{ARCHIVE_EXTENSION[media_type]}"
    local.write_bytes(data)
    try:
        plan = plan_pages(data, media_type, str(local), min_text_chars=zone.min_text_chars,
                          ocr_dpi=zone.ocr_dpi, lang=zone.ocr_lang)
    except BadFile as bad:
        with conn, conn.cursor() as cur:
            _quarantine_file(cur, zone, batch_id, file_id, info, "text", bad, archive_uri,
                             {"sha256": sha, "media_type": media_type})
        report.quarantined += 1
        return None
    when, when_from = captured_at(sidecar, plan, mtime)
    quality, signature = _legal_checks(zone, data, media_type)
    with conn, conn.cursor() as cur:
        cur.execute("""
            INSERT INTO core.document (sha256, archive_uri, media_type, page_count, captured_at, captured_from,
                                       drop_zone, pdf_version, min_dpi, is_colour, quality_ok, quality_issues,
                                       signature_status, signature_detail)
            VALUES (%(sha)s, %(uri)s, %(mt)s, %(pages)s, %(when)s, %(from)s, %(zone)s, %(pdf_version)s, %(min_dpi)s,
                    %(is_colour)s, %(quality_ok)s, %(issues)s, %(sig)s, %(sig_detail)s)
            ON CONFLICT (sha256) DO UPDATE SET page_count = EXCLUDED.page_count
            RETURNING document_id""",
            {"sha": sha, "uri": archive_uri, "mt": media_type, "pages": len(plan.pages), "when": when,
             "from": when_from, "zone": zone.name, **quality, "sig": signature["status"],
             "sig_detail": Json(signature, dumps=_dumps)})
        document_id = cur.fetchone()[0]
        cur.execute("UPDATE ops.scan_file SET document_id = %s WHERE file_id = %s", (document_id, file_id))
        event(cur, "document", document_id, "received", batch_id,
              {"file_id": file_id, "captured_at": when, "captured_from": when_from, "quality_ok": quality["quality_ok"],
               "quality_issues": quality["issues"], "signature_status": signature["status"]})
    return _InFlight(file_id, document_id, sha, info["name"], data, media_type, plan, sidecar)


def _legal_checks(zone: DropZone, data: bytes, media_type: str) -> tuple[dict, dict]:
    """ND 30/2020 Appendix I quality and the signature status (A2's tthc.scans.legal)."""
    from tthc.scans import legal

    q = legal.inspect_copy(data, media_type)
    quality = {"pdf_version": q.pdf_version, "min_dpi": q.min_dpi, "is_colour": q.is_colour,
               "quality_ok": q.quality_ok, "issues": list(q.issues)}
    signature = {"status": "unsigned", "signers": [], "detail": "not a PDF"}
    if media_type == "application/pdf":
        check = legal.verify_signatures(data, list(zone.trust_roots))
        signature = {"status": check.status, "signers": check.signers, "detail": check.detail}
    return quality, signature


def _finish_file(zone: DropZone, conn, archive: Store, batch_id: int, item: _InFlight, report: ChunkReport) -> None:
    """Collect the OCR of one document, store pages and fields, sign when configured."""
    from tthc.scans.fields import extract_fields

    pages: list[tuple] = []
    failures = []
    ocr_conf = []
    ocr_seconds = 0.0
    for page in item.plan.pages:
        if page.job is None:
            pages.append((item.document_id, page.index + 1, "text_layer", page.text, None, page.dpi, None, None))
            continue
        try:
            res = item.futures[page.index].result()
        except BrokenProcessPool:
            raise  # the machine's problem, not the file's: fail the task, Airflow retries it
        except Exception as exc:  # noqa: BLE001 - a page Tesseract cannot read quarantines its file
            failures.append(f"page {page.index + 1}: {type(exc).__name__}: {exc}")
            continue
        ocr_seconds += res.seconds
        ocr_conf.append(res.confidence)
        pages.append((item.document_id, page.index + 1, "ocr", res.text, res.confidence, res.dpi,
                      res.width_px, res.height_px))
    if failures:
        with conn, conn.cursor() as cur:
            info = {"name": item.name, "uri": None, "size": len(item.data), "mtime": None}
            cur.execute("SELECT source_uri, source_mtime FROM ops.scan_file WHERE file_id = %s", (item.file_id,))
            info["uri"], info["mtime"] = cur.fetchone()
            cur.execute("SELECT archive_uri FROM core.document WHERE document_id = %s", (item.document_id,))
            _quarantine_file(cur, zone, batch_id, item.file_id, info, "text",
                             BadFile("ocr_failed", "; ".join(failures)), cur.fetchone()[0], {"sha256": item.sha})
        report.quarantined += 1
        return
    texts = [p[3] for p in pages]
    mean_conf = round(sum(ocr_conf) / len(ocr_conf), 2) if ocr_conf else None
    hints = {}
    if mean_conf is not None:
        hints["ocr_confidence"] = mean_conf
    if item.sidecar and item.sidecar.get("procedure_code"):
        hints["procedure_code"] = item.sidecar["procedure_code"]
    extracted = extract_fields(texts, hints)
    n_ocr = sum(1 for p in pages if p[2] == "ocr")
    with conn, conn.cursor() as cur:
        cur.execute("DELETE FROM core.document_page WHERE document_id = %s", (item.document_id,))
        execute_values(cur, """INSERT INTO core.document_page (document_id, page_no, method, text, ocr_confidence,
                                                               dpi, width_px, height_px) VALUES %s""", pages)
        cur.execute("""UPDATE core.document SET ocr_seconds = %s WHERE document_id = %s""",
                    (round(ocr_seconds, 3) if n_ocr else None, item.document_id))
        event(cur, "document", item.document_id, "text_extracted", batch_id,
              {"pages": len(pages), "text_layer_pages": len(pages) - n_ocr, "ocr_pages": n_ocr})
        if n_ocr:
            event(cur, "document", item.document_id, "ocred", batch_id,
                  {"pages": n_ocr, "mean_confidence": mean_conf, "seconds": round(ocr_seconds, 3),
                   "per_page": [{"page": p[1], "confidence": p[4], "dpi": p[5]} for p in pages if p[2] == "ocr"]})
        cur.execute("UPDATE ops.scan_file SET status = 'text_extracted', updated_at = now() WHERE file_id = %s",
                    (item.file_id,))
        doc_type = extracted.document_type.value if extracted.document_type else None
        rows = [(item.document_id, name, g.value, max(0.0, min(1.0, float(g.confidence))), g.rule)
                for name, g in extracted.fields.items()]
        if extracted.document_type is not None and "document_type" not in extracted.fields:
            g = extracted.document_type
            rows.append((item.document_id, "document_type", g.value, max(0.0, min(1.0, float(g.confidence))), g.rule))
        cur.execute("DELETE FROM core.document_field WHERE document_id = %s", (item.document_id,))
        if rows:
            execute_values(cur, "INSERT INTO core.document_field (document_id, field, value, confidence, rule) VALUES %s",
                           rows)
        cur.execute("""UPDATE core.document SET document_type = (SELECT code FROM core.procedure WHERE code = %s),
                              field_confidence = %s, required_fields = %s
                       WHERE document_id = %s""",
                    (doc_type, float(extracted.confidence), list(getattr(extracted, "required", []) or []),
                     item.document_id))
        event(cur, "document", item.document_id, "fields_extracted", batch_id,
              {"document_type": doc_type, "confidence": extracted.confidence, "fields": len(rows)})
        cur.execute("UPDATE ops.scan_file SET status = 'fields_extracted', updated_at = now() WHERE file_id = %s",
                    (item.file_id,))
    if zone.signing.get("enabled"):
        _sign(zone, conn, batch_id, item)
    report.processed += 1
    report.pages_ocr += n_ocr
    report.pages_text_layer += len(pages) - n_ocr
    report.ocr_seconds += ocr_seconds


def _sign(zone: DropZone, conn, batch_id: int, item: _InFlight) -> None:
    """Sign the digitized copy with the agency certificate (images are wrapped into a PDF first)."""
    import os

    from tthc.scans import legal
    from tthc.scans.text import LOCAL_TZ

    with conn, conn.cursor() as cur:
        cur.execute("SELECT signed_copy_uri FROM core.document WHERE document_id = %s", (item.document_id,))
        if cur.fetchone()[0]:
            return
    cfg = zone.signing
    pdf = item.data
    if item.media_type != "application/pdf":
        dpis = [p.dpi for p in item.plan.pages if p.dpi]
        pdf = legal.images_to_pdf([item.data], min(dpis) if dpis else None)
    passphrase = os.environ.get(cfg["passphrase_env"]).encode() if cfg.get("passphrase_env") and \
        os.environ.get(cfg["passphrase_env"]) else None
    signed_at = dt.datetime.now(LOCAL_TZ).replace(microsecond=0)
    signed = legal.sign_copy(pdf, key_path=Path(cfg["key_path"]), cert_path=Path(cfg["cert_path"]),
                             passphrase=passphrase, signing_time=signed_at,
                             # its own field: a copy may arrive signed already (Signature1)
                             field_name=cfg.get("field_name", "TTHC_Digitized"),
                             ca_chain_paths=[Path(p) for p in cfg.get("ca_chain") or []] or None)
    store = open_store(zone.signed_archive, zone.s3)
    uri, _ = store.put_immutable(f"sha256/{item.sha[:2]}/{item.sha[2:4]}/{item.sha}.signed.pdf", signed)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE core.document SET signed_copy_uri = %s, signed_at = %s WHERE document_id = %s",
                    (uri, signed_at, item.document_id))
        event(cur, "document", item.document_id, "signed", batch_id,
              {"signed_copy_uri": uri, "signed_at": signed_at, "sha256": sha256_hex(signed)})


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
    seconds: float = 0.0


def finalize(zone: DropZone, url: str, batch_id: int) -> dict:
    """Clean, validate and link every document of the drop whose fields are extracted; close the batch."""
    from tthc.scans.candidates import link_batch, stage_documents, validate_staged

    started = time.monotonic()
    report = ScanRunReport(zone.name, batch_id)
    staged, review = stage_documents(zone, url, batch_id)
    report.staged, report.review = staged, review
    if staged:
        report.validation_failed = validate_staged(zone, url, batch_id)
        report.review += report.validation_failed
    linked = link_batch(zone, url, batch_id)
    report.linked = linked["linked"]
    report.linked_existing = linked["existing"]
    report.paper_only = linked["paper_only"]
    _after_commit(zone, url)
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
                        {"scan": {k: v for k, v in asdict(report).items() if k != "duplicates"},
                         "duplicates": report.duplicates})
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


# ------------------------------------------------------------------------------ fixity


class FixityError(RuntimeError):
    """An archived file is missing or no longer has its recorded sha256."""


def fixity_check(url: str, zones: list[DropZone] | None = None, batch_id: int | None = None,
                 fail: bool = True) -> dict:
    """Re-hash every archived document; record ops.fixity_check and an event each; raise on any problem."""
    by_name = {z.name: z for z in zones or []}
    conn = connect(url)
    problems = []
    checked = 0
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT document_id, sha256, archive_uri, drop_zone FROM core.document ORDER BY document_id")
            docs = cur.fetchall()
        stores: dict[tuple, Store] = {}
        for document_id, sha, uri, zone_name in docs:
            zone = by_name.get(zone_name)
            key = (uri.split("/")[2] if uri.startswith("s3://") else "file", zone_name)
            store = stores.get(key) or stores.setdefault(key, store_for_uri(uri, zone.s3 if zone else None))
            try:
                actual = sha256_hex(store.read(uri))
                ok = actual == sha
                detail = "ok" if ok else f"sha256 mismatch: archive has {actual}, recorded {sha}"
            except (FileNotFoundError, OSError) as exc:
                ok, detail = False, f"loss: archive file missing or unreadable: {exc}"
            except Exception as exc:  # noqa: BLE001 - S3 NoSuchKey and friends
                ok, detail = False, f"loss: archive object missing or unreadable: {type(exc).__name__}: {exc}"
            checked += 1
            with conn, conn.cursor() as cur:
                cur.execute("INSERT INTO ops.fixity_check (document_id, ok, detail) VALUES (%s, %s, %s)",
                            (document_id, ok, detail))
                event(cur, "document", document_id, "fixity_checked", batch_id, {"ok": ok, "detail": detail})
            if not ok:  # a missing file is a loss (kept within its retention period), a changed one damage
                problems.append({"document_id": document_id, "archive_uri": uri, "detail": detail,
                                 "kind": "loss" if detail.startswith("loss:") else "damage"})
                log.error("fixity: document %s (%s): %s", document_id, uri, detail)
    finally:
        conn.close()
    lost = sum(1 for p in problems if p["kind"] == "loss")
    result = {"checked": checked, "failed": len(problems), "lost": lost, "damaged": len(problems) - lost,
              "problems": problems}
    log.info("fixity: %d archived documents checked, %d problems", checked, len(problems))
    if problems and fail:
        raise FixityError(f"fixity check failed for {len(problems)} of {checked} archived documents "
                          f"({lost} lost, {len(problems) - lost} damaged): "
                          + "; ".join(f"document {p['document_id']} {p['archive_uri']}: {p['detail']}"
                                      for p in problems[:20]))
    return result
