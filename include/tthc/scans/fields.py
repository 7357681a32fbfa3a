"""Field extraction from the text of scanned results; the rules are data (seeds/scan_fields.yaml).

A1's intake pipeline OCRs (or reads the text layer of) each scan and calls
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

    @property
    def missing_required(self) -> list[str]:
        return [f for f in self.required if f not in self.fields]

    def as_dict(self) -> dict:
        return {
            "document_type": self.document_type.as_dict() if self.document_type else None,
            "fields": {k: g.as_dict() for k, g in self.fields.items()},
            "confidence": self.confidence,
            "missing_required": self.missing_required,
        }



# ------------------------------------------------------------------ value formats

_DIGIT_FIX = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "|": "1", "i": "1",
                            "!": "1", "S": "5", "B": "8", "Z": "2", "z": "2", "g": "9"})


_NUM_SEP_SPACES = re.compile(r"(?<=\d)\s*([/.\-])\s*(?=[\dOolI|])")
_ALNUM_TOKEN = re.compile(r"[0-9A-Za-z|!]+")
_SPACES_DOTS = re.compile(r"[\s.]")
_NAME_SPECKS = re.compile(r"(?<=\w)[.,_:;'`´|~]+(?=\w)|(?<=\w)[.,_:;`´|~]+(?=\s)")
_LEADING_DEBRIS = re.compile(r"^[^\w(\"']+")
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


@dataclass
class _LabelHit:
    line: int
    fields: dict[str, tuple[float, str]]   # field -> (label score, match kind)
    value: str
    after_sep: bool


def _lines(pages: list[str]) -> list[_Line]:
    out: list[_Line] = []
    for page in pages:
        for raw in str(page or "").replace("\f", "\n").split("\n"):
            t = clean_ws(raw)
            t = _LEADING_DEBRIS.sub("", t).strip()   # leading OCR debris: '| Số:', '— Họ và tên'
            out.append(_Line(len(out), t, fold(t)))
        out.append(_Line(len(out), "", ""))            # page break ends multi-line values
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


def _agency_header(lines: list[_Line], title_idx: int, rules: dict) -> str | None:
    st = rules["settings"]
    window = [ln for ln in lines if ln.text and (title_idx < 0 or ln.idx < title_idx)][: st["title_search_lines"]]
    parts: list[str] = []
    for ln in window:
        if any(r.search(ln.folded) for r in st["motto_lines"]):
            continue
        if parts:
            # An agency name wrapped onto a second capitalised line ("ỦY BAN NHÂN DÂN" / "XÃ TÂN DƯƠNG").
            letters = [c for c in ln.text if c.isalpha()]
            if letters and sum(c.isupper() for c in letters) / len(letters) > 0.8 and len(parts) < 2:
                parts.append(ln.text)
                continue
            break
        if any(ln.folded == p or ln.folded.startswith(p + " ") for p in st["agency_prefixes"]):
            parts.append(ln.text)
    return " ".join(parts) if parts else None


def _date_words(lines: list[_Line]) -> str | None:
    text = " ".join(ln.text for ln in lines if ln.text)
    m = _DATE_WORDS_IN_TEXT.search(fold(text))
    return text[m.start():m.end()] if m else None


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


def extract_fields(pages: list[str], hints: dict | None = None, *, rules: dict | None = None) -> ExtractedFields:
    """Recognise the document type and read its fields from page texts (OCR or text layer).

    hints: ``ocr_confidence`` (0-100, mean Tesseract word confidence) scales every field's
    confidence; ``procedure_code`` (e.g. from the drop manifest or file name) is used as the
    type when no title is recognised (with a lower confidence).
    """
    hints = dict(hints or {})
    rules = rules or load_rules(hints.get("rules_path"))
    if isinstance(pages, str):
        pages = [pages]
    lines = _lines(list(pages))
    prep = _prepared(rules)
    code, type_guess, title_idx = _detect_type(lines, rules, hints.get("procedure_code"))
    if code:
        t = rules["document_types"][code]
        labels, anchors, required = t["labels"], t["anchors"], list(t["required"])
        index = prep.type_labels[code]
    else:
        labels = prep.all_labels
        anchors, required = {}, []
        index = prep.untyped_labels
    conf = rules["confidence"]
    seps = rules["settings"]["separators"]
    ocr_factor = _ocr_factor(hints, rules)
    hits = _label_hits(lines, index, rules["formats"], rules)
    hit_lines = {h.line for h in hits}

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

    found_at: dict[str, int] = {}
    out: dict[str, FieldGuess] = {}
    used: set[int] = set()
    for fname in order:
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
            if not value:  # label alone on its line: the value is on the next line
                nxt = next((ln for ln in lines[h.line + 1:h.line + 3] if ln.text), None)
                if nxt is None or _is_label_line(nxt, hit_lines, seps):
                    continue
                value, rule_extra, factor = nxt.text, "+next_line", conf["next_line"]
                last = nxt.idx
            else:
                last = h.line
            if spec["multiline"]:
                while len(lines[last].text) >= rules["settings"]["wrap_min_chars"] and last + 1 < len(lines):
                    nxt = lines[last + 1]
                    if not nxt.text or _is_label_line(nxt, hit_lines, seps) or _is_stop_line(nxt, rules):
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
            value = _agency_header(lines, title_idx, rules) if spec["fallback"] == "agency_header" else _date_words(lines)
            if value:
                value, fscore, fextra = _check_format(_strip_value(value), fmt, conf)
                guess = FieldGuess(value, round(conf["label"]["fallback"] * fscore * ocr_factor, 4),
                                   f"{spec['fallback']}{fextra}")
        if guess is not None:
            out[fname] = guess

    ordered = {n: out[n] for n in rules["fields"] if n in out}
    if type_guess is None:
        overall = 0.0
    else:
        overall = min([type_guess.confidence] + [out[n].confidence if n in out else 0.0 for n in required])
    return ExtractedFields(type_guess, ordered, round(overall, 4), required)
