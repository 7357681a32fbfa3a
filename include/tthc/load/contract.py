"""What the load stage takes: candidate columns, the load profile, and the keys of a landed row."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path

# The fields of staging.result_candidate a cleaner fills (sql/V006, V010, V012).
CANDIDATE_COLUMNS = (
    "document_type", "doc_number", "doc_book", "issue_date", "holder_name", "holder_name_key", "holder_kind",
    "holder_id_type", "holder_id_value", "holder_birth_date", "unit_key", "agency_id", "status_in_source",
    "revoked_on", "extended_until", "extensions", "clean_problems", "source_recorded_at",
    "signed_copy", "signed_copy_ref",
)


@dataclass(frozen=True)
class LoadProfile:
    """How one source's candidates are loaded.

    source: ops.batch.source / raw.source_row.source.
    extra_suite: a GX suite file run over the batch as ``source__<source>`` besides expectations/*.json.
    quarantine_threshold: the batch fails (after loading its valid rows) when more than this share of
        at least ``quarantine_min_rows`` rows was quarantined; None: never (scans go to review instead).
    chunk_size: rows per normalization chunk (one transaction each).
    """

    source: str
    extra_suite: Path | None = None
    quarantine_threshold: float | None = None
    quarantine_min_rows: int = 0
    chunk_size: int = 50_000

    def too_many_rejected(self, rows_in: int, rejected: int) -> bool:
        if self.quarantine_threshold is None or rows_in < self.quarantine_min_rows or not rows_in:
            return False
        return rejected / rows_in > self.quarantine_threshold


@dataclass
class LoadTotals:
    """What normalization did. rows_loaded = results_new + rows_merged + rows_already_known.

    results_new: results created; rows_merged: rows merged into a result another row made (a true
    duplicate, exact or fuzzy); rows_already_known: rows whose lineage was already recorded (a re-run)."""

    rows_loaded: int = 0
    results_new: int = 0
    rows_merged: int = 0
    rows_already_known: int = 0
    codes_assigned: int = 0

    def add(self, new: int, valid: int, known: int) -> None:
        self.rows_loaded += valid
        self.results_new += new
        self.rows_already_known += known
        self.rows_merged += valid - new - known


def canonical_payload(row: dict) -> tuple[str, str]:
    """(canonical JSON text, its sha256): raw.source_row.payload and row_hash."""
    text = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def holder_key(id_type: str, id_value: str, secret: str) -> str:
    """The matching key of a holder, HMAC-SHA256(secret, id_type:id_value): core.holder.match_key.

    It never leaves core: analysts see core.holder.holder_ref, a random value no ID guess can be
    checked against."""
    return hmac.new(secret.encode(), f"{id_type}:{id_value}".encode(), hashlib.sha256).hexdigest()
