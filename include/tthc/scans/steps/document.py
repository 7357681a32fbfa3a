"""Document: one core.document per distinct content, with its capture time, page count and the copy's
quality; the file points at it."""

from __future__ import annotations

from psycopg2.extras import Json

from tthc.ops.events import dumps, event
from tthc.scans.steps.base import FileContext, Step
from tthc.scans.text import captured_at

NO_QUALITY = {"pdf_version": None, "min_dpi": None, "is_colour": None, "quality_ok": None, "issues": []}
NO_SIGNATURE = {"status": "unsigned", "signers": [], "detail": "not checked: the drop zone's steps leave out copy_quality"}


class DocumentStep(Step):
    name = "document"

    def run(self, ctx: FileContext) -> None:
        when, when_from = captured_at(ctx.sidecar, ctx.plan, ctx.mtime)
        quality = ctx.quality or NO_QUALITY
        signature = ctx.signature or NO_SIGNATURE
        with ctx.conn, ctx.conn.cursor() as cur:
            cur.execute("""
                INSERT INTO core.document (sha256, archive_uri, media_type, page_count, captured_at, captured_from,
                                           drop_zone, pdf_version, min_dpi, is_colour, quality_ok, quality_issues,
                                           signature_status, signature_detail)
                VALUES (%(sha)s, %(uri)s, %(mt)s, %(pages)s, %(when)s, %(from)s, %(zone)s, %(pdf_version)s,
                        %(min_dpi)s, %(is_colour)s, %(quality_ok)s, %(issues)s, %(sig)s, %(sig_detail)s)
                ON CONFLICT (sha256) DO UPDATE SET page_count = EXCLUDED.page_count
                RETURNING document_id""",
                {"sha": ctx.sha, "uri": ctx.archive_uri, "mt": ctx.media_type, "pages": len(ctx.plan.pages),
                 "when": when, "from": when_from, "zone": ctx.zone.name, **quality, "sig": signature["status"],
                 "sig_detail": Json(signature, dumps=dumps)})
            ctx.document_id = cur.fetchone()[0]
            cur.execute("UPDATE ops.scan_file SET document_id = %s WHERE file_id = %s", (ctx.document_id, ctx.file_id))
            event(cur, "document", ctx.document_id, "received", ctx.batch_id,
                  {"file_id": ctx.file_id, "captured_at": when, "captured_from": when_from,
                   "quality_ok": quality["quality_ok"], "quality_issues": quality["issues"],
                   "signature_status": signature["status"]})
