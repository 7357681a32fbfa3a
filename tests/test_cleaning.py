"""Cleaning rules: mixed date formats, Vietnamese names in legacy encodings, CCCD/CMND/MST checks."""

from __future__ import annotations

import datetime as dt

import pytest

from tthc.clean.dates import DateParseError, parse_date
from tthc.clean.identifiers import check_personal_id, check_tax_code
from tthc.clean.names import name_key, normalize_person_name
from tthc.text.legacy_encoding import encode


@pytest.mark.parametrize("text", ["03/04/2019", "3/4/2019", "2019-04-03", "2019-4-3", "03-04-2019", "03.04.2019",
                                  "3/4/19", "20190403", "ngày 3 tháng 4 năm 2019", "Ngày 03 tháng 04 năm 2019",
                                  " 03/04/2019 ", "2019-04-03 00:00:00", "2019/04/03"])
def test_mixed_date_formats_all_mean_3_april_2019(text):
    assert parse_date(text) == dt.date(2019, 4, 3)


def test_two_digit_years_pivot_on_today():
    assert parse_date("1/2/98", today=dt.date(2026, 1, 1)) == dt.date(1998, 2, 1)
    assert parse_date("1/2/24", today=dt.date(2026, 1, 1)) == dt.date(2024, 2, 1)


@pytest.mark.parametrize("text, message", [("31/02/2020", "impossible date"), ("hôm qua", "unrecognized"),
                                           ("", "empty"), (None, "empty"), ("2020-13-01", "impossible")])
def test_bad_dates_name_the_value(text, message):
    with pytest.raises(DateParseError, match=message):
        parse_date(text)


@pytest.mark.parametrize("name", ["Nguyễn Văn An", "Trần Thị Ánh Tuyết", "Huỳnh Đức Lợi", "Võ Thị Mỹ Hạnh",
                                  "Lê Hoàng Phương Uyên", "Đặng Quốc Khởi"])
def test_names_in_legacy_encodings_come_back_as_nfc(name):
    import unicodedata

    for scheme in ("tcvn3", "vni"):
        legacy = encode(name, scheme)
        assert legacy != name
        assert normalize_person_name(legacy) == name, (scheme, legacy)
    assert normalize_person_name(unicodedata.normalize("NFD", name)) == name
    assert normalize_person_name("  " + name.upper().replace(" ", "   ") + " ") == name


def test_name_key_ignores_diacritics_and_case():
    assert name_key("Nguyễn Văn Đạt") == name_key("NGUYEN VAN DAT") == "nguyen van dat"
    assert name_key("Lê Thị Hoa") != name_key("Lê Thị Hòa Bình")
    assert normalize_person_name("   ") is None and normalize_person_name(None) is None


def test_cccd_consistent_with_birth_date_and_gender():
    ok = check_personal_id("087 090 001234", birth_date=dt.date(1990, 5, 1), gender="Nam", expected_province=87)
    assert ok.ok and ok.kind == "cccd" and ok.value == "087090001234"
    female_2005 = check_personal_id("087305123456", birth_date=dt.date(2005, 1, 1), gender="Nữ")
    assert female_2005.ok


@pytest.mark.parametrize("value, kwargs, problem", [
    ("087290001234", {"birth_date": dt.date(1990, 1, 1)}, "century digit"),
    ("087091001234", {"birth_date": dt.date(1990, 1, 1)}, "birth-year digits"),
    ("079090001234", {"expected_province": 87}, "does not match the registration province"),
    ("999090001234", {}, "not a province code"),
    ("087090001234", {"gender": "Nữ"}, "gender digit"),
    ("08709000123", {}, "has 11 digits"),
    ("08709000123A", {}, "non-digit"),
    (None, {}, "missing"),
])
def test_bad_cccd_is_explained(value, kwargs, problem):
    result = check_personal_id(value, **kwargs)
    assert not result.ok
    assert any(problem in p for p in result.problems), result.problems


def test_cmnd_is_nine_digits():
    assert check_personal_id("341234567").kind == "cmnd"
    assert check_personal_id("341234567").ok


def test_tax_codes_through_stdnum():
    assert check_tax_code("0100233488").ok
    assert check_tax_code("0100233488-001").value == "0100233488-001"
    assert check_tax_code("0100233488001").ok
    bad = check_tax_code("0100233489")
    assert not bad.ok and "0100233489" in bad.problems[0]
    assert check_tax_code("").problems == ("missing",)


@pytest.mark.parametrize("gender", ["Nam", "nam", "M", "male", "NAM"])
def test_documented_male_values_check_the_gender_digit(gender):
    assert check_personal_id("087090001234", gender=gender).ok               # 0: male, 1900s
    assert "gender digit" in check_personal_id("087190001234", gender=gender).problems[0]


@pytest.mark.parametrize("gender", ["Nữ", "nu", "F", "female", "NỮ"])
def test_documented_female_values_check_the_gender_digit(gender):
    assert check_personal_id("087190001234", gender=gender).ok               # 1: female, 1900s
    assert "gender digit" in check_personal_id("087090001234", gender=gender).problems[0]


@pytest.mark.parametrize("gender", ["0", "1", "x", "Khác"])
def test_an_undocumented_gender_is_never_read_as_male(gender):
    # A coded 0/1 column (or anything else) must not fail good IDs: the digit is not checked, with a warning.
    for pid in ("087090001234", "087190001234"):
        check = check_personal_id(pid, gender=gender)
        assert check.ok, check.problems
        assert check.warnings and repr(gender) in check.warnings[0] and "not checked" in check.warnings[0]


def test_no_gender_no_warning():
    assert check_personal_id("087190001234", gender=None).warnings == ()
    assert check_personal_id("087190001234", gender="  ").warnings == ()
