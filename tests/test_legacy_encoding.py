"""tthc.text.legacy_encoding: TCVN3 / VNI-Windows <-> Unicode, and per-value detection."""

from __future__ import annotations

import unicodedata

import pytest

from tthc.text import legacy_encoding as le

# Built from Unicode combining marks, independently of the charmap files.
BASE_VOWELS = {
    "a": "a",
    "ă": "a\u0306",
    "â": "a\u0302",
    "e": "e",
    "ê": "e\u0302",
    "i": "i",
    "o": "o",
    "ô": "o\u0302",
    "ơ": "o\u031b",
    "u": "u",
    "ư": "u\u031b",
    "y": "y",
}
TONES = {"ngang": "", "huyền": "\u0300", "sắc": "\u0301", "hỏi": "\u0309", "ngã": "\u0303", "nặng": "\u0323"}


def all_lowercase_letters() -> list[str]:
    letters = [unicodedata.normalize("NFC", base + tone) for base in BASE_VOWELS.values() for tone in TONES.values()]
    return letters + ["đ"]


LOWER = all_lowercase_letters()
SCHEMES = ["tcvn3", "vni"]

NAMES = [
    "Nguyễn Văn An",
    "Trần Thị Bích Ngọc",
    "Lê Hoàng Phúc",
    "Phạm Thị Mỹ Duyên",
    "Huỳnh Quốc Thắng",
    "Võ Thị Thu Hương",
    "Trương Công Định",
    "Đặng Thị Ánh Tuyết",
    "Đỗ Minh Khôi",
    "Dương Thị Yến",
    "Hồ Văn Lượm",
    "Lý Ngọc Hân",
    "Ngô Bảo Châu",
    "Bùi Thị Xuân",
    "Phan Thanh Giản",
]


def test_letter_inventory_is_complete():
    assert len(LOWER) == 73
    assert len(set(LOWER)) == 73
    assert all(len(ch) == 1 for ch in LOWER)  # every combination has a precomposed NFC form


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("letter", LOWER)
def test_round_trip_every_lowercase_letter_and_tone(scheme, letter):
    encoded = le.encode(letter, scheme)
    # Legacy text is representable in windows-1252 (it is bytes read with that codepage).
    encoded.encode("cp1252")
    assert not any(ord(c) > 0xFF for c in encoded)
    assert le.decode(encoded, scheme) == letter
    # Inside a word too, with neighbours.
    word = f"x{letter}n"
    assert le.decode(le.encode(word, scheme), scheme) == word


@pytest.mark.parametrize("scheme", SCHEMES)
def test_legacy_forms_are_distinct(scheme):
    encoded = [le.encode(letter, scheme) for letter in LOWER]
    assert len(set(encoded)) == len(encoded)


def test_tcvn3_is_single_byte():
    for letter in LOWER:
        assert len(le.encode_bytes(letter, "tcvn3")) == 1


def test_vni_is_base_letter_plus_marks():
    for letter in LOWER:
        enc = le.encode(letter, "vni")
        base = unicodedata.normalize("NFD", letter)[0]
        if len(enc) > 1:
            # base letter (ASCII, or the single-byte ơ/ư forms) followed by mark bytes
            assert enc[0] == base or enc[0] in "ôö"
            assert all(ord(c) > 0x7F for c in enc[1:])
        assert 1 <= len(enc) <= 2


def test_known_examples():
    assert le.decode("hép møt tÕt", "tcvn3") == "hộp mứt tết"
    assert le.decode("Xin chaøo caùc baïn", "vni") == "Xin chào các bạn"
    assert le.decode("NguyÔn V¨n An", "tcvn3") == "Nguyễn Văn An"
    assert le.decode("Nguyeãn Vaên An", "vni") == "Nguyễn Văn An"
    assert le.encode("hộp mứt tết", "tcvn3") == "hép møt tÕt"
    assert le.encode("Xin chào các bạn", "vni") == "Xin chaøo caùc baïn"


def test_vni_longest_match_first():
    # "ô" alone is ơ; "ôù" is ớ, not ơ followed by a stray mark.
    assert le.decode("ô", "vni") == "ơ"
    assert le.decode("ôù", "vni") == "ớ"
    assert le.decode("Tröôøng", "vni") == "Trường"
    # "oâ" is ô; "oá" is ố (circumflex and tone in one mark byte).
    assert le.decode("oâ", "vni") == "ô"
    assert le.decode("Ñoáng", "vni") == "Đống"


def test_vni_uppercase_round_trip():
    for letter in LOWER:
        up = letter.upper()
        assert le.decode(le.encode(up, "vni"), "vni") == up
    assert le.decode(le.encode("NGUYỄN THỊ ỨNG", "vni"), "vni") == "NGUYỄN THỊ ỨNG"


def test_tcvn3_uppercase_fallback_is_lowercase():
    # The seven capitals of the ordinary ABC font round-trip exactly.
    for cap in "ĂÂĐÊÔƠƯ":
        enc = le.encode(cap, "tcvn3")
        assert enc != le.encode(cap.lower(), "tcvn3")
        assert le.decode(enc, "tcvn3") == cap
    # Other toned capitals are written with the lowercase byte, as legacy data did.
    for cap in "ÁẤỨỄÝỊ":
        assert le.encode(cap, "tcvn3") == le.encode(cap.lower(), "tcvn3")
        assert le.decode(le.encode(cap, "tcvn3"), "tcvn3") == cap.lower()
    # Unaccented capitals are ASCII.
    assert le.decode(le.encode("AN", "tcvn3"), "tcvn3") == "AN"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_names_round_trip(scheme):
    for name in NAMES:
        decoded = le.decode(le.encode(name, scheme), scheme)
        if scheme == "vni":
            assert decoded == name
        else:
            assert decoded.casefold() == name.casefold()
            # only toned capitals missing from the ABC font are lowered
            for got, want in zip(decoded, name, strict=True):
                assert got == want or (got == want.lower() and not want.isascii() and want not in "ĂÂĐÊÔƠƯ")


def test_nfd_input_is_normalized_to_nfc():
    nfc = "Nguyễn Thị Ánh Tuyết"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    for scheme in SCHEMES:
        assert le.encode(nfd, scheme) == le.encode(nfc, scheme)
    assert le.to_unicode(nfd) == nfc
    assert unicodedata.is_normalized("NFC", le.decode(le.encode(nfd, "vni"), "vni"))
    assert le.detect(nfd) == "unicode"


def test_decode_accepts_raw_bytes():
    raw = le.encode_bytes("Đồng Tháp", "tcvn3")
    assert isinstance(raw, bytes)
    assert le.decode(raw, "tcvn3") == "Đồng Tháp"
    assert le.decode(le.encode_bytes("Đồng Tháp", "vni"), "vni") == "Đồng Tháp"


def test_unknown_scheme():
    with pytest.raises(ValueError):
        le.encode("a", "viqr")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        le.decode("a", "utf8")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("NguyÔn V¨n An", "tcvn3"),
        ("Nguyeãn Vaên An", "vni"),
        ("Tr\xad¬ng ThÞ Hoa", "tcvn3"),
        ("Tröông Thò Hoa", "vni"),
        ("§Æng V¨n §«ng", "tcvn3"),
        ("Ñaëng Vaên Ñoâng", "vni"),
        ("Nguyễn Văn An", "unicode"),
        ("Võ Thị Lá", "unicode"),
        ("Hà Lê", "unicode"),
        ("X. Tân Phú Đông", "unicode"),
        ("Nguyen Van An", "ascii"),
        ("P.1", "ascii"),
        ("", "ascii"),
        (None, "ascii"),
    ],
)
def test_detect_typical_values(value, expected):
    assert le.detect(value) == expected


@pytest.mark.parametrize("scheme", SCHEMES)
def test_detect_recognizes_encoded_names(scheme):
    for name in NAMES:
        assert le.detect(le.encode(name, scheme)) == scheme, name


def test_detect_uppercase_vni():
    for name in NAMES:
        assert le.detect(le.encode(name.upper(), "vni")) == "vni", name


def test_detect_and_to_unicode_do_not_mangle_unicode_or_ascii():
    for value in NAMES + ["Ủy ban nhân dân xã Tân Phú Đông", "Phường 1", "Thị xã Sa Đéc", "Nguyen Van An", "123/2015"]:
        assert le.detect(value) in ("unicode", "ascii")
        assert le.to_unicode(value) == value
    assert le.to_unicode(None) is None


def test_to_unicode_decodes_detected_legacy():
    for name in NAMES:
        assert le.to_unicode(le.encode(name, "vni")) == name
        assert le.to_unicode(le.encode(name, "tcvn3")).casefold() == name.casefold()
    assert le.to_unicode("NguyÔn V¨n An", "tcvn3") == "Nguyễn Văn An"


# --- TCVN3 capitals and encoding ties (legacy databases seen in the field) ------------------------


@pytest.mark.parametrize("legacy, expected", [
    ("¦øng", "Ứng"),          # plain capital + toned lowercase (one converter's convention)
    ("Yý", "Ý"),
    ("I×", "Ì"),
    ("¦øng Yªn", "Ứng Yên"),
    ("NGUYÔN V¡N ¸NH", "NGUYỄN VĂN ÁNH"),   # the uppercase font: same bytes as lowercase
    ("Lª §øc", "Lê Đức"),     # title case stays title case
    ("¸nh", "ánh"),            # one word, no other capital: nothing says it was a capital
])
def test_tcvn3_capitals_in_both_conventions(legacy, expected):
    assert le.decode(legacy, "tcvn3") == expected


@pytest.mark.parametrize("value, scheme, expected", [
    ("Quèc", "tcvn3", "Quốc"),     # a stop coda takes only sắc or nặng: 'Quèc' is not Vietnamese
    ("Léc", "tcvn3", "Lộc"),       # no 'ec' rhyme
    ("Vâ", "tcvn3", "Võ"),         # 'â' needs a coda
    ("Nghóa", "vni", "Nghĩa"),     # 'ngh' only before i/e/ê
])
def test_encoding_ties_broken_by_spelling_rules(value, scheme, expected):
    assert le.detect(value) == scheme
    assert le.to_unicode(value) == expected


def test_a_true_tie_still_keeps_unicode():
    # Valid both as is and as TCVN3 ("Ngụ Bỏ Lờ"): never mangle text that may already be Unicode.
    assert le.detect("Ngô Bá Lê") == "unicode"
    assert le.to_unicode("Ngô Bá Lê") == "Ngô Bá Lê"


def test_detect_many_agrees_with_detect_on_the_joined_text():
    from tthc.text.legacy_encoding import detect_many

    rows = [["NguyÔn V¨n An", "X· T©n Phó"], ["Nguyễn Văn An", None], ["Nguyeãn Vaên An", "Xaõ"], ["abc", ""],
            ["Ngô Bá Lê", "Quèc"]]
    for values in rows:
        joined = " ".join(v or "" for v in values)
        expected = le.detect(joined) if joined.strip() else "ascii"
        assert detect_many(values) == expected, values
