"""Declared paper inventory: valid rows land, bad rows are quarantined with a reason, re-runs change nothing."""

from __future__ import annotations

import pytest

from tthc.inventory import load_inventory
from tthc.warehouse.db import fetch_all

HEADER = "electronic_id,unit_era,unit_code,procedure_code,issue_year,declared_paper_count,declared_on\n"
ROWS = [
    "000.01.22.H20,pre2025,29902,KS,2015,120,2024-03-01",        # good (Sa Đéc commune)
    "000.01.22.H20,pre2025,29902,KS,2015,130,2024-06-01",        # later declaration replaces the first
    "000.00.22.H20,pre2025,867,GPXD,2019,45,15/05/2024",         # good, dd/mm/yyyy
    "000.99.99.H20,pre2025,29902,KS,2015,5,2024-03-01",          # unknown agency
    "000.01.22.H20,pre2025,29902,XYZ,2015,5,2024-03-01",         # unknown procedure
    "000.01.22.H20,pre2025,29902,KH,20x5,5,2024-03-01",          # bad year
    "000.01.22.H20,pre2025,29902,KH,2016,-3,2024-03-01",         # negative count
    "000.01.22.H20,pre2025,29905,KH,2016,7,2024-03-01",          # unit does not match the agency
    "000.01.22.H20,pre2025,29902,KT,2017,9,",                    # missing date
]


@pytest.fixture
def declaration(tmp_path):
    path = tmp_path / "inventory_declared.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    return path


def test_valid_rows_land_and_bad_rows_are_quarantined(warehouse, declaration):
    report = load_inventory(declaration, warehouse)
    assert report == {"file": str(declaration), "rows_in": 9, "loaded": 2, "quarantined": 6}
    landed = fetch_all(warehouse, """SELECT agency_id, unit_key, procedure_code, issue_year, declared_paper_count,
                                            declared_on::text FROM core.inventory_declaration ORDER BY 1""")
    assert landed == [
        ("000.00.22.H20", "pre2025/district/867", "GPXD", 2019, 45, "2024-05-15"),
        ("000.01.22.H20", "pre2025/commune/29902", "KS", 2015, 130, "2024-06-01"),
    ]
    reasons = dict(fetch_all(warehouse, "SELECT source_key, reason FROM ops.quarantine"))
    assert "unknown agency_id '000.99.99.H20'" in reasons["line 5"]
    assert "unknown procedure_code 'XYZ'" in reasons["line 6"]
    assert "issue_year '20x5'" in reasons["line 7"]
    assert "negative" in reasons["line 8"]
    assert "does not match agency" in reasons["line 9"]
    assert "declared_on" in reasons["line 10"]
    payload = fetch_all(warehouse, "SELECT payload FROM ops.quarantine WHERE source_key = 'line 7'")[0][0]
    assert payload["issue_year"] == "20x5", "the original row is kept verbatim"
    batch = fetch_all(warehouse, "SELECT rows_in, rows_out, rows_quarantined, status FROM ops.batch")
    assert batch == [(9, 2, 6, "succeeded")]


def test_rerun_changes_nothing(warehouse, declaration):
    load_inventory(declaration, warehouse)
    state = [fetch_all(warehouse, q) for q in (
        "SELECT * FROM core.inventory_declaration ORDER BY 1, 2, 3, 4",
        "SELECT quarantine_id, source, source_key, reason, payload FROM ops.quarantine ORDER BY 1",
        "SELECT batch_id, source, rows_in, rows_out, rows_quarantined FROM ops.batch ORDER BY 1")]
    load_inventory(declaration, warehouse)
    assert [fetch_all(warehouse, q) for q in (
        "SELECT * FROM core.inventory_declaration ORDER BY 1, 2, 3, 4",
        "SELECT quarantine_id, source, source_key, reason, payload FROM ops.quarantine ORDER BY 1",
        "SELECT batch_id, source, rows_in, rows_out, rows_quarantined FROM ops.batch ORDER BY 1")] == state


def test_an_older_file_does_not_overwrite_a_newer_declaration(warehouse, tmp_path):
    newer = tmp_path / "inventory_newer.csv"
    newer.write_text(HEADER + "000.01.22.H20,pre2025,29902,KS,2015,130,2024-06-01\n", encoding="utf-8")
    older = tmp_path / "inventory_older.csv"
    older.write_text(HEADER + "000.01.22.H20,pre2025,29902,KS,2015,99,2023-01-01\n", encoding="utf-8")
    load_inventory(newer, warehouse)
    load_inventory(older, warehouse)
    assert fetch_all(warehouse, "SELECT declared_paper_count FROM core.inventory_declaration") == [(130,)]


def test_a_file_without_required_columns_is_refused_by_name(warehouse, tmp_path):
    bad = tmp_path / "inventory_bad.csv"
    bad.write_text("agency,count\nx,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"inventory_bad.csv: missing column\(s\)"):
        load_inventory(bad, warehouse)


def test_page_counts_are_optional_and_checked(warehouse, tmp_path):
    """Declarations may carry page counts (the cost estimate uses them); a bad count is quarantined."""
    path = tmp_path / "inventory_pages.csv"
    path.write_text("electronic_id,procedure_code,issue_year,declared_paper_count,declared_page_count,declared_on\n"
                    "000.01.22.H20,KS,2015,120,260,2024-03-01\n"
                    "000.01.22.H20,KH,2016,10,,2024-03-01\n"
                    "000.01.22.H20,KT,2017,10,ba,2024-03-01\n", encoding="utf-8")
    assert load_inventory(path, warehouse)["quarantined"] == 1
    assert fetch_all(warehouse, """SELECT procedure_code, declared_paper_count, declared_page_count
                                   FROM core.inventory_declaration ORDER BY 1""") == [("KH", 10, None), ("KS", 120, 260)]
    reason = fetch_all(warehouse, "SELECT reason FROM ops.quarantine")[0][0]
    assert "declared_page_count 'ba' is not a whole number" in reason
