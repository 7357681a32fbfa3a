"""Born-digital copies checked, not trusted.

A source may say a result was signed electronically when issued and name its file
(``signed_copy`` / ``signed_copy_ref``; normalize keeps the name in ``core.result.copy_ref``).
This step, run after normalize, fetches each such file from where the reference points
(``TTHC_SIGNED_COPY_BASE``: a folder, ``s3://bucket/prefix`` or an ``http(s)://`` URL on the
local network), hashes it, archives it write-once by sha256 in the scan archive, and verifies
its signature with pyHanko against the trust roots. The result is recorded per result in
``core.result_e_copy``; progress and indicators count a born-digital result as signed and
digitized only when its check says ``verified``. Anything else (missing, unreadable, unsigned,
invalid or untrusted signature) goes to ``ops.quarantine`` with the result code and the reference.

Idempotent: a result is checked again only when it was never checked, its reference changed,
or its file was missing (it may have arrived since); archiving the same bytes twice writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

from psycopg2.extras import Json, execute_values

from tthc.ops.quarantine import Rejection, quarantine
from tthc.scans import legal
from tthc.scans.config import S3Options
from tthc.scans.intake import _dumps, archive_key, event, sha256_hex
from tthc.scans.storage import open_store, store_for_uri
from tthc.settings import Settings
from tthc.warehouse.db import connect

log = logging.getLogger(__name__)

SOURCE = "born_digital"          # ops.quarantine.source of the check's findings
STAGE = "signature_check"
HTTP_TIMEOUT_SECONDS = 30


class MissingCopy(Exception):
    """The reference points at nothing (no such file, object or URL)."""


@dataclass
class CheckReport:
    checked: int = 0
    verified: int = 0
    missing: int = 0
    unreadable: int = 0
    unsigned: int = 0
    invalid: int = 0
    archived: int = 0          # objects newly written to the archive
    quarantined: int = 0       # new quarantine entries


def resolve(ref: str, base: str) -> str:
    """The URI of a source reference: absolute refs (s3://, http(s)://, file://, /path) as they are,
    relative ones under ``base``."""
    ref = ref.strip()
    if urlparse(ref).scheme in ("s3", "http", "https", "file") or ref.startswith("/"):
        return ref
    rel = ref.lstrip("/")
    if base.startswith(("http://", "https://")):
        return f"{base.rstrip('/')}/{quote(rel)}"
    if base.startswith("s3://"):
        return f"{base.rstrip('/')}/{rel}"
    root = Path(urlparse(base).path if base.startswith("file://") else base).expanduser()
    return str(root / rel)


def fetch(uri: str, s3: S3Options | None = None) -> bytes:
    """The bytes behind a resolved reference; MissingCopy when there is nothing there."""
    if uri.startswith(("http://", "https://")):
        from tthc.connections import url_http_hook

        response = url_http_hook(uri, "GET").run(extra_options={"timeout": HTTP_TIMEOUT_SECONDS,
                                                                "check_response": False})
        if response.status_code in (404, 410):
            raise MissingCopy(f"HTTP {response.status_code} for {uri}")
        response.raise_for_status()
        return response.content
    if uri.startswith("s3://"):
        store = store_for_uri(uri, s3)
        if store.stat(uri) is None:
            raise MissingCopy(f"no object {uri}")
        return store.read(uri)
    path = Path(urlparse(uri).path if uri.startswith("file://") else uri)
    if not path.is_file():
        raise MissingCopy(f"no file {path}")
    return path.read_bytes()


def _candidates(cur, source: str | None, recheck: bool) -> list[tuple]:
    cur.execute("""
        SELECT r.result_id, r.result_code, r.copy_ref
        FROM core.result r
        LEFT JOIN core.result_e_copy e ON e.result_id = r.result_id
        WHERE r.copy_ref IS NOT NULL
          AND (%(recheck)s OR e.result_id IS NULL OR e.copy_ref <> r.copy_ref OR e.status = 'missing')
          AND (%(source)s::text IS NULL OR EXISTS (SELECT 1 FROM core.result_source s
                                                   WHERE s.result_id = r.result_id AND s.source = %(source)s))
        ORDER BY r.result_id""", {"recheck": recheck, "source": source})
    return cur.fetchall()


def _check_one(ref: str, settings: Settings, s3: S3Options, archive) -> tuple[dict, bool]:
    """(row of core.result_e_copy, written to the archive). Never raises for one bad file."""
    row = {"copy_ref": ref, "source_uri": None, "sha256": None, "size_bytes": None, "archive_uri": None,
           "status": None, "reason": None, "signature_detail": None, "signed_at": None}
    written = False
    try:
        uri = row["source_uri"] = resolve(ref, settings.signed_copy_base)
        data = fetch(uri, s3)
    except MissingCopy as exc:
        row.update(status="missing", reason=f"signed copy not found: {exc}")
        return row, written
    except Exception as exc:  # noqa: BLE001 - unreachable host, permissions, S3 errors: retried as missing
        row.update(status="missing", reason=f"signed copy not fetched: {type(exc).__name__}: {exc}")
        return row, written
    sha = sha256_hex(data)
    row.update(sha256=sha, size_bytes=len(data))
    if legal.sniff_format(data) != "pdf":
        # kept all the same: the quarantine points at the archived bytes
        row["archive_uri"], written = archive.put_immutable(archive_key(sha, "application/octet-stream"), data)
        row.update(status="unreadable", reason="signed copy is not a PDF file")
        return row, written
    row["archive_uri"], written = archive.put_immutable(archive_key(sha, "application/pdf"), data)
    check = legal.verify_signatures(data, list(settings.signed_copy_trust_roots))
    row["signature_detail"] = check.as_dict()
    if check.status == "valid":
        row["status"] = "verified"
        times = [s.get("signing_time") for s in check.signers if s.get("signing_time")]
        row["signed_at"] = min(times) if times else None
    elif check.status == "unsigned":
        row.update(status="unsigned", reason="signed copy has no digital signature")
    elif check.detail.startswith(("unreadable PDF", "encrypted PDF")):
        row.update(status="unreadable", reason=f"signed copy cannot be read: {check.detail}")
    else:
        row.update(status="invalid", reason=f"signature does not verify: {check.detail}")
    return row, written


def check_e_copies(url: str, source: str | None = None, settings: Settings | None = None,
                   s3: S3Options | None = None, recheck: bool = False) -> dict:
    """Check the signed e-copies of results not yet checked (of one source, or all); see the module doc."""
    settings = settings or Settings.from_env()
    s3 = s3 or S3Options()
    archive = open_store(settings.signed_copy_archive, s3)
    report = CheckReport()
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            todo = _candidates(cur, source, recheck)
        log.info("born-digital check: %d signed e-copies to check (base %s)", len(todo), settings.signed_copy_base)
        if todo:
            _require_trust_roots(settings)
        for n, (result_id, result_code, ref) in enumerate(todo, 1):
            row, written = _check_one(ref, settings, s3, archive)
            report.checked += 1
            report.archived += int(written)
            setattr(report, row["status"], getattr(report, row["status"]) + 1)
            with conn, conn.cursor() as cur:
                _record(cur, result_id, result_code, row, written)
                if row["status"] != "verified":
                    report.quarantined += _quarantine(cur, result_code, row)
            if n % 200 == 0:
                log.info("born-digital check: %d/%d checked, %d verified", n, len(todo), report.verified)
    finally:
        conn.close()
    log.info("born-digital check: %s", report)
    return asdict(report)


def _require_trust_roots(settings: Settings) -> None:
    """Without its trust roots every signature would look untrusted and be recorded so: stop instead."""
    roots = settings.signed_copy_trust_roots
    bad = [str(p) for p in roots if not Path(p).is_file()]
    if not roots or bad:
        raise FileNotFoundError(f"TTHC_SIGNED_COPY_TRUST_ROOTS: trust root file(s) not found: {', '.join(bad) or 'none set'}"
                                " (PEM files of the CAs that sign born-digital results)")


def _record(cur, result_id: int, result_code: str, row: dict, written: bool) -> None:
    execute_values(cur, """
        INSERT INTO core.result_e_copy (result_id, copy_ref, source_uri, sha256, size_bytes, archive_uri, status,
                                        reason, signature_detail, signed_at)
        VALUES %s
        ON CONFLICT (result_id) DO UPDATE SET
            copy_ref = EXCLUDED.copy_ref, source_uri = EXCLUDED.source_uri, sha256 = EXCLUDED.sha256,
            size_bytes = EXCLUDED.size_bytes, archive_uri = EXCLUDED.archive_uri, status = EXCLUDED.status,
            reason = EXCLUDED.reason, signature_detail = EXCLUDED.signature_detail, signed_at = EXCLUDED.signed_at,
            checked_at = now(), attempts = core.result_e_copy.attempts + 1""",
        [(result_id, row["copy_ref"], row["source_uri"], row["sha256"], row["size_bytes"], row["archive_uri"],
          row["status"], row["reason"], Json(row["signature_detail"], dumps=_dumps) if row["signature_detail"] else None,
          row["signed_at"])])
    detail = {k: row[k] for k in ("copy_ref", "sha256", "status", "reason")}
    if row["archive_uri"]:
        event(cur, "result", result_id, "e_copy_archived", None,
              {"archive_uri": row["archive_uri"], "written": written, "sha256": row["sha256"]})
    event(cur, "result", result_id, "e_copy_checked", None, {"result_code": result_code, **detail})


def _quarantine(cur, result_code: str, row: dict) -> int:
    """One entry per result, reference, content and finding: a rerun adds nothing."""
    reason = f"{result_code}: signed copy {row['copy_ref']!r}: {row['reason']}"
    payload = {"result_code": result_code, "copy_ref": row["copy_ref"], "source_uri": row["source_uri"],
               "sha256": row["sha256"], "status": row["status"],
               "signature": row["signature_detail"]}
    return quarantine(cur, [Rejection(SOURCE, result_code, STAGE, reason, payload, [f"e_copy_{row['status']}"],
                                      row["archive_uri"])])
