"""Free-text and old unit names → pre-2025 GSO commune codes."""

from __future__ import annotations

import pytest

from tthc.clean.units import UnitResolutionError, default_resolver
from tthc.reference.units import old_units

COMMUNES = [u for u in old_units() if u.level == "commune"]
DISTRICTS = {u.unit_key: u for u in old_units() if u.level == "district"}
ABBREVIATIONS = {"Phường ": "P.", "Xã ": "X. ", "Thị trấn ": "TT. "}


def test_every_commune_resolves_from_its_name_and_district():
    resolver = default_resolver()
    for commune in COMMUNES:
        district = DISTRICTS[commune.parent_key]
        got = resolver.resolve(commune=commune.name_vi, district=district.name_vi)
        assert got.code == commune.code, (commune.name_vi, district.name_vi)
        # Written as one address, abbreviated the way clerks do.
        short = commune.name_vi
        for full, abbrev in ABBREVIATIONS.items():
            if short.startswith(full):
                short = abbrev + short[len(full):]
        address = f"Ấp 2, {short}, {district.name_vi.replace('Thành phố ', 'TP. ').replace('Huyện ', 'H. ')}"
        assert resolver.resolve(commune=address).code == commune.code, address


def test_former_district_names_still_resolve():
    resolver = default_resolver()
    assert resolver.district("Thị xã Sa Đéc").code == 867
    assert resolver.district("TX. Cao Lãnh").code == 866
    assert resolver.resolve(commune="Phường 2", district="Thị xã Sa Đéc").name_vi == "Phường 2"


def test_codes_are_checked_against_the_era():
    resolver = default_resolver()
    assert resolver.resolve(code=29902).unit_key == "pre2025/commune/29902"
    with pytest.raises(UnitResolutionError, match="not a pre-2025 commune"):
        resolver.resolve(code=28249)  # a post-2025 ward of the new province


def test_ambiguous_and_unknown_names_are_explained():
    resolver = default_resolver()
    with pytest.raises(UnitResolutionError, match=r"ambiguous without a district: \['Phường 1 \(Thành phố Cao Lãnh\)'"):
        resolver.resolve(commune="Phường 1")
    with pytest.raises(UnitResolutionError, match="ambiguous"):
        resolver.district("Cao Lãnh")
    with pytest.raises(UnitResolutionError, match="no commune matches 'Xã Atlantis'"):
        resolver.resolve(commune="Xã Atlantis")
