"""Parse the mixed date formats of legacy databases and exports."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

# Two-digit years: 00..(this year's yy) -> 20xx, else 19xx.
_NUMERIC = [
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$"), ("y", "m", "d")),
    (re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$"), ("d", "m", "y")),
    (re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2})$"), ("d", "m", "yy")),
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), ("y", "m", "d")),
]
_WORDS = re.compile(r"^(?:ngày\s+)?(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})$", re.IGNORECASE)


class DateParseError(ValueError):
    pass


def parse_date(value, *, today: dt.date | None = None) -> dt.date:
    """dd/mm/yyyy, d/m/yy, yyyy-mm-dd, dd-mm-yyyy, dd.mm.yyyy, yyyymmdd, 'ngày 3 tháng 4 năm 2019'
    (Vietnamese order: day first), or a date/datetime. Raises DateParseError naming the value."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if value is None or not str(value).strip():
        raise DateParseError("empty date")
    text = " ".join(unicodedata.normalize("NFC", str(value)).strip().split())
    today = today or dt.date.today()
    if m := _WORDS.match(text):
        return _build(text, int(m[3]), int(m[2]), int(m[1]))
    for pattern, order in _NUMERIC:
        if m := pattern.match(text):
            parts = dict(zip(order, m.groups()))
            if "yy" in parts:
                yy = int(parts["yy"])
                year = 2000 + yy if yy <= today.year % 100 else 1900 + yy
            else:
                year = int(parts["y"])
            return _build(text, year, int(parts["m"]), int(parts["d"]))
    raise DateParseError(f"unrecognized date {value!r}")


def _build(text: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise DateParseError(f"impossible date {text!r}: {exc}") from None
