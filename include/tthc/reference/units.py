"""Administrative units of both eras and the 1/7/2025 crosswalk, from `vietnam-provinces`.

Pre-2025: the old Đồng Tháp (province 87), its districts and communes (GSO codes).
Post-2025: the new Tỉnh Đồng Tháp (province 82) and its wards/communes.
Crosswalk: each old commune -> its successor ward(s), with is_partly_merged; each old
district and the old province -> the union of their communes' successors.
"""

from __future__ import annotations

from dataclasses import dataclass

import vietnam_provinces
from vietnam_provinces import Province, Ward
from vietnam_provinces import _ward_conversion_2025 as ward_conversion  # the package's 2025 table
from vietnam_provinces.legacy import District as LegacyDistrict
from vietnam_provinces.legacy import Province as LegacyProvince
from vietnam_provinces.legacy import Ward as LegacyWard

OLD_PROVINCE_CODE = 87   # Đồng Tháp before 1/7/2025
NEW_PROVINCE_CODE = 82   # Tỉnh Đồng Tháp after the merger with Tiền Giang
REORGANIZATION_DATE = "2025-07-01"
OLD_ERA_END = "2025-06-30"


def unit_key(era: str, level: str, code: int) -> str:
    return f"{era}/{level}/{int(code)}"


@dataclass(frozen=True)
class UnitRow:
    unit_key: str
    era: str
    level: str
    code: int
    name_vi: str
    division_type: str
    parent_key: str | None
    province_code: int
    valid_from: str | None
    valid_to: str | None


@dataclass(frozen=True)
class CrosswalkRow:
    old_unit_key: str
    new_unit_key: str
    is_partly_merged: bool
    successor_count: int
    effective_date: str
    source: str


def source_version() -> str:
    return f"vietnam-provinces {vietnam_provinces.__version__} (data {vietnam_provinces.__data_version__})"


def old_units(province_code: int = OLD_PROVINCE_CODE) -> list[UnitRow]:
    province = next(p for p in LegacyProvince.iter_all() if int(p.code) == province_code)
    prov_key = unit_key("pre2025", "province", province_code)
    rows = [UnitRow(prov_key, "pre2025", "province", province_code, province.name,
                    str(province.division_type), None, province_code, None, OLD_ERA_END)]
    districts = sorted((d for d in LegacyDistrict.iter_all() if int(d.province_code) == province_code),
                       key=lambda d: int(d.code))
    district_codes = {int(d.code) for d in districts}
    for d in districts:
        rows.append(UnitRow(unit_key("pre2025", "district", d.code), "pre2025", "district", int(d.code), d.name,
                            str(d.division_type), prov_key, province_code, None, OLD_ERA_END))
    wards = sorted((w for w in LegacyWard.iter_all() if int(w.district_code) in district_codes), key=lambda w: int(w.code))
    for w in wards:
        rows.append(UnitRow(unit_key("pre2025", "commune", w.code), "pre2025", "commune", int(w.code), w.name,
                            str(w.division_type), unit_key("pre2025", "district", w.district_code),
                            province_code, None, OLD_ERA_END))
    return rows


def new_units(province_code: int = NEW_PROVINCE_CODE) -> list[UnitRow]:
    province = Province.from_code(province_code)
    prov_key = unit_key("post2025", "province", province_code)
    rows = [UnitRow(prov_key, "post2025", "province", province_code, province.name,
                    str(province.division_type), None, province_code, REORGANIZATION_DATE, None)]
    for w in sorted(Ward.iter_by_province(province.code), key=lambda w: int(w.code)):
        rows.append(UnitRow(unit_key("post2025", "commune", w.code), "post2025", "commune", int(w.code), w.name,
                            str(w.division_type), prov_key, province_code, REORGANIZATION_DATE, None))
    return rows


def crosswalk(old: list[UnitRow], new: list[UnitRow]) -> list[CrosswalkRow]:
    new_keys = {u.unit_key for u in new}
    source = f"{source_version()}: {ward_conversion.SOURCE}"
    rows: list[CrosswalkRow] = []
    successors_by_parent: dict[str, set[str]] = {}
    old_communes = [u for u in old if u.level == "commune"]
    for commune in old_communes:
        entry = ward_conversion.OLD_TO_NEW.get(commune.code)
        if entry is None:
            raise LookupError(f"vietnam-provinces has no 2025 successor for commune {commune.code} {commune.name_vi}")
        targets = sorted({unit_key("post2025", "commune", w.code) for w in entry.new_wards})
        missing = [t for t in targets if t not in new_keys]
        if missing:
            raise LookupError(f"commune {commune.code} maps to {missing}, outside province {NEW_PROVINCE_CODE}")
        for target in targets:
            rows.append(CrosswalkRow(commune.unit_key, target, bool(entry.old_ward.is_partly_merged),
                                     len(targets), REORGANIZATION_DATE, source))
        successors_by_parent.setdefault(commune.parent_key, set()).update(targets)
    # Districts were abolished: their successors are their communes' successors.
    province_targets: set[str] = set()
    for district_key, targets in sorted(successors_by_parent.items()):
        province_targets |= targets
        for target in sorted(targets):
            rows.append(CrosswalkRow(district_key, target, len(targets) > 1, len(targets), REORGANIZATION_DATE, source))
    old_province = next(u for u in old if u.level == "province")
    new_province = next(u for u in new if u.level == "province")
    rows.append(CrosswalkRow(old_province.unit_key, new_province.unit_key, False, 1, REORGANIZATION_DATE, source))
    return rows


def successor_of(old_commune_code: int) -> list[tuple[int, bool]]:
    """(new ward code, is_partly_merged) pairs for an old commune code."""
    entry = ward_conversion.OLD_TO_NEW[int(old_commune_code)]
    return [(int(w.code), bool(entry.old_ward.is_partly_merged)) for w in entry.new_wards]
