"""Unique result codes: format, typo detection, and collision-free allocation under concurrency."""

from __future__ import annotations

import itertools
import string
import threading

import pytest

from tthc.codes import CodeFormat, CodeFormatError, allocate_serials, assign_result_codes, is_valid_code
from tthc.warehouse.db import connect, fetch_all, transaction

ALPHABET = string.digits + string.ascii_uppercase


def test_default_code_embeds_agency_type_and_year():
    code = CodeFormat().render("000.01.22.H20", "KS", 2015, 123)
    assert code.startswith("000.01.22.H20-KS-2015-000123-")
    assert len(code.rsplit("-", 1)[1]) == 1
    assert is_valid_code(code)


def test_every_single_character_typo_is_detected():
    code = CodeFormat().render("000.01.22.H20", "GPXD", 2019, 4711)
    for i, ch in enumerate(code):
        if ch not in ALPHABET:
            continue
        for other in ALPHABET:
            if other != ch:
                typo = code[:i] + other + code[i + 1:]
                assert not is_valid_code(typo), f"{typo} passed as valid"


def test_every_adjacent_transposition_is_detected():
    code = CodeFormat().render("000.00.21.H20", "HKD", 2008, 98765)
    alnum_positions = [i for i, ch in enumerate(code) if ch in ALPHABET]
    for a, b in itertools.pairwise(alnum_positions):
        if code[a] != code[b]:
            swapped = list(code)
            swapped[a], swapped[b] = swapped[b], swapped[a]
            assert not is_valid_code("".join(swapped))


def test_garbage_is_not_a_valid_code():
    for junk in ("", "-", "abc", "000.01.22.H20-KS-2015-000123-?", "000.01.22.H20-KS-2015-000123",
                 "000.01.22.H20-ks-2015-000123-J", "0000.01.22.H20-KS-2015-000123-J"):
        assert not is_valid_code(junk)


@pytest.mark.parametrize("template", ["{agency}-{type}-{serial}-{check}", "{check}-{agency}-{type}-{year}-{serial}",
                                      "{agency}-{type}-{year}-{serial}-{check}-{check}"])
def test_bad_templates_are_refused(template):
    with pytest.raises(CodeFormatError):
        CodeFormat(template)


def test_a_configured_template_is_used(monkeypatch):
    monkeypatch.setenv("TTHC_RESULT_CODE_TEMPLATE", "DT{year}{type}{serial:08d}{agency}{check}")
    code = CodeFormat.from_env().render("000.01.22.H20", "KS", 2015, 7)
    assert code.startswith("DT2015KS00000007000.01.22.H20")
    assert is_valid_code(code)
    assert not is_valid_code(CodeFormat().render("000.01.22.H20", "KS", 2015, 7)), "another format's code"


def test_parallel_allocation_never_collides(warehouse):
    got: list[range] = []
    errors: list[Exception] = []

    def worker():
        conn = connect(warehouse)
        try:
            for _ in range(25):
                with conn, conn.cursor() as cur:
                    got.append(allocate_serials(cur, "000.01.22.H20", "KS", 2015, 3))
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    serials = [s for r in got for s in r]
    assert len(serials) == 6 * 25 * 3
    assert sorted(serials) == list(range(1, len(serials) + 1)), "serials are unique and gap-free"


def _insert_results(url, n):
    with transaction(url) as cur:
        cur.executemany("""
            INSERT INTO core.result (procedure_code, agency_id, issuing_unit_key, doc_book, doc_number, issue_date)
            VALUES ('KS', '000.01.22.H20', 'pre2025/commune/29902', '01', %s, %s)""",
            [(str(i), f"{2010 + i % 3}-05-0{1 + i % 9}") for i in range(n)])


def test_codes_are_assigned_once_and_never_change(warehouse):
    _insert_results(warehouse, 30)
    with transaction(warehouse) as cur:
        assert assign_result_codes(cur) == 30
    codes = fetch_all(warehouse, "SELECT result_id, result_code FROM core.result ORDER BY 1")
    assert all(is_valid_code(c) for _, c in codes)
    assert len({c for _, c in codes}) == 30
    assert {c.split("-")[2] for _, c in codes} == {"2010", "2011", "2012"}
    with transaction(warehouse) as cur:
        assert assign_result_codes(cur) == 0
    assert fetch_all(warehouse, "SELECT result_id, result_code FROM core.result ORDER BY 1") == codes


def test_concurrent_assigners_give_each_result_exactly_one_code(warehouse):
    _insert_results(warehouse, 300)
    counts: list[int] = []

    def worker():
        conn = connect(warehouse)
        try:
            with conn, conn.cursor() as cur:
                counts.append(assign_result_codes(cur))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 300
    rows = fetch_all(warehouse, "SELECT count(*), count(DISTINCT result_code), count(result_code) FROM core.result")
    assert rows == [(300, 300, 300)]
