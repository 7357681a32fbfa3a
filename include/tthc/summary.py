"""A short, human-readable account of what the warehouse holds (printed by the demo)."""

from __future__ import annotations

from tthc.warehouse.db import transaction

QUERIES = [
    ("Administrative units, pre-2025 (province / district / commune)",
     "SELECT string_agg(n::text, ' / ' ORDER BY o) FROM (SELECT count(*) n, min(CASE level WHEN 'province' THEN 1 "
     "WHEN 'district' THEN 2 ELSE 3 END) o FROM core.admin_unit WHERE era = 'pre2025' GROUP BY level) s"),
    ("Administrative units, post-2025 (province / commune)",
     "SELECT string_agg(n::text, ' / ' ORDER BY o) FROM (SELECT count(*) n, min(CASE level WHEN 'province' THEN 1 "
     "ELSE 3 END) o FROM core.admin_unit WHERE era = 'post2025' GROUP BY level) s"),
    ("2025 crosswalk rows (partly merged communes)",
     "SELECT count(*) || ' (' || count(DISTINCT old_unit_key) FILTER (WHERE is_partly_merged "
     "AND old_unit_key LIKE 'pre2025/commune/%%') || ')' FROM core.unit_crosswalk"),
    ("Agencies (placeholder IDs)",
     "SELECT count(*) || ' (' || count(*) FILTER (WHERE is_placeholder_id) || ')' FROM core.agency"),
    ("Procedures in the catalog", "SELECT string_agg(code, ', ' ORDER BY code) FROM core.procedure"),
    ("Plans (targets)", "SELECT string_agg(plan_code || ' (' || n || ')', ', ' ORDER BY plan_code) "
                        "FROM (SELECT plan_code, count(*) n FROM core.plan_target GROUP BY plan_code) s"),
    ("Declared paper inventory rows (results declared)",
     "SELECT count(*) || ' (' || coalesce(sum(declared_paper_count), 0) || ')' FROM core.inventory_declaration"),
    ("Normalized results in core (with a unique code)",
     "SELECT count(*) || ' (' || count(result_code) || ')' FROM core.result"),
    ("Results by type", "SELECT string_agg(procedure_code || ' ' || n, ', ' ORDER BY procedure_code) FROM "
                        "(SELECT procedure_code, count(*) n FROM core.result GROUP BY 1) s"),
    ("Results by copy (scan / born-digital / data only)",
     "SELECT count(*) FILTER (WHERE copy_kind = 'scan') || ' / ' || count(*) FILTER (WHERE copy_kind = 'born_digital') "
     "|| ' / ' || count(*) FILTER (WHERE copy_kind = 'data_only') FROM core.result"),
    ("Scan files (linked / review / quarantined / duplicate)",
     "SELECT count(*) FILTER (WHERE status = 'linked') || ' / ' || count(*) FILTER (WHERE status = 'review') || ' / ' "
     "|| count(*) FILTER (WHERE status = 'quarantined') || ' / ' || count(*) FILTER (WHERE status = 'duplicate') "
     "FROM ops.scan_file"),
    ("Signed e-copies checked (verified / missing / unreadable / unsigned / invalid)",
     "SELECT count(*) FILTER (WHERE status = 'verified') || ' / ' || count(*) FILTER (WHERE status = 'missing') "
     "|| ' / ' || count(*) FILTER (WHERE status = 'unreadable') || ' / ' || count(*) FILTER (WHERE status = 'unsigned') "
     "|| ' / ' || count(*) FILTER (WHERE status = 'invalid') FROM core.result_e_copy"),
    ("Progress snapshots (periods)", "SELECT string_agg(period_kind || ' ' || period_end, ', ' ORDER BY period_kind) "
                                     "FROM (SELECT DISTINCT period_kind, period_end FROM mart.progress_snapshot) s"),
    ("Source rows landed in raw", "SELECT count(*) FROM raw.source_row"),
    ("Quarantined, by source", "SELECT string_agg(source || ' ' || n, ', ' ORDER BY source) FROM "
                               "(SELECT source, count(*) n FROM ops.quarantine WHERE resolved_at IS NULL GROUP BY 1) s"),
    ("Schema migrations applied", "SELECT count(*) FROM ops.schema_migration"),
]


def summary_rows(url: str | None = None) -> list[tuple[str, str]]:
    rows = []
    with transaction(url) as cur:
        for label, sql in QUERIES:
            cur.execute(sql)
            value = cur.fetchone()[0]
            rows.append((label, "—" if value is None else str(value)))
    return rows


def render_summary(url: str | None = None) -> str:
    rows = summary_rows(url)
    width = max(len(label) for label, _ in rows)
    lines = ["Warehouse summary / Tóm tắt kho dữ liệu", "-" * (width + 20)]
    lines += [f"{label.ljust(width)}  {value}" for label, value in rows]
    return "\n".join(lines)
