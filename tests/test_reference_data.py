"""Reference data in the warehouse: units of both eras, the 2025 crosswalk, agencies,
procedure catalog and plans. Expected facts come from MISSION.md and vietnam-provinces."""

from __future__ import annotations

import shutil
import textwrap

import pytest
from vietnam_provinces import _ward_conversion_2025 as conversion

from tthc.reference.load import load_reference
from tthc.reference.seeds import SeedError
from tthc.paths import seeds_dir
from tthc.warehouse.db import fetch_all
from tthc.warehouse.migrate import migrate

SA_DEC_COMMUNES = [29902, 29905, 29908, 29911, 29914, 29917, 29919, 29920, 29923]


def test_old_dong_thap_has_12_districts_and_141_communes(reference_warehouse):
    rows = dict(fetch_all(reference_warehouse, """
        SELECT level, count(*) FROM core.admin_unit WHERE era = 'pre2025' GROUP BY level"""))
    assert rows == {"province": 1, "district": 12, "commune": 141}
    districts = [r[0] for r in fetch_all(reference_warehouse,
                 "SELECT code FROM core.admin_unit WHERE era='pre2025' AND level='district' ORDER BY code")]
    assert districts == list(range(866, 878))
    assert fetch_all(reference_warehouse,
                     "SELECT name_vi FROM core.admin_unit WHERE unit_key = 'pre2025/district/867'")[0][0] == "Thành phố Sa Đéc"
    sa_dec = [r[0] for r in fetch_all(reference_warehouse, """
        SELECT code FROM core.admin_unit WHERE parent_key = 'pre2025/district/867' ORDER BY code""")]
    assert sa_dec == SA_DEC_COMMUNES


def test_new_province_82_has_102_units(reference_warehouse):
    rows = dict(fetch_all(reference_warehouse, """
        SELECT level, count(*) FROM core.admin_unit WHERE era = 'post2025' GROUP BY level"""))
    assert rows == {"province": 1, "commune": 102}
    assert fetch_all(reference_warehouse, "SELECT code FROM core.admin_unit WHERE era='post2025' AND level='province'") == [(82,)]


def test_sa_dec_units_map_to_phuong_sa_dec_except_29923(reference_warehouse):
    mapping = fetch_all(reference_warehouse, """
        SELECT old_code, new_code, new_name_vi, is_partly_merged FROM mart.unit_successor
        WHERE old_level = 'commune' AND old_code = ANY(%s) ORDER BY old_code""", (SA_DEC_COMMUNES,))
    assert len(mapping) == 9
    for old_code, new_code, new_name, partly in mapping:
        if old_code == 29923:
            assert (new_code, new_name) == (30214, "Xã Tân Dương")
        else:
            assert (new_code, new_name) == (29905, "Phường Sa Đéc")
        assert partly is False


def test_reused_code_means_different_places_in_each_era(reference_warehouse):
    rows = dict(fetch_all(reference_warehouse, """
        SELECT era, name_vi FROM core.admin_unit WHERE code = 29905 AND level = 'commune'"""))
    assert set(rows) == {"pre2025", "post2025"}
    assert rows["pre2025"] != rows["post2025"]


def test_every_old_commune_has_successors_matching_the_package(reference_warehouse):
    rows = fetch_all(reference_warehouse, """
        SELECT old_code, array_agg(new_code ORDER BY new_code), bool_or(is_partly_merged), max(successor_count)
        FROM mart.unit_successor WHERE old_level = 'commune' GROUP BY old_code""")
    assert len(rows) == 141
    for old_code, new_codes, partly, count in rows:
        entry = conversion.OLD_TO_NEW[old_code]
        assert new_codes == sorted({int(w.code) for w in entry.new_wards})
        assert partly == entry.old_ward.is_partly_merged
        assert count == len(new_codes)
    assert any(partly for _, _, partly, _ in rows), "Đồng Tháp has partly merged communes"
    for _, new_codes, partly, _ in rows:
        if partly:
            assert len(new_codes) >= 2


def test_districts_roll_up_to_their_communes_successors(reference_warehouse):
    rows = fetch_all(reference_warehouse, """
        SELECT new_code FROM mart.unit_successor WHERE old_unit_key = 'pre2025/district/867' ORDER BY new_code""")
    assert [r[0] for r in rows] == [29905, 30214]


def test_agencies_cover_every_unit_with_electronic_ids(reference_warehouse):
    counts = dict(fetch_all(reference_warehouse, "SELECT level, count(*) FROM core.agency WHERE kind='people_committee' GROUP BY level"))
    assert counts == {"province": 1, "district": 12, "commune": 141}
    assert fetch_all(reference_warehouse, """
        SELECT name_vi, is_placeholder_id FROM core.agency WHERE electronic_id = '000.00.00.H20'""") == [
        ("Ủy ban nhân dân tỉnh Đồng Tháp", False)]
    departments = fetch_all(reference_warehouse, "SELECT count(*) FROM core.agency WHERE kind = 'department'")[0][0]
    assert departments >= 10
    # A commune committee's parent is its district's committee.
    rows = fetch_all(reference_warehouse, """
        SELECT c.unit_key, d.unit_key FROM core.agency c JOIN core.agency d ON d.electronic_id = c.parent_electronic_id
        WHERE c.level = 'commune'""")
    units = dict(fetch_all(reference_warehouse, "SELECT unit_key, parent_key FROM core.admin_unit"))
    assert len(rows) == 141
    assert all(units[commune] == district for commune, district in rows)


def test_procedure_catalog_covers_required_results(reference_warehouse):
    rows = {r[0]: r[1:] for r in fetch_all(reference_warehouse,
            "SELECT code, level, is_permanent, validity_months, extension_months, max_extensions FROM core.procedure")}
    for code in ("KS", "KH", "KT", "HKD", "DKDN"):
        assert rows[code][1] is True, f"{code} is valid forever"
    assert rows["XNHN"][1:3] == (False, 6)
    assert rows["ATTP"][1:3] == (False, 36)
    assert rows["BLR"][1:3] == (False, 60)
    assert rows["GPXD"][1:] == (False, 12, 12, 2)


def test_province_plan_targets(reference_warehouse):
    rows = fetch_all(reference_warehouse, """
        SELECT level, array_agg(target_pct::int ORDER BY year), array_agg(year ORDER BY year)
        FROM core.plan_target WHERE plan_code = 'DT-2022' GROUP BY level""")
    targets = {level: (pcts, years) for level, pcts, years in rows}
    assert targets["province"] == ([50, 70, 90, 100], [2022, 2023, 2024, 2025])
    assert targets["district"] == ([40, 60, 80, 100], [2022, 2023, 2024, 2025])
    assert targets["commune"] == ([40, 60, 80, 100], [2022, 2023, 2024, 2025])
    cutoff = fetch_all(reference_warehouse, "SELECT issue_cutoff::text, valid_after::text FROM core.plan WHERE plan_code='DT-2022'")
    assert cutoff == [("2021-12-31", "2025-12-31")]
    sa_dec = fetch_all(reference_warehouse, """
        SELECT p.issue_cutoff::text, s.unit_key FROM core.plan p JOIN core.plan_scope s USING (plan_code)
        WHERE plan_code = 'SD-2024'""")
    assert sa_dec == [("2022-12-31", "pre2025/district/867")]


def _table_dump(url):
    tables = ["admin_unit", "unit_crosswalk", "agency", "procedure", "plan", "plan_scope", "plan_target",
              "plan_indicator_target"]
    dump = {t: fetch_all(url, f"SELECT * FROM core.{t} ORDER BY 1, 2") for t in tables}
    dump["reference_load"] = fetch_all(url, "SELECT * FROM ops.reference_load ORDER BY 1")
    return dump


def test_loading_twice_leaves_the_same_state(empty_warehouse):
    migrate(empty_warehouse)
    load_reference(empty_warehouse)
    once = _table_dump(empty_warehouse)
    load_reference(empty_warehouse)
    assert _table_dump(empty_warehouse) == once


def _copy_seeds(tmp_path):
    target = tmp_path / "seeds"
    shutil.copytree(seeds_dir(), target)
    return target


def test_a_new_plan_is_added_without_code(empty_warehouse, tmp_path):
    seeds = _copy_seeds(tmp_path)
    (seeds / "plans" / "cao_lanh_2025.yaml").write_text(textwrap.dedent("""\
        code: CL-2025
        name_vi: Kế hoạch số hóa thành phố Cao Lãnh năm 2025
        decision_ref: Kế hoạch thử nghiệm
        issued_on: 2025-01-15
        parent_plan: DT-2022
        scope_units: [{era: pre2025, level: district, code: 866}]
        issue_cutoff: 2023-12-31
        valid_after: 2025-12-31
        targets:
          district: {2025: 100}
          commune: {2025: 95}
        """), encoding="utf-8")
    migrate(empty_warehouse)
    load_reference(empty_warehouse, seeds)
    assert fetch_all(empty_warehouse, """
        SELECT level, year, target_pct::int FROM mart.plan_target WHERE plan_code = 'CL-2025' ORDER BY level""") == [
        ("commune", 2025, 95), ("district", 2025, 100)]
    # Removing the file removes the plan on the next load.
    (seeds / "plans" / "cao_lanh_2025.yaml").unlink()
    load_reference(empty_warehouse, seeds)
    assert fetch_all(empty_warehouse, "SELECT count(*) FROM core.plan WHERE plan_code = 'CL-2025'") == [(0,)]


@pytest.mark.parametrize("broken, message", [
    ("targets:\n  district: {2022: 140}\n", "is not a percentage"),
    ("targets:\n  ward: {2022: 40}\n", "level must be one of"),
    ("targets:\n  district: {2022: 60, 2023: 40}\n", "falls below"),
])
def test_a_broken_plan_is_refused_with_its_file_named(empty_warehouse, tmp_path, broken, message):
    seeds = _copy_seeds(tmp_path)
    (seeds / "plans" / "bad_plan.yaml").write_text(
        "code: BAD\nname_vi: Thử\ndecision_ref: x\nissued_on: 2024-01-01\nissue_cutoff: 2021-12-31\n"
        "valid_after: 2025-12-31\nscope_units: [{era: pre2025, level: province, code: 87}]\n" + broken,
        encoding="utf-8")
    migrate(empty_warehouse)
    with pytest.raises(SeedError, match=f"bad_plan.yaml.*{message}"):
        load_reference(empty_warehouse, seeds)


def test_a_bad_agency_id_is_refused_with_its_line_named(empty_warehouse, tmp_path):
    seeds = _copy_seeds(tmp_path)
    with (seeds / "agencies.csv").open("a", encoding="utf-8") as fh:
        fh.write("00.00.99.H20,BAD,Cơ quan lỗi,province,department,pre2025,87,000.00.00.H20,true\n")
    migrate(empty_warehouse)
    with pytest.raises(SeedError, match=r"agencies.csv:\d+: electronic_id '00.00.99.H20'"):
        load_reference(empty_warehouse, seeds)
