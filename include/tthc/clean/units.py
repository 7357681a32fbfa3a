"""Map free-text or old unit names to GSO codes with their era.

Reads names such as "P.1", "X. Tân Phú Đông", "Phường 1, TP. Sa Đéc" or the
former "Thị xã Sa Đéc", using vietnam-provinces' pre-2025 units of province 87
and the rules in seeds/unit_aliases.yaml. Ambiguous names ("Phường 1" exists in
several districts) need a district; the error lists the candidates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from tthc.clean.names import name_key
from tthc.paths import seeds_dir
from tthc.reference.units import OLD_PROVINCE_CODE, UnitRow, old_units


class UnitResolutionError(ValueError):
    pass


@dataclass(frozen=True)
class ResolvedUnit:
    unit_key: str
    code: int
    level: str
    name_vi: str
    rule: str  # how it was matched: code | name | name+district | old_name


def _bare(name: str, divisions: dict[str, str]) -> tuple[str | None, str]:
    """Split a name into (division key, bare name key): 'P.1' -> ('phuong', '1')."""
    key = name_key(name).replace(".", ". ").strip()
    key = re.sub(r"\s+", " ", key)
    for pattern, division in divisions.items():
        m = re.match(pattern, key)
        if m:
            return division, key[m.end():].strip(" .")
    return None, key.strip(" .")


class UnitResolver:
    def __init__(self, units: list[UnitRow] | None = None, aliases_path: Path | None = None):
        units = units or old_units(OLD_PROVINCE_CODE)
        rules = yaml.safe_load((aliases_path or seeds_dir() / "unit_aliases.yaml").read_text(encoding="utf-8"))
        # Longest spellings first so 'thi tran' wins over 't'.
        spellings: list[tuple[str, str]] = []
        for full, abbrevs in rules["division_abbreviations"].items():
            division = name_key(full)
            for spelling in [name_key(full), *(name_key(a) for a in abbrevs)]:
                spellings.append((spelling, division))
        spellings.sort(key=lambda s: -len(s[0]))
        self._divisions = {rf"^{re.escape(s).replace(r'\ ', r'\s*').replace(r'\.', r'\.?')}(?:\.|\s+|(?=\d))": d
                           for s, d in spellings}
        self.by_key = {u.unit_key: u for u in units}
        self.by_code = {(u.level, u.code): u for u in units}
        self.communes: dict[str, list[tuple[str | None, UnitRow]]] = {}
        self.districts: dict[str, list[tuple[str | None, UnitRow]]] = {}
        for u in units:
            if u.level in ("commune", "district"):
                division, bare = _bare(u.name_vi, self._divisions)
                index = self.communes if u.level == "commune" else self.districts
                index.setdefault(bare, []).append((division, u))
        for old in rules.get("old_district_names", []):
            division, bare = _bare(old["name"], self._divisions)
            self.districts.setdefault(bare, []).append((division, self.by_code[("district", int(old["code"]))]))

    def _glued_abbreviation(self, bare: str) -> list[UnitRow]:
        """'PMỹ Phú' -> Phường Mỹ Phú: a one-letter abbreviation typed without a dot or space."""
        for letter, division in (("p", name_key("phường")), ("x", name_key("xã"))):
            if bare.startswith(letter) and len(bare) > 2:
                found = [u for d, u in self.communes.get(bare[1:], []) if d == division]
                if found:
                    return found
        return []

    def district(self, text: str) -> UnitRow:
        division, bare = _bare(text, self._divisions)
        found = [u for d, u in self.districts.get(bare, []) if division is None or d == division]
        unique = {u.unit_key: u for u in found}
        if len(unique) == 1:
            return next(iter(unique.values()))
        if not unique:
            raise UnitResolutionError(f"no district of province {OLD_PROVINCE_CODE} is called {text!r}")
        raise UnitResolutionError(f"district {text!r} is ambiguous: {sorted(u.name_vi for u in unique.values())}")

    def resolve(self, commune: str | None = None, district: str | None = None, code=None,
                district_code=None) -> ResolvedUnit:
        """The pre-2025 commune meant by a code and/or a (possibly abbreviated) name."""
        if code not in (None, ""):
            try:
                unit = self.by_code.get(("commune", int(str(code).strip())))
            except ValueError:
                unit = None
            if unit is not None:
                return ResolvedUnit(unit.unit_key, unit.code, unit.level, unit.name_vi, "code")
            if not commune:
                raise UnitResolutionError(f"commune code {code!r} is not a pre-2025 commune of province {OLD_PROVINCE_CODE}")
        if not commune:
            raise UnitResolutionError("no commune code or name given")
        parts = [p.strip() for p in re.split(r"[,;–]", commune) if p.strip()]
        district_unit = None
        if district_code not in (None, ""):
            try:
                district_unit = self.by_code.get(("district", int(str(district_code).strip())))
            except ValueError:
                district_unit = None
        if district_unit is None and district:
            district_unit = self.district(district)
        candidates: dict[str, UnitRow] = {}
        district_divisions = {name_key(d) for d in ("huyện", "thành phố", "thị xã")}
        for part in parts:
            division, bare = _bare(part, self._divisions)
            if division in district_divisions:
                if district_unit is None:
                    district_unit = self.district(part)
                continue
            matches = [u for d, u in self.communes.get(bare, []) if division is None or d == division]
            if not matches and division is None:
                matches = self._glued_abbreviation(bare)
            if matches:
                candidates.update((u.unit_key, u) for u in matches)
            elif district_unit is None and division is None and len(parts) > 1:
                try:
                    district_unit = self.district(part)
                except UnitResolutionError:
                    pass
        if district_unit is not None:
            candidates = {k: u for k, u in candidates.items() if u.parent_key == district_unit.unit_key}
        if len(candidates) == 1:
            unit = next(iter(candidates.values()))
            return ResolvedUnit(unit.unit_key, unit.code, unit.level, unit.name_vi,
                                "name+district" if district_unit else "name")
        where = f" in {district_unit.name_vi}" if district_unit else ""
        if not candidates:
            raise UnitResolutionError(f"no commune{where} matches {commune!r}")
        names = sorted(f"{u.name_vi} ({self.by_key[u.parent_key].name_vi})" for u in candidates.values())
        raise UnitResolutionError(f"commune {commune!r} is ambiguous without a district: {names}")


@lru_cache(maxsize=1)
def default_resolver() -> UnitResolver:
    return UnitResolver()
