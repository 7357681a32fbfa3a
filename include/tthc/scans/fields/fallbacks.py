"""Fallbacks when a field has no label line: the agency header, dates in words, the body from the place."""

from __future__ import annotations

import re

from tthc.scans.rules import fold
from tthc.scans.fields.lines import _Line
from tthc.scans.fields.values import _WORDS, date_in_words


def _is_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) / len(letters) > 0.8


def _agency_header(lines: list[_Line], title_idx: int, rules: dict) -> str | None:
    """The issuing agency from the agency block (the header's left column, beside the motto): its tiers
    ("UBND HUYỆN HỒNG NGỰ" / "UBND XÃ THƯỜNG THỚI TIỀN"), each maybe wrapped onto a capitalised
    line ("ỦY BAN NHÂN DÂN" / "XÃ TÂN DƯƠNG"); the issuer is the last tier. Abbreviations expanded."""
    st = rules["settings"]
    window = [ln for ln in lines if ln.text and (title_idx < 0 or ln.idx < title_idx)][: st["title_search_lines"]]
    tiers: list[list[str]] = []
    closed = False
    for ln in window:
        if any(r.search(ln.folded) for r in st["motto_lines"]):
            continue
        head = " ".join(_WORDS.findall(ln.folded)) + " "   # "UBND-XÃ A" starts a tier like "UBND XÃ A"
        # Never a "Label: value" line, nor a number ("Số: 30/2019" / "Số 30/2019" is no "Sở").
        starts = (any(head.startswith(p + " ") for p in st["agency_prefixes"])
                  and not any(ch in st["separators"] for ch in ln.text)
                  and not any(ch.isdigit() for ch in ln.text.split(" ", 1)[-1][:3]))
        if starts and _is_caps(ln.text) and not closed:
            tiers.append([ln.text])
        elif tiers and not closed and _is_caps(ln.text) and len(tiers[-1]) < 2:
            tiers[-1].append(ln.text)   # a tier wrapped onto a second capitalised line
        elif tiers:
            closed = True               # the block ends at the first other line (fields, "Số: …")
        elif starts and not any(ch.isdigit() for ch in ln.text):
            tiers.append([ln.text])     # a lower-case agency line ("Ủy ban nhân dân xã A")
            closed = True
    if not tiers:
        return None
    words = _WORDS.findall(" ".join(tiers[-1]))
    abbr = st["abbreviations"]
    return " ".join(abbr.get(fold(w), w) for w in words)


def _date_words(lines: list[_Line], hit_lines: set[int], fmt: dict) -> str | None:
    """The last date in words outside the label lines: the place and date above the signature
    ("Tân Dương, ngày 3 tháng 4 năm 2019"), its fixed words repaired."""
    words = fmt.get("date_words") or (("ngày", "tháng", "năm"), 0.5)
    found = None
    for ln in lines:
        if ln.text and ln.idx not in hit_lines:
            m = date_in_words(ln.text, *words)
            if m:
                found = m[0]
    return found


_PLACE_HEAD = re.compile(r"^([^,;]+)")


def _body_from_place(place: str, rules: dict) -> str | None:
    """The committee a registration place names ("Ủy ban nhân dân xã A, huyện B, tỉnh C" -> "Ủy ban nhân
    dân xã A"): on civil-status papers the registering committee is the issuer."""
    m = _PLACE_HEAD.match(place.strip())
    if not m:
        return None
    head = m.group(1).strip()
    f = fold(head)
    if not any(f.startswith(p + " ") for p in rules["settings"]["agency_prefixes"] if p in ("uy ban nhan dan", "ubnd")):
        return None
    abbr = rules["settings"]["abbreviations"]
    return " ".join(abbr.get(fold(w), w) for w in head.split())
