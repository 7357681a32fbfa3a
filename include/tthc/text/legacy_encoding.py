"""Legacy Vietnamese encodings: TCVN3 (ABC) and VNI-Windows.

Before Unicode, Vietnamese text was typed with font-based encodings. The two that
dominate old provincial databases are:

* **TCVN3** (TCVN 5712:1993 "VN3", the ``.VnTime`` "ABC" fonts): single-byte; each
  toned letter is one byte in 0xA1-0xFE.
* **VNI-Windows** (``VNI-Times`` fonts): an ASCII base letter followed by a mark
  byte that carries the vowel mark and the tone together (``a`` + 0xE1 = ``ấ``);
  i-with-tone, ``ỵ``, ``ơ``, ``ư`` and ``đ`` are single bytes, and ``ơ``/``ư``
  take a trailing tone byte.

Such data usually reaches us as a Python ``str`` that some driver decoded with the
windows-1252 (or latin-1) code page, e.g. ``"NguyÔn V¨n An"`` (TCVN3) or
``"Nguyeãn Vaên An"`` (VNI). :func:`decode` turns that into Unicode NFC;
:func:`encode` does the reverse (used by the demo-data generator); :func:`detect`
guesses, per value, which of the two (if any) a value is in.

The mapping tables are data files (``charmaps/tcvn3.tsv``, ``charmaps/vni.tsv``),
loaded once through :mod:`importlib.resources`.

**TCVN3 and uppercase.** The ordinary TCVN3 font only has lowercase toned letters
plus the uppercase ``Ă Â Đ Ê Ô Ơ Ư``. Legacy data wrote the other capitals two ways, and
:func:`decode` reads both:

* with the uppercase font (``.VnTimeH``), which reuses the *same byte values*: the bytes
  alone cannot tell ``ấ`` from ``Ấ``, so a toned letter inside an otherwise uppercase word
  (two or more capitals, no lowercase ASCII: ``"NGUYÔN"``) is read as a capital
  (``"NGUYỄN"``); elsewhere it stays lowercase;
* as the plain capital followed by the toned lowercase letter (``"¦øng"`` for ``"Ứng"``,
  ``"Yý"`` for ``"Ý"``, ``"I×"`` for ``"Ì"``): the pair is read as the one toned capital.

:func:`encode` writes an uppercase toned letter that TCVN3 lacks as the byte of its
lowercase form. A round trip is exact for lowercase text and for the seven uppercase
letters above; for other capitals it is exact up to case (``"Ánh"`` -> ``"¸nh"`` ->
``"ánh"``). Unaccented capitals (``A``, ``E`` …) are plain ASCII and round-trip exactly.
VNI has full uppercase and round-trips exactly.

**Detection is a heuristic.** Some strings are valid in two encodings at once (the
TCVN3 bytes of ``"Ngụ Bỏ Lờ"`` read as windows-1252 are the Unicode string
``"Ngô Bá Lê"``). :func:`detect` decodes a value each way and scores how many of
its words are well-formed Vietnamese syllables, by the spelling rules (a stop coda
c/ch/p/t takes only sắc or nặng; ``ngh``/``gh``/``k`` only before i/e/ê(/y); no ``qu``
before o/u; ``ă`` and ``â`` need a coda; ch/nh codas only after a/ê/i(/y); no ``ec``), so
``"Quèc"``, ``"Léc"``, ``"Vâ"``, ``"Nghóa"`` read as TCVN3 (Quốc, Lộc, Vũ, Nghĩa);
ties go to ``"unicode"`` so that already-Unicode text is never mangled. Prefer a declared encoding when the source
has one.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Literal

Scheme = Literal["tcvn3", "vni"]
Detected = Literal["unicode", "tcvn3", "vni", "ascii"]

SCHEMES: tuple[str, ...] = ("tcvn3", "vni")

_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")  # huyền sắc ngã hỏi nặng
_VOWEL_MARKS = frozenset("\u0302\u0306\u031b")  # mũ, trăng, móc
_VN_MARKS = _TONE_MARKS | _VOWEL_MARKS


class _Table:
    """One scheme's mapping, loaded from its TSV file."""

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        pairs: list[tuple[str, str]] = []
        text = resources.files("tthc.text").joinpath("charmaps", f"{scheme}.tsv").read_text("utf-8")
        header_seen = False
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if not header_seen:
                header_seen = True
                if cols[0] == "unicode":
                    continue
            uni = unicodedata.normalize("NFC", cols[0])
            legacy = bytes.fromhex(cols[2]).decode("cp1252")
            pairs.append((uni, legacy))
        if not pairs:
            raise RuntimeError(f"empty charmap for {scheme}")
        self.to_unicode: dict[str, str] = {}
        self.to_legacy: dict[str, str] = {}
        for uni, legacy in pairs:
            if legacy in self.to_unicode:
                raise RuntimeError(f"{scheme}: legacy sequence {legacy!r} mapped twice")
            self.to_unicode[legacy] = uni
            self.to_legacy[uni] = legacy
        if scheme == "tcvn3":
            # Uppercase toned letters missing from the ordinary font fall back to the
            # lowercase byte (see module docstring).
            for uni, legacy in list(self.to_legacy.items()):
                up = uni.upper()
                if up != uni and len(up) == 1 and up not in self.to_legacy:
                    self.to_legacy[up] = legacy
        self.encode_table = {ord(u): legacy for u, legacy in self.to_legacy.items()}
        if all(len(k) == 1 for k in self.to_unicode):
            self.decode_table: dict[int, str] | None = {ord(k): v for k, v in self.to_unicode.items()}
            self.decode_re: re.Pattern[str] | None = None
        else:
            self.decode_table = None
            # Longest match first: "ôù" (ớ) must win over "ô" (ơ).
            keys = sorted(self.to_unicode, key=lambda k: (-len(k), k))
            self.decode_re = re.compile("|".join(re.escape(k) for k in keys))
        self.legacy_chars = frozenset(ch for k in self.to_unicode for ch in k if ord(ch) > 0x7F)


@lru_cache(maxsize=None)
def _table(scheme: str) -> _Table:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown legacy scheme {scheme!r}; expected one of {SCHEMES}")
    return _Table(scheme)


def encode(text: str, scheme: Scheme) -> str:
    """Encode Unicode text (any normalization form) into ``scheme``.

    Returns the legacy bytes as a windows-1252-decoded ``str`` (what a legacy
    database column looks like when read by a modern driver). Characters with no
    legacy form are left unchanged.
    """
    t = _table(scheme)
    return unicodedata.normalize("NFC", text).translate(t.encode_table)


def encode_table(scheme: Scheme) -> dict[int, str]:
    """The ``str.translate`` table behind :func:`encode`, for callers with NFC text in a hot loop."""
    return _table(scheme).encode_table


def encode_bytes(text: str, scheme: Scheme) -> bytes:
    """Like :func:`encode` but returns the raw legacy bytes."""
    return encode(text, scheme).encode("cp1252", errors="replace")


def decode(text: str | bytes, scheme: Scheme) -> str:
    """Decode a legacy-encoded value to Unicode NFC.

    ``text`` is either the raw bytes or a ``str`` obtained by reading those bytes as
    windows-1252 / latin-1 (the two agree on every byte the tables use).
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("latin-1")
    t = _table(scheme)
    if t.decode_table is not None:
        out = text.translate(t.decode_table)
    else:
        assert t.decode_re is not None
        m = t.to_unicode
        out = t.decode_re.sub(lambda mo: m[mo.group(0)], text)
    out = unicodedata.normalize("NFC", out)
    if scheme == "tcvn3" and not out.isascii():
        out = _tcvn3_capitals(out)
    return out


def _untoned(ch: str) -> str:
    """The letter without its tone mark (vowel marks kept): 'ứ' -> 'ư'."""
    return unicodedata.normalize("NFC", "".join(c for c in unicodedata.normalize("NFD", ch) if c not in _TONE_MARKS))


@lru_cache(maxsize=4096)  # per character: a name repeats its letters
def _is_toned_lower(ch: str) -> bool:
    return ch.islower() and not ch.isascii() and any(c in _TONE_MARKS for c in unicodedata.normalize("NFD", ch))


_CAPITAL_PAIR = re.compile(r"([A-ZĂÂĐÊÔƠƯ])(\w)")
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1 << 14)
def _capital_pair(pair: str) -> str:
    cap, low = pair[0], pair[1]
    if _is_toned_lower(low) and _untoned(low) == cap.lower():
        return low.upper()
    return pair


@lru_cache(maxsize=1 << 16)  # per distinct word: syllables repeat across names
def _capital_word(w: str) -> str:
    ascii_letters = [c for c in w if c.isascii() and c.isalpha()]
    if (sum(c.isupper() for c in w) >= 2 and not any(c.islower() for c in ascii_letters)
            and any(_is_toned_lower(c) for c in w)):
        return w.upper()
    return w


def _tcvn3_capitals(text: str) -> str:
    """Toned capitals in both legacy conventions (module docstring): 'Ư'+'ứ' -> 'Ứ'; 'NGUYễN' -> 'NGUYỄN'."""
    text = _CAPITAL_PAIR.sub(lambda m: _capital_pair(m.group(0)), text)
    return _WORD.sub(lambda m: _capital_word(m.group(0)), text)


# --------------------------------------------------------------------------- detection

_ONSET = r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvxfjwz])"
_NUCLEI = (
    # triphthongs and vowel+glide triples
    "iêu yêu uôi ươi ươu oai oay oao oeo uây uya uyê uyu "
    # diphthongs and vowel+glide pairs
    "iê yê uô ươ oa oă oe uê uy uâ uơ "
    "ai ao au ay âu ây eo êu ia iu oi ôi ơi ui ưi ưu ua ưa "
    # single vowels
    "a ă â e ê i o ô ơ u ư y"
).split()
_NUCLEUS = "(?:" + "|".join(sorted(_NUCLEI, key=len, reverse=True)) + ")"
_CODA = r"(?:ch|ng|nh|[cmnpt])"
_SYLLABLE_RE = re.compile(rf"^(?P<onset>{_ONSET})?(?P<nucleus>{_NUCLEUS})(?P<coda>{_CODA})?$")
_FRONT = ("i", "e", "ê")


def _spelling_ok(onset: str, nucleus: str, coda: str, tone: str | None) -> bool:
    """Vietnamese spelling rules a well-formed syllable also obeys (they break encoding ties)."""
    if coda in ("c", "ch", "p", "t") and tone not in ("\u0301", "\u0323"):
        return False  # a stop coda takes only sắc or nặng
    first = nucleus[0]
    if onset in ("ngh", "gh") and first not in _FRONT:
        return False
    if onset == "k" and first not in _FRONT + ("y",):
        return False
    if onset in ("c", "ng") and first in _FRONT + ("y",):
        return False
    if onset == "qu" and first in ("o", "u"):
        return False
    if nucleus in ("ă", "â") and not coda:
        return False
    if coda == "ch" and nucleus[-1] not in ("a", "ê", "i"):
        return False
    if coda == "nh" and nucleus[-1] not in ("a", "ê", "i", "y"):
        return False
    if nucleus == "e" and coda == "c":
        return False
    return True
_TOKEN_SPLIT_RE = re.compile(r"[\s0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]+")


@lru_cache(maxsize=4096)  # per character
def _is_vietnamese_char(ch: str) -> bool:
    """True for letters/combining marks outside Latin-1 that only Unicode Vietnamese uses."""
    if ch in "đĐ":
        return True
    if ch in _VN_MARKS:
        return True
    decomp = unicodedata.normalize("NFD", ch)
    return len(decomp) > 1 and decomp[0].isascii() and decomp[0].isalpha() and all(c in _VN_MARKS for c in decomp[1:])


@lru_cache(maxsize=1 << 16)  # syllables repeat: a few thousand cover most names
def _valid_word(word: str) -> bool:
    """Is ``word`` a well-formed Vietnamese syllable (or an unaccented ASCII word)?"""
    if not (word.islower() or word.isupper() or word.istitle()):
        return False
    if word.isascii():
        return word.isalpha()
    base_chars: list[str] = []
    tones = 0
    tone = None
    for ch in unicodedata.normalize("NFD", word.lower()):
        if ch in _TONE_MARKS:
            tones += 1
            tone = ch
        elif ch in _VOWEL_MARKS:
            if not base_chars:
                return False
            base_chars[-1] = unicodedata.normalize("NFC", base_chars[-1] + ch)
        elif ch == "đ" or ("a" <= ch <= "z"):
            base_chars.append(ch)
        else:
            return False
    if tones > 1:
        return False
    m = _SYLLABLE_RE.match("".join(base_chars))
    return bool(m) and _spelling_ok(m["onset"] or "", m["nucleus"], m["coda"] or "", tone)


def _score(text: str) -> tuple[int, int]:
    """(valid words, words) over the alphabetic tokens of ``text``."""
    valid = total = 0
    for tok in _TOKEN_SPLIT_RE.split(text):
        if not tok:
            continue
        total += 1
        if _valid_word(tok):
            valid += 1
    return valid, total


def detect(text: str | None) -> Detected:
    """Guess the encoding of one value.

    Returns ``"ascii"`` for pure-ASCII text (nothing to decode), ``"unicode"`` when the
    value is already Unicode (it contains letters that only Unicode Vietnamese has, or
    it reads best as is), else ``"tcvn3"`` or ``"vni"``. Ties go to ``"unicode"``.
    """
    if not text or text.isascii():
        return "ascii"
    if any(ord(ch) > 0xFF and _is_vietnamese_char(ch) for ch in text):
        return "unicode"
    best: Detected = "unicode"
    best_valid, total = _score(text)
    if total == 0:
        return "unicode"
    for scheme in ("vni", "tcvn3"):
        t = _table(scheme)
        if not any(ch in t.legacy_chars for ch in text):
            continue
        valid, _ = _score(decode(text, scheme))  # type: ignore[arg-type]
        if valid > best_valid:
            best, best_valid = scheme, valid  # type: ignore[assignment]
    return best


@lru_cache(maxsize=1 << 16)
def _profile(text: str) -> tuple[bool, bool, int, int, int | None, int | None]:
    """(ascii, has Unicode-only Vietnamese letters, valid words as is, words, valid as VNI or None
    when it has no VNI byte, valid as TCVN3 or None): what detect weighs, per distinct value."""
    if text.isascii():
        return True, False, 0, 0, None, None
    if any(ord(ch) > 0xFF and _is_vietnamese_char(ch) for ch in text):
        return False, True, 0, 0, None, None
    valid, total = _score(text)
    legacy = []
    for scheme in ("vni", "tcvn3"):
        t = _table(scheme)
        legacy.append(_score(decode(text, scheme))[0] if any(ch in t.legacy_chars for ch in text) else None)
    return False, False, valid, total, legacy[0], legacy[1]


def detect_many(values) -> Detected:
    """One guess over several values (a row's text columns), as :func:`detect` on their joined text,
    with the work per distinct value cached."""
    profiles = [_profile(str(v)) for v in values if v is not None and str(v) != ""]
    if all(p[0] for p in profiles):
        return "ascii"
    if any(p[1] for p in profiles):
        return "unicode"
    best: Detected = "unicode"
    best_valid = sum(p[2] for p in profiles)
    if sum(p[3] for p in profiles) == 0:
        return "unicode"
    for i, scheme in ((4, "vni"), (5, "tcvn3")):
        if all(p[i] is None for p in profiles):
            continue
        valid = sum(p[2] if p[i] is None else p[i] for p in profiles)
        if valid > best_valid:
            best, best_valid = scheme, valid  # type: ignore[assignment]
    return best


def to_unicode(text: str | None, scheme: str | None = None) -> str | None:
    """Return ``text`` as Unicode NFC, decoding it from ``scheme`` or from the detected encoding."""
    if text is None:
        return None
    if scheme is None:
        detected = detect(text)
        scheme = detected if detected in SCHEMES else None
    if scheme in SCHEMES:
        return decode(text, scheme)  # type: ignore[arg-type]
    return unicodedata.normalize("NFC", text)
