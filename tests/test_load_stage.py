"""The load stage (tthc.load): identity conflicts, report names, chunked and parallel loading equal one
pass, a run killed with kill -9 re-runs to the same state, the copy-kind rule, and `tthc source run`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tthc.sources.config import load_sources
from tthc.sources.pipeline import run_batch
from tthc.warehouse.db import fetch_all

HEADER = "ma,so,ngay,ten,cmnd,gioi,xa,sua\n"


def _write_source(tmp_path, monkeypatch, name: str, rows: list[str], chunk_size: int = 50_000,
                  extra: str = "") -> object:
    csv_path = tmp_path / f"{name}.csv"
    csv_path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    sources = tmp_path / "sources"
    sources.mkdir(exist_ok=True)
    (sources / f"{name}.yaml").write_text(textwrap.dedent(f"""\
        name: {name}
        engine: csv
        connection: {{path: "{csv_path}"}}
        primary_key: ma
        mapping:
          document_type: {{constant: BLR}}
          doc_number: so
          issue_date: {{column: ngay, parse: date}}
          holder_name: ten
          holder_id: cmnd
          holder_gender: gioi
          unit_code: xa
        agency: {{rule: district_committee}}
        quarantine_threshold: 1.0
        chunk_size: {chunk_size}
        """) + extra, encoding="utf-8")
    monkeypatch.setenv("TTHC_SOURCES_DIR", str(sources))
    return next(c for c in load_sources() if c.name == name)


def test_one_personal_id_two_names_is_an_identity_conflict(warehouse, tmp_path, monkeypatch):
    cfg = _write_source(tmp_path, monkeypatch, "licences", [
        "K1,1/2019,2019-03-01,Nguyễn Văn An,341234567,,29902,",
        "K2,2/2019,2019-03-02,Trần Thị Bình,341234567,,29905,",     # same CMND, another name
        "K3,3/2019,2019-03-03,Lê Văn Cường,341234568,,29908,",
        "K4,4/2019,2019-03-04,LE VAN CUONG,341234568,,29908,",      # same person, written without diacritics
    ])
    report = run_batch(cfg, warehouse)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined, report.identity_conflicts) == (4, 2, 2, 2)
    rows = fetch_all(warehouse, "SELECT source_key, reason, failed_checks FROM ops.quarantine ORDER BY source_key")
    assert [r[0] for r in rows] == ["K1", "K2"]
    for _, reason, checks in rows:
        assert "identity conflict" in reason and "nguyen van an" in reason and "tran thi binh" in reason
        assert "identity_conflict(holder_id)" in checks
    assert fetch_all(warehouse, "SELECT doc_number FROM core.result ORDER BY 1") == [("3/2019",), ("4/2019",)]
    assert fetch_all(warehouse, "SELECT detail->>'identity_conflicts' FROM ops.batch") == [("2",)]

    # Against what core already holds: a later source with the loaded ID under a third name.
    other = _write_source(tmp_path, monkeypatch, "licences_b", ["Z1,9/2019,2019-04-01,Phạm Văn Dũng,341234568,,29911,"])
    report = run_batch(other, warehouse)
    assert (report.rows_loaded, report.identity_conflicts) == (0, 1)
    (reason,), = fetch_all(warehouse, "SELECT reason FROM ops.quarantine WHERE source_key = 'Z1'")
    assert "pham van dung" in reason and "le van cuong" in reason


def test_report_names_new_merged_and_already_known(warehouse, tmp_path, monkeypatch):
    cfg = _write_source(tmp_path, monkeypatch, "licences", [
        "K1,1/2019,2019-03-01,Nguyễn Văn An,341234567,,29902,",
        "K2,1/2019,2019-03-01,Nguyễn Văn An,341234567,,29902,",     # the same result under another key
        "K3,3/2019,2019-03-03,Lê Văn Cường,341234568,,29908,",
    ])
    first = run_batch(cfg, warehouse)
    assert (first.rows_loaded, first.results_new, first.results_merged, first.rows_already_known) == (3, 2, 1, 0)
    again = run_batch(cfg, warehouse)
    assert (again.rows_loaded, again.results_new, again.results_merged, again.rows_already_known) == (3, 0, 0, 3)
    batch = fetch_all(warehouse, """SELECT rows_out, detail->>'results_new', detail->>'results_merged',
                                           detail->>'rows_already_known' FROM ops.batch""")
    assert batch == [(3, "0", "0", "3")]   # one batch per interval: the re-run's numbers, same names


def test_a_row_of_a_result_that_has_its_holder_adds_no_holder(warehouse, tmp_path, monkeypatch):
    # A second reading of a known result (a scan's OCR, another register) with one digit of the ID
    # wrong: the result keeps its holder, and no holder or identity is made for the misread ID.
    first = _write_source(tmp_path, monkeypatch, "licences", ["K1,1/2019,2019-03-01,Nguyễn Văn An,341234567,,29902,"])
    run_batch(first, warehouse)
    holders = fetch_all(warehouse, "SELECT holder_id, display_name FROM core.holder")
    assert len(holders) == 1
    second = _write_source(tmp_path, monkeypatch, "licences_copy", [
        "C1,1/2019,2019-03-01,Nguyễn Văn An,341234561,,29902,",     # the same result, misread ID
        "C2,5/2019,2019-03-05,Phạm Thị Dung,341234999,,29902,",     # a new result: a new holder
    ])
    report = run_batch(second, warehouse)
    assert (report.rows_loaded, report.results_new) == (2, 1)
    assert fetch_all(warehouse, "SELECT count(*) FROM core.holder")[0][0] == 2
    assert fetch_all(warehouse, "SELECT count(*) FROM core.holder_identity")[0][0] == 2
    assert fetch_all(warehouse, "SELECT count(*) FROM core.holder_identity WHERE id_value LIKE '%1'")[0][0] == 0
    assert fetch_all(warehouse, "SELECT holder_id FROM core.result WHERE doc_number = '1/2019'") == [(holders[0][0],)]
    assert fetch_all(warehouse, "SELECT count(*) FROM core.result_source")[0][0] == 3   # lineage of every row


def test_an_undocumented_gender_value_is_loaded_with_a_warning(warehouse, tmp_path, monkeypatch):
    cfg = _write_source(tmp_path, monkeypatch, "licences", [
        "K1,1/2019,2019-03-01,Nguyễn Thị An,087185001234,1,29902,",   # female digit, coded gender '1'
        "K2,2/2019,2019-03-02,Trần Văn Bình,087085001235,0,29905,",
        "K3,3/2019,2019-03-03,Lê Thị Cúc,087185001236,Nam,29908,",    # documented value, wrong digit
    ])
    report = run_batch(cfg, warehouse)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    (reason,), = fetch_all(warehouse, "SELECT reason FROM ops.quarantine")
    assert "gender digit does not match gender 'Nam'" in reason
    (warnings,), = fetch_all(warehouse, "SELECT detail->'clean_warnings' FROM ops.batch")
    assert sorted(warnings.values()) == [1, 1] and all("not checked" in w for w in warnings)


STATE = {
    "results": """SELECT result_code, procedure_code, agency_id, doc_book, doc_number, issue_date, holder_name_key,
                         copy_kind FROM core.result ORDER BY result_code""",
    "lineage": """SELECT r.result_code, s.source, s.source_pk, s.row_hash, s.match_rule FROM core.result_source s
                  JOIN core.result r USING (result_id) ORDER BY 1, 2, 3""",
    "quarantine": "SELECT source, source_key, reason FROM ops.quarantine ORDER BY 1, 2, 3",
    "raw": "SELECT source, source_pk, row_hash FROM raw.source_row ORDER BY 1, 2, 3",
    "holders": "SELECT match_key, kind, display_name FROM core.holder ORDER BY 1",
    "batch": "SELECT source, status, rows_in, rows_out, rows_quarantined FROM ops.batch ORDER BY 1",
}


def _state(url):
    return {k: fetch_all(url, q) for k, q in STATE.items()}


def _many_rows(n: int) -> list[str]:
    units = ["29902", "29905", "29908", "29911", "29914"]
    rows = []
    for i in range(n):
        day = 1 + i % 28
        name = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung"][i % 4] + f" {chr(65 + i % 26)}"
        bad = "31/02/2019" if i % 17 == 0 else f"2019-{1 + i % 12:02d}-{day:02d}"
        rows.append(f"R{i:05d},{i}/2019,{bad},{name},{300000000 + i},,{units[i % 5]},")
        if i % 23 == 0:  # a duplicate of the result under another key
            rows.append(f"D{i:05d},{i}/2019,{bad},{name},{300000000 + i},,{units[i % 5]},")
    return rows


def test_chunks_and_worker_processes_give_the_state_of_one_pass(make_database, tmp_path, monkeypatch):

    states = []
    for chunk_size, workers in ((50_000, "0"), (40, "0"), (40, "2")):
        url = make_database("chunks", migrated=True)
        monkeypatch.setenv("TTHC_CLEAN_WORKERS", workers)
        cfg = _write_source(tmp_path, monkeypatch, "many", _many_rows(400), chunk_size=chunk_size)
        report = run_batch(cfg, url)
        assert report.rows_in == 418 and report.rows_loaded + report.rows_quarantined == 418
        states.append(_state(url))
    assert states[0]["results"] and states[0]["quarantine"]
    assert states[1] == states[0]
    assert states[2] == states[0]


KILL_RUN = """
import os, sys
from tthc.sources.config import load_sources
from tthc.sources.pipeline import run_batch
cfg = next(c for c in load_sources() if c.name == "many")
run_batch(cfg, os.environ["TTHC_TEST_URL"])
"""


@pytest.mark.parametrize("phase", ["staging", "validating", "normalizing"])
def test_kill_9_mid_run_then_rerun_gives_the_state_of_one_run(make_database, tmp_path, monkeypatch, phase):

    monkeypatch.setenv("TTHC_CLEAN_WORKERS", "0")
    cfg = _write_source(tmp_path, monkeypatch, "many", _many_rows(3000), chunk_size=100)
    urls = []
    for _ in range(2):
        url = make_database("kill", migrated=True)
        urls.append(url)
    run_batch(cfg, urls[0])
    expected = _state(urls[0])

    proc = subprocess.Popen([sys.executable, "-c", KILL_RUN], env=dict(os.environ, TTHC_TEST_URL=urls[1]))
    query = {"staging": "SELECT count(*) FROM staging.result_candidate",
             "validating": "SELECT count(*) FROM ops.batch WHERE rows_in > 0",  # staged: GX runs next
             "normalizing": "SELECT count(*) FROM core.result"}[phase]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if fetch_all(urls[1], query)[0][0] > 0:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed: make the source larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert fetch_all(urls[1], "SELECT status FROM ops.batch") == [("running",)]
    run_batch(cfg, urls[1])
    assert _state(urls[1]) == expected
    assert _checksums(urls[1]) == _checksums(urls[0])


def _checksums(url) -> dict:
    """md5 of each core table's content (ids aside: a killed run may leave gaps in the sequences)."""
    tables = {
        "core.result": "SELECT result_code, procedure_code, agency_id, doc_book, doc_number, issue_date, "
                       "valid_until, revoked_on, copy_kind, holder_name_key FROM core.result",
        "core.holder": "SELECT match_key, kind, display_name FROM core.holder",
        "core.result_source": "SELECT r.result_code, s.source, s.source_pk, s.row_hash FROM core.result_source s "
                              "JOIN core.result r USING (result_id)",
        "ops.quarantine": "SELECT source, source_key, reason, payload, dedup_key FROM ops.quarantine",
    }
    return {name: fetch_all(url, f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                                 f"FROM ({sql}) t")[0][0] for name, sql in tables.items()}


def test_one_copy_kind_precedence_rule(reference_warehouse):
    pairs = fetch_all(reference_warehouse, """
        SELECT a, b, core.stronger_copy_kind(a, b)
        FROM unnest(ARRAY['data_only', 'born_digital', 'scan', NULL]) a,
             unnest(ARRAY['data_only', 'born_digital', 'scan', NULL]) b ORDER BY 1, 2""")
    rank = {"scan": 3, "born_digital": 2, "data_only": 1, None: 0}
    for a, b, stronger in pairs:
        assert stronger == max(a, b, key=lambda k: rank[k])


def test_source_run_command(warehouse, tmp_path, monkeypatch, capsys):
    from tthc.commands import main

    _write_source(tmp_path, monkeypatch, "licences", ["K1,1/2019,2019-03-01,Nguyễn Văn An,341234567,,29902,2019-03-01"],
                  extra="incremental_column: sua\nincremental_format: '%Y-%m-%d'\n")
    assert main(["source", "run", "licences", "--warehouse-url", warehouse, "--end", "2024-01-01"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (report["source"], report["rows_in"], report["rows_loaded"], report["results_new"]) == ("licences", 1, 1, 1)
    assert fetch_all(warehouse, "SELECT dag_id, (interval_end AT TIME ZONE 'Asia/Ho_Chi_Minh')::date::text FROM ops.batch") == [("cli", "2024-01-01")]

    for argv, message in [
        (["source", "run", "nope"], "no source named 'nope'"),
        (["source", "run", "licences", "--start", "2020-13-01", "--end", "2021-01-01"], "--start '2020-13-01' is not a date"),
        (["source", "run", "licences", "--start", "2021-01-01"], "--start needs --end"),
        (["source", "run", "licences", "--warehouse-url", "postgresql://postgres@127.0.0.1:1/x"],
         "cannot reach the warehouse"),
    ]:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.parametrize("module", ["tthc.sources.clean", "tthc.sources.exclusions", "tthc.load", "tthc.load.normalize",
                                    "tthc.load.validate", "tthc.scans.candidates", "tthc.scans.intake",
                                    "tthc.sources.pipeline"])
def test_each_module_imports_on_its_own(module):
    # No import circle: each module imports first in a fresh interpreter.
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
