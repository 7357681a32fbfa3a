"""End-to-end ingestion of legacy sources: a never-seen schema from a test-only YAML, re-runs,
interval splits, and the generated civil-status database against the ground truth."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import textwrap
from zoneinfo import ZoneInfo

import pytest

from signedkit import register_source, write_register
from tthc.codes import is_valid_code
from tthc_dev.demo_data import generate
from tthc.reference.load import load_reference
from tthc.sources.config import load_sources
from tthc.sources.pipeline import run_batch
from tthc.text.legacy_encoding import encode
from tthc.warehouse.db import fetch_all
from tthc.warehouse.migrate import migrate

TZ = ZoneInfo("Asia/Ho_Chi_Minh")

STATE = {
    "results": """SELECT result_code, procedure_code, agency_id, issuing_unit_key, successor_unit_key, doc_book,
                         doc_number, issue_date, valid_until, revoked_on, copy_kind, is_signed, digitized_at, copy_ref
                  FROM core.result ORDER BY result_code""",
    "lineage": """SELECT r.result_code, s.source, s.source_pk, s.row_hash FROM core.result_source s
                  JOIN core.result r USING (result_id) ORDER BY 1, 2, 3, 4""",
    "quarantine": "SELECT source, source_key, reason, payload FROM ops.quarantine ORDER BY 1, 2, 3",
    "raw": "SELECT source, source_pk, row_hash, payload FROM raw.source_row ORDER BY 1, 2, 3",
    "holders": "SELECT match_key, kind FROM core.holder ORDER BY 1",
}


def state(url):
    return {k: fetch_all(url, q) for k, q in STATE.items()}


@pytest.fixture
def unseen_source(tmp_path, monkeypatch):
    """A retail-alcohol licence register nobody has seen: its own table, names and encodings."""
    db = tmp_path / "ruou.db"
    conn = sqlite3.connect(db)
    conn.execute("""CREATE TABLE tblGiayPhepRuou (MaGP TEXT PRIMARY KEY, SoGP TEXT, NgayCapPhep TEXT,
                    TenChuCoSo TEXT, CMND_CCCD TEXT, MaPhuongXa TEXT, TinhTrang TEXT, NgaySua TEXT)""")
    rows = [
        ("A1", "12/2019/GPBLR", "05.03.2019", encode("Nguyễn Thị Lan", "vni"), "341234567", "29902", "HL", "2024-01-05 10:00:00"),
        ("A2", "13/2019/GPBLR", "2019-03-06", "Trần Văn Bình", "087085001234", "29905", "HL", "2024-01-05 11:00:00"),
        ("A3", "14/2019/GPBLR", "ngày 7 tháng 3 năm 2019", encode("Lê Văn Cường", "vni"), None, "29908", "TH", "2024-02-01 09:00:00"),
        ("A4", None, "2019-03-08", "Phạm Văn Dũng", "341234568", "29911", "HL", "2024-02-02 09:00:00"),        # no number
        ("A5", "16/2019/GPBLR", "31/02/2019", "Võ Thị Em", "341234569", "29914", "HL", "2024-02-03 09:00:00"),  # bad date
        ("A6", "17/2019/GPBLR", "2019-03-10", "Huỳnh Văn Phúc", "341234570", "99999", "HL", "2024-02-04 09:00:00"),  # bad unit
    ]
    conn.executemany("INSERT INTO tblGiayPhepRuou VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "ruou.yaml").write_text(textwrap.dedent(f"""\
        name: alcohol_licences_test
        description_vi: Giấy phép bán lẻ rượu (nguồn thử nghiệm)
        engine: sqlalchemy
        connection: {{url: "sqlite:///{db}"}}
        table: tblGiayPhepRuou
        primary_key: MaGP
        incremental_column: NgaySua
        encoding: {{declared: auto, columns: [TenChuCoSo]}}
        mapping:
          document_type: {{constant: BLR}}
          doc_number: SoGP
          issue_date: {{column: NgayCapPhep, parse: date}}
          holder_name: TenChuCoSo
          holder_id: CMND_CCCD
          unit_code: MaPhuongXa
          status: {{column: TinhTrang, values: {{HL: valid, TH: revoked}}}}
          revoked_on: {{column: NgaySua, parse: date}}
        agency: {{rule: district_committee}}
        quarantine_threshold: 0.6
        """), encoding="utf-8")
    monkeypatch.setenv("TTHC_SOURCES_DIR", str(sources))
    return next(c for c in load_sources() if c.name == "alcohol_licences_test")


def test_a_new_source_needs_only_a_yaml_entry(warehouse, unseen_source):
    report = run_batch(unseen_source, warehouse)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined, report.results_new) == (6, 3, 3, 3)
    results = fetch_all(warehouse, """SELECT doc_number, result_code, agency_id, issuing_unit_key, valid_until::text,
                                             revoked_on::text, h.display_name
                                      FROM core.result r LEFT JOIN core.holder h USING (holder_id) ORDER BY 1""")
    assert [r[0] for r in results] == ["12/2019/GPBLR", "13/2019/GPBLR", "14/2019/GPBLR"]
    for number, code, agency, unit, valid_until, revoked_on, _ in results:
        assert is_valid_code(code) and code.startswith("000.00.22.H20-BLR-2019-")
        assert agency == "000.00.22.H20" and unit == "pre2025/district/867"   # Sa Đéc's district committee
    assert results[0][4] == "2024-03-05", "BLR is valid five years"
    assert results[0][6] == "Nguyễn Thị Lan", "VNI name decoded"
    assert results[2][5] == "2024-02-01", "revoked licence keeps its revocation date"
    quarantined = dict(fetch_all(warehouse, "SELECT source_key, reason FROM ops.quarantine"))
    assert set(quarantined) == {"A4", "A5", "A6"}
    assert "impossible date" in quarantined["A5"]
    assert "99999" in quarantined["A6"] or "unit" in quarantined["A6"]
    payload = fetch_all(warehouse, "SELECT payload FROM ops.quarantine WHERE source_key = 'A5'")[0][0]
    assert payload["NgayCapPhep"] == "31/02/2019", "the original row is kept"


def test_rerunning_an_interval_changes_nothing(warehouse, unseen_source):
    start, end = dt.datetime(2024, 1, 1, tzinfo=TZ), dt.datetime(2024, 3, 1, tzinfo=TZ)
    run_batch(unseen_source, warehouse, start, end)
    first = state(warehouse)
    run_batch(unseen_source, warehouse, start, end)
    assert state(warehouse) == first


def test_intervals_week_by_week_equal_one_backfill(make_database, unseen_source):
    urls = []
    for prefix in ("daily", "bulk"):
        url = make_database(prefix, migrated=True)
        urls.append(url)
    daily, bulk = urls
    day = dt.datetime(2024, 1, 1, tzinfo=TZ)
    while day < dt.datetime(2024, 3, 1, tzinfo=TZ):
        run_batch(unseen_source, daily, day, day + dt.timedelta(days=7))
        day += dt.timedelta(days=7)
    run_batch(unseen_source, bulk, dt.datetime(2024, 1, 1, tzinfo=TZ), day)
    assert state(daily)["results"] == state(bulk)["results"]
    assert state(daily)["quarantine"] == state(bulk)["quarantine"]


@pytest.fixture(scope="module")
def civil_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("civil") / "data"
    generate(out, seed=5, size=500, scans=12)
    return out, [json.loads(line) for line in (out / "ground_truth.jsonl").open(encoding="utf-8")]


def test_civil_status_lands_every_clean_result_once(warehouse, civil_demo, monkeypatch):
    out, truth = civil_demo
    monkeypatch.setenv("TTHC_DEMO_DATA_DIR", str(out))
    cfg = next(c for c in load_sources() if c.name == "civil_status")
    report = run_batch(cfg, warehouse)
    bad_ids = {"bad_length", "non_digit", "century_mismatch", "province_mismatch"}
    expected, expected_bad = set(), set()
    for t in truth:
        if t["kind"] != "result" or not any(a["source"] == "civil_status" for a in t["appears"]):
            continue
        key = (t["agency_electronic_id"], t["procedure_code"], t["book"] or "", t["number"], t["issue_date"])
        (expected_bad if (t["flags"]["id_problem"] or {}).get("problem") in bad_ids else expected).add(key)
    landed = {tuple(str(v) for v in r) for r in fetch_all(warehouse, """
        SELECT agency_id, procedure_code, doc_book, doc_number, issue_date FROM core.result""")}
    assert landed == expected, (len(landed - expected), len(expected - landed))
    assert not landed & expected_bad
    assert report.rows_quarantined >= len(expected_bad)
    codes = [r[0] for r in fetch_all(warehouse, "SELECT result_code FROM core.result")]
    assert len(codes) == len(set(codes)) == len(expected) and all(is_valid_code(c) for c in codes)
    # Every source row is accounted for: loaded into a result, or quarantined with a reason.
    rows = fetch_all(warehouse, "SELECT count(*) FROM raw.source_row WHERE source = 'civil_status'")[0][0]
    linked = fetch_all(warehouse, "SELECT count(DISTINCT (source_pk, row_hash)) FROM core.result_source")[0][0]
    quarantined = fetch_all(warehouse, "SELECT count(*) FROM ops.quarantine WHERE reason <> ''")[0][0]
    assert linked + quarantined == rows


def test_split_by_year_equals_one_run(make_database, civil_demo, monkeypatch):
    out, _ = civil_demo
    monkeypatch.setenv("TTHC_DEMO_DATA_DIR", str(out))
    cfg = next(c for c in load_sources() if c.name == "civil_status")
    yearly, once = make_database("yearly"), make_database("once")
    for url in (yearly, once):
        migrate(url)
        load_reference(url)
    for year in range(1999, 2027):
        run_batch(cfg, yearly, dt.datetime(year, 1, 1, tzinfo=TZ), dt.datetime(year + 1, 1, 1, tzinfo=TZ))
    run_batch(cfg, once, dt.datetime(1999, 1, 1, tzinfo=TZ), dt.datetime(2027, 1, 1, tzinfo=TZ))
    assert state(yearly)["results"] == state(once)["results"]


@pytest.mark.parametrize("exclusions_first", [True, False])
def test_results_digitized_elsewhere_are_marked_whatever_the_order(make_database, civil_demo, monkeypatch,
                                                                   exclusions_first):
    from tthc.sources.exclusions import load_exclusions

    out, truth = civil_demo
    monkeypatch.setenv("TTHC_DEMO_DATA_DIR", str(out))
    configs = {c.name: c for c in load_sources()}
    url = make_database("excl", migrated=True)
    steps = [lambda: load_exclusions(configs["already_digitized"], url),
             lambda: run_batch(configs["civil_status"], url)]
    for step in (steps if exclusions_first else reversed(steps)):
        step()
    marked = {tuple(str(v) for v in r[:5]): r[5] for r in fetch_all(url, """
        SELECT agency_id, procedure_code, doc_book, doc_number, issue_date, digitized_elsewhere
        FROM core.result WHERE digitized_elsewhere IS NOT NULL""")}
    landed = {tuple(str(v) for v in r) for r in fetch_all(url, """
        SELECT agency_id, procedure_code, doc_book, doc_number, issue_date FROM core.result""")}
    expected = {}
    for t in truth:
        ref = t["kind"] == "result" and t["flags"]["already_digitized"]
        key = t["kind"] == "result" and (t["agency_electronic_id"], t["procedure_code"], t["book"] or "",
                                         t["number"], t["issue_date"])
        if ref and key in landed:
            expected[key] = ref if isinstance(ref, str) else ref.get("external_ref")
    assert expected, "the generator lists results already digitized elsewhere"
    assert marked == expected


# ------------------------------------------------------------------ born-digital, signed results (issue 5)

LOCAL_MIDNIGHT = "{} 00:00:00+07:00"


def _signed_rows(kyso_s5: str | None, file_s5: str | None, touched: str):
    return [
        # MaGP, SoGP, NgayCap, Ten, MaXa, KySo, FileDienTu, NgaySua
        ("S1", "1/2023/GPBLR", "2023-04-10", "Nguyễn Văn An", "29902", "1", "gp/2023/S1.pdf", "2023-04-10 08:00:00"),
        ("S2", "2/2023/GPBLR", "2023-04-11", "Trần Thị Bé", "29905", "0", None, "2023-04-11 08:00:00"),
        ("S3", "3/2023/GPBLR", "2023-04-12", "Lê Văn Cao", "29908", "1", None, "2023-04-12 08:00:00"),  # no e-copy
        ("S4", "4/2019/GPBLR", "2019-05-02", "Phạm Thị Dung", "29911", None, None, "2019-05-02 08:00:00"),
        ("S5", "5/2023/GPBLR", "2023-04-13", "Võ Văn Em", "29914", kyso_s5, file_s5, touched),
        ("S6", "2/2023/GPBLR", "2023-04-11", "TRAN THI BE", "29905", "1", "gp/2023/S6.pdf", "2023-04-20 08:00:00"),  # dup of S2
    ]


@pytest.fixture
def signed_source(tmp_path, monkeypatch):
    db = tmp_path / "gp.db"
    write_register(db, _signed_rows("0", None, "2023-04-13 08:00:00"))
    return db, register_source(tmp_path, monkeypatch, db, "signed_licences_test",
                               "Giấy phép bán lẻ rượu có ký số (nguồn thử nghiệm)")


def _copies(url):
    return {r[0]: (r[1], r[2], None if r[3] is None else r[3].astimezone(TZ).isoformat(sep=" "), r[4])
            for r in fetch_all(url, """SELECT doc_number, copy_kind, is_signed, digitized_at, copy_ref
                                       FROM core.result ORDER BY 1""")}


def test_signed_rows_become_born_digital_and_never_downgrade_a_scan(warehouse, signed_source):
    db, cfg = signed_source
    report = run_batch(cfg, warehouse)
    assert (report.rows_in, report.rows_quarantined, report.results_new) == (6, 0, 5)
    got = _copies(warehouse)
    assert got == {
        "1/2023/GPBLR": ("born_digital", True, LOCAL_MIDNIGHT.format("2023-04-10"), "gp/2023/S1.pdf"),
        # S2 and its duplicate S6 are one result: signed because one of its rows says so
        "2/2023/GPBLR": ("born_digital", True, LOCAL_MIDNIGHT.format("2023-04-11"), "gp/2023/S6.pdf"),
        "3/2023/GPBLR": ("data_only", False, None, None),    # "signed" but no e-copy to link
        "4/2019/GPBLR": ("data_only", False, None, None),
        "5/2023/GPBLR": ("data_only", False, None, None),
    }
    # Re-running changes nothing.
    before = state(warehouse)
    run_batch(cfg, warehouse)
    assert _copies(warehouse) == got and state(warehouse)["results"] == before["results"]
    # S5 gets a scan (what scan intake does), later the source says it was signed when issued.
    with_scan = fetch_all(warehouse, """UPDATE core.result SET copy_kind = 'scan', is_signed = false,
                                               digitized_at = '2024-01-10 09:00:00+07'
                                        WHERE doc_number = '5/2023/GPBLR' RETURNING result_id""")
    assert len(with_scan) == 1
    write_register(db, _signed_rows("1", "gp/2023/S5.pdf", "2024-03-01 08:00:00"))
    run_batch(cfg, warehouse)
    got = _copies(warehouse)
    assert got["5/2023/GPBLR"] == ("scan", True, LOCAL_MIDNIGHT.format("2023-04-13"), "gp/2023/S5.pdf")
    # ... and a later unsigned row does not take a born-digital copy away.
    write_register(db, [r[:5] + ("0", None, "2024-06-01 08:00:00") if r[0] == "S1" else r
                              for r in _signed_rows("1", "gp/2023/S5.pdf", "2024-03-01 08:00:00")])
    run_batch(cfg, warehouse)
    assert _copies(warehouse)["1/2023/GPBLR"] == got["1/2023/GPBLR"]


def test_signed_copy_mapping_is_checked(tmp_path):
    from tthc.sources.config import SourceConfigError, load_source

    base = textwrap.dedent("""\
        name: bad_signed
        engine: csv
        connection: {path: x.csv}
        primary_key: id
        mapping:
          document_type: {constant: BLR}
          doc_number: so
          issue_date: ngay
          %s
        agency: {rule: district_committee}
        """)
    path = tmp_path / "bad.yaml"
    for line, message in (("signed_copy: KY_SO", "needs values"),
                          ("signed_copy: {column: KY_SO, values: {'1': yes}}", "needs values"),
                          ("signed_copy_ref: FILE", "needs mapping.signed_copy")):
        path.write_text(base % line, encoding="utf-8")
        with pytest.raises(SourceConfigError, match=message):
            load_source(path)


def test_generated_signed_results_are_born_digital(warehouse, civil_demo, monkeypatch):
    """Civil status and both permit tables of the demo: signed results per the ground truth."""
    out, truth = civil_demo
    monkeypatch.setenv("TTHC_DEMO_DATA_DIR", str(out))
    configs = {c.name: c for c in load_sources()}
    for name in ("civil_status", "construction_permits", "alcohol_licences"):
        run_batch(configs[name], warehouse)
    db = {tuple(str(v) for v in r[:5]): r[5:] for r in fetch_all(warehouse, """
        SELECT agency_id, procedure_code, doc_book, doc_number, issue_date, copy_kind, is_signed, digitized_at, copy_ref
        FROM core.result""")}
    checked = signed = 0
    for t in truth:
        if t["kind"] != "result" or not any(a["source"] in ("civil_status", "construction_permits")
                                            for a in t["appears"]):
            continue
        key = (t["agency_electronic_id"], t["procedure_code"], t["book"] or "", t["number"], t["issue_date"])
        if key not in db:  # quarantined (bad identifier etc.)
            continue
        kind, is_signed, digitized_at, ref = db[key]
        if t["signed_electronically"]:
            assert (kind, is_signed, ref) == ("born_digital", True, t["e_copy_ref"]), key
            assert digitized_at == dt.datetime.fromisoformat(t["issue_date"]).replace(tzinfo=TZ), key
            signed += 1
        else:
            assert (kind, is_signed, digitized_at, ref) == ("data_only", False, None, None), key
        checked += 1
    assert checked > 300 and signed >= 20, (checked, signed)
