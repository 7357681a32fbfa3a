"""Progress lines on long loads: rows done, rows/s and the stage, at most every few seconds."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("tthc.load")


class Progress:
    """``tick(stage, rows)`` after each chunk; a line is logged when `every` seconds passed (and by ``done``).

    The lines go through logging, so they show on the command line and in the Airflow task log."""

    def __init__(self, label: str, every: float = 3.0):
        self.label, self.every = label, every
        self.started = self.last = time.monotonic()
        self.stage, self.rows = "", 0
        self.stage_started = self.started

    def begin(self, stage: str) -> None:
        self.stage, self.rows, self.stage_started = stage, 0, time.monotonic()

    def tick(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line(now)

    def done(self) -> None:
        self._line(time.monotonic())

    def _line(self, now: float) -> None:
        seconds = max(now - self.stage_started, 1e-9)
        log.info("%s: %s %d rows, %.0f rows/s (%.1f s in stage, %.1f s total)", self.label, self.stage, self.rows,
                 self.rows / seconds, seconds, now - self.started)
