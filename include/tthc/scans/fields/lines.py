"""Line analysis: the pages as lines and segments, the label index and where labels hit."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from tthc.scans.rules import clean_ws, fold, ratio_at_least, squash
from tthc.scans.fields.values import _LEADING_DEBRIS, _WORDS, _check_format


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
            # So is a lone lower-case or accented letter ("ị", "l", "Ỗ": a speck or a rule read as a
            # letter); a lone plain capital may be a value ("B") and stays.
            parts = [p for p in (_LEADING_DEBRIS.sub("", clean_ws(x)).strip() for x in _SEGMENTS.split(raw))
                     if _WORDS.search(p) and not (len(p) == 1 and (p.islower() or fold(p) != p.lower()))]
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
        # Labels of 3+ words as their words' keys: one garbled inner word ("Họ, chữ at, tên") is a near miss.
        self.worded: list[tuple[str, tuple[str, ...]]] = []
        for lab_sq, label, fname in entries:
            keys = tuple(k for k in (squash(w) for w in label.split()) if k)
            if len(keys) >= 3:
                self.worded.append((fname, keys))
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


def _one_inner_word_off(part: str, index: _LabelIndex) -> list[str]:
    """The field whose label (3+ words) this label part is, but for one inner word OCR garbled
    ("Họ, chữ at, tên" for "Họ, chữ đệm, tên"): same word count, first and last words the label's.
    Only when exactly one field's labels fit, so two labels differing in that word stay apart."""
    keys = tuple(k for k in (squash(w) for w in part.split()) if k)
    if len(keys) < 3:
        return []
    fields = {fname for fname, lab in index.worded
              if len(lab) == len(keys) and lab[0] == keys[0] and lab[-1] == keys[-1]
              and sum(a != b for a, b in zip(lab, keys)) == 1}
    return list(fields) if len(fields) == 1 else []


def _has_words(folded: str, words: str) -> bool:
    """folded text holds these (folded) words as whole words."""
    return f" {words} " in " " + " ".join(_WORDS.findall(folded)) + " "




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
            if not fuzzy_fields and not best:
                fuzzy_fields = _one_inner_word_off(part, index)
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
