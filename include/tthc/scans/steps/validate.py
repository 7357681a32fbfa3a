"""Validate (per batch): documents with extracted fields become staging.result_candidate rows (the
legacy sources' cleaning), low confidence goes to review, then Great Expectations checks the staged
rows like any source's; failures go to review too."""

from __future__ import annotations

from tthc.scans.steps.base import BatchContext, Step


class ValidateStep(Step):
    name = "validate"

    def run(self, ctx: BatchContext) -> None:
        from tthc.scans.candidates import stage_documents, validate_staged

        staged, review = stage_documents(ctx.zone, ctx.url, ctx.batch_id)
        failed = validate_staged(ctx.zone, ctx.url, ctx.batch_id) if staged else 0
        ctx.results.update(staged=staged, review=review + failed, validation_failed=failed)
