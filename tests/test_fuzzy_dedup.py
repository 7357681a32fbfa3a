"""The same result from two sources with slightly different keys becomes one core row with both lineages."""

from __future__ import annotations

import sqlite3
import textwrap

import pytest

from tthc.sources.config import load_sources
from tthc.sources.fuzzy import names_agree, normalized_number
from tthc.sources.pipeline import run_batch
from tthc.warehouse.db import fetch_all


def test_number_and_name_normalization():
    assert normalized_number("22/2013") == normalized_number(" 22 / 2013 ") == "222013"
    assert names_agree("nguyen van an", "nguyen van an")
    assert names_agree("nguyen thi ngoc anh", "nguyen thi ngoc anh.")
    assert not names_agree("nguyen van an", "tran thi binh")
    assert not names_agree(None, "nguyen van an")


@pytest.fixture
def two_sources(tmp_path, monkeypatch):
    db = tmp_path / "sokhaisinh.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE ks (id INTEGER PRIMARY KEY, so TEXT, quyen TEXT, ngay TEXT, ten TEXT, xa TEXT, sinh TEXT)")
    conn.executemany("INSERT INTO ks VALUES (?, ?, ?, ?, ?, ?, ?)", [
        (1, "22/2013", "01", "2013-01-08", "Nguyễn Văn An", "29902", "2013-01-02"),
        (2, "23/2013", "01", "2013-01-09", "Trần Thị Bình", "29902", "2013-01-03"),
    ])
    conn.commit()
    conn.close()
    csv_path = tmp_path / "export.csv"
    csv_path.write_text(
        "ma,so,ngay,ten,xa,sinh\n"
        "X1,22 / 2013,08/01/2013,NGUYEN VAN AN,29902,02/01/2013\n"   # same result: no book, no diacritics
        "X2,23/2013,09/01/2013,Lê Văn Cường,29902,03/01/2013\n",     # same number and date, another person
        encoding="utf-8")
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "book.yaml").write_text(textwrap.dedent(f"""\
        name: book_register
        engine: sqlalchemy
        connection: {{url: "sqlite:///{db}"}}
        table: ks
        primary_key: id
        mapping:
          document_type: {{constant: KS}}
          doc_number: so
          doc_book: quyen
          issue_date: {{column: ngay, parse: date}}
          holder_name: ten
          holder_birth_date: {{column: sinh, parse: date}}
          unit_code: xa
        agency: {{rule: commune_committee}}
        """), encoding="utf-8")
    (sources / "export.yaml").write_text(textwrap.dedent(f"""\
        name: csv_export
        engine: csv
        connection: {{path: "{csv_path}"}}
        primary_key: ma
        mapping:
          document_type: {{constant: KS}}
          doc_number: so
          issue_date: {{column: ngay, parse: date}}
          holder_name: ten
          holder_birth_date: {{column: sinh, parse: date}}
          unit_code: xa
        agency: {{rule: commune_committee}}
        """), encoding="utf-8")
    monkeypatch.setenv("TTHC_SOURCES_DIR", str(sources))
    return {c.name: c for c in load_sources()}


def test_fuzzy_duplicates_merge_and_keep_all_lineage(warehouse, two_sources):
    empty_warehouse = warehouse
    run_batch(two_sources["book_register"], empty_warehouse)
    report = run_batch(two_sources["csv_export"], empty_warehouse)
    assert fetch_all(empty_warehouse, "SELECT source_key, reason FROM ops.quarantine") == []
    assert (report.results_new, report.results_merged) == (1, 1)
    rows = fetch_all(empty_warehouse, """
        SELECT r.doc_book, r.doc_number, r.holder_name_key,
               array_agg(s.source || ':' || s.source_pk || ':' || s.match_rule ORDER BY s.source)
        FROM core.result r JOIN core.result_source s USING (result_id)
        GROUP BY 1, 2, 3 ORDER BY 2, 3""")
    assert rows == [
        ("01", "22/2013", "nguyen van an", ["book_register:1:natural_key", "csv_export:X1:fuzzy_name"]),
        ("", "23/2013", "le van cuong", ["csv_export:X2:natural_key"]),
        ("01", "23/2013", "tran thi binh", ["book_register:2:natural_key"]),
    ]
    report_rows = fetch_all(empty_warehouse, "SELECT source, source_pk, match_rule, merged_with FROM ops.duplicate_report "
                                             "ORDER BY source")
    assert report_rows == [("book_register", "1", "natural_key", ["csv_export:X1"]),
                           ("csv_export", "X1", "fuzzy_name", ["book_register:1"])]
    # Re-running both changes nothing.
    before = fetch_all(empty_warehouse, "SELECT * FROM core.result_source ORDER BY 1, 2, 3")
    run_batch(two_sources["book_register"], empty_warehouse)
    run_batch(two_sources["csv_export"], empty_warehouse)
    assert fetch_all(empty_warehouse, "SELECT * FROM core.result_source ORDER BY 1, 2, 3") == before
