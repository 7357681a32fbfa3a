"""Great Expectations over a staged batch; failing rows and identity conflicts to ops.quarantine by SQL."""

from __future__ import annotations

import io
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tthc.load.contract import LoadProfile
from tthc.load.stage import copy_text
from tthc.warehouse.db import transaction

log = logging.getLogger("tthc.load")

IDENTITY_CHECK = "identity_conflict(holder_id)"


@dataclass
class ValidationSummary:
    evaluated: int
    failed: int                  # rows GX or cleaning failed
    identity_conflicts: int      # personal IDs held under two names (their rows are quarantined)
    quarantined: int             # new ops.quarantine entries
    suites: dict
    data_docs: str | None


def _suites_dir(profile: LoadProfile) -> Path | None:
    """expectations/*.json plus the profile's extra suite as source__<source>.json, in a temp folder."""
    if profile.extra_suite is None:
        return None
    from tthc.validation import default_suites_dir

    folder = Path(tempfile.mkdtemp(prefix="tthc-suites-"))
    for path in default_suites_dir().glob("*.json"):
        (folder / path.name).symlink_to(path)
    doc = json.loads(profile.extra_suite.read_text(encoding="utf-8"))
    doc["name"] = f"source__{profile.source}"
    (folder / f"{doc['name']}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return folder


def flag_identity_conflicts(cur, batch_id: int) -> int:
    """One personal ID (CCCD/CMND), two holder names: the rows of the batch that hold it are not loaded.

    Names are compared without diacritics and with the fuzzy matcher's tolerance (tthc.sources.fuzzy),
    against the batch's other rows and the names of the results already held for that ID. The
    conflicting rows get failed_checks = identity_conflict(holder_id) and a clean problem naming both
    names and rows; they go to quarantine with the other failures. Returns the conflicting IDs."""
    from tthc.sources.fuzzy import names_agree

    cur.execute("""
        WITH ids AS (
            SELECT holder_key, holder_name_key, source || ':' || source_pk AS row_ref
            FROM staging.result_candidate
            WHERE batch_id = %(b)s AND failed_checks IS NULL AND holder_key IS NOT NULL
              AND holder_id_type IN ('cccd', 'cmnd') AND holder_name_key IS NOT NULL
        ), held AS (
            SELECT DISTINCT h.match_key, r.holder_name_key, coalesce(r.result_code, 'result ' || r.result_id) AS row_ref
            FROM core.holder h JOIN core.result r ON r.holder_id = h.holder_id
            WHERE h.match_key IN (SELECT holder_key FROM ids) AND r.holder_name_key IS NOT NULL
        ), names AS (SELECT * FROM ids UNION ALL SELECT * FROM held)
        SELECT holder_key, array_agg(DISTINCT holder_name_key), array_agg(holder_name_key || ' (' || row_ref || ')')
        FROM names GROUP BY holder_key HAVING count(DISTINCT holder_name_key) > 1""", {"b": batch_id})
    conflicts = []
    for key, names, refs in cur.fetchall():
        if all(names_agree(a, b) for a in names for b in names):
            continue  # spelling variants of one name
        conflicts.append((key, "identity conflict: one personal ID is held under different names: "
                          + "; ".join(sorted(refs)[:10])))
    if conflicts:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS load_conflict (holder_key text, reason text) ON COMMIT DROP")
        buf = io.StringIO("".join(f"{k}\t{copy_text(r)}\n" for k, r in conflicts))
        cur.copy_expert("COPY load_conflict FROM STDIN", buf)
        cur.execute("""UPDATE staging.result_candidate c
                       SET failed_checks = coalesce(c.failed_checks, '[]'::jsonb) || to_jsonb(%(check)s::text),
                           clean_problems = c.clean_problems || to_jsonb(x.reason)
                       FROM load_conflict x
                       WHERE c.batch_id = %(b)s AND c.holder_key = x.holder_key""",
                    {"b": batch_id, "check": IDENTITY_CHECK})
        cur.execute("DROP TABLE load_conflict")
    return len(conflicts)


def staged_failures(url: str, batch_id: int) -> dict[int, list[str]]:
    """candidate_id -> the checks it failed, from staging (for small batches: a review's one row)."""
    with transaction(url) as cur:
        cur.execute("""SELECT candidate_id, failed_checks FROM staging.result_candidate
                       WHERE batch_id = %s AND failed_checks IS NOT NULL ORDER BY candidate_id""", (batch_id,))
        return {int(cid): list(checks) for cid, checks in cur.fetchall()}


def run_checks(url: str, batch_id: int, profile: LoadProfile):
    """GX over every staged row of the batch, failures marked in staging (failed_checks, by SQL),
    identity conflicts flagged. Nothing is quarantined here. Returns GX's ValidationOutcome (its
    `failures` is None: they are in staging)."""
    from tthc.validation import validate_batch

    folder = _suites_dir(profile)
    try:
        outcome = validate_batch(url, batch_id, suites_dir=folder, mark_staging=True)
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
    with transaction(url) as cur:
        outcome.identity_conflicts = flag_identity_conflicts(cur, batch_id)
    return outcome


def validate(url: str, batch_id: int, profile: LoadProfile) -> ValidationSummary:
    """run_checks, then every failing row to ops.quarantine with its payload and reason, by SQL."""
    outcome = run_checks(url, batch_id, profile)
    with transaction(url) as cur:
        cur.execute("SELECT staging.quarantine_failed(%s)", (batch_id,))
        quarantined = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM staging.result_candidate WHERE batch_id = %s AND failed_checks IS NOT NULL",
                    (batch_id,))
        failed = cur.fetchone()[0]
    log.info("%s batch %s: GX validated %d rows, %d failed, %d identity conflict(s)", profile.source, batch_id,
             outcome.evaluated_rows, failed, outcome.identity_conflicts)
    return ValidationSummary(outcome.evaluated_rows, failed, outcome.identity_conflicts, quarantined,
                             outcome.suites, str(outcome.data_docs_index) if outcome.data_docs_index else None)
