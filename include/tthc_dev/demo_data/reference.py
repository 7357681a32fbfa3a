"""Reference data for the demo-data generator: units, agencies, procedures, names.

Everything here comes from the project's seeds (``seeds/agencies.csv``,
``seeds/procedures.yaml``), from ``vietnam_provinces.legacy`` (GSO codes of the
pre-2025 three-level structure) and from the package's own data files
(``data/names.yaml``, ``data/places.yaml``). Nothing is invented here.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from tthc.paths import seeds_dir
from tthc.reference.seeds import Procedure, read_agencies, read_procedures
from tthc.reference.units import old_units

PROVINCE_CODE = 87
UNIT_ERA = "pre2025"

# Which agencies issue which procedure (see the brief / MISSION.md).
COMMUNE_PROCS = ("KS", "KH", "KT", "XNHN")
DISTRICT_PROCS = ("HKD", "GPXD", "BLR")
DEPARTMENT_PROCS = {"ATTP": ("SYT", "SCT", "SNN"), "DKDN": ("SKHDT",)}


@dataclass(frozen=True)
class Agency:
    electronic_id: str
    code: str
    name: str
    level: str  # province | district | commune
    unit_code: int


@dataclass(frozen=True)
class Commune:
    code: int
    name: str  # "Phường 1", "Xã Tân Phú Đông", "Thị trấn Mỹ An"
    district_code: int
    agency: Agency


@dataclass(frozen=True)
class District:
    code: int
    name: str  # "Thành phố Sa Đéc", "Huyện Lai Vung"
    agency: Agency
    communes: tuple[Commune, ...]


@dataclass
class Reference:
    province_name: str
    districts: list[District]
    communes: list[Commune]
    departments: dict[str, Agency]  # by agency code (SYT, SCT, SNN, SKHDT ...)
    procedures: dict[str, Procedure]  # seeds/procedures.yaml, as tthc.reference.seeds reads it
    names: dict
    places: dict
    other_province_codes: list[int] = field(default_factory=list)
    other_province_weights: list[float] = field(default_factory=list)

    def district(self, code: int) -> District:
        return self._district_by_code[code]

    def __post_init__(self) -> None:
        self._district_by_code = {d.code: d for d in self.districts}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _nfc_tree(obj):
    """Normalize every string in a YAML tree to NFC (the generator's canonical form)."""
    if isinstance(obj, str):
        return nfc(obj)
    if isinstance(obj, list):
        return [_nfc_tree(x) for x in obj]
    if isinstance(obj, dict):
        return {_nfc_tree(k): _nfc_tree(v) for k, v in obj.items()}
    return obj


def _read_data(name: str) -> dict:
    text = resources.files("tthc_dev.demo_data").joinpath("data", name).read_text("utf-8")
    return _nfc_tree(yaml.safe_load(text))


def check_json_safe(obj, where: str) -> None:
    """Canonical text is written into JSON without escaping (a hot path): refuse data that would need it."""
    if isinstance(obj, str):
        if '"' in obj or "\\" in obj or not obj.isprintable():
            raise ValueError(f"{where}: {obj!r} must not contain quotes, backslashes or control characters")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            check_json_safe(k, where)
            check_json_safe(v, where)
    elif isinstance(obj, list):
        for v in obj:
            check_json_safe(v, where)


@lru_cache(maxsize=4)
def load_reference(seeds: str | None = None) -> Reference:
    from vietnam_provinces.legacy import Province as VPProvince

    sdir = Path(seeds) if seeds else seeds_dir()
    by_unit: dict[tuple[str, int], Agency] = {}
    departments: dict[str, Agency] = {}
    for a in read_agencies(sdir / "agencies.csv"):
        era, level, code = a.unit_key.split("/")
        if era != UNIT_ERA:
            continue
        ag = Agency(a.electronic_id, a.code, nfc(a.name_vi), a.level, int(code))
        if a.kind == "people_committee":
            by_unit[(a.level, ag.unit_code)] = ag
        elif a.level == "province":
            departments[a.code] = ag

    units = old_units(PROVINCE_CODE)
    province = next(u for u in units if u.level == "province")
    districts: list[District] = []
    communes: list[Commune] = []
    for d in (u for u in units if u.level == "district"):
        dag = by_unit.get(("district", d.code))
        if dag is None:
            raise RuntimeError(f"seeds/agencies.csv has no People's Committee for district {d.code}")
        dcommunes = []
        for w in (u for u in units if u.level == "commune" and u.parent_key == d.unit_key):
            cag = by_unit.get(("commune", w.code))
            if cag is None:
                raise RuntimeError(f"seeds/agencies.csv has no People's Committee for commune {w.code}")
            c = Commune(w.code, nfc(w.name_vi), d.code, cag)
            dcommunes.append(c)
            communes.append(c)
        districts.append(District(d.code, nfc(d.name_vi), dag, tuple(dcommunes)))

    for codes in DEPARTMENT_PROCS.values():
        for code in codes:
            if code not in departments:
                raise RuntimeError(f"seeds/agencies.csv has no department {code}")

    procs = {p.code: p for p in read_procedures(sdir / "procedures.yaml")}

    places = _read_data("places.yaml")
    names = _read_data("names.yaml")
    check_json_safe(places, "places.yaml")
    check_json_safe(names, "names.yaml")
    check_json_safe([a.name for a in by_unit.values()] + [a.name for a in departments.values()], "agencies.csv")
    check_json_safe([c.name for c in communes] + [d.name for d in districts], "vietnam_provinces")

    weights = {int(k): float(v) for k, v in places.get("cccd_neighbour_weights", {}).items()}
    others = sorted(int(p.code) for p in VPProvince.iter_all() if int(p.code) != PROVINCE_CODE)
    rest = [c for c in others if c not in weights]
    other_codes = list(weights) + rest
    other_weights = list(weights.values()) + [0.1] * len(rest)

    return Reference(
        province_name=nfc(province.name_vi),
        districts=districts,
        communes=communes,
        departments=departments,
        procedures=procs,
        names=names,
        places=places,
        other_province_codes=other_codes,
        other_province_weights=other_weights,
    )
