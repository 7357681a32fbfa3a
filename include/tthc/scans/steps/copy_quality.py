"""Copy quality: the Nghị định 30/2020 Appendix I checks of the copy (PDF version, dpi, colour) and
the status of the signatures it already carries. Without this step the document's quality columns
stay empty and its signature status 'unsigned'."""

from __future__ import annotations

from tthc.scans.steps.base import FileContext, Step


class CopyQualityStep(Step):
    name = "copy_quality"

    def run(self, ctx: FileContext) -> None:
        from tthc.scans.legal.quality import inspect_copy
        from tthc.scans.legal.verify import verify_signatures

        q = inspect_copy(ctx.data, ctx.media_type)
        ctx.quality = {"pdf_version": q.pdf_version, "min_dpi": q.min_dpi, "is_colour": q.is_colour,
                       "quality_ok": q.quality_ok, "issues": list(q.issues)}
        ctx.signature = {"status": "unsigned", "signers": [], "detail": "not a PDF"}
        if ctx.media_type == "application/pdf":
            check = verify_signatures(ctx.data, list(ctx.zone.trust_roots))
            ctx.signature = {"status": check.status, "signers": check.signers, "detail": check.detail}
