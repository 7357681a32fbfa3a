"""Archive: the original bytes, write-once under their hash, before anything can fail later: a file
quarantined by a later step is still kept, immutable, for the quarantine."""

from __future__ import annotations

from tthc.ops.events import event
from tthc.scans.steps.base import FileContext, Step, archive_key


class ArchiveStep(Step):
    name = "archive"

    def run(self, ctx: FileContext) -> None:
        ctx.archive_uri, written = ctx.archive.put_immutable(archive_key(ctx.sha, ctx.media_type), ctx.data)
        with ctx.conn, ctx.conn.cursor() as cur:
            cur.execute("UPDATE ops.scan_file SET status = 'archived', updated_at = now() WHERE file_id = %s",
                        (ctx.file_id,))
            event(cur, "file", ctx.file_id, "archived", ctx.batch_id, {"archive_uri": ctx.archive_uri, "written": written})
