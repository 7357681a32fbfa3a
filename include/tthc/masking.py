"""Masks for personal data in what people read: quarantine reasons, Data Docs, the application.

A personal ID shows its last 3 digits at most; a birth date shows nothing; a name shows the first
letter of each word. What is masked stays whole where it belongs (the quarantined payload, core)."""

from __future__ import annotations

import re

# 9 to 12 digits in a row, single spaces or dots allowed between them: a CMND or CCCD as typed.
# Shorter numbers (years, counts, row numbers) are left alone, and so are dash-joined ones: result
# codes and book numbers join a year and a serial with dashes ('…-2024-000005-K').
ID_LIKE = re.compile(r"(?<![\d])(?:\d[ .]?){8,11}\d(?![\d])")


def mask_id(value: str | None) -> str | None:
    """'079190001234' → '*********234'."""
    if not value:
        return value
    return "*" * max(0, len(value) - 3) + value[-3:]


def mask_name(name: str | None) -> str | None:
    """'Nguyễn Thị Lan' → 'N*** T** L**': the shape an official needs to match a paper, not the name."""
    if not name:
        return name
    return " ".join(w[0] + "*" * max(2, len(w) - 1) for w in name.split())


def mask_birth_date(value) -> str | None:
    """Every digit of a birth date hidden: '1990-05-01' → '****-**-**'."""
    if value is None:
        return None
    return re.sub(r"\d", "*", str(value))


def mask_ids_in_text(text: str | None) -> str | None:
    """Every ID-like digit run in free text masked to its last 3 digits."""
    if not text:
        return text
    return ID_LIKE.sub(lambda m: mask_id(re.sub(r"\D", "", m.group(0))), text)
