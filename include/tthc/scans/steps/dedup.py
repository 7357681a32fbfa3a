"""Dedup: the first file recorded with a sha256 is processed; every later file with the same content,
in any drop zone, becomes a 'duplicate' of it and needs nothing more."""

from __future__ import annotations

from tthc.ops.events import event
from tthc.scans.steps.base import FileContext, Step


class DedupStep(Step):
    name = "dedup"

    def run(self, ctx: FileContext) -> None:
        with ctx.conn, ctx.conn.cursor() as cur:
            # The hash step's lock again: the earliest file_id wins, whichever task asks first.
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (ctx.sha,))
            cur.execute("""SELECT file_id FROM ops.scan_file
                           WHERE sha256 = %s AND file_id < %s AND duplicate_of IS NULL AND status <> 'quarantined'
                           ORDER BY file_id LIMIT 1""", (ctx.sha, ctx.file_id))
            original = cur.fetchone()
            if original:
                cur.execute("""UPDATE ops.scan_file SET status = 'duplicate', duplicate_of = %s, updated_at = now(),
                               document_id = (SELECT document_id FROM core.document WHERE sha256 = %s)
                               WHERE file_id = %s""", (original[0], ctx.sha, ctx.file_id))
                event(cur, "file", ctx.file_id, "duplicate", ctx.batch_id, {"duplicate_of": original[0], "sha256": ctx.sha})
                ctx.report.duplicates += 1
                ctx.stop()
