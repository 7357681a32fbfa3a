"""OCR: the pages without a usable text layer go to the OCR process pool; once read, every page of the
document (text layer or OCR) is stored. A page Tesseract cannot read quarantines its file; a broken
pool is the machine's problem, not the file's, and fails the task (Airflow retries it)."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

from psycopg2.extras import execute_values

from tthc.ops.events import event
from tthc.scans.steps.base import WAIT, FileContext, Step
from tthc.scans.text import BadFile


class OcrStep(Step):
    name = "ocr"
    stage = "text"

    def run(self, ctx: FileContext):
        if not ctx.ocr_submitted:
            for page in ctx.plan.pages:
                if page.job is not None:
                    ctx.futures[page.index] = ctx.pool.submit(page.job)
            ctx.ocr_submitted = True
            return WAIT
        self._collect(ctx)
        return None

    def _collect(self, ctx: FileContext) -> None:
        pages: list[tuple] = []
        failures = []
        ocr_conf = []
        ocr_seconds = 0.0
        for page in ctx.plan.pages:
            if page.job is None:
                pages.append((ctx.document_id, page.index + 1, "text_layer", page.text, None, page.dpi, None, None))
                continue
            try:
                res = ctx.futures[page.index].result()
            except BrokenProcessPool:
                raise
            except Exception as exc:  # noqa: BLE001 - a page Tesseract cannot read quarantines its file
                failures.append(f"page {page.index + 1}: {type(exc).__name__}: {exc}")
                continue
            ocr_seconds += res.seconds
            ocr_conf.append(res.confidence)
            pages.append((ctx.document_id, page.index + 1, "ocr", res.text, res.confidence, res.dpi,
                          res.width_px, res.height_px))
        if failures:
            raise BadFile("ocr_failed", "; ".join(failures))
        ctx.texts = [p[3] for p in pages]
        ctx.ocr_confidence = round(sum(ocr_conf) / len(ocr_conf), 2) if ocr_conf else None
        n_ocr = sum(1 for p in pages if p[2] == "ocr")
        with ctx.conn, ctx.conn.cursor() as cur:
            cur.execute("DELETE FROM core.document_page WHERE document_id = %s", (ctx.document_id,))
            execute_values(cur, """INSERT INTO core.document_page (document_id, page_no, method, text, ocr_confidence,
                                                                   dpi, width_px, height_px) VALUES %s""", pages)
            cur.execute("UPDATE core.document SET ocr_seconds = %s WHERE document_id = %s",
                        (round(ocr_seconds, 3) if n_ocr else None, ctx.document_id))
            event(cur, "document", ctx.document_id, "text_extracted", ctx.batch_id,
                  {"pages": len(pages), "text_layer_pages": len(pages) - n_ocr, "ocr_pages": n_ocr})
            if n_ocr:
                event(cur, "document", ctx.document_id, "ocred", ctx.batch_id,
                      {"pages": n_ocr, "mean_confidence": ctx.ocr_confidence, "seconds": round(ocr_seconds, 3),
                       "per_page": [{"page": p[1], "confidence": p[4], "dpi": p[5]} for p in pages if p[2] == "ocr"]})
            cur.execute("UPDATE ops.scan_file SET status = 'text_extracted', updated_at = now() WHERE file_id = %s",
                        (ctx.file_id,))
        ctx.report.pages_ocr += n_ocr
        ctx.report.pages_text_layer += len(pages) - n_ocr
        ctx.report.ocr_seconds += ocr_seconds

    def cleanup(self, ctx: FileContext) -> None:
        for fut in ctx.futures.values():   # a file stopped early: its pages are not worth the workers' time
            fut.cancel()
