"""Great Expectations validation of staging batches: row-level failures, stored results, Data Docs, suites."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from psycopg2.extras import execute_values

from tthc.validation import (
    SuiteError,
    ValidationRunError,
    describe_expectation,
    load_suite,
    load_suites,
    validate_batch,
)
from tthc.warehouse.db import fetch_all, transaction

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXPECTATIONS = PROJECT_ROOT / "expectations"

AGENCY = "000.01.22.H20"              # a commune People's Committee in Sa Đéc (seeds/agencies.csv)
UNIT = "pre2025/commune/29902"
TODAY = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date()

COLUMNS = ("batch_id", "source", "source_pk", "row_hash", "document_type", "doc_number", "doc_book",
           "issue_date", "holder_name", "holder_name_key", "holder_kind", "holder_id_type",
           "holder_id_value", "holder_birth_date", "unit_key", "agency_id", "clean_problems")


def _row(batch_id: int, pk: str, **over) -> dict:
    """A candidate that passes every suite (a KS row from civil status) unless overridden."""
    row = {
        "batch_id": batch_id, "source": "civil_status", "source_pk": pk, "row_hash": f"h{pk}",
        "document_type": "KS", "doc_number": f"{pk}/2015", "doc_book": "01",
        "issue_date": dt.date(2015, 4, 3), "holder_name": "Nguyễn Văn An", "holder_name_key": "nguyen van an",
        "holder_kind": "citizen", "holder_id_type": "cccd", "holder_id_value": "087215000123",
        "holder_birth_date": dt.date(2015, 3, 1), "unit_key": UNIT, "agency_id": AGENCY,
        "clean_problems": "[]",
    }
    row.update(over)
    return row


def _hkd(batch_id: int, pk: str, **over) -> dict:
    """A household-business registration that passes every suite unless overridden."""
    fields = {"source": "household_business", "document_type": "HKD", "doc_number": f"{pk}/2018/DKHKD",
              "doc_book": "", "holder_id_type": "mst", "holder_id_value": "8012345678",
              "holder_birth_date": None}
    return _row(batch_id, pk, **(fields | over))


def _insert(url: str, rows: list[dict]) -> dict[str, int]:
    """Insert candidates; returns source_pk -> candidate_id."""
    with transaction(url) as cur:
        out = execute_values(cur, f"""
            INSERT INTO staging.result_candidate ({", ".join(COLUMNS)}) VALUES %s
            RETURNING source_pk, candidate_id""",
            [tuple(r[c] for c in COLUMNS) for r in rows],
            template="(" + ", ".join("%s::jsonb" if c == "clean_problems" else "%s" for c in COLUMNS) + ")",
            fetch=True)
    return dict(out)


def _new_batch(url: str, source: str = "test") -> int:
    with transaction(url) as cur:
        cur.execute("INSERT INTO ops.batch (source) VALUES (%s) RETURNING batch_id", (source,))
        return cur.fetchone()[0]


NOT_NULL = "expect_column_values_to_not_be_null"
IN_SET = "expect_column_values_to_be_in_set"
BETWEEN = "expect_column_values_to_be_between"


@pytest.fixture
def batch(warehouse):
    """One batch with good and bad rows, and another batch with a bad row of its own.

    Returns (url, batch_id, other_batch_id, ids by source_pk, expected failures by source_pk).
    """
    batch_id = _new_batch(warehouse)
    other = _new_batch(warehouse)
    rows = [
        _row(batch_id, "good-ks-1"),
        _row(batch_id, "good-ks-2", holder_id_type=None, holder_id_value=None,
             issue_date=TODAY),                                          # no ID (a newborn); issued today
        _row(batch_id, "good-kh", document_type="KH", holder_birth_date=None),
        _hkd(batch_id, "good-hkd"),
        _row(batch_id, "null-number", doc_number=None),
        _hkd(batch_id, "unknown-type", document_type="ZZ"),
        _row(batch_id, "future", issue_date=TODAY + dt.timedelta(days=30)),
        _row(batch_id, "before-1945", issue_date=dt.date(1900, 1, 1), holder_birth_date=dt.date(1899, 12, 1)),
        _row(batch_id, "clean-problem", clean_problems=json.dumps(["holder_id: bad length"])),
        _row(batch_id, "ks-no-holder", holder_name=None),
        _row(batch_id, "two-problems", doc_number=None, holder_name=None),
        _hkd(batch_id, "hkd-no-id", holder_id_value=None),
        _row(other, "other-batch-bad", doc_number=None, document_type="ZZ"),
    ]
    ids = _insert(warehouse, rows)
    expected = {
        "null-number": [f"common:{NOT_NULL}(doc_number)"],
        "unknown-type": [f"common:{IN_SET}(document_type)"],
        "future": [f"common:{BETWEEN}(issue_date)"],
        "before-1945": [f"common:{BETWEEN}(issue_date)"],
        "clean-problem": [f"common:{IN_SET}(clean_problems)"],
        "ks-no-holder": [f"KS:{NOT_NULL}(holder_name)"],
        "two-problems": [f"KS:{NOT_NULL}(holder_name)", f"common:{NOT_NULL}(doc_number)"],
        "hkd-no-id": [f"HKD:{NOT_NULL}(holder_id_value)"],
    }
    return warehouse, batch_id, other, ids, expected


def test_failures_are_exactly_the_bad_rows_with_the_failed_expectations(batch, tmp_path, caplog):
    url, batch_id, _, ids, expected = batch
    with caplog.at_level(logging.INFO, logger="tthc.validation"):
        outcome = validate_batch(url, batch_id, data_docs_dir=tmp_path / "docs")

    assert outcome.failures == {ids[pk]: labels for pk, labels in expected.items()}
    for pk in ("good-ks-1", "good-ks-2", "good-kh", "good-hkd"):
        assert ids[pk] not in outcome.failures
    assert outcome.evaluated_rows == 12
    # common and the suites of the types and sources present; HKD/KS/common fail, the others pass.
    assert outcome.suites == {"common": False, "HKD": False, "KH": True, "KS": False,
                              "source__civil_status": True}
    summaries = [r.getMessage() for r in caplog.records if r.name == "tthc.validation" and " suite " in r.getMessage()]
    assert len(summaries) == len(outcome.suites)
    assert any(m.startswith(f"batch {batch_id} suite common: FAILED, 12 rows, 6 failing rows") for m in summaries)


def test_rows_of_another_batch_are_not_validated(batch, tmp_path):
    url, batch_id, other, ids, _ = batch
    outcome = validate_batch(url, batch_id, data_docs_dir=tmp_path / "docs")
    assert ids["other-batch-bad"] not in outcome.failures
    assert set(outcome.failures) <= {cid for pk, cid in ids.items() if pk != "other-batch-bad"}

    other_outcome = validate_batch(url, other, data_docs_dir=tmp_path / "docs")
    assert other_outcome.evaluated_rows == 1
    assert other_outcome.failures == {ids["other-batch-bad"]: [
        f"common:{IN_SET}(document_type)", f"common:{NOT_NULL}(doc_number)",
        f"source__civil_status:{IN_SET}(document_type)"]}


def test_results_are_stored_per_suite_and_replaced_on_revalidation(batch, tmp_path):
    url, batch_id, other, ids, _ = batch
    first = validate_batch(url, batch_id, data_docs_dir=tmp_path / "docs")
    stored = fetch_all(url, """SELECT suite, success, evaluated_rows, failed_rows, statistics, result, validated_at
                               FROM ops.validation_result WHERE batch_id = %s ORDER BY suite""", (batch_id,))
    by_suite = {r[0]: r for r in stored}
    assert set(by_suite) == set(first.suites)
    assert {s: r[1] for s, r in by_suite.items()} == first.suites
    assert by_suite["common"][2:4] == (12, 6)
    assert by_suite["KS"][2:4] == (8, 2)       # KS rows: good x2, null-number, future, before-1945,
    assert by_suite["HKD"][2:4] == (2, 1)      # clean-problem, ks-no-holder, two-problems
    assert by_suite["common"][4]["evaluated_expectations"] == len(load_suite(EXPECTATIONS / "common.json").expectations)
    # The stored GX result is JSON with the counts (BASIC); the failing ids are the outcome's.
    result = by_suite["common"][5]
    assert result["suite_name"] == "common" and result["success"] is False
    null_numbers = next(r for r in result["results"]
                        if r["expectation_config"]["type"] == NOT_NULL
                        and r["expectation_config"]["kwargs"]["column"] == "doc_number")
    assert null_numbers["result"]["unexpected_count"] == 2
    assert "unexpected_index_list" not in null_numbers["result"]
    assert sorted(cid for cid, labels in first.failures.items() if f"common:{NOT_NULL}(doc_number)" in labels) == \
        sorted([ids["null-number"], ids["two-problems"]])

    # Fix two rows, then validate again: the batch's rows are replaced, not added to.
    with transaction(url) as cur:
        cur.execute("UPDATE staging.result_candidate SET doc_number = '9/2015' WHERE candidate_id IN %s",
                    ((ids["null-number"], ids["two-problems"]),))
    second = validate_batch(url, batch_id, data_docs_dir=tmp_path / "docs")
    again = fetch_all(url, """SELECT suite, failed_rows, validated_at FROM ops.validation_result
                              WHERE batch_id = %s ORDER BY suite""", (batch_id,))
    assert len(again) == len(stored)
    assert dict((s, f) for s, f, _ in again)["common"] == 4
    assert all(new[2] > by_suite[new[0]][6] for new in again)
    assert ids["null-number"] not in second.failures
    assert second.failures[ids["two-problems"]] == [f"KS:{NOT_NULL}(holder_name)"]
    assert fetch_all(url, "SELECT count(*) FROM ops.validation_result WHERE batch_id = %s", (other,)) == [(0,)]


def test_data_docs_index_lists_the_suites(batch, tmp_path):
    url, batch_id, _, _, _ = batch
    docs = tmp_path / "docs"
    outcome = validate_batch(url, batch_id, data_docs_dir=docs)
    assert outcome.data_docs_index == docs / "index.html"
    index = outcome.data_docs_index.read_text(encoding="utf-8")
    for suite in outcome.suites:
        assert suite in index
        assert (docs / "expectations" / f"{suite}.html").is_file()
        pages = list((docs / "validations" / suite / f"batch_{batch_id}").glob("*/*.html"))
        assert len(pages) == 1, pages
    # Every suite is documented, run or not.
    for path in EXPECTATIONS.glob("*.json"):
        assert (docs / "expectations" / f"{path.stem}.html").is_file()
    page = next((docs / "validations" / "common" / f"batch_{batch_id}").glob("*/*.html")).read_text("utf-8")
    assert "candidate_id" in page and "holder_id: bad length" in page

    # Validating again replaces the batch's pages instead of adding a second run.
    validate_batch(url, batch_id, data_docs_dir=docs)
    assert len(list((docs / "validations" / "common" / f"batch_{batch_id}").glob("*/*.html"))) == 1


def test_every_failing_row_is_returned_not_a_sample(warehouse, tmp_path, capfd):
    # GX cuts SQL unexpected-index lists at partial_unexpected_count (20 by default) and
    # unexpected values at 200: a batch with 450 bad rows must still name all of them.
    batch_id = _new_batch(warehouse)
    ids = _insert(warehouse, [_row(batch_id, f"r{i}", doc_number=None if i % 2 else f"{i}/2015")
                              for i in range(900)])
    outcome = validate_batch(warehouse, batch_id, data_docs_dir=tmp_path / "docs")
    bad = {ids[f"r{i}"] for i in range(900) if i % 2}
    assert set(outcome.failures) == bad and len(bad) == 450
    assert fetch_all(warehouse, "SELECT failed_rows FROM ops.validation_result WHERE batch_id = %s AND suite = 'common'",
                     (batch_id,)) == [(450,)]
    # GX's progress bars are off.
    assert "Calculating Metrics" not in capfd.readouterr().err


def test_every_suite_file_is_a_gx_expectation_suite():
    from great_expectations.core import ExpectationSuite

    files = sorted(EXPECTATIONS.glob("*.json"))
    assert (EXPECTATIONS / "common.json") in files
    codes = {p["code"] for p in yaml.safe_load((PROJECT_ROOT / "seeds" / "procedures.yaml").read_text("utf-8"))["procedures"]}
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        suite = ExpectationSuite(**doc)
        assert suite.name == path.stem
        assert len(suite.expectations) == len(doc["expectations"]) > 0, path
        assert path.stem == "common" or path.stem.startswith("source__") or path.stem in codes, path
    assert set(load_suites()) == {p.stem for p in files}
    assert codes <= set(load_suites()), "every procedure in the catalog has a suite"


def test_bad_suites_are_refused(warehouse, tmp_path):
    folder = tmp_path / "suites"
    folder.mkdir()
    common = folder / "common.json"
    common.write_text(json.dumps({"name": "common", "expectations": [
        {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "doc_number"}}]}))
    with pytest.raises(SuiteError, match="rejected by GX"):
        load_suites(folder)
    common.write_text(json.dumps({"name": "other", "expectations": []}))
    with pytest.raises(SuiteError, match="must equal the file name"):
        load_suites(folder)

    # An expectation on a column that does not exist fails the run loudly, not the rows silently.
    common.write_text(json.dumps({"name": "common", "expectations": [
        {"type": NOT_NULL, "kwargs": {"column": "no_such_column"}}]}))
    batch_id = _new_batch(warehouse)
    _insert(warehouse, [_row(batch_id, "a")])
    with pytest.raises(ValidationRunError, match="no_such_column"):
        validate_batch(warehouse, batch_id, suites_dir=folder, data_docs_dir=tmp_path / "docs")


def test_describe_expectation():
    assert describe_expectation(NOT_NULL, {"column": "doc_number"}) == f"{NOT_NULL}(doc_number)"
    assert describe_expectation("expect_column_pair_values_a_to_be_greater_than_b",
                                {"column_A": "issue_date", "column_B": "holder_birth_date"}) == \
        "expect_column_pair_values_a_to_be_greater_than_b(issue_date,holder_birth_date)"


def test_gx_connection_keeps_secrets_and_sockets_out_of_the_url():
    # GX's PostgresDsn needs a host and reads "$..." as a config variable.
    from tthc.validation import _gx_connection

    url, args = _gx_connection("postgresql://etl:pa$$w%40rd@db.example:5433/warehouse?sslmode=require")
    assert url == "postgresql+psycopg2://etl@db.example:5433/warehouse"
    assert args == {"password": "pa$$w@rd", "sslmode": "require"}
    url, args = _gx_connection("postgresql+psycopg2://postgres@/warehouse?host=/srv/pgdata")
    assert url == "postgresql+psycopg2://postgres@localhost/warehouse"
    assert args == {"host": "/srv/pgdata"}


def test_importing_the_module_does_not_load_great_expectations():
    # DAG files may import tthc.validation: that must stay cheap and touch no data.
    code = "import sys, tthc.validation; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_failing_rows_follow_gx_semantics_for_nulls_bounds_and_pairs(warehouse, tmp_path):
    # The failing rows are selected by SQL from each expectation's configuration; validate_batch
    # refuses a run where that SQL finds another number of rows than GX counted. These rows sit on
    # the edges: NULLs (outside a column's domain, kept or dropped in a pair by ignore_row_if),
    # strict and inclusive bounds, a regex with a backslash and a value set with a quote.
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "common.json").write_text(json.dumps({"name": "common", "expectations": [
        {"type": "expect_column_pair_values_a_to_be_greater_than_b",
         "kwargs": {"column_A": "issue_date", "column_B": "holder_birth_date"}},
        {"type": "expect_column_pair_values_a_to_be_greater_than_b",
         "kwargs": {"column_A": "issue_date", "column_B": "holder_birth_date", "or_equal": True,
                    "ignore_row_if": "either_value_is_missing"}},
        {"type": "expect_column_value_lengths_to_be_between",
         "kwargs": {"column": "doc_book", "min_value": 2, "max_value": 3, "strict_max": True}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "issue_date", "min_value": "2015-01-01", "strict_min": True,
                    "max_value": {"$PARAMETER": "max_issue_date"}}},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "doc_number", "regex": "^[0-9]+\\.x$"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "holder_name", "value_set": ["O'Neil"]}},
    ]}))
    batch_id = _new_batch(warehouse)
    d = dt.date
    ids = _insert(warehouse, [
        _row(batch_id, "ok", issue_date=d(2015, 4, 3), holder_birth_date=d(2015, 3, 1), doc_book="01",
             doc_number="12.x", holder_name="O'Neil"),
        _row(batch_id, "equal-dates", issue_date=d(2015, 4, 3), holder_birth_date=d(2015, 4, 3), doc_book="01",
             doc_number="12.x", holder_name="O'Neil"),
        _row(batch_id, "no-birth", holder_birth_date=None, doc_book="01", doc_number="12.x", holder_name=None),
        _row(batch_id, "min-date", issue_date=d(2015, 1, 1), holder_birth_date=None, doc_book="012",
             doc_number="12y", holder_name="O'Neil"),
    ])
    outcome = validate_batch(warehouse, batch_id, suites_dir=folder, data_docs_dir=tmp_path / "docs")
    pair = "common:expect_column_pair_values_a_to_be_greater_than_b(issue_date,holder_birth_date)"
    assert outcome.failures == {
        ids["equal-dates"]: [pair],
        ids["min-date"]: ["common:expect_column_value_lengths_to_be_between(doc_book)",
                          "common:expect_column_values_to_be_between(issue_date)",
                          "common:expect_column_values_to_match_regex(doc_number)"],
    }


def test_mark_staging_writes_failed_checks_in_the_warehouse(batch, tmp_path):
    url, batch_id, other, ids, expected = batch
    with transaction(url) as cur:  # a mark left by an earlier run is cleared
        cur.execute("UPDATE staging.result_candidate SET failed_checks = '[\"stale\"]' WHERE candidate_id = %s",
                    (ids["good-kh"],))
    outcome = validate_batch(url, batch_id, data_docs_dir=tmp_path / "docs", mark_staging=True)
    assert outcome.failures is None
    marked = dict(fetch_all(url, """SELECT candidate_id, failed_checks FROM staging.result_candidate
                                    WHERE batch_id IN (%s, %s) AND failed_checks IS NOT NULL""", (batch_id, other)))
    assert marked == {ids[pk]: labels for pk, labels in expected.items()}


def test_an_expectation_without_failing_row_sql_is_refused_before_gx_runs(warehouse, tmp_path):
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "common.json").write_text(json.dumps({"name": "common", "expectations": [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "doc_number"}}]}))
    batch_id = _new_batch(warehouse)
    _insert(warehouse, [_row(batch_id, "a")])  # passes: refused all the same
    with pytest.raises(SuiteError, match="suite common: expect_column_values_to_be_unique: .*no SQL"):
        validate_batch(warehouse, batch_id, suites_dir=folder, data_docs_dir=tmp_path / "docs")
