"""Personal and organization names: legacy encodings → Unicode NFC, spacing, Vietnamese capitalization,
and a diacritic-free key for fuzzy matching."""

from __future__ import annotations

import re
import unicodedata

from tthc.text.legacy_encoding import to_unicode

_SPACES = re.compile(r"\s+")
_STRAY = re.compile(r"[^\w\s'\-.]", re.UNICODE)


def normalize_person_name(value: str | None, encoding: str | None = None) -> str | None:
    """'nguyÔn v¨n an ' (TCVN3) → 'Nguyễn Văn An'. None or blank → None."""
    if value is None:
        return None
    text = to_unicode(str(value), encoding) if encoding != "unicode" else str(value)
    text = unicodedata.normalize("NFC", text or "")
    text = _STRAY.sub(" ", text)
    text = _SPACES.sub(" ", text).strip(" .-")
    if not text:
        return None
    return " ".join(_capitalize(word) for word in text.split(" "))


def _capitalize(word: str) -> str:
    # title(), not upper(): 'ß'.upper() is 'SS', which would capitalize differently on a second pass
    return "-".join(part[:1].title() + part[1:].lower() for part in word.split("-"))


def name_key(value: str | None) -> str:
    """Lowercase, no diacritics, đ→d, single spaces: 'Nguyễn Văn An' and 'NGUYEN VAN AN' share a key."""
    if not value:
        return ""
    text = unicodedata.normalize("NFD", value.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", text.lower()).strip()
