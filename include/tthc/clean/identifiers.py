"""Personal and tax identifiers.

CCCD (12 digits): 3-digit province of birth registration + century/gender digit +
2-digit birth year + 6 digits; no checksum, so we check consistency instead.
CMND: 9 digits. MST: 10 or 13 digits with a check digit (python-stdnum `stdnum.vn.mst`).

Gender (holder_gender), compared case-insensitively after NFC: female ``nữ``, ``nu``, ``f``,
``female``; male ``nam``, ``m``, ``male``. Any other value (``0``/``1``, ``x`` …) is never read as
either: the gender digit is not checked and the check carries a warning naming the value. Map a
coded column in the source YAML (``holder_gender: {column: GT, values: {'0': nữ, '1': nam}}``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from stdnum.vn import mst as stdnum_mst

from tthc.masking import mask_id


@dataclass(frozen=True)
class IdCheck:
    kind: str                     # cccd | cmnd | mst | unknown
    value: str | None             # normalized (digits only; MST with its dash for branches)
    problems: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())   # what could not be checked (not a failure)

    @property
    def ok(self) -> bool:
        return self.value is not None and not self.problems


FEMALE = frozenset({"nữ", "nu", "f", "female"})
MALE = frozenset({"nam", "m", "male"})


def gender_of(value) -> str | None:
    """'female', 'male', or None for a value outside the documented set (or no value)."""
    text = unicodedata.normalize("NFC", str(value or "")).strip().lower()
    return "female" if text in FEMALE else "male" if text in MALE else None


@lru_cache(maxsize=1)
def cccd_province_codes() -> frozenset[str]:
    """CCCD province prefixes are the (pre-2025) GSO province codes, zero-padded to 3 digits."""
    from vietnam_provinces.legacy import Province

    return frozenset(f"{int(p.code):03d}" for p in Province.iter_all())


def check_personal_id(value, birth_date: dt.date | None = None, gender: str | None = None,
                      expected_province: int | None = None) -> IdCheck:
    """Check a CCCD or CMND. `expected_province` (GSO code) is where the birth was registered, when known."""
    if value is None or str(value).strip() in ("", "None", "NULL", "null"):
        return IdCheck("unknown", None, ("missing",))
    raw = str(value).strip()
    digits = re.sub(r"[\s.\-]", "", raw)
    if not (digits.isascii() and digits.isdigit()):  # isdigit() alone accepts '²' and other scripts' digits
        return IdCheck("unknown", None, (f"non-digit characters in {mask_id(raw)!r}",))
    if len(digits) == 9:
        return IdCheck("cmnd", digits)
    if len(digits) != 12:
        return IdCheck("unknown", None, (f"{mask_id(raw)!r} has {len(digits)} digits; CCCD has 12, CMND 9",))
    # A problem names the rule, never the ID's own digits (the reason is read where the ID is not).
    problems = []
    province, century_gender, yy = digits[:3], int(digits[3]), digits[4:6]
    if province not in cccd_province_codes():
        problems.append("province prefix is not a province code")
    elif expected_province is not None and int(province) != int(expected_province):
        problems.append(f"province prefix does not match the registration province {expected_province:03d}")
    if birth_date is not None:
        if yy != f"{birth_date.year % 100:02d}":
            problems.append("birth-year digits do not match the birth date")
        expected_century = (birth_date.year // 100 - 19) * 2
        if century_gender // 2 * 2 != expected_century:
            problems.append("century digit does not match the birth year")
    warnings = ()
    sex = gender_of(gender)
    if sex is not None and century_gender % 2 != (1 if sex == "female" else 0):
        problems.append(f"gender digit does not match gender {gender!r}")
    elif sex is None and gender is not None and str(gender).strip():
        warnings = (f"holder_gender value {str(gender).strip()!r} is not nam/nữ/m/f/male/female: "
                    "CCCD gender digit not checked",)
    return IdCheck("cccd", digits, tuple(problems), warnings)


def check_tax_code(value) -> IdCheck:
    """MST through python-stdnum; 13-digit branch codes keep their dash (0100233488-001)."""
    if value is None or str(value).strip() == "":
        return IdCheck("mst", None, ("missing",))
    try:
        return IdCheck("mst", stdnum_mst.format(stdnum_mst.validate(str(value))))
    except Exception as exc:  # noqa: BLE001 - stdnum raises a family of ValidationError subclasses
        return IdCheck("mst", None, (f"invalid MST {str(value)!r}: {exc}",))
