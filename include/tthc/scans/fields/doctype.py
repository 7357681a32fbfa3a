"""The document type, from the title lines (exact, folded or fuzzy match) or the hint."""

from __future__ import annotations


from tthc.scans.rules import clean_ws, ratio_at_least, squash
from tthc.scans.fields.compiled import _prepared
from tthc.scans.fields.lines import _Line
from tthc.scans.fields.types import FieldGuess


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
    best_sq = None
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
