"""Property-based fuzzing (hypothesis): every cleaning function takes any value and raises nothing but
its documented error; normalizations are idempotent; extraction of CSV and XLSX files made of
arbitrary values or bytes never crashes and yields every record (count in = count out), each either
clean or carrying the reasons it will be quarantined for, and always storable (no NUL, valid UTF-8)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tthc.clean.dates import DateParseError, parse_date
from tthc.clean.identifiers import check_personal_id, check_tax_code, gender_of
from tthc.clean.names import name_key, normalize_person_name
from tthc.clean.units import UnitResolutionError, default_resolver
from tthc.sources.clean import CleanContext, _committee_by_unit_name, clean_row, source_recorded_at
from tthc.sources.config import load_sources
from tthc.sources.extract import EXTRACT_PROBLEMS, SourceUnreadable, extract
from tthc.text.legacy_encoding import decode, detect, detect_many, encode, to_unicode

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text as legacy files hold it: any character (surrogates cannot be stored, so none), with a bias
# towards digits, separators, Vietnamese letters and the characters that broke things before.
tricky = st.sampled_from(list("0123456789/-.,;: \t\n\r\x00²³¹٣߃ⅫĐđăâêôơưỨỹ'\"\\%_\u202e\ufeff\u00a0"))
text = st.one_of(st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
                 st.lists(tricky, max_size=20).map("".join))
anything = st.one_of(st.none(), text, st.integers(), st.floats(), st.dates(), st.datetimes(), st.booleans())


@FUZZ
@given(anything)
def test_parse_date_raises_only_date_parse_error(value):
    try:
        parsed = parse_date(value)
    except DateParseError:
        return
    assert isinstance(parsed, dt.date)
    assert parse_date(parsed) == parsed
    assert parse_date(parsed.isoformat()) == parsed, "the ISO form of a parsed date parses to itself"


@FUZZ
@given(anything, st.one_of(st.none(), st.dates()), st.one_of(st.none(), text), st.one_of(st.none(), st.integers(0, 99)))
def test_personal_id_check_never_raises_and_keeps_ascii_digits(value, birth, gender, province):
    check = check_personal_id(value, birth_date=birth, gender=gender, expected_province=province)
    if check.value is not None:
        assert check.value.isascii() and check.value.isdigit() and len(check.value) in (9, 12)
        again = check_personal_id(check.value, birth_date=birth, gender=gender, expected_province=province)
        assert (again.kind, again.value, again.problems) == (check.kind, check.value, check.problems), "idempotent"


@FUZZ
@given(anything)
def test_tax_code_and_gender_never_raise(value):
    mst = check_tax_code(value)
    if mst.value is not None:
        assert check_tax_code(mst.value).value == mst.value
    assert gender_of(value) in (None, "male", "female")


@FUZZ
@given(st.one_of(st.none(), text), st.sampled_from([None, "unicode", "tcvn3", "vni"]))
def test_names_normalize_idempotently(value, encoding):
    name = normalize_person_name(value, encoding)
    if name is not None:
        assert normalize_person_name(name, "unicode") == name
        assert name_key(name_key(name)) == name_key(name)
    assert isinstance(name_key(value), str)


@FUZZ
@given(text, st.sampled_from(["tcvn3", "vni"]))
def test_legacy_encoding_never_raises(value, scheme):
    decoded = decode(value, scheme)
    assert isinstance(decoded, str)
    assert isinstance(decode(value.encode("utf-8", "replace"), scheme), str)
    assert detect(value) in ("ascii", "unicode", "tcvn3", "vni")
    assert detect_many([value, None, value]) in ("ascii", "unicode", "tcvn3", "vni")
    assert to_unicode(value) is not None and to_unicode(value, "unicode") == to_unicode(to_unicode(value, "unicode"),
                                                                                         "unicode")
    assert isinstance(encode(value, scheme), str)


@pytest.fixture(scope="module")
def resolver():
    return default_resolver()


@FUZZ
@given(commune=st.one_of(st.none(), text), district=st.one_of(st.none(), text), code=anything,
       district_code=anything)
def test_unit_resolution_raises_only_its_error(resolver, commune, district, code, district_code):
    try:
        unit = resolver.resolve(commune=commune, district=district, code=code, district_code=district_code)
    except UnitResolutionError:
        return
    assert unit.unit_key in resolver.by_key


@pytest.fixture(scope="module")
def clean_context(reference_warehouse):
    from tthc.warehouse.db import transaction

    with transaction(reference_warehouse) as cur:
        return CleanContext.load(cur)


ROW_COLUMNS = ["ma", "so", "ngay", "ten", "cmnd", "gioi", "xa", "sua", "ky", "gia_han", "co_quan"]


@pytest.fixture(scope="module")
def fuzz_source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_sources")
    (folder / "s.yaml").write_text("""\
name: fuzz_test
engine: csv
connection: {path: /nonexistent.csv}
primary_key: ma
incremental_column: sua
encoding: {declared: auto, columns: [ten]}
mapping:
  document_type: {column: loai, values: {'1': KS, '2': BLR}}
  doc_number: so
  issue_date: {column: ngay, parse: date}
  holder_name: ten
  holder_id: cmnd
  holder_gender: gioi
  holder_birth_date: {column: sinh, parse: date}
  unit_code: xa
  status: {column: tt, values: {HL: valid, TH: revoked}}
  revoked_on: {column: ngay_thu_hoi, parse: date}
  extensions: gia_han
  signed_copy: {column: ky, values: {'1': signed}}
  signed_copy_ref: tep
agency: {rule: column, column: co_quan}
""", encoding="utf-8")
    return load_sources(folder)[0]


row_values = st.dictionaries(
    st.sampled_from(ROW_COLUMNS + ["loai", "sinh", "tt", "ngay_thu_hoi", "tep", EXTRACT_PROBLEMS]),
    st.one_of(st.none(), text), max_size=16)


@FUZZ
@given(row=row_values)
def test_clean_row_never_raises(fuzz_source, clean_context, row):
    if EXTRACT_PROBLEMS in row:
        row[EXTRACT_PROBLEMS] = [row[EXTRACT_PROBLEMS] or "x"]
    cand = clean_row(fuzz_source, row, clean_context)
    assert isinstance(cand["clean_problems"], list)
    if EXTRACT_PROBLEMS in row:
        assert cand["clean_problems"][:1] == row[EXTRACT_PROBLEMS], "extraction problems always quarantine"
    json.dumps(cand, default=str)
    source_recorded_at(fuzz_source, row)
    if row.get("co_quan"):
        _committee_by_unit_name(row["co_quan"], clean_context)


# --- extraction from files made of arbitrary values or bytes ----------------------------------------

def _csv_cfg(tmp_path, engine: str = "csv"):
    folder = tmp_path / f"src_{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    path = folder / f"data.{engine}"
    (folder / "s.yaml").write_text(f"""\
name: fuzz_file
engine: {engine}
connection: {{path: {json.dumps(str(path))}}}
primary_key: ma
mapping:
  document_type: {{constant: BLR}}
  doc_number: so
  issue_date: {{column: ngay, parse: date}}
  holder_name: ten
agency: {{rule: district_committee}}
""", encoding="utf-8")
    return load_sources(folder)[0], path


def _storable(row: dict) -> None:
    """What the load stage requires of a row: JSON for jsonb without NUL, valid UTF-8 text."""
    payload = json.dumps(row, ensure_ascii=False)
    assert "\\u0000" not in payload
    payload.encode("utf-8")  # raises on a lone surrogate


cell = st.one_of(st.none(), text, st.text(max_size=3).map(lambda t: t * 30_000))


@FEW
@given(rows=st.lists(st.lists(cell, min_size=4, max_size=4), max_size=8))
def test_csv_of_arbitrary_values_yields_every_record(tmp_path, rows):
    cfg, path = _csv_cfg(tmp_path)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a bare \r ends a line in any reader
    writer.writerow(["ma", "so", "ngay", "ten"])
    written = [["R" if v is None else v for v in row] for row in rows]
    writer.writerows(written)
    path.write_text(buf.getvalue(), encoding="utf-8")
    out = [r for chunk in extract(cfg) for r in chunk]
    assert len(out) == len(written), "count in = count out"
    for row, got in zip(written, out):
        _storable(got)
        if EXTRACT_PROBLEMS not in got:
            assert [got[c] for c in ("ma", "so", "ngay", "ten")] == [v or None for v in row], "clean rows round-trip"
        else:
            assert any("\x00" in v or len(v) > 65_536 for v in row)


@FEW
@given(head=st.sampled_from([b"ma,so,ngay,ten\n", b"\xef\xbb\xbfma,so,ngay,ten\r\n"]), body=st.binary(max_size=600))
def test_csv_of_arbitrary_bytes_never_crashes(tmp_path, head, body):
    cfg, path = _csv_cfg(tmp_path)
    path.write_bytes(head + body)
    try:
        rows = [r for chunk in extract(cfg) for r in chunk]
    except SourceUnreadable:
        pytest.fail("a bad body spoils rows, not the source")
    physical = (head + body).count(b"\n") + (0 if (head + body).endswith(b"\n") else 1)
    assert len(rows) <= physical
    for row in rows:
        _storable(row)


@FEW
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_as_a_whole_file_fail_only_as_unreadable(tmp_path, data):
    for engine in ("csv", "xlsx"):
        cfg, path = _csv_cfg(tmp_path, engine)
        path.write_bytes(data)
        try:
            for chunk in extract(cfg):
                for row in chunk:
                    _storable(row)
        except SourceUnreadable as exc:
            assert "\n" not in str(exc) and str(exc).startswith("source fuzz_file: ")


xlsx_cell = st.one_of(st.none(), st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=30),
                      st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                      st.datetimes(min_value=dt.datetime(1900, 3, 1)), st.booleans(),
                      st.sampled_from(["=1+1", "=A2", "=SUM(B2:B3)", "=NOW()"]))


@FEW
@given(rows=st.lists(st.lists(xlsx_cell, min_size=4, max_size=5), max_size=8),
       merges=st.lists(st.tuples(st.integers(2, 9), st.integers(1, 4), st.integers(0, 2), st.integers(0, 1)),
                       max_size=2))
def test_xlsx_of_arbitrary_cells_yields_every_row(tmp_path, rows, merges):
    from openpyxl import Workbook

    cfg, path = _csv_cfg(tmp_path, "xlsx")
    wb = Workbook()
    ws = wb.active
    ws.append(["ma", "so", "ngay", "ten"])
    for row in rows:
        ws.append(row)
    for r, c, dr, dc in merges:
        try:
            ws.merge_cells(start_row=r, start_column=c, end_row=r + dr, end_column=c + dc)
        except ValueError:
            pass
    wb.save(path)
    out = [r for chunk in extract(cfg) for r in chunk]
    from openpyxl import load_workbook

    kept = load_workbook(path, read_only=True)
    expected = sum(1 for values in kept.active.iter_rows(min_row=2, values_only=True)
                   if any(v is not None for v in values))
    kept.close()
    assert len(out) == expected, "every row with a value (or a formula) is yielded"
    for row in out:
        _storable(row)


good_line = st.builds(lambda i, d: f"G{i},{i}/2019,2019-03-{d:02d},Nguyễn Văn An,{310000000 + i},,29902,\n".encode(),
                      st.integers(0, 999), st.integers(1, 28))
any_line = st.one_of(good_line, st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"") + b"\n"),
                     st.lists(st.sampled_from([b"G1", b"\x00", b"\xff", b",", b'"', b"\r", b"31/02/2020", b"\xc3\xa9"]),
                              max_size=12).map(lambda parts: b"".join(parts) + b"\n"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(any_line, min_size=1, max_size=12))
def test_a_batch_of_arbitrary_lines_loads_or_quarantines_every_row(warehouse, tmp_path, monkeypatch, lines):
    from tthc.load.contract import canonical_payload
    from tthc.sources.extract import source_key
    from tthc.sources.pipeline import run_batch
    from tthc.warehouse.db import fetch_all

    monkeypatch.setenv("TTHC_CLEAN_WORKERS", "0")
    folder = tmp_path / f"batch_{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    path = folder / "data.csv"
    path.write_bytes(b"ma,so,ngay,ten,cmnd,gioi,xa,sua\n" + b"".join(lines))
    (folder / "s.yaml").write_text(f"""\
name: fuzz_batch_{folder.name[-8:]}
engine: csv
connection: {{path: {json.dumps(str(path))}}}
primary_key: ma
mapping:
  document_type: {{constant: BLR}}
  doc_number: so
  issue_date: {{column: ngay, parse: date}}
  holder_name: ten
  holder_id: cmnd
  unit_code: xa
agency: {{rule: district_committee}}
quarantine_threshold: 1.0
""", encoding="utf-8")
    cfg = load_sources(folder)[0]
    rows = [r for chunk in extract(cfg) for r in chunk]
    distinct = {(source_key(cfg.primary_key, r), canonical_payload(r)[1]) for r in rows}
    report = run_batch(cfg, warehouse)
    assert report.rows_in == len(rows), "count in"
    assert report.rows_loaded + report.rows_quarantined == len(distinct), "every row loaded or quarantined"
    entries = fetch_all(warehouse, "SELECT count(DISTINCT source_key) FROM ops.quarantine WHERE source = %s",
                        (cfg.name,))[0][0]
    failed = fetch_all(warehouse, "SELECT count(DISTINCT source_pk) FROM staging.result_candidate "
                                  "WHERE source = %s AND failed_checks IS NOT NULL", (cfg.name,))[0][0]
    assert entries == failed, "every failed row has its quarantine entry"
    assert fetch_all(warehouse, "SELECT status FROM ops.batch WHERE source = %s", (cfg.name,)) == [("succeeded",)]
