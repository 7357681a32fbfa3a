"""The contract of a scan intake step, and what the steps of one file share.

A step is a small object with a name and three methods, the way paperless-ngx chains its
consumer plugins:

- ``can_run(ctx) -> bool``: whether this step has anything to do for the file (or batch);
- ``run(ctx)``: do it, in its own transaction(s). It may return ``WAIT``: the runner parks the
  file and calls ``run`` again later (the text step hands pages to the OCR pool and collects them
  once other files' pages keep the workers busy); it may raise ``BadFile``: the file is
  quarantined with the step's ``stage`` and the chain stops for it; it may call ``ctx.stop()``
  when the file needs nothing more (already done, a duplicate);
- ``cleanup(ctx)``: always called, last step first, for every step whose ``can_run`` said yes,
  whether the chain finished, stopped or failed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tthc.ops.events import event
from tthc.ops.quarantine import Rejection, quarantine
from tthc.scans.text import ARCHIVE_EXTENSION, BadFile, FileText

# Statuses after which a file needs nothing more from a run.
DONE = ("linked", "review", "quarantined", "duplicate")
WAITING = ("fields_extracted",)         # waiting for finalize

WAIT = object()   # returned by run(): call me again later for this file


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_key(sha: str, media_type: str) -> str:
    return f"sha256/{sha[:2]}/{sha[2:4]}/{sha}.{ARCHIVE_EXTENSION.get(media_type, 'bin')}"


class Step:
    """One link of the chain. Subclasses set name and stage and override what they need."""

    name = ""
    stage = "intake"          # ops.quarantine.stage of a BadFile raised by run()

    def can_run(self, ctx) -> bool:  # noqa: ARG002 - the default: always
        return True

    def run(self, ctx) -> Any:
        raise NotImplementedError

    def cleanup(self, ctx) -> None:  # noqa: ARG002 - most steps leave nothing behind
        return None


@dataclass
class ChunkReport:
    files: int = 0
    processed: int = 0
    skipped: int = 0
    duplicates: int = 0
    quarantined: int = 0
    pages_text_layer: int = 0
    pages_ocr: int = 0
    ocr_seconds: float = 0.0
    seconds: float = 0.0


@dataclass
class FileContext:
    """One file on its way through the chain: what the chunk gives it and what the steps learn."""
    zone: Any                  # tthc.scans.config.DropZone
    conn: Any                  # psycopg2 connection (one per chunk)
    store: Any                 # the drop
    archive: Any               # the immutable archive
    manifest: dict
    batch_id: int
    info: dict                 # {"uri", "name", "size", "mtime"} from the listing
    tmpdir: Path
    report: ChunkReport
    pool: Any                  # tthc.scans.text.OcrPool
    limits: Any                # tthc.settings.ScanLimits
    data: bytes | None = None
    sha: str | None = None
    sidecar: dict | None = None
    file_id: int | None = None
    media_type: str | None = None
    archive_uri: str | None = None
    plan: FileText | None = None
    local_path: Path | None = None
    quality: dict | None = None
    signature: dict | None = None
    document_id: int | None = None
    texts: list[str] = field(default_factory=list)
    ocr_confidence: float | None = None
    futures: dict = field(default_factory=dict)   # page index -> Future
    ocr_submitted: bool = False
    stopped: bool = False
    position: int = 0                              # the next step of the chain
    started: list = field(default_factory=list)    # steps whose can_run said yes

    @property
    def mtime(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.info["mtime"])

    def stop(self) -> None:
        """The file needs nothing more from this run."""
        self.stopped = True

    def quarantine(self, stage: str, bad: BadFile) -> None:
        """Record the file as quarantined (its own transaction) and stop its chain."""
        extra = {"sha256": self.sha}
        if self.media_type and stage != "intake":
            extra["media_type"] = self.media_type
        with self.conn, self.conn.cursor() as cur:
            quarantine_file(cur, self.zone, self.batch_id, self.file_id, self.info, stage, bad,
                            self.archive_uri or self.info["uri"], extra)
        self.report.quarantined += 1
        self.stop()


@dataclass
class BatchContext:
    """What the batch steps (validate, link) share in finalize."""
    zone: Any
    url: str
    batch_id: int
    results: dict = field(default_factory=dict)


def quarantine_file(cur, zone, batch_id: int, file_id: int, info: dict, stage: str, bad: BadFile,
                    payload_ref: str, extra: dict | None = None) -> None:
    payload = {"file_name": info["name"], "source_uri": info["uri"], "size_bytes": info["size"],
               "source_mtime": info["mtime"], "reason": bad.reason, **(extra or {})}
    rejection = Rejection(zone.source, info["uri"], stage, f"{bad.reason}: {bad.detail}", payload, [bad.reason],
                          payload_ref)
    if not quarantine(cur, [rejection], batch_id):
        # The same problem again after operators resolved it (and asked for a retry): reopen the entry.
        cur.execute("""UPDATE ops.quarantine SET resolved_at = NULL, resolution = NULL
                       WHERE source = %s AND dedup_key = %s AND resolved_at IS NOT NULL""",
                    (zone.source, rejection.dedup_key))
    cur.execute("""UPDATE ops.scan_file SET status = 'quarantined', reason = %s, updated_at = now()
                   WHERE file_id = %s""", (f"{bad.reason}: {bad.detail}", file_id))
    event(cur, "file", file_id, "quarantined", batch_id, {"stage": stage, "reason": bad.reason, "detail": bad.detail})


def resolved(cur, zone, uri: str) -> bool:
    """Every quarantine entry of this file is resolved: operators want it taken again."""
    cur.execute("""SELECT count(*) FILTER (WHERE resolved_at IS NULL) = 0 FROM ops.quarantine
                   WHERE source = %s AND source_key = %s""", (zone.source, uri))
    return bool(cur.fetchone()[0])
