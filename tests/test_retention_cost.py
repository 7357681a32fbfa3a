"""Retention per result type (seeds/procedures.yaml): what each unit holds and until when, a file
the fixity check misses is a loss, and no document leaves the archive before its period ends.
The cost estimate (dự trù kinh phí) from the versioned rate table and the units' declared pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg2
import pytest

from tthc.warehouse.db import fetch_all, transaction


def _result(cur, unit_key: str, proc: str, number: str, issue: str, valid_until: str | None, copy: str = "scan",
            digitized_at: str | None = "2024-05-01 09:00+07") -> int:
    cur.execute("""SELECT electronic_id FROM core.agency WHERE unit_key = %s ORDER BY kind DESC LIMIT 1""", (unit_key,))
    agency = cur.fetchone()[0]
    cur.execute("""INSERT INTO core.result (procedure_code, agency_id, issuing_unit_key, doc_number, issue_date,
                       valid_until, recorded_at, copy_kind, digitized_at)
                   VALUES (%s, %s, %s, %s, %s, %s, timestamptz '2015-01-01 08:00+07', %s, %s) RETURNING result_id""",
                (proc, agency, unit_key, number, issue, valid_until, copy, digitized_at))
    return cur.fetchone()[0]


def _document(cur, result_id: int, name: str) -> int:
    cur.execute("""INSERT INTO core.document (sha256, archive_uri, media_type, result_id, quality_ok, linked_at)
                   VALUES (%s, %s, 'application/pdf', %s, true, now()) RETURNING document_id""",
                (name.ljust(64, "0"), f"file:///archive/{name}", result_id))
    return cur.fetchone()[0]


def test_retention_per_result_type_losses_and_the_delete_guard(warehouse):
    assert dict(fetch_all(warehouse, "SELECT code, retention_years FROM core.procedure WHERE code IN ('KS', 'BLR')")) \
        == {"KS": None, "BLR": 10}
    with transaction(warehouse) as cur:
        birth = _document(cur, _result(cur, "pre2025/commune/29905", "KS", "K1", "2010-01-01", None), "birth")
        lost = _document(cur, _result(cur, "pre2025/commune/29905", "KS", "K2", "2011-01-01", None), "lost")
        # an alcohol licence that expired in 2012: kept 10 years, to 2022; one expiring in 2030: to 2040
        old = _document(cur, _result(cur, "pre2025/district/867", "BLR", "B1", "2007-01-01", "2012-01-01"), "old")
        _document(cur, _result(cur, "pre2025/district/867", "BLR", "B2", "2025-01-01", "2030-01-01"), "new")
        cur.execute("""INSERT INTO ops.fixity_check (document_id, ok, detail) VALUES
                       (%s, true, 'ok'), (%s, true, 'ok'),
                       (%s, false, 'loss: archive file missing or unreadable: [Errno 2] No such file')""",
                    (birth, lost, lost))
    rows = {(u, p): r for u, p, *r in fetch_all(warehouse, """
        SELECT unit_key, procedure_code, retention_vi, documents, kept_permanently, earliest_until, latest_until,
               period_ended, lost, damaged, never_checked, parent_name FROM mart.retention""")}
    assert rows[("pre2025/commune/29905", "KS")] == ["Vĩnh viễn", 2, 2, None, None, 0, 1, 0, 0, "Thành phố Sa Đéc"]
    assert rows[("pre2025/district/867", "BLR")] == ["10 năm kể từ khi hết hiệu lực", 2, 0, dt.date(2022, 1, 1),
                                                     dt.date(2040, 1, 1), 1, 0, 0, 2, None]
    with pytest.raises(psycopg2.errors.RaiseException, match="under retention permanently"):
        with transaction(warehouse) as cur:
            cur.execute("DELETE FROM core.document WHERE document_id = %s", (birth,))
    with transaction(warehouse) as cur:  # its period has ended: the archive may let it go
        cur.execute("DELETE FROM core.document WHERE document_id = %s", (old,))
    with pytest.raises(psycopg2.errors.RaiseException, match="under retention until 2040-01-01"):
        with transaction(warehouse) as cur:
            cur.execute("DELETE FROM core.document WHERE sha256 LIKE 'new%'")


def test_cost_estimate_uses_the_rate_version_in_force_and_declared_pages(warehouse):
    assert fetch_all(warehouse, "SELECT version, per_page_vnd, per_record_vnd, pages_per_record FROM core.cost_rate "
                                "WHERE procedure_code = '*'") == [("2024-01", 1500, 3000, 2)]
    today = dt.date.today()
    with transaction(warehouse) as cur:
        # Sa Đéc ward 29905: 10 birth records, 4 of them scanned in the last 90 days; 6 left
        for k in range(10):
            _result(cur, "pre2025/commune/29905", "KS", f"C{k}", "2012-01-01", None,
                    copy="scan" if k < 4 else "data_only",
                    digitized_at=(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)).isoformat()
                    if k < 4 else None)
        cur.execute("""SELECT electronic_id FROM core.agency WHERE unit_key = 'pre2025/commune/29908'
                       ORDER BY kind DESC LIMIT 1""")
        agency = cur.fetchone()[0]
        # ward 29908 declared 20 paper results of 2010 with 100 pages: 5 pages each, nothing digitized
        cur.execute("""INSERT INTO core.inventory_declaration (agency_id, unit_key, procedure_code, issue_year,
                           declared_paper_count, declared_page_count, declared_on, source_file)
                       VALUES (%s, 'pre2025/commune/29908', 'KS', 2010, 20, 100, '2023-01-01', 'test.csv')""", (agency,))
    got = {u: r for u, *r in fetch_all(warehouse, """
        SELECT unit_code, remaining_records, remaining_pages, pages_declared, estimated_cost_vnd, rate_version,
               pace_per_month, target_reached_on FROM mart.cost_estimate WHERE plan_code = 'SD-2024'""")}
    # 6 left × (3000 + 2 pages × 1500) = 36 000 đ; 4 done in 90 days: 4/90 a day, 6 more to 100%
    assert got["29905"] == [6, 12, False, 36000, "2024-01", Decimal("1.3"), today + dt.timedelta(days=135)]
    # 20 × (3000 + 5 × 1500) = 210 000 đ; no pace: no date
    assert got["29908"] == [20, 100, True, 210000, "2024-01", 0, None]
