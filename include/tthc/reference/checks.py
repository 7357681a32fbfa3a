"""Invariants of the loaded reference data; a violation fails the task (and alerts)."""

from __future__ import annotations

from tthc.warehouse.db import transaction

CHECKS = {
    # name: SQL returning the offending rows (must return none)
    "old_commune_without_successor": """
        SELECT u.unit_key FROM core.admin_unit u
        WHERE u.era = 'pre2025' AND u.level = 'commune'
          AND NOT EXISTS (SELECT 1 FROM core.unit_crosswalk c WHERE c.old_unit_key = u.unit_key)""",
    "partly_merged_with_single_successor": """
        SELECT old_unit_key FROM core.unit_crosswalk
        WHERE old_unit_key LIKE 'pre2025/commune/%' AND is_partly_merged AND successor_count < 2""",
    "commune_without_people_committee": """
        SELECT u.unit_key FROM core.admin_unit u
        WHERE u.era = 'pre2025' AND u.level IN ('district', 'commune')
          AND NOT EXISTS (SELECT 1 FROM core.agency a
                          WHERE a.unit_key = u.unit_key AND a.kind = 'people_committee')""",
    "plan_level_without_targets": """
        SELECT p.plan_code FROM core.plan p
        WHERE NOT EXISTS (SELECT 1 FROM core.plan_target t WHERE t.plan_code = p.plan_code)""",
}


class ReferenceCheckError(AssertionError):
    pass


def check_reference(url: str | None = None) -> dict[str, int]:
    """Run every check; raise with all violations listed, else return the row counts."""
    problems = {}
    with transaction(url) as cur:
        for name, query in CHECKS.items():
            cur.execute(query)
            rows = [r[0] for r in cur.fetchall()]
            if rows:
                problems[name] = rows[:10]
        if problems:
            raise ReferenceCheckError(f"reference data invariants violated: {problems}")
        counts = {}
        for table in ("admin_unit", "unit_crosswalk", "agency", "procedure", "plan", "plan_target"):
            cur.execute(f"SELECT count(*) FROM core.{table}")
            counts[table] = cur.fetchone()[0]
    return counts
