"""Reference data for the demo-data generator: units, agencies, procedures, names.

Everything here comes from the project's seeds (``seeds/agencies.csv``,
``seeds/procedures.yaml``), from ``vietnam_provinces.legacy`` (GSO codes of the
pre-2025 three-level structure) and from the package's own data files
(``data/names.yaml``, ``data/places.yaml``). Nothing is invented here.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from tthc.paths import seeds_dir

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
    procedures: dict[str, dict]
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
    text = resources.files("tthc.demo_data").joinpath("data", name).read_text("utf-8")
    return _nfc_tree(yaml.safe_load(text))


def _load_agencies(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


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
    from vietnam_provinces.legacy import District as VPDistrict
    from vietnam_provinces.legacy import Province as VPProvince
    from vietnam_provinces.legacy import Ward as VPWard

    sdir = Path(seeds) if seeds else seeds_dir()
    rows = _load_agencies(sdir / "agencies.csv")
    by_unit: dict[tuple[str, int], Agency] = {}
    departments: dict[str, Agency] = {}
    for r in rows:
        if r["unit_era"] != UNIT_ERA:
            continue
        ag = Agency(r["electronic_id"], r["code"], nfc(r["name_vi"]), r["level"], int(r["unit_code"]))
        if r["kind"] == "people_committee":
            by_unit[(r["level"], ag.unit_code)] = ag
        elif r["level"] == "province":
            departments[r["code"]] = ag

    provinces = [p for p in VPProvince.iter_all() if int(p.code) == PROVINCE_CODE]
    if len(provinces) != 1:
        raise RuntimeError("vietnam_provinces has no legacy province 87")
    vp_districts = sorted((d for d in VPDistrict.iter_all() if int(d.province_code) == PROVINCE_CODE), key=lambda d: int(d.code))
    district_codes = {int(d.code) for d in vp_districts}
    wards_by_district: dict[int, list] = {c: [] for c in district_codes}
    for w in VPWard.iter_all():
        if int(w.district_code) in district_codes:
            wards_by_district[int(w.district_code)].append(w)

    districts: list[District] = []
    communes: list[Commune] = []
    for d in vp_districts:
        dcode = int(d.code)
        dag = by_unit.get(("district", dcode))
        if dag is None:
            raise RuntimeError(f"seeds/agencies.csv has no People's Committee for district {dcode}")
        dcommunes = []
        for w in sorted(wards_by_district[dcode], key=lambda w: int(w.code)):
            cag = by_unit.get(("commune", int(w.code)))
            if cag is None:
                raise RuntimeError(f"seeds/agencies.csv has no People's Committee for commune {int(w.code)}")
            c = Commune(int(w.code), nfc(w.name), dcode, cag)
            dcommunes.append(c)
            communes.append(c)
        districts.append(District(dcode, nfc(d.name), dag, tuple(dcommunes)))

    for codes in DEPARTMENT_PROCS.values():
        for code in codes:
            if code not in departments:
                raise RuntimeError(f"seeds/agencies.csv has no department {code}")

    with (sdir / "procedures.yaml").open(encoding="utf-8") as fh:
        procs = {p["code"]: p for p in yaml.safe_load(fh)["procedures"]}

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
        province_name=nfc(provinces[0].name),
        districts=districts,
        communes=communes,
        departments=departments,
        procedures=procs,
        names=names,
        places=places,
        other_province_codes=other_codes,
        other_province_weights=other_weights,
    )
