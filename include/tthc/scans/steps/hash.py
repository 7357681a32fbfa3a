"""Hash: read the file once, record it by its sha256 in ops.scan_file, skip what an earlier run finished.

A file the drop refuses to hand over (a symlink that leaves the zone) or that is above the size
limit is recorded without reading a byte of it (sha256 NULL) and quarantined with the reason.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from psycopg2.extras import Json

from tthc.ops.events import event
from tthc.scans.steps.base import DONE, WAITING, FileContext, Step, resolved, sha256_hex
from tthc.scans.storage import RefusedPath
from tthc.scans.text import BadFile


def sidecar_for(manifest: dict[str, dict], name: str) -> dict | None:
    return manifest.get(name) or manifest.get(PurePosixPath(name).name)


def file_size_limit(ctx: FileContext) -> int:
    return ctx.zone.max_size_bytes


def refusal(ctx: FileContext) -> BadFile | None:
    """Why the file is not read at all, or None."""
    info = ctx.info
    if info.get("refused"):
        reason, _, detail = info["refused"].partition(": ")
        return BadFile(reason, detail)
    limit = file_size_limit(ctx)
    if info["size"] > limit:
        return BadFile("too_large", f"{info['name']} is {info['size']:,} bytes, above the limit of {limit:,} "
                                    f"(drop zone max_size_mb, default TTHC_SCAN_MAX_FILE_MB)")
    return None


class HashStep(Step):
    name = "hash"

    def run(self, ctx: FileContext) -> None:
        refused = refusal(ctx)
        if refused is not None:
            self._record_unread(ctx, refused)
            return
        info = ctx.info
        try:
            ctx.data = ctx.store.read(info["uri"])
        except RefusedPath as exc:
            self._record_unread(ctx, BadFile("symlink_outside_drop", str(exc)))
            return
        ctx.sha = sha = sha256_hex(ctx.data)
        ctx.sidecar = sidecar_for(ctx.manifest, info["name"])
        zone = ctx.zone
        with ctx.conn, ctx.conn.cursor() as cur:
            # Same content under one lock: two copies in two mapped tasks cannot both be "first".
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (sha,))
            cur.execute("""SELECT file_id, status FROM ops.scan_file
                           WHERE drop_zone = %s AND source_uri = %s AND sha256 = %s""", (zone.name, info["uri"], sha))
            row = cur.fetchone()
            if row and row[1] in DONE + WAITING and not (row[1] == "quarantined" and resolved(cur, zone, info["uri"])):
                ctx.report.skipped += 1
                ctx.stop()
                return
            if row is None:
                cur.execute("""INSERT INTO ops.scan_file (drop_zone, source_uri, file_name, sha256, size_bytes,
                                                          source_mtime, sidecar, batch_id)
                               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING file_id""",
                            (zone.name, info["uri"], info["name"], sha, len(ctx.data), ctx.mtime,
                             Json(ctx.sidecar) if ctx.sidecar else None, ctx.batch_id))
                ctx.file_id = cur.fetchone()[0]
                event(cur, "file", ctx.file_id, "received", ctx.batch_id,
                      {"drop_zone": zone.name, "source_uri": info["uri"], "sha256": sha, "size_bytes": len(ctx.data)})
            else:
                ctx.file_id = row[0]

    @staticmethod
    def _record_unread(ctx: FileContext, bad: BadFile) -> None:
        info, zone = ctx.info, ctx.zone
        with ctx.conn, ctx.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (info["uri"],))
            cur.execute("""SELECT file_id, status FROM ops.scan_file
                           WHERE drop_zone = %s AND source_uri = %s AND sha256 IS NULL""", (zone.name, info["uri"]))
            row = cur.fetchone()
            if row and row[1] == "quarantined" and not resolved(cur, zone, info["uri"]):
                cur.execute("UPDATE ops.scan_file SET size_bytes = %s, source_mtime = %s WHERE file_id = %s",
                            (info["size"], ctx.mtime, row[0]))
                ctx.report.skipped += 1
                ctx.stop()
                return
            if row is None:
                cur.execute("""INSERT INTO ops.scan_file (drop_zone, source_uri, file_name, sha256, size_bytes,
                                                          source_mtime, batch_id)
                               VALUES (%s, %s, %s, NULL, %s, %s, %s) RETURNING file_id""",
                            (zone.name, info["uri"], info["name"], info["size"], ctx.mtime, ctx.batch_id))
                ctx.file_id = cur.fetchone()[0]
                event(cur, "file", ctx.file_id, "received", ctx.batch_id,
                      {"drop_zone": zone.name, "source_uri": info["uri"], "sha256": None, "size_bytes": info["size"],
                       "not_read": bad.reason})
            else:
                ctx.file_id = row[0]
        ctx.quarantine("intake", bad)
