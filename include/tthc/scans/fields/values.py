"""Value formats: OCR digit slips repaired, dates in numbers or words, phrase and tone fixes, and the
format check that scores a value."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata

from tthc.scans.rules import clean_ws, fold, squash


_WORDS = re.compile(r"[^\W_]+")


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
