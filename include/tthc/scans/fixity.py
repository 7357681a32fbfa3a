"""Fixity of the scan archive: every archived document re-hashed, each check recorded in
ops.fixity_check with an event; a missing file is a loss, a changed one damage."""

from __future__ import annotations

import logging

from tthc.ops.events import event
from tthc.scans.config import DropZone
from tthc.scans.steps.base import sha256_hex
from tthc.scans.storage import Store, store_for_uri
from tthc.warehouse.db import connect

log = logging.getLogger(__name__)


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
