"""The rule compiler: what extraction derives from a rules dict (folded titles, label indexes, fuzzy
matchers, the inline-label pattern), built once per rules object and thread."""

from __future__ import annotations

import difflib
import re
import threading
import unicodedata

from tthc.scans.rules import fold, squash
from tthc.scans.fields.lines import _LabelIndex
from tthc.scans.fields.values import _WORDS


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
