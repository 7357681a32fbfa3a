"""Field extraction from the text of scanned results; the rules are data (seeds/scan_fields.yaml).

The intake pipeline OCRs (or reads the text layer of) each scan and calls
``extract_fields(pages, hints)``. We recognise the document type from its title, then
read ``Label: value`` lines. Labels are compared diacritic-insensitively because
Tesseract often drops or swaps Vietnamese marks; the price of a sloppy match is a lower
confidence, not a lost field. Values are returned as printed (whitespace and NFC
normalized, OCR letter/digit slips in numbers repaired); cleaning happens later.

Confidence of a field = label score x format score x OCR factor (see the YAML and
docs/scan_fields_and_legal.md); the overall confidence is the minimum over the
fields the document type requires (0 when one is missing or the type is unknown).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tthc.scans.rules import RulesError, clean_ws, default_rules_path, fold, load_rules, ratio_at_least, squash

__all__ = ["FieldGuess", "ExtractedFields", "RulesError", "load_rules", "extract_fields", "fold"]


@dataclass
class FieldGuess:
    value: str
    confidence: float
    rule: str

    def as_dict(self) -> dict:
        return {"value": self.value, "confidence": self.confidence, "rule": self.rule}


@dataclass
class ExtractedFields:
    document_type: FieldGuess | None
    fields: dict[str, FieldGuess] = field(default_factory=dict)
    confidence: float = 0.0
    # The fields the detected type requires (from the rules); not part of the equality contract.
    required: list[str] = field(default_factory=list, repr=False, compare=False)
    # Fields deliberately not read, and why (a table row not split into its columns).
    blocked: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def missing_required(self) -> list[str]:
        return [f for f in self.required if f not in self.fields]

    def as_dict(self) -> dict:
        return {
            "document_type": self.document_type.as_dict() if self.document_type else None,
            "fields": {k: g.as_dict() for k, g in self.fields.items()},
            "confidence": self.confidence,
            "missing_required": self.missing_required,
            "blocked": self.blocked,
        }



# ------------------------------------------------------------------ value formats

_DIGIT_FIX = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "|": "1", "i": "1",
                            "!": "1", "S": "5", "B": "8", "Z": "2", "z": "2", "g": "9"})


_NUM_SEP_SPACES = re.compile(r"(?<=\d)\s*([/.\-])\s*(?=[\dOolI|])")
_ALNUM_TOKEN = re.compile(r"[0-9A-Za-z|!]+")
_SPACES_DOTS = re.compile(r"[\s.]")
_NAME_SPECKS = re.compile(r"(?<=\w)[.,_:;'`´|~]+(?=\w)|(?<=\w)[.,_:;`´|~]+(?=\s)")
_SLASH_REPAIRS = [(re.compile(r"(\d{1,7}/\d{4})([A-ZĐ][A-ZĐ0-9\-]*)"), r"\1/\2"),
                  (re.compile(r"(\d{1,5})((?:19|20)\d{2})"), r"\1/\2")]
_SPECK_COMMA = re.compile(r"\s*(?:,[.:;]*|[.:;]+,)\s*(?=\S)")
_SPECK_BEFORE_DIGIT = re.compile(r"(?<=[^\W\d_])[.:](?=\d)")
_SPECK_BEFORE_LOWER = re.compile(r"(?<=[^\W\d_]{2})[.:](?= [a-zà-ỹđ])|(?<= )['`´‘’](?=[^\W\d_])")
_LEADING_DEBRIS = re.compile(r"^(?:[^\w(\"']|[\u02b0-\u02ff])+")
_VALUE_HEAD = re.compile(r"^(?:[^\w(]|_)+")
_VALUE_TAIL = re.compile(r"(?:[^\w)]|_)+$")


def _repair_digits(value: str) -> str:
    """Fix letter/digit confusions inside tokens that are mostly digits ('2O15' -> '2015', 'l23' -> '123')."""

    def fix(tok: str) -> str:
        digits = sum(ch.isdigit() for ch in tok)
        letters = sum(ch.isalpha() or ch in "|!" for ch in tok)
        if digits and digits >= letters and digits + letters >= 2:
            return tok.translate(_DIGIT_FIX)
        return tok

    value = _NUM_SEP_SPACES.sub(r"\1", value)  # '05 / 10 /2010'
    return _ALNUM_TOKEN.sub(lambda m: fix(m.group(0)), value)


_DATE_NUM = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_DATE_WORDS = re.compile(r"^(?:ngay\s*)?(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})$")
_DATE_WORDS_IN_TEXT = re.compile(r"ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})")


_DATE_WORDS_LOOSE = re.compile(r"(?:\b([a-z]{2,6})[\s.,:]*)?\b(\d{1,2})[\s.,]*([a-z]{3,7})[\s.,]*(\d{1,2})[\s.,]*"
                               r"([a-z]{2,5})[\s.,]*(\d{4})\b")


def _word_close(token: str | None, word: str, minimum: float) -> bool:
    return token is not None and (token == word or difflib.SequenceMatcher(None, token, word).ratio() >= minimum)


def date_in_words(text: str, words: tuple[str, str, str] = ("ngày", "tháng", "năm"), minimum: float = 0.5,
                  *, whole: bool = False) -> tuple[str, int, int] | None:
    """The first "ngày D tháng M năm YYYY" in text, its fixed words repaired against the template's
    (OCR slips: "nắm", "thang", "narn"): (canonical text, start, end) or None. whole: the text must be
    nothing but the date."""
    folded = fold(text)
    day_w, month_w, year_w = (squash(w) for w in words)
    for m in _DATE_WORDS_LOOSE.finditer(folded):
        if not (_word_close(m[3], month_w, minimum) and _word_close(m[5], year_w, minimum)):
            continue
        start = m.start() if _word_close(m[1], day_w, minimum) else m.start(2)
        if whole and (folded[:start].strip(" ,.") or folded[m.end():].strip(" ,.")):
            return None
        canon = f"{words[0]} {int(m[2])} {words[1]} {int(m[4])} {words[2]} {m[6]}"
        return canon, start, m.end()
    return None


_NUMBER_WORDS = {"khong": 0, "mot": 1, "hai": 2, "ba": 3, "bon": 4, "tu": 4, "nam": 5, "lam": 5,
                 "sau": 6, "bay": 7, "tam": 8, "chin": 9}
_MONTH_NAMES = {"gieng": 1, "chap": 12}


def number_in_words(tokens: list[str]) -> int | None:
    """A Vietnamese number written in (folded) words, up to 9999: "mot nghin chin tram chin muoi lam",
    "hai nghin khong tram linh tu", "muoi lam", "hai muoi mot". None when the words are not a number."""
    total, current, last = 0, None, None    # current: the digits since the last scale word (None: none)
    for tok in tokens:
        if tok in ("nghin", "ngan", "tram"):
            total += (1 if current is None else current) * (1000 if tok != "tram" else 100)
            current, last = None, "scale"
        elif tok == "muoi":
            current = (1 if current is None else current) * 10
            last = "tens"
        elif tok in ("linh", "le"):
            last = "zero"
        elif tok in _NUMBER_WORDS:
            current = (current or 0) + _NUMBER_WORDS[tok]
            last = "digit"
        else:
            return None
    if last is None:
        return None
    return total + (current or 0)


def date_spelled_out(text: str) -> tuple[int, int, int] | None:
    """(day, month, year) of a date written in words ("ngày năm, tháng ba, năm một nghìn chín trăm chín
    mươi"), else None. The year's keyword is the "năm" just before the year's words (which hold "nghìn")."""
    toks = _WORDS.findall(fold(text))
    if "ngay" not in toks or "thang" not in toks:
        return None
    k = next((i for i, t in enumerate(toks) if t in ("nghin", "ngan")), None)
    if k is None or k < 2 or toks[k - 2] != "nam":
        return None
    i, j = toks.index("ngay"), toks.index("thang")
    if not i < j < k - 2:
        return None
    month_words = toks[j + 1:k - 2]
    month = _MONTH_NAMES.get(month_words[0]) if len(month_words) == 1 and month_words[0] in _MONTH_NAMES else \
        number_in_words(month_words)
    day, year_tail = number_in_words(toks[i + 1:j]), []
    for t in toks[k - 1:]:
        if t not in _NUMBER_WORDS and t not in ("nghin", "ngan", "tram", "muoi", "linh", "le"):
            break
        year_tail.append(t)
    year = number_in_words(year_tail)
    if None in (day, month, year):
        return None
    return day, month, year


# Old and new tone-mark placement are the same word ("Uỷ ban" = "Ủy ban", "hoà" = "hòa").
_TONE_PLACEMENT = {old: new for old, new in (
    ("oà", "òa"), ("oá", "óa"), ("oả", "ỏa"), ("oã", "õa"), ("oạ", "ọa"), ("oè", "òe"), ("oé", "óe"),
    ("oẻ", "ỏe"), ("oẽ", "õe"), ("oẹ", "ọe"), ("uỳ", "ùy"), ("uý", "úy"), ("uỷ", "ủy"), ("uỹ", "ũy"), ("uỵ", "ụy"))}
_TONE_RE = re.compile("|".join(_TONE_PLACEMENT))


def _tones(text: str) -> str:
    return _TONE_RE.sub(lambda m: _TONE_PLACEMENT[m.group(0)], unicodedata.normalize("NFC", text).lower())


def _fix_phrases(value: str, phrases: tuple[str, ...], minimum: float) -> str:
    """Each run of words close to a fixed phrase is replaced by the phrase as the template prints it:
    same letters with other diacritics ("nhần"), or a difflib ratio of the squashed forms >= minimum
    ("SIỂI Đồng Tháp", "tỉnh ¡ ĐÓN Tháp"). Runs as long as the phrase or one word longer (a speck
    read as a word) are tried; never a shorter one ("…, Đồng Tháp" is written so, not misread)."""
    words = value.split(" ")
    for phrase in phrases:
        target, low = squash(phrase), _tones(phrase)
        n = len(phrase.split())
        best = None
        for size in (n, n + 1):
            for i in range(0, len(words) - size + 1):
                if any(w.endswith((",", ";")) for w in words[i:i + size - 1]):
                    continue              # a phrase never spans a comma
                text = " ".join(words[i:i + size])
                run = squash(text)
                if not run:
                    continue
                if _tones(text.strip(",.;:")) == low:
                    r = 2.0                       # as printed: nothing to repair, and it wins
                elif run == target:
                    r = 1.5                       # the same letters, other diacritics
                else:
                    r = difflib.SequenceMatcher(None, run, target).ratio()
                if r >= minimum and (best is None or r > best[0]):
                    best = (r, i, size)
        if best is not None and best[0] < 2.0:
            _, i, size = best
            tail = re.search(r"[^\w]*$", words[i + size - 1]).group(0)   # keep the comma after the run
            words[i:i + size] = (phrase + tail).split(" ")
    return " ".join(words)


def _check_date(value: str) -> bool:
    f = fold(value).strip()
    m = _DATE_NUM.match(f) or _DATE_WORDS.match(f)
    if not m:
        return False
    try:
        d = dt.date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return False
    return 1900 <= d.year <= 2100


def _check_mst(value: str) -> bool | None:
    """True: valid check digit; False: well-formed but the check digit is wrong."""
    from stdnum.vn import mst

    return bool(mst.is_valid(value))


def _check_format(raw: str, fmt: dict, conf: dict) -> tuple[str, float, str]:
    """(value, format score, rule suffix). Tries the value as is, then with OCR digit repair."""
    candidates = [(raw, "ok", "")]
    if fmt["strip_spaces"]:
        candidates.append((_SPACES_DOTS.sub("", raw), "ok", "+spaces"))
    if fmt["digits"]:
        fixed = _repair_digits(raw)
        if fmt["strip_spaces"]:
            fixed = _SPACES_DOTS.sub("", fixed)
        candidates.append((fixed, "repaired", "+digit_fix"))
    if fmt.get("fix_specks"):
        # Scanner specks read as punctuation in running text: "rượu. bia", "Thuận,.Xã", "Số.86".
        fixed = _SPECK_COMMA.sub(", ", raw)
        fixed = _SPECK_BEFORE_DIGIT.sub(" ", fixed)
        fixed = _SPECK_BEFORE_LOWER.sub("", fixed)
        if fixed != raw:
            candidates.insert(0, (clean_ws(fixed), "repaired", "+speck_fix"))
    if fmt.get("phrases"):
        # Fixed phrases of the forms misread by OCR ("Ủy ban nhần dân", "SIỂI Đồng Tháp"): put back.
        base = candidates[0][0] if candidates[0][2] == "+speck_fix" else raw
        fixed = _fix_phrases(base, *fmt["phrases"])
        if fixed != base:
            candidates.insert(0, (fixed, "repaired", "+phrase_fixed"))
    if fmt["fix_punctuation"]:
        # Specks read as punctuation inside a name ('Nguyễn Gia.Tân', 'Lê, Văn') become spaces.
        fixed = " ".join(_NAME_SPECKS.sub(" ", raw).split())
        candidates.append((fixed, "repaired", "+punct_fix"))
    if fmt["digits"] and len(raw.split()) > 1:
        # A speck read as a trailing token ('123/2015 a'): drop up to two trailing tokens.
        toks = raw.split()
        for n in (1, 2):
            if len(toks) > n:
                cut = _repair_digits(" ".join(toks[:-n]))
                candidates.append((_SPACES_DOTS.sub("", cut) if fmt["strip_spaces"] else cut, "repaired", "+trimmed"))
    if fmt.get("date_words"):
        # A date in words: always in the template's words ("nắm" -> "năm", "thang" -> "tháng"); folded,
        # a slip would pass the check as printed, and cleaning reads only the real words.
        found = date_in_words(raw, *fmt["date_words"], whole=True)
        if found:
            canon = found[0]
            same = clean_ws(raw).lower() in (canon, canon.split(" ", 1)[1])
            candidates.insert(0, (raw, "ok", "") if same else (canon, "repaired", "+words_fixed"))
    if fmt.get("slash_repair"):
        # OCR lost a slash: "332/2015DKHKD" -> "332/2015/DKHKD", "3892002" -> "389/2002".
        fixed = _repair_digits(raw).replace(" ", "")
        for pattern, repl in _SLASH_REPAIRS:
            if pattern.fullmatch(fixed):
                candidates.append((pattern.sub(repl, fixed), "repaired", "+slash_fixed"))
                break
    if fmt.get("search") is not None:
        # The value inside more text: "CCCD số 087201856100", "05/03/1990 (bằng chữ: …)".
        for text in {_repair_digits(raw), _SPACES_DOTS.sub("", _repair_digits(raw)) if fmt["strip_spaces"] else raw}:
            m = fmt["search"].search(text)
            if m:
                suffix = "+found_in_text"
                if fmt["check"] == "date":   # "05/03/1990 (bằng chữ: ngày năm, tháng ba, năm một nghìn …)"
                    spelled = date_spelled_out(raw[m.end():] if text is raw else raw)
                    if spelled is not None:
                        d = _DATE_NUM.match(m.group(0))
                        figures = (int(d[1]), int(d[2]), int(d[3])) if d else None
                        suffix += "+agrees_with_words" if spelled == figures else "+disagrees_with_words"
                candidates.append((m.group(0), "repaired", suffix))
                break
    for value, grade, suffix in candidates:
        if fmt["patterns"] and not any(p.fullmatch(value) for p in fmt["patterns"]):
            continue
        if fmt["check"] == "date" and not _check_date(value):
            continue
        if fmt["check"] == "mst" and not _check_mst(value):
            return value, min(conf["format"][grade], conf["format"]["checksum"]), suffix + "+bad_checksum"
        return value, conf["format"][grade], suffix
    return raw, conf["format"]["failed"], "+format_failed"


# ------------------------------------------------------------------ line analysis


@dataclass
class _Line:
    idx: int
    text: str          # NFC, whitespace collapsed ("" for a blank line / page break)
    folded: str
    row: int = -1      # the printed line this segment is on (segments of one row share it)
    col: int = 0       # the segment's place on its row, left to right


@dataclass
class _LabelHit:
    line: int
    fields: dict[str, tuple[float, str]]   # field -> (label score, match kind)
    value: str
    after_sep: bool


# A column gap: the layout's TAB (tthc.scans.layout), or a wide run of spaces in plain text.
_SEGMENTS = re.compile(r"\t| {4,}")


def _lines(pages: list[str]) -> list[_Line]:
    """The pages as segments: one per column of each printed line, then a blank one per page break."""
    out: list[_Line] = []
    row = 0
    for page in pages:
        for raw in str(page or "").replace("\f", "\n").split("\n"):
            # Segments that are only OCR debris ("-", ":", "|") are no column.
            parts = [p for p in (_LEADING_DEBRIS.sub("", clean_ws(x)).strip() for x in _SEGMENTS.split(raw))
                     if _WORDS.search(p)]
            if not parts:
                out.append(_Line(len(out), "", "", row))
            for col, t in enumerate(parts):  # leading OCR debris dropped: '| Số:', '— Họ và tên'
                out.append(_Line(len(out), t, fold(t), row, col))
            row += 1
        out.append(_Line(len(out), "", "", row))            # page break ends multi-line values
        row += 1
    return out


def _split_inline(lines: list[_Line], pattern: re.Pattern | None, seps: str) -> list[_Line]:
    """A second "Label:" inside a segment's value starts a segment of its own: "Số: 309/2024 Quyển số: 02"
    read as one line gives two fields. Only after a first separator, so a long label is never cut."""
    if pattern is None:
        return lines
    out: list[_Line] = []
    for ln in lines:
        pieces = [ln.text]
        while True:
            text = pieces[-1]
            first = next((i for i, ch in enumerate(text) if ch in seps), -1)
            m = pattern.search(fold(text), first + 1) if first > 0 else None
            if m is None or not text[:m.start()].strip():
                break
            pieces[-1:] = [text[:m.start()].rstrip(), text[m.start():]]
        for k, t in enumerate(pieces):
            out.append(_Line(len(out), t, fold(t), ln.row, ln.col + k))
    return out


class _LabelIndex:
    """A labels mapping (field -> labels) prepared once per rules load: squashed forms, an exact
    lookup table, and one difflib matcher per label long enough for fuzzy matching."""

    def __init__(self, labels: dict[str, list[str]], settings: dict):
        self.fields = list(labels)
        # squashed label -> [(field, label lower-cased)] in file order
        self.exact: dict[str, list[tuple[str, str]]] = {}
        self.fuzzy: list[tuple[str, difflib.SequenceMatcher]] = []
        entries = []
        for fname, lst in labels.items():
            for label in lst:
                lab_sq = squash(label)
                if not lab_sq:
                    continue
                entries.append((lab_sq, label, fname))
                self.exact.setdefault(lab_sq, []).append((fname, label.lower()))
                if len(lab_sq) >= settings["fuzzy_label_min_length"]:
                    m = difflib.SequenceMatcher(None, "", lab_sq, autojunk=True)
                    self.fuzzy.append((fname, m))
        # squashed label part -> fields it fuzzily matches (label parts repeat across pages)
        self.fuzzy_seen: dict[str, list[str]] = {}
        # Longest first, as the no-separator prefix match wants them; same order as before per key.
        self.prefix: dict[str, list[tuple[str, str]]] = {}
        for lab_sq, label, fname in sorted(entries, key=lambda x: -len(x[0])):
            self.prefix.setdefault(lab_sq, []).append((label, fname))
        # Holder fields, and the other-person words their own labels carry ("chồng" on KH).
        self.others = settings.get("other_person_words", [])
        self.holder_own_words = {f: {w for w in self.others for lab in labels.get(f, []) if _has_words(fold(lab), w)}
                                 for f in settings.get("holder_fields", []) if f in labels}

    def foreign_person(self, fname: str, label_text: str) -> bool:
        """The label names somebody else than the holder field fname is for ("Họ và tên mẹ")."""
        own = self.holder_own_words.get(fname)
        if own is None:
            return False
        folded = fold(label_text)
        return any(w not in own and _has_words(folded, w) for w in self.others)


def _has_words(folded: str, words: str) -> bool:
    """folded text holds these (folded) words as whole words."""
    return f" {words} " in " " + " ".join(_WORDS.findall(folded)) + " "


_WORDS = re.compile(r"[^\W_]+")


def _match_label(part: str, sep: str, index: _LabelIndex, rules: dict) -> dict[str, tuple[float, str]]:
    """Score the label part of a line against every field's labels: field -> (score, kind).
    Exact/folded matches come from a table lookup; fuzzy matching only runs when it could still
    change the answer (it never beats an exact or folded match with the default scores)."""
    st, lc = rules["settings"], rules["confidence"]["label"]
    part_sq = squash(part)
    if not part_sq:
        return {}
    best: dict[str, tuple[float, str]] = {}
    exact_list = index.exact.get(part_sq)
    if exact_list:
        part_low = clean_ws(unicodedata.normalize("NFC", part).lower())
        for fname, lab_low in exact_list:
            exact = part_low == lab_low and sep == ":"
            cand = (lc["exact"], "exact") if exact else (lc["folded"], "folded")
            if fname not in best or cand[0] > best[fname][0]:
                best[fname] = cand
    scores = [v[0] for v in best.values()]
    if not scores or not (max(scores) > lc["fuzzy"] and min(scores) >= lc["fuzzy"]):
        fuzzy_fields = index.fuzzy_seen.get(part_sq)
        if fuzzy_fields is None:
            minimum = st["fuzzy_label_min_ratio"]
            fuzzy_fields = [fname for fname, matcher in index.fuzzy
                            if matcher.b != part_sq   # an exact key, scored above
                            and ratio_at_least(matcher, part_sq, minimum) is not None]
            if len(index.fuzzy_seen) > 20000:  # OCR noise is endless: bound the memo
                index.fuzzy_seen.clear()
            index.fuzzy_seen[part_sq] = fuzzy_fields
        for fname in fuzzy_fields:
            cand = (lc["fuzzy"], "fuzzy")
            if fname not in best or cand[0] > best[fname][0]:
                best[fname] = cand
    for fname in [f for f in best if index.foreign_person(f, part)]:
        del best[fname]   # "Họ và tên mẹ" is never the holder, whatever the fuzzy score
    if not best:
        return {}
    # Field order as in the labels mapping; keep only the best-scoring fields for this line.
    top = max(v[0] for v in best.values())
    return {k: best[k] for k in index.fields if k in best and best[k][0] == top}


def _label_hits(lines: list[_Line], index: _LabelIndex, formats: dict[str, dict], rules: dict) -> list[_LabelHit]:
    st, lc = rules["settings"], rules["confidence"]["label"]
    seps = st["separators"]
    prefix = index.prefix
    hits: list[_LabelHit] = []
    for ln in lines:
        if not ln.text:
            continue
        pos = next((i for i, ch in enumerate(ln.text) if ch in seps), -1)
        if pos > 0:
            part = ln.text[:pos]
            if len(part.split()) <= st["max_label_words"]:
                found = _match_label(part, ln.text[pos], index, rules)
                if found:
                    hits.append(_LabelHit(ln.idx, found, ln.text[pos + 1:].strip(), True))
                    continue
        # No separator (or an unknown label part): the label as a line prefix, "Ngày cấp 05/10/2010".
        words = ln.text.split(" ")
        top = min(len(words) - 1, st["max_label_words"])
        # squash() works character by character, so a head's key is the join of its words' keys.
        word_sq = [squash(w) for w in words[:max(top, 0)]]
        for n in range(top, 0, -1):
            head_sq = "".join(word_sq[:n])
            candidates = prefix.get(head_sq) if head_sq else None
            if not candidates:
                continue
            rest = " ".join(words[n:]).lstrip(".,:;-–— ").strip()
            if not rest:
                continue
            found = {}
            for label, fname in candidates:
                if index.foreign_person(fname, " ".join(words[:n + 3])):
                    continue  # "Họ và tên mẹ Nguyễn Thị C": the label goes on past the holder's
                short = len(label.split()) < 2
                fmt = formats[rules["fields"][fname]["format"]]
                if short and _check_format(rest, fmt, rules["confidence"])[1] < rules["confidence"]["format"]["repaired"]:
                    continue  # 'Số tầng 2' is no document number: short labels need a well-formed value
                found[fname] = (lc["no_separator"], "no_separator")
            if found:
                hits.append(_LabelHit(ln.idx, found, rest, False))
                break
    return hits


def _is_label_line(ln: _Line, hit_lines: set[int], seps: str) -> bool:
    if ln.idx in hit_lines:
        return True
    pos = next((i for i, ch in enumerate(ln.text) if ch in seps), -1)
    return 0 < pos and len(ln.text[:pos].split()) <= 5


def _is_stop_line(ln: _Line, rules: dict) -> bool:
    if any(r.search(ln.folded) for r in rules["settings"]["stop_lines"]):
        return True
    letters = [c for c in ln.text if c.isalpha()]
    # Signature-block headings are all capitals ("TM. ỦY BAN NHÂN DÂN"); values are not.
    return len(letters) >= 4 and sum(c.isupper() for c in letters) / len(letters) > 0.8


# ------------------------------------------------------------------ prepared rules


class _Prepared:
    """Everything extract_fields derives from the rules, computed once per rules object (so once per
    load_rules cache entry, i.e. per path and mtime): folded titles, label indexes, fuzzy matchers."""

    def __init__(self, rules: dict):
        st, tc = rules["settings"], rules["confidence"]["title"]
        self.titles_by_sq: dict[str, list[tuple[str, str, str]]] = {}
        self.title_rank: dict[tuple[str, str], int] = {}
        self.title_matchers: list[tuple[str, str, difflib.SequenceMatcher]] = []
        for code, t in rules["document_types"].items():
            for title in t["titles"]:
                t_sq, t_up = squash(title), unicodedata.normalize("NFC", title).upper()
                self.titles_by_sq.setdefault(t_sq, []).append((code, t_sq, t_up))
                self.title_rank.setdefault((code, t_sq), len(self.title_rank))
                self.title_matchers.append((code, t_sq, difflib.SequenceMatcher(None, "", t_sq)))
        self.exact_beats_fuzzy = tc["fuzzy"] < min(tc["exact"], tc["folded"])
        self.type_labels = {code: _LabelIndex(t["labels"], st) for code, t in rules["document_types"].items()}
        self.all_labels = {n: list(f["labels"]) for n, f in rules["fields"].items()}
        self.untyped_labels = _LabelIndex(self.all_labels, st)
        # Labels of two words or more, followed by a separator: where a second label starts inside a line.
        words = {tuple(_WORDS.findall(fold(lab)))
                 for lst in [*self.all_labels.values(),
                             *(lab for t in rules["document_types"].values() for lab in t["labels"].values()),
                             *(r["labels"] for t in rules["document_types"].values() for r in t["rows"])]
                 for lab in lst}
        alts = sorted((w for w in words if len(w) >= 2), key=lambda w: (-len(" ".join(w)), w))
        seps = re.escape(st["separators"])
        self.inline = re.compile(r"(?<![^\W_])(?:" + "|".join(r"[\W_]*".join(map(re.escape, w)) for w in alts)
                                 + rf")\s*[{seps}]") if alts else None
        self.rows = {code: [(r, {squash(lab) for lab in r["labels"]}) for r in t["rows"]]
                     for code, t in rules["document_types"].items()}


_prepared_cache: dict[tuple[int, int], tuple[dict, _Prepared]] = {}
_cache_lock = threading.Lock()


def _prepared(rules: dict) -> _Prepared:
    """The prepared form of a rules dict. Per thread: the difflib matchers keep state between calls."""
    key = (id(rules), threading.get_ident())
    hit = _prepared_cache.get(key)
    if hit is not None and hit[0] is rules:
        return hit[1]
    prep = _Prepared(rules)
    with _cache_lock:
        if len(_prepared_cache) > 64:  # rules objects passed by hand: don't grow without bound
            _prepared_cache.clear()
        _prepared_cache[key] = (rules, prep)   # holding rules keeps its id from being reused
    return prep


# ------------------------------------------------------------------ document type


def _detect_type(lines: list[_Line], rules: dict, hint: str | None) -> tuple[str | None, FieldGuess | None, int]:
    """(code, guess, title line index or -1)."""
    st, tc = rules["settings"], rules["confidence"]["title"]
    prep = _prepared(rules)
    window = [ln for ln in lines if ln.text][: st["title_search_lines"]]
    # A title may wrap: try each line alone and joined with the next. squash() works character by
    # character, so the joined key is the two keys concatenated.
    line_sq = [squash(ln.text) for ln in window]
    texts: list[tuple[_Line, str, str]] = []   # (line, text, squashed) in line order
    for i, ln in enumerate(window):
        texts.append((ln, ln.text, line_sq[i]))
        if i + 1 < len(window):
            texts.append((ln, ln.text + " " + window[i + 1].text, line_sq[i] + line_sq[i + 1]))
    best: tuple | None = None   # (score, ratio, title length, -line, code, kind)
    # Exact/folded first: a table lookup per line. They outscore any fuzzy match (checked at load).
    for ln, text, sq in texts:
        for code, t_sq, t_up in prep.titles_by_sq.get(sq, ()):
            exact = clean_ws(text).upper().rstrip(".") == t_up
            key = (tc["exact"] if exact else tc["folded"], 1.0, len(t_sq), -ln.idx, code,
                   "exact" if exact else "folded")
            if best is None or key[:4] > best[:4] or (key[:4] == best[:4] and prep.title_rank[(code, t_sq)] < prep.title_rank[(best[4], best_sq)]):
                best, best_sq = key, t_sq
    if best is None or not prep.exact_beats_fuzzy:
        # Fuzzy only as a fallback, in the original order (type, title, line), so ties resolve the same.
        minimum = st["fuzzy_title_min_ratio"]
        for code, t_sq, matcher in prep.title_matchers:
            for ln, text, sq in texts:
                if sq == t_sq or len(sq) < 6:
                    continue
                r = ratio_at_least(matcher, sq, minimum)
                if r is None:
                    continue
                key = (tc["fuzzy"], r, len(t_sq), -ln.idx, code, "fuzzy")
                if best is None or key[:4] > best[:4]:
                    best = key
    if best:
        score, _, _, neg_idx, code, kind = best
        return code, FieldGuess(code, round(score, 4), f"title_{kind}"), -neg_idx
    if hint and hint in rules["document_types"]:
        return hint, FieldGuess(hint, tc["hint"], "hint"), -1
    return None, None, -1


# ------------------------------------------------------------------ fallbacks


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


# ------------------------------------------------------------------ extraction


def _ocr_factor(hints: dict, rules: dict) -> float:
    ocr = hints.get("ocr_confidence")
    if ocr is None:
        return 1.0
    try:
        ocr = max(0.0, min(100.0, float(ocr)))
    except (TypeError, ValueError):
        raise ValueError(f"hints['ocr_confidence'] must be a number 0-100, got {ocr!r}") from None
    floor = rules["confidence"]["ocr_floor"]
    return floor + (1.0 - floor) * ocr / 100.0


def _strip_value(value: str) -> str:
    """Whitespace/NFC normalized, without OCR debris at the ends ('369/2007 _ :' -> '369/2007')."""
    value = clean_ws(value)
    value = _VALUE_HEAD.sub("", value)
    return _VALUE_TAIL.sub("", value).strip()


def _table_rows(lines: list[_Line], specs: list, rules: dict, ocr_factor: float, used: set[int],
                found_at: dict[str, int], out: dict[str, FieldGuess], blocked: dict[str, str]) -> None:
    """Table rows (the 2016/2020 marriage certificate): a label, then one value per column, each in
    its own segment. A row whose values are not split into exactly that many segments gives none of
    its fields: a run-on "Nguyễn Văn A Trần Thị B" is no holder name."""
    conf, seps = rules["confidence"], rules["settings"]["separators"]
    by_row: dict[int, list[_Line]] = {}
    for ln in lines:
        if ln.text:
            by_row.setdefault(ln.row, []).append(ln)
    for spec, keys in specs:
        for ln in lines:
            if not ln.text or ln.idx in used:
                continue
            pos = next((i for i, ch in enumerate(ln.text) if ch in seps), -1)
            label = ln.text[:pos] if pos > 0 else ln.text
            if squash(label) not in keys:
                continue
            first = ln.text[pos + 1:].strip() if pos > 0 else ""
            rest = [x.text for x in by_row[ln.row] if x.col > ln.col]
            if not rest:
                continue  # a label line of its own ("Ngày sinh: …" under "Họ và tên chồng"): not a table
            values = ([first] if first else []) + rest
            names = spec["fields"]
            if len(values) != len(names):
                for n in names:
                    blocked.setdefault(n, f"the table row {label.strip()!r} is not split into {len(names)} columns")
                continue
            exact = pos > 0 and ln.text[pos] == ":" and clean_ws(label).lower() in {x.lower() for x in spec["labels"]}
            score = conf["label"]["exact"] if exact else conf["label"]["folded"]
            for n, raw in zip(names, values):
                fmt = rules["formats"][rules["fields"][n]["format"]]
                value, fscore, fextra = _check_format(_strip_value(raw), fmt, conf)
                out[n] = FieldGuess(value, round(score * fscore * ocr_factor, 4),
                                    f"label_{'exact' if exact else 'folded'}+column{fextra}")
                found_at[n] = ln.idx
            used.add(ln.idx)
            break


def extract_fields(pages: list[str], hints: dict | None = None, *, rules: dict | None = None) -> ExtractedFields:
    """Recognise the document type and read its fields from page texts (OCR or text layer).

    Page text is lines; a TAB (or a run of 3+ spaces) separates the columns of a line (see
    tthc.scans.layout), and each column is read on its own.

    hints: ``ocr_confidence`` (0-100, mean Tesseract word confidence) scales every field's
    confidence; ``procedure_code`` (e.g. from the drop manifest or file name) is used as the
    type when no title is recognised (with a lower confidence).
    """
    hints = dict(hints or {})
    rules = rules or load_rules(hints.get("rules_path"))
    if isinstance(pages, str):
        pages = [pages]
    prep = _prepared(rules)
    seps = rules["settings"]["separators"]
    lines = _split_inline(_lines(list(pages)), prep.inline, seps)
    code, type_guess, title_idx = _detect_type(lines, rules, hints.get("procedure_code"))
    if code:
        t = rules["document_types"][code]
        labels, anchors, required = t["labels"], t["anchors"], list(t["required"])
        index = prep.type_labels[code]
        row_specs = prep.rows[code]
    else:
        labels = prep.all_labels
        anchors, required = {}, []
        index = prep.untyped_labels
        row_specs = []
    conf = rules["confidence"]
    ocr_factor = _ocr_factor(hints, rules)
    found_at: dict[str, int] = {}
    out: dict[str, FieldGuess] = {}
    used: set[int] = set()
    blocked: dict[str, str] = {}
    _table_rows(lines, row_specs, rules, ocr_factor, used, found_at, out, blocked)
    hits = _label_hits(lines, index, rules["formats"], rules)
    hit_lines = {h.line for h in hits} | used

    # Resolve fields in anchor order (a field after the fields it is anchored to).
    order: list[str] = []
    pending = [n for n in rules["fields"] if labels.get(n) or rules["fields"][n]["fallback"]]
    while pending:
        progressed = False
        for n in list(pending):
            deps = set(anchors.get(n, {}).values())
            if deps <= set(order) or not deps & set(pending):
                order.append(n)
                pending.remove(n)
                progressed = True
        if not progressed:  # anchor cycle: resolve the rest in file order
            order.extend(pending)
            break

    for fname in order:
        if fname in out or fname in blocked:
            continue
        spec = rules["fields"][fname]
        fmt = rules["formats"][spec["format"]]
        lo, hi = -1, len(lines)
        anc = anchors.get(fname, {})
        if "after" in anc:
            if anc["after"] not in found_at:
                continue  # ambiguous without its anchor (the wife's birth date vs the husband's)
            lo = found_at[anc["after"]]
        if "before" in anc and anc["before"] in found_at:
            hi = found_at[anc["before"]]
        guess = None
        for h in hits:
            if not (lo < h.line < hi) or fname not in h.fields or h.line in used:
                continue
            score, kind = h.fields[fname]
            value, rule_extra, factor = h.value, "", 1.0
            if not value:  # label alone: the value is the next column of its row, or the next line
                nxt = next((ln for ln in lines[h.line + 1:h.line + 3] if ln.text), None)
                if nxt is None or _is_label_line(nxt, hit_lines, seps):
                    continue
                same_row = nxt.row == lines[h.line].row
                value, rule_extra = nxt.text, "+column" if same_row else "+next_line"
                factor = 1.0 if same_row else conf["next_line"]
                last = nxt.idx
            else:
                last = h.line
            if spec["multiline"]:
                while len(lines[last].text) >= rules["settings"]["wrap_min_chars"] and last + 1 < len(lines):
                    nxt = lines[last + 1]
                    if (not nxt.text or nxt.row == lines[last].row or nxt.col != 0
                            or _is_label_line(nxt, hit_lines, seps) or _is_stop_line(nxt, rules)):
                        break
                    value += " " + nxt.text
                    last = nxt.idx
                    rule_extra += "+wrapped" if "+wrapped" not in rule_extra else ""
            value = _strip_value(value)
            if not value:
                continue
            value, fscore, fextra = _check_format(value, fmt, conf)
            guess = FieldGuess(value, round(score * factor * fscore * ocr_factor, 4), f"label_{kind}{rule_extra}{fextra}")
            found_at[fname] = h.line
            used.add(h.line)
            break
        if guess is None and spec["fallback"]:
            if spec["fallback"] == "agency_header":
                value = _agency_header(lines, title_idx, rules)
            else:
                value = _date_words(lines, hit_lines, fmt)
            if value:
                value, fscore, fextra = _check_format(_strip_value(value), fmt, conf)
                guess = FieldGuess(value, round(conf["label"]["fallback"] * fscore * ocr_factor, 4),
                                   f"{spec['fallback']}{fextra}")
        if guess is not None:
            out[fname] = guess

    _cross_check_body(out, code, rules, ocr_factor)
    ordered = {n: out[n] for n in rules["fields"] if n in out}
    if type_guess is None:
        overall = 0.0
    else:
        overall = min([type_guess.confidence] + [out[n].confidence if n in out else 0.0 for n in required])
    return ExtractedFields(type_guess, ordered, round(overall, 4), required, blocked)


def _cross_check_body(out: dict[str, FieldGuess], code: str | None, rules: dict, ocr_factor: float) -> None:
    """The issuing body against the registration place. A required field another field already gives
    is derived, not failed: no agency line (or an unreadable one) -> the committee of the place. The
    header and the place naming the same committee confirm each other."""
    place = out.get("unit_name")
    derived = _body_from_place(place.value, rules) if place else None
    if not derived:
        return
    body = out.get("issuing_body")
    fb = rules["confidence"]["label"]["fallback"]
    if body is None or "+format_failed" in body.rule:
        out["issuing_body"] = FieldGuess(derived, round(fb * ocr_factor, 4), "derived_from_unit_name")
    elif squash(body.value) == squash(derived) and "+agrees_with_unit_name" not in body.rule:
        score = max(body.confidence, round(rules["confidence"]["label"]["folded"] * ocr_factor, 4))
        out["issuing_body"] = FieldGuess(body.value, score, body.rule + "+agrees_with_unit_name")


