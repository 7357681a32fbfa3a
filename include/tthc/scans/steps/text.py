"""Text: which pages have a usable text layer and which need OCR (jobs for the ocr step), from a
temporary copy of the file in the chunk's work folder. The copy is removed by cleanup."""

from __future__ import annotations

from tthc.scans.steps.base import FileContext, Step
from tthc.scans.text import ARCHIVE_EXTENSION, plan_pages


class TextStep(Step):
    name = "text"
    stage = "text"

    def run(self, ctx: FileContext) -> None:
        ctx.local_path = ctx.tmpdir / f"{ctx.sha}.{ARCHIVE_EXTENSION[ctx.media_type]}"
        ctx.local_path.write_bytes(ctx.data)
        zone = ctx.zone
        ctx.plan = plan_pages(ctx.data, ctx.media_type, str(ctx.local_path), min_text_chars=zone.min_text_chars,
                              ocr_dpi=zone.ocr_dpi, lang=zone.ocr_lang, max_pixels=ctx.limits.max_image_pixels)

    def cleanup(self, ctx: FileContext) -> None:
        if ctx.local_path is not None:
            ctx.local_path.unlink(missing_ok=True)
