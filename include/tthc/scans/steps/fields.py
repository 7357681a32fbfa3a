"""Fields: the document type and fields from the pages' text (seeds/scan_fields.yaml rules), with
the OCR confidence and the sidecar's procedure code as hints."""

from __future__ import annotations

from psycopg2.extras import execute_values

from tthc.ops.events import event
from tthc.scans.steps.base import FileContext, Step


class FieldsStep(Step):
    name = "fields"

    def run(self, ctx: FileContext) -> None:
        from tthc.scans.fields import extract_fields

        hints = {}
        if ctx.ocr_confidence is not None:
            hints["ocr_confidence"] = ctx.ocr_confidence
        if ctx.sidecar and ctx.sidecar.get("procedure_code"):
            hints["procedure_code"] = ctx.sidecar["procedure_code"]
        extracted = extract_fields(ctx.texts, hints)
        document_id = ctx.document_id
        doc_type = extracted.document_type.value if extracted.document_type else None
        rows = [(document_id, name, g.value, max(0.0, min(1.0, float(g.confidence))), g.rule)
                for name, g in extracted.fields.items()]
        if extracted.document_type is not None and "document_type" not in extracted.fields:
            g = extracted.document_type
            rows.append((document_id, "document_type", g.value, max(0.0, min(1.0, float(g.confidence))), g.rule))
        with ctx.conn, ctx.conn.cursor() as cur:
            cur.execute("DELETE FROM core.document_field WHERE document_id = %s", (document_id,))
            if rows:
                execute_values(cur, """INSERT INTO core.document_field (document_id, field, value, confidence, rule)
                                       VALUES %s""", rows)
            cur.execute("""UPDATE core.document SET document_type = (SELECT code FROM core.procedure WHERE code = %s),
                                  field_confidence = %s, required_fields = %s
                           WHERE document_id = %s""",
                        (doc_type, float(extracted.confidence), list(getattr(extracted, "required", []) or []),
                         document_id))
            event(cur, "document", document_id, "fields_extracted", ctx.batch_id,
                  {"document_type": doc_type, "confidence": extracted.confidence, "fields": len(rows)})
            cur.execute("UPDATE ops.scan_file SET status = 'fields_extracted', updated_at = now() WHERE file_id = %s",
                        (ctx.file_id,))
