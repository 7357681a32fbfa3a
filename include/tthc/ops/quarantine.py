"""Nothing is dropped silently: rejected input lands in ops.quarantine with its reason and payload."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extras import Json, execute_values

from tthc.masking import mask_ids_in_text


@dataclass(frozen=True)
class Rejection:
    source: str
    source_key: str | None
    stage: str
    reason: str
    payload: Any
    failed_checks: list = field(default_factory=list)
    payload_ref: str | None = None

    @property
    def dedup_key(self) -> str:
        canonical = json.dumps([self.stage, self.source_key, self.reason, self.payload],
                               sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def quarantine(cur, rejections: list[Rejection], batch_id: int | None = None) -> int:
    """Insert rejections; identical ones already quarantined are skipped. Returns rows inserted."""
    if not rejections:
        return 0
    # A reason is read by people who may not see the payload: an ID-like number in it keeps its last
    # 3 digits only (the payload keeps the value whole).
    rows = [(batch_id, r.source, r.source_key, r.stage, mask_ids_in_text(r.reason), Json(r.failed_checks),
             Json(r.payload, dumps=lambda o: json.dumps(o, default=str, ensure_ascii=False)),
             r.payload_ref, r.dedup_key) for r in rejections]
    inserted = execute_values(cur, """
        INSERT INTO ops.quarantine (batch_id, source, source_key, stage, reason, failed_checks, payload,
                                    payload_ref, dedup_key)
        VALUES %s ON CONFLICT (source, dedup_key) DO NOTHING RETURNING quarantine_id""", rows, fetch=True)
    return len(inserted)
