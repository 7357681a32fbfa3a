"""One bad file, row or value never blocks a legacy source: it is quarantined naming the file, the row
and the column; only a source unreadable as a whole fails, in one line, and its batch is marked failed.
SQL identifiers from the YAML are quoted; a free query runs read-only (PostgreSQL, MariaDB, SQLite);
two runs of one interval at once keep one batch row. The reliability probe (tools/probe_sources.py)
reports zero rows lost, zero duplicated and zero crashes."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import multiprocessing
import sqlite3
import sys
import uuid
from pathlib import Path

import pytest

from tthc.sources.config import load_sources
from tthc.sources.extract import EXTRACT_AT, EXTRACT_PROBLEMS, SourceUnreadable, extract
from tthc.sources.pipeline import run_batch, stage_batch
from tthc.warehouse.db import fetch_all

ROOT = Path(__file__).resolve().parents[1]
HEADER = "ma,so,ngay,ten,cmnd,gioi,xa,sua\n"
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306"


def _probe_module():
    spec = importlib.util.spec_from_file_location("probe_sources", ROOT / "tools" / "probe_sources.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


PROBE = _probe_module()
MAPPING = PROBE.MAPPING   # the licence register's mapping: one copy, the probe tool's


def _source(tmp_path, monkeypatch, head: str, extra: str = ""):
    sources = tmp_path / f"sources_{uuid.uuid4().hex[:6]}"
    sources.mkdir()
    (sources / "s.yaml").write_text("name: isolation_test\n" + head + MAPPING + extra, encoding="utf-8")
    monkeypatch.setenv("TTHC_SOURCES_DIR", str(sources))
    return load_sources(sources)[0]


def _csv_source(tmp_path, monkeypatch, data: bytes, extra: str = ""):
    path = tmp_path / "so_dang_ky.csv"
    path.write_bytes(data)
    return _source(tmp_path, monkeypatch, f"engine: csv\nconnection: {{path: {json.dumps(str(path))}}}\nprimary_key: ma\n",
                   extra)


def _rows(cfg) -> list[dict]:
    return [row for chunk in extract(cfg) for row in chunk]


GOOD = "G1,1/2019,2019-03-01,Nguyễn Văn An,310000001,,29902,\n".encode()


def test_each_bad_value_spoils_only_its_row_naming_file_line_and_column(tmp_path, monkeypatch):
    data = (HEADER.encode() + GOOD
            + b"B1,2/2019,2019-03-02," + b"A" * 1_048_576 + b",310000002,,29902,\n"
            + "B2,3/2019,2019-03-03,Lê\x00Văn,310000003,,29902,\n".encode()
            + b"B3,4/2019,2019-03-04,L\xff\xfeVan,310000004,,29902,\n"
            + b"B4,5/2019,2019-03-05,Ph\xe1m,310000005,,29902,,extra\n"
            + GOOD.replace(b"G1", b"G2"))
    cfg = _csv_source(tmp_path, monkeypatch, data)
    rows = _rows(cfg)
    assert [r.get("ma") for r in rows] == ["G1", "B1", "B2", "B3", "B4", "G2"], "count in = count out"
    clean = [r for r in rows if EXTRACT_PROBLEMS not in r]
    assert [r["ma"] for r in clean] == ["G1", "G2"]
    by_key = {r["ma"]: " | ".join(r[EXTRACT_PROBLEMS]) for r in rows if EXTRACT_PROBLEMS in r}
    assert "so_dang_ky.csv line 3, column 'ten': value of 1048576 characters is longer than the limit of 65536" \
        in by_key["B1"]
    assert "so_dang_ky.csv line 4, column 'ten': NUL byte at position 2" in by_key["B2"]
    assert "so_dang_ky.csv line 5: byte 0xff at byte offset" in by_key["B3"]
    assert "not valid utf-8" in by_key["B3"]
    assert "so_dang_ky.csv line 6: 9 fields where the header has 8" in by_key["B4"]
    stored = {r["ma"]: r for r in rows}
    assert stored["B2"]["ten"] == "Lê\\x00Văn", "NUL kept, escaped (jsonb and text refuse U+0000)"
    assert stored["B3"]["ten"] == "L\\xff\\xfeVan", "undecodable bytes kept escaped"
    assert len(stored["B1"]["ten"]) == 65536
    assert stored["B1"][EXTRACT_AT] == "so_dang_ky.csv line 3"
    # the byte offset is the file's: header + first row + rows 3 and 4 before the bad byte
    offset = len(HEADER.encode() + GOOD) + len(data.split(b"\n")[2]) + 1 + len(data.split(b"\n")[3]) + 1 + len("B3,4/2019,2019-03-04,L")
    assert f"byte offset {offset} " in by_key["B3"]


def test_a_record_beyond_the_csv_reader_limit_is_one_quarantined_record(tmp_path, monkeypatch):
    monkeypatch.setenv("TTHC_MAX_FIELD_CHARS", "1000")  # the reader's own limit: 64 x 1000 characters
    data = HEADER.encode() + GOOD + b"B1,2/2019,2019-03-02," + b"A" * 100_000 + b",1,,29902,\n" + GOOD.replace(b"G1", b"G2")
    rows = _rows(_csv_source(tmp_path, monkeypatch, data))
    assert [r.get("ma") for r in rows] == ["G1", None, "G2"]
    assert rows[1][EXTRACT_AT] == "so_dang_ky.csv line 3" and len(rows[1]["_record"]) == 1000
    assert rows[1][EXTRACT_PROBLEMS][0].startswith("so_dang_ky.csv line 3: the record cannot be read as CSV")


@pytest.mark.parametrize("data, expected", [
    (b"ma,so,ngay,ten,gioi,xa,sua\nG1,1,2019-01-01,An,,29902,\n",
     "column 'cmnd' is not in file {path}; columns found: 'ma', 'so', 'ngay', 'ten', 'gioi', 'xa', 'sua'"),
    (b"ma;so;ngay;ten;cmnd;gioi;xa;sua\nG1;1;2019-01-01;An;1;;29902;\n",
     "has a single column 'ma;so;ngay;ten;cmnd;gioi;xa;sua' where 7 are mapped: the delimiter is not ','; "
     "it seems to use ';'"),
    (b"", "file {path} is empty: no header line"),
    (b"m\xffa,so\n", "the header of {path} is not valid utf-8"),
])
def test_a_source_unreadable_as_a_whole_fails_in_one_line(tmp_path, monkeypatch, data, expected):
    cfg = _csv_source(tmp_path, monkeypatch, data)
    with pytest.raises(SourceUnreadable) as err:
        _rows(cfg)
    message = str(err.value)
    assert expected.format(path=tmp_path / "so_dang_ky.csv") in message
    assert message.startswith("source isolation_test: ") and "\n" not in message


def _workbook(path: Path, rows: list[list], merge: str | None = None) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.strip().split(","))
    for row in rows:
        ws.append(row)
    if merge:
        ws.merge_cells(merge)
    wb.save(path)


def test_xlsx_merged_cells_and_formulas_without_cached_values_are_named(tmp_path, monkeypatch):
    path = tmp_path / "so.xlsx"
    good = ["G1", "1/2019", "2019-03-01", "Nguyễn Văn An", "310000001", None, "29902", None]
    _workbook(path, [good, ["M1", "2/2019", "2019-03-02", "Lê Văn", "310000002", None, "29905", None],
                     ["M2", "3/2019", "2019-03-03", "Phạm Văn", "310000003", None, None, None],
                     ["F1", "=1+1", "2019-03-04", "Võ Văn", "310000004", None, "29902", None]], merge="G3:G4")
    cfg = _source(tmp_path, monkeypatch, f"engine: xlsx\nconnection: {{path: {json.dumps(str(path))}}}\nprimary_key: ma\n")
    rows = {r["ma"]: r for r in _rows(cfg)}
    assert list(rows) == ["G1", "M1", "M2", "F1"]
    assert EXTRACT_PROBLEMS not in rows["G1"] and EXTRACT_PROBLEMS not in rows["M1"], "the merge's own cell is read"
    assert rows["M2"][EXTRACT_PROBLEMS] == [
        "so.xlsx row 4, column 'xa': merged cell G3:G4; its value stands in row 3 only (unmerge and fill in every row)"]
    assert rows["F1"][EXTRACT_PROBLEMS] == [
        "so.xlsx row 5, column 'so': formula '=1+1' without a cached value (open and save the file in a "
        "spreadsheet program to compute it)"]
    (tmp_path / "so.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(SourceUnreadable, match="is not a readable XLSX workbook"):
        _rows(cfg)


def test_bad_rows_are_quarantined_and_the_batch_goes_on(warehouse, tmp_path, monkeypatch):
    data = (HEADER.encode() + GOOD
            + "B2,3/2019,2019-03-03,Lê\x00Văn,310000003,,29902,\n".encode()
            + b"B3,4/2019,2019-03-04,L\xff\xfeVan,310000004,,29902,\n"
            + "B4,5/2019,2019-03-05,Lê Thị,08708500123²,,29902,\n".encode()
            + b"B5,6/2019\n"
            + GOOD.replace(b"G1", b"G2").replace(b"310000001", b"310000009"))
    cfg = _csv_source(tmp_path, monkeypatch, data)
    report = run_batch(cfg, warehouse)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (6, 2, 4)
    entries = dict(fetch_all(warehouse, "SELECT source_key, reason FROM ops.quarantine"))
    assert set(entries) == {"B2", "B3", "B4", "B5"}
    assert entries["B2"].startswith("so_dang_ky.csv line 3, column 'ten': NUL byte")
    assert entries["B3"].startswith("so_dang_ky.csv line 4: byte 0xff at byte offset")
    assert "holder_id: non-digit characters in '*********23²'" in entries["B4"]
    assert entries["B5"].startswith("so_dang_ky.csv line 6: 2 fields where the header has 8")
    payload = fetch_all(warehouse, "SELECT payload FROM ops.quarantine WHERE source_key = 'B2'")[0][0]
    assert payload["ten"] == "Lê\\x00Văn"
    assert fetch_all(warehouse, "SELECT status FROM ops.batch") == [("succeeded",)]


def test_a_failing_source_marks_its_batch_failed(warehouse, tmp_path, monkeypatch):
    cfg = _csv_source(tmp_path, monkeypatch, b"ma,so,ngay,ten,gioi,xa,sua\nG1,1,2019-01-01,An,,29902,\n")
    with pytest.raises(SourceUnreadable, match="column 'cmnd' is not in file"):
        run_batch(cfg, warehouse)
    status, detail = fetch_all(warehouse, "SELECT status, detail FROM ops.batch")[0]
    assert status == "failed" and detail["failed_step"] == "stage"
    assert detail["error"].startswith("SourceUnreadable: source isolation_test: column 'cmnd' is not in file")


# --- SQL sources: quoted identifiers, read-only queries ---------------------------------------------

def _sql_rows():
    return [("GCN 1", "1/2019", "2019-03-01", "Nguyễn Văn An", "310000001", None, "29902", "2024-01-01 00:00:00"),
            ("GCN 2", "2/2019", "2019-03-02", "Trần Thị Bình", "310000002", None, "29905", "2024-01-02 00:00:00")]


def _sql_source(tmp_path, monkeypatch, url: str, table: str | None = None, query: str | None = None):
    head = f"engine: sqlalchemy\nconnection: {{url: {json.dumps(url)}}}\n"
    head += f"table: {json.dumps(table)}\n" if table else f"query: {json.dumps(query)}\n"
    head += 'primary_key: "Số GCN"\nincremental_column: "Ngày sửa"\n'
    return _source(tmp_path, monkeypatch, head)


def _create(conn_exec, quote: str) -> None:
    q = quote
    conn_exec(f'CREATE TABLE {q}Sổ đăng ký{q} ({q}Số GCN{q} varchar(20) PRIMARY KEY, so varchar(20), ngay varchar(20), '
              f'ten varchar(80), cmnd varchar(20), gioi varchar(8), xa varchar(8), {q}Ngày sửa{q} varchar(20))')


@pytest.fixture
def pg_source_db(make_database):
    from tthc.warehouse.db import connect

    url = make_database("src")
    conn = connect(url)
    with conn, conn.cursor() as cur:
        _create(cur.execute, '"')
        cur.execute("CREATE SEQUENCE so_tiep_theo")  # nextval() writes: refused in a read-only transaction
        for row in _sql_rows():
            cur.execute('INSERT INTO "Sổ đăng ký" VALUES (%s, %s, %s, %s, %s, %s, %s, %s)', row)
    conn.close()
    return url


@pytest.fixture
def mariadb_source_db():
    import pymysql

    name = f"tthc_test_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", charset="utf8mb4")
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        cur.execute(f"USE {name}")
        _create(cur.execute, "`")
        cur.executemany("INSERT INTO `Sổ đăng ký` VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", _sql_rows())
    admin.commit()
    try:
        yield f"{MARIADB_URL}/{name}?charset=utf8mb4"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def source_db(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "src.db"
        con = sqlite3.connect(path)
        _create(con.execute, '"')
        con.executemany('INSERT INTO "Sổ đăng ký" VALUES (?, ?, ?, ?, ?, ?, ?, ?)', _sql_rows())
        con.commit()
        con.close()
        return f"sqlite:///{path}"
    return request.getfixturevalue("pg_source_db" if request.param == "postgresql" else "mariadb_source_db")


def test_identifiers_from_the_yaml_are_quoted(source_db, tmp_path, monkeypatch):
    import datetime as dt

    cfg = _sql_source(tmp_path, monkeypatch, source_db, table="Sổ đăng ký")
    rows = _rows(cfg)
    assert [r["Số GCN"] for r in rows] == ["GCN 1", "GCN 2"]
    window = list(extract(cfg, dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 3)))
    assert [r["Số GCN"] for chunk in window for r in chunk] == ["GCN 2"], "the incremental column is quoted too"


@pytest.mark.parametrize("table", ['(SELECT 1) AS "Số GCN"', "x; DROP TABLE y", "pg_sleep(10)"])
def test_sql_in_table_never_runs(source_db, tmp_path, monkeypatch, table):
    cfg = _sql_source(tmp_path, monkeypatch, source_db, table=table)
    with pytest.raises(SourceUnreadable, match=r"table: .* in s\.yaml is not a table name"):
        _rows(cfg)


def test_missing_table_and_columns_are_named(source_db, tmp_path, monkeypatch):
    cfg = _sql_source(tmp_path, monkeypatch, source_db, table="Sổ không có")
    with pytest.raises(SourceUnreadable, match=r"table 'Sổ không có' \(table: in s\.yaml\) does not exist in "):
        _rows(cfg)
    cfg = _sql_source(tmp_path, monkeypatch, source_db, query='SELECT so FROM "Sổ đăng ký"'
                      if not source_db.startswith("mysql") else "SELECT so FROM `Sổ đăng ký`")
    with pytest.raises(SourceUnreadable, match=r"column 'Số GCN' is not in the result of query: in s\.yaml"):
        _rows(cfg)


def test_a_free_query_runs_read_only(source_db, tmp_path, monkeypatch):
    q = "`" if source_db.startswith("mysql") else '"'
    write = (f"UPDATE {q}Sổ đăng ký{q} SET ten = 'X'" if not source_db.startswith("postgresql") else
             'SELECT t.*, nextval(\'so_tiep_theo\') AS written FROM "Sổ đăng ký" t')
    cfg = _sql_source(tmp_path, monkeypatch, source_db, query=write)
    with pytest.raises(SourceUnreadable, match=r"query: in s\.yaml failed on .*(read-only|READ ONLY|readonly)"):
        _rows(cfg)
    cfg = _sql_source(tmp_path, monkeypatch, source_db, table="Sổ đăng ký")
    assert {r["ten"] for r in _rows(cfg)} == {"Nguyễn Văn An", "Trần Thị Bình"}, "nothing was written"


def test_an_unreachable_database_fails_in_one_line(tmp_path, monkeypatch):
    cfg = _sql_source(tmp_path, monkeypatch, "postgresql+psycopg2://nobody:secret@127.0.0.1:1/none", table="t")
    with pytest.raises(SourceUnreadable) as err:
        _rows(cfg)
    assert str(err.value).startswith("source isolation_test: cannot connect to postgresql+psycopg2://nobody:***@")
    assert "secret" not in str(err.value) and "\n" not in str(err.value)


def test_a_key_column_with_a_space_loads_from_postgresql(warehouse, pg_source_db, tmp_path, monkeypatch):
    cfg = _sql_source(tmp_path, monkeypatch, pg_source_db, table="Sổ đăng ký")
    report = run_batch(cfg, warehouse)
    assert (report.rows_in, report.rows_loaded) == (2, 2)
    assert sorted(r[0] for r in fetch_all(warehouse, "SELECT source_pk FROM core.result_source")) == ["GCN 1", "GCN 2"]


# --- one batch per interval ----------------------------------------------------------------------

def _stage_at_once(args) -> int:
    sources, url, barrier = args
    cfg = load_sources(Path(sources))[0]
    barrier.wait()
    return stage_batch(cfg, url)


def test_two_runs_of_one_interval_at_once_keep_one_batch(make_database, tmp_path, monkeypatch):

    monkeypatch.setenv("TTHC_CLEAN_WORKERS", "0")
    lines = [f"R{i:04d},{i}/2019,2019-03-{1 + i % 28:02d},Nguyễn Văn {chr(65 + i % 26)},{310000000 + i},,29902,\n"
             for i in range(400)]
    cfg = _csv_source(tmp_path, monkeypatch, (HEADER + "".join(lines)).encode())
    urls = []
    for _ in range(2):
        url = make_database("twice", migrated=True)
        urls.append(url)
    run_batch(cfg, urls[0])
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(2)
    with ctx.Pool(2) as pool:
        ids = pool.map(_stage_at_once, [(str(cfg.path.parent), urls[1], barrier)] * 2)
    assert ids[0] == ids[1], "both runs share the interval's batch"
    assert fetch_all(urls[1], "SELECT count(*) FROM ops.batch") == [(1,)]
    assert fetch_all(urls[1], "SELECT count(*) FROM staging.result_candidate") == [(400,)], "staging not doubled"
    run_batch(cfg, urls[1])
    core = "SELECT doc_number, issue_date, agency_id, result_code FROM core.result ORDER BY 1"
    assert fetch_all(urls[1], core) == fetch_all(urls[0], core)
    assert fetch_all(urls[1], "SELECT count(*), min(status) FROM ops.batch") == [(1, "succeeded")]


def test_the_unique_index_backs_the_lock(warehouse):
    import psycopg2

    from tthc.warehouse.db import transaction

    with transaction(warehouse) as cur:
        cur.execute(INTERVAL_BATCH)
    with pytest.raises(psycopg2.errors.UniqueViolation), transaction(warehouse) as cur:
        cur.execute(INTERVAL_BATCH)


INTERVAL_BATCH = """INSERT INTO ops.batch (source, interval_start, interval_end)
                    VALUES ('twice', '2024-01-01 00:00+07', '2024-01-02 00:00+07')"""


# --- the probe -------------------------------------------------------------------------------------

def test_reliability_probe_loses_and_duplicates_nothing(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("TTHC_CLEAN_WORKERS", "0")
    summary = PROBE.probe_all(warehouse, tmp_path)
    problems = [(p["probe"], p["crash"], p["failures"]) for p in summary["probes"] if p["crash"] or p["failures"]]
    assert problems == []
    assert (summary["rows_lost"], summary["rows_duplicated"], summary["crashes"]) == (0, 0, 0)
    assert summary["files_tried"] >= 20 and summary["rows_in"] > 0


def test_an_encoding_that_is_not_ascii_compatible_is_refused_up_front(tmp_path, monkeypatch):
    cfg = _csv_source(tmp_path, monkeypatch, HEADER.encode("utf-16"), extra="csv: {encoding: utf-16}\n")
    with pytest.raises(SourceUnreadable, match="csv.encoding 'utf-16' in s.yaml is not ASCII-compatible"):
        _rows(cfg)


def test_a_cp1258_file_reads_and_its_stray_bytes_are_named(tmp_path, monkeypatch):
    data = HEADER.encode() + "G1,1/2019,2019-03-01,Lê Văn An,310000001,,29902,\n".encode("cp1258") + b"B1,\x81\n"
    cfg = _csv_source(tmp_path, monkeypatch, data, extra="csv: {encoding: cp1258}\n")
    rows = _rows(cfg)
    assert rows[0]["ten"] == "Lê Văn An"
    assert EXTRACT_PROBLEMS not in rows[0]
    assert "so_dang_ky.csv line 3: byte 0x81 at byte offset" in rows[1][EXTRACT_PROBLEMS][0]


def test_an_exclusion_source_quarantines_its_unreadable_rows(warehouse, tmp_path, monkeypatch):
    from tthc.sources.exclusions import load_exclusions

    path = tmp_path / "da_so_hoa.csv"
    path.write_bytes(b"ref,so,ngay\nE1,1/2019,2019-03-01\nE2,2/2019,2019-03-\x00\nE3,3/2019,\xff\n")
    sources = tmp_path / "excl"
    sources.mkdir()
    (sources / "e.yaml").write_text(f"""\
name: excl_test
kind: exclusion
engine: csv
connection: {{path: {json.dumps(str(path))}}}
primary_key: ref
mapping:
  document_type: {{constant: BLR}}
  doc_number: so
  issue_date: {{column: ngay, parse: date}}
  external_ref: ref
agency: {{rule: constant, value: 000.00.22.H20}}
""", encoding="utf-8")
    report = load_exclusions(load_sources(sources)[0], warehouse)
    assert (report["rows_in"], report["listed"], report["quarantined"]) == (3, 1, 2)
    reasons = dict(fetch_all(warehouse, "SELECT source_key, reason FROM ops.quarantine WHERE source = 'excl_test'"))
    assert "NUL byte" in reasons["E2"] and "byte 0xff" in reasons["E3"]


@pytest.fixture(params=["mariadb", "sqlite"])
def nul_source_db(request, tmp_path):
    """A database whose text columns can hold a NUL byte (PostgreSQL's cannot)."""
    bad = ("GCN 3", "3/2019", "2019-03-03", "Lê\x00Văn", "310000003", None, "29902", "2024-01-03 00:00:00")
    if request.param == "sqlite":
        path = tmp_path / "nul.db"
        con = sqlite3.connect(path)
        _create(con.execute, '"')
        con.executemany('INSERT INTO "Sổ đăng ký" VALUES (?, ?, ?, ?, ?, ?, ?, ?)', _sql_rows() + [bad])
        con.commit()
        con.close()
        return f"sqlite:///{path}"
    url = request.getfixturevalue("mariadb_source_db")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO `Sổ đăng ký` VALUES (:a, :b, :c, :d, :e, :f, :g, :h)"),
                     dict(zip("abcdefgh", bad)))
    engine.dispose()
    return url


def test_a_nul_byte_in_a_database_column_spoils_only_its_row(nul_source_db, tmp_path, monkeypatch):
    cfg = _sql_source(tmp_path, monkeypatch, nul_source_db, table="Sổ đăng ký")
    rows = {r["Số GCN"]: r for r in _rows(cfg)}
    assert list(rows) == ["GCN 1", "GCN 2", "GCN 3"]
    assert EXTRACT_PROBLEMS not in rows["GCN 1"]
    assert rows["GCN 3"][EXTRACT_PROBLEMS] == ["Sổ đăng ký key GCN 3, column 'ten': NUL byte at position 2 "
                                               "(kept escaped as \\x00)"]
    assert rows["GCN 3"]["ten"] == "Lê\\x00Văn"


def test_a_column_missing_from_a_table_is_named_with_the_columns_found(source_db, tmp_path, monkeypatch):
    cfg = _sql_source(tmp_path, monkeypatch, source_db, table="Sổ đăng ký")
    cfg = dataclasses.replace(cfg, primary_key=("SỐ GCN",), incremental_column="Ngày lập")
    with pytest.raises(SourceUnreadable) as err:
        _rows(cfg)
    message = str(err.value)
    assert message.startswith("source isolation_test: column 'Ngày lập' is not in table 'Sổ đăng ký'; columns found: ")
    assert "'Số GCN', 'so', 'ngay'" in message, "a differently-cased key column matched its one spelling"
