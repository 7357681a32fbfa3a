"""The chain runner: a drop zone's steps, run file by file (process_chunk) and once per batch (finalize)."""

from __future__ import annotations

import logging

from tthc.scans.steps.archive import ArchiveStep
from tthc.scans.steps.base import WAIT, BatchContext, FileContext, Step
from tthc.scans.steps.check_type import CheckTypeStep
from tthc.scans.steps.copy_quality import CopyQualityStep
from tthc.scans.steps.dedup import DedupStep
from tthc.scans.steps.document import DocumentStep
from tthc.scans.steps.fields import FieldsStep
from tthc.scans.steps.hash import HashStep
from tthc.scans.steps.link import LinkStep
from tthc.scans.steps.names import BATCH_STEPS, FILE_STEPS
from tthc.scans.steps.ocr import OcrStep
from tthc.scans.steps.sign import SignStep
from tthc.scans.steps.text import TextStep
from tthc.scans.steps.validate import ValidateStep
from tthc.scans.text import BadFile

log = logging.getLogger(__name__)

STEPS: dict[str, type[Step]] = {cls.name: cls for cls in (
    HashStep, CheckTypeStep, DedupStep, ArchiveStep, TextStep, CopyQualityStep, DocumentStep, OcrStep, FieldsStep,
    SignStep, ValidateStep, LinkStep)}
assert tuple(STEPS) == FILE_STEPS + BATCH_STEPS, "tthc.scans.steps.names and the step classes disagree"


def _as_bad_file(exc: Exception) -> BadFile | None:
    """Failures that belong to the file, raised by the libraries below the steps."""
    from PIL import Image

    if isinstance(exc, BadFile):
        return exc
    if isinstance(exc, Image.DecompressionBombError):
        return BadFile("too_many_pixels", f"{exc} (Pillow's decompression-bomb guard; the scan limit is "
                                          "TTHC_SCAN_MAX_IMAGE_PIXELS)")
    return None


class Chain:
    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.file_steps = [STEPS[n]() for n in FILE_STEPS if n in names]
        self.batch_steps = [STEPS[n]() for n in BATCH_STEPS if n in names]

    def advance(self, ctx: FileContext) -> bool:
        """Run the file's steps from where it stopped. True: a step is waiting (call again later);
        False: the file is through (processed, skipped, a duplicate or quarantined) and cleaned up."""
        try:
            while not ctx.stopped and ctx.position < len(self.file_steps):
                step = self.file_steps[ctx.position]
                if step not in ctx.started:
                    if not step.can_run(ctx):
                        ctx.position += 1
                        continue
                    ctx.started.append(step)
                try:
                    outcome = step.run(ctx)
                except Exception as exc:  # noqa: BLE001 - only the file's own failures are kept here
                    bad = _as_bad_file(exc)
                    if bad is None:
                        raise
                    ctx.conn.rollback()
                    ctx.quarantine(step.stage, bad)
                    break
                if outcome is WAIT:
                    return True
                ctx.position += 1
            if not ctx.stopped:
                ctx.report.processed += 1
        except BaseException:
            ctx.conn.rollback()
            self.cleanup(ctx)
            raise
        self.cleanup(ctx)
        return False

    @staticmethod
    def cleanup(ctx: FileContext) -> None:
        for step in reversed(ctx.started):
            try:
                step.cleanup(ctx)
            except Exception:  # noqa: BLE001 - a failed cleanup must not hide the file's outcome
                log.exception("step %s: cleanup of %s failed", step.name, ctx.info.get("uri"))
        ctx.started.clear()

    def run_batch(self, ctx: BatchContext) -> None:
        started = []
        try:
            for step in self.batch_steps:
                if step.can_run(ctx):
                    started.append(step)
                    step.run(ctx)
        finally:
            for step in reversed(started):
                step.cleanup(ctx)
