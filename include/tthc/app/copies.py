"""Serving a result's archived copy: re-hash it against the stored SHA-256 first; a mismatch is
recorded (ops.fixity_check), alerted to operators (tthc.alerts) and never served."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from tthc.scans.storage import store_for_uri

log = logging.getLogger(__name__)


@dataclass
class Copy:
    document_id: int
    archive_uri: str
    media_type: str
    expected_sha256: str
    actual_sha256: str | None
    data: bytes | None
    signature: dict           # status (unsigned | valid | invalid), detail; checked now with pyhanko
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def _zone(name: str | None):
    from tthc.scans.config import load_drops

    try:
        return next((z for z in load_drops() if z.name == name), None)
    except Exception:  # noqa: BLE001 - unreadable drop config: read the archive with defaults
        log.exception("drop-zone configuration unreadable")
        return None


def load_copy(cur, document_id: int) -> Copy:
    cur.execute("""SELECT document_id, archive_uri, media_type, sha256, drop_zone, signature_status
                   FROM core.document WHERE document_id = %s""", (document_id,))
    doc_id, uri, media, sha, zone_name, stored_sig = cur.fetchone()
    zone = _zone(zone_name)
    try:
        data = store_for_uri(uri, zone.s3 if zone else None).read(uri)
    except Exception as exc:  # noqa: BLE001 - missing file, S3 NoSuchKey, permissions
        return Copy(doc_id, uri, media, sha, None, None, {"status": stored_sig},
                    f"không đọc được bản lưu trữ: {type(exc).__name__}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha:
        return Copy(doc_id, uri, media, sha, actual, None, {"status": stored_sig},
                    "bản lưu trữ không khớp mã băm SHA-256 đã ghi nhận (có thể đã bị thay đổi)")
    signature = {"status": stored_sig}
    if media == "application/pdf":
        from tthc.scans.legal import verify_signatures

        check = verify_signatures(data, list(zone.trust_roots) if zone else [])
        signature = check.as_dict()
    return Copy(doc_id, uri, media, sha, actual, data, signature)


def report_mismatch(cur, copy: Copy, result_code: str, who) -> None:
    """Record the failed check and alert operators (grouped per document by tthc.alerts)."""
    detail = f"{copy.problem}: archive has {copy.actual_sha256}, recorded {copy.expected_sha256}"
    cur.execute("INSERT INTO ops.fixity_check (document_id, ok, detail) VALUES (%s, false, %s)",
                (copy.document_id, detail))
    cur.execute("""INSERT INTO ops.object_event (object_type, object_id, event, detail)
                   VALUES ('document', %s, 'fixity_checked', %s)""",
                (str(copy.document_id), json.dumps({"ok": False, "detail": detail, "by": "app"})))


def alert_mismatch(copy: Copy, result_code: str, url: str | None) -> None:
    from tthc.alerts.dispatch import dispatch
    from tthc.alerts.message import Alert

    dispatch(Alert(
        kind="data_quality", severity="error", source="archive",
        title=f"Bản sao không khớp mã băm / archived copy failed its SHA-256 check: {result_code}",
        summary=(f"The copy of result {result_code} (document {copy.document_id}, {copy.archive_uri}) was requested "
                 f"and not served: {copy.problem}."),
        details={"document_id": copy.document_id, "archive_uri": copy.archive_uri,
                 "expected_sha256": copy.expected_sha256, "actual_sha256": copy.actual_sha256},
        next_steps=["Restore the file from a backup copy with the recorded hash, then run "
                    "`tthc scans fixity`.",
                    "Runbook: docs/app.md (\"A copy failed its hash check\")."],
        fingerprint=f"copy-hash:{copy.document_id}"), url)
