"""Land one chunk: raw payloads into raw.source_row, candidates into staging.result_candidate, by COPY.

COPY goes into session temp tables, then one INSERT … SELECT … ON CONFLICT DO NOTHING each: the same
row landed twice (a re-run, or two identical rows in one batch) is one landing.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterable

from tthc.load.contract import CANDIDATE_COLUMNS, canonical_payload, holder_key

STAGE_COLUMNS = ("batch_id", "source", "source_pk", "row_hash", "holder_key") + CANDIDATE_COLUMNS
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(text: str) -> str:
    # str.translate is slow on non-ASCII text; most values need no escaping at all.
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group(0)], text) if _SPECIAL.search(text) else text


def copy_text(value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return r"\N"
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return ("[]" if isinstance(value, list) else "{}") if not value else _escape(json.dumps(value, ensure_ascii=False))
    return str(value)


class Stager:
    """Lands chunks of one batch. ``add`` runs in the caller's transaction (commit per chunk)."""

    def __init__(self, source: str, batch_id: int, secret: str):
        self.source, self.batch_id, self.secret = source, batch_id, secret

    @staticmethod
    def _prepare(cur) -> None:
        cur.execute("""CREATE TEMP TABLE IF NOT EXISTS load_raw ON COMMIT DELETE ROWS AS
                       SELECT source, source_pk, row_hash, batch_id, payload FROM raw.source_row WITH NO DATA""")
        cur.execute(f"""CREATE TEMP TABLE IF NOT EXISTS load_candidate ON COMMIT DELETE ROWS AS
                        SELECT {', '.join(STAGE_COLUMNS)} FROM staging.result_candidate WITH NO DATA""")

    def encode(self, items: Iterable[tuple[str, dict, dict]]) -> tuple[str, str, int]:
        """(raw COPY text, staging COPY text, rows) of (source_pk, raw row, candidate) items. Pure
        Python, no connection: worker processes run it (tthc.sources.pipeline)."""
        raw, staged = [], []
        source, batch, secret = copy_text(self.source), str(self.batch_id), self.secret
        for pk, row, cand in items:
            text, row_hash = canonical_payload(row)
            pk_text = copy_text(pk)
            raw.append(f"{source}\t{pk_text}\t{row_hash}\t{batch}\t{copy_text(text)}\n")
            id_value = cand["holder_id_value"]
            key = holder_key(cand["holder_id_type"], id_value, secret) if id_value is not None else None
            staged.append("\t".join([source, pk_text, row_hash, batch, copy_text(key)]
                                     + [copy_text(cand[c]) for c in CANDIDATE_COLUMNS]) + "\n")
        return "".join(raw), "".join(staged), len(raw)

    def copy(self, cur, raw: str, staged: str) -> None:
        """COPY encoded rows into the temp tables, then into raw.source_row and staging (no duplicates)."""
        if not raw:
            return
        self._prepare(cur)
        cur.copy_expert("COPY load_raw (source, source_pk, row_hash, batch_id, payload) FROM STDIN", io.StringIO(raw))
        cur.copy_expert("COPY load_candidate (source, source_pk, row_hash, batch_id, "
                        + ", ".join(c for c in STAGE_COLUMNS if c not in ("source", "source_pk", "row_hash", "batch_id"))
                        + ") FROM STDIN", io.StringIO(staged))
        cur.execute("INSERT INTO raw.source_row (source, source_pk, row_hash, batch_id, payload) "
                    "SELECT * FROM load_raw ON CONFLICT DO NOTHING")
        cur.execute(f"INSERT INTO staging.result_candidate ({', '.join(STAGE_COLUMNS)}) "
                    f"SELECT {', '.join(STAGE_COLUMNS)} FROM load_candidate ON CONFLICT DO NOTHING")
        cur.execute("TRUNCATE load_raw, load_candidate")  # the caller may not commit between chunks

    def add(self, cur, items: Iterable[tuple[str, dict, dict]]) -> int:
        """Land (source_pk, raw row, candidate) items in the caller's transaction. Returns how many."""
        raw, staged, n = self.encode(items)
        self.copy(cur, raw, staged)
        return n
