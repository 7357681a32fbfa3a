"""Link (per batch): each validated document to its result through the load stage, or a paper-only
result with its code; digitized_at and codes follow."""

from __future__ import annotations

from tthc.scans.steps.base import BatchContext, Step


class LinkStep(Step):
    name = "link"

    def run(self, ctx: BatchContext) -> None:
        from tthc.scans.candidates import link_batch

        linked = link_batch(ctx.zone, ctx.url, ctx.batch_id)
        ctx.results.update(linked=linked["linked"], linked_existing=linked["existing"],
                           paper_only=linked["paper_only"])
