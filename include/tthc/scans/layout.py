"""Page geometry → text lines and columns.

Words come with their boxes: Tesseract's word boxes for OCR (tesserocr's iterator or the TSV of
``image_to_data``), PDFium's character boxes for text layers. Lines are rebuilt from the boxes and,
inside a line, a horizontal gap much wider than a word space starts a new column segment. Segments
are joined with a TAB, so that

    UBND HUYỆN HỒNG NGỰ          CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
    Số: 309/2024      Quyển số: 02

become "UBND HUYỆN HỒNG NGỰ\\tCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and "Số: 309/2024\\tQuyển số: 02":
the agency block and the motto, or two labels, are two segments for the field extractor
(tthc.scans.fields), never one run-on line.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

# A gap wider than this many line heights (text size) between two words starts a new column.
# A word space is ~0.3 of the text size; "Số: 309/2024    Quyển số: 02" leaves ~1.3.
COLUMN_GAP = 1.0
# Characters of a text layer further apart than this share of the font size are separate words.
WORD_GAP = 0.12
SEGMENT_SEPARATOR = "\t"


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float    # top (y grows downwards)
    x1: float
    y1: float    # bottom

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def join_line(words: list[Word], size: float | None = None, gap: float = COLUMN_GAP) -> str:
    """One line's words, left to right: a space between words, a TAB at a column gap.
    size: the text size in the words' units (default: the median word height of the line)."""
    words = sorted((w for w in words if w.text.strip()), key=lambda w: w.x0)
    if not words:
        return ""
    size = size or statistics.median(w.height for w in words) or 1.0
    out = [words[0].text.strip()]
    for prev, w in zip(words, words[1:]):
        out.append(SEGMENT_SEPARATOR if w.x0 - prev.x1 > gap * size else " ")
        out.append(w.text.strip())
    return "".join(out)


def lines_text(lines: list[list[Word]], gap: float = COLUMN_GAP) -> str:
    """Lines of words (an OCR engine's own line grouping) as text, one line each, top to bottom."""
    keyed = [(min(w.y0 for w in ln), min(w.x0 for w in ln), ln) for ln in lines if ln]
    keyed.sort(key=lambda t: (t[0], t[1]))
    return "\n".join(t for t in (join_line(ln, gap=gap) for _, _, ln in _merge_rows(keyed)) if t)


def _merge_rows(keyed: list[tuple[float, float, list[Word]]]) -> list[tuple[float, float, list[Word]]]:
    """Lines the engine put in different blocks but that sit side by side (vertical spans overlapping by
    more than half the smaller one) become one row: the columns of a header, a label beside a label."""
    rows: list[tuple[float, float, list[Word]]] = []
    for top, left, ln in keyed:
        y0, y1 = min(w.y0 for w in ln), max(w.y1 for w in ln)
        for i, (rtop, rleft, rwords) in enumerate(rows[-3:], start=max(0, len(rows) - 3)):
            r0, r1 = min(w.y0 for w in rwords), max(w.y1 for w in rwords)
            overlap = min(y1, r1) - max(y0, r0)
            no_clash = (max(w.x1 for w in rwords) <= min(w.x0 for w in ln)
                        or min(w.x0 for w in rwords) >= max(w.x1 for w in ln))
            if overlap > 0.5 * min(y1 - y0, r1 - r0) and no_clash:
                rows[i] = (rtop, rleft, rwords + ln)
                break
        else:
            rows.append((top, left, list(ln)))
    return rows


def chars_text(chars: list[tuple[str, float, float, float, float, float, float]], gap: float = COLUMN_GAP) -> str:
    """A text layer's characters (char, left, top, right, bottom, font size, baseline; y downwards) as
    lines: characters on one baseline form a row, words are split where glyphs are apart, columns where
    the gap is wide. Whitespace characters are ignored: the geometry says where the spaces are."""
    glyphs = [c for c in chars if c[0].strip() and c[3] >= c[1]]
    if not glyphs:
        return ""
    glyphs.sort(key=lambda c: (c[6], c[1]))
    rows: list[list] = []
    for c in glyphs:
        mid = c[6]
        size = c[5] or (c[4] - c[2]) or 1.0
        if rows and abs(mid - rows[-1][0]) <= 0.3 * max(size, rows[-1][1]):
            rows[-1][2].append(c)
        else:
            rows.append([mid, size, [c]])
    out = []
    for _, _, row in rows:
        row.sort(key=lambda c: c[1])
        size = statistics.median(c[5] or (c[4] - c[2]) or 1.0 for c in row)
        words: list[Word] = []
        cur = [row[0]]
        for prev, c in zip(row, row[1:]):
            if c[1] - prev[3] > WORD_GAP * size:
                words.append(_word(cur))
                cur = [c]
            else:
                cur.append(c)
        words.append(_word(cur))
        out.append(join_line(words, size=size, gap=gap))
    return "\n".join(out)


def _word(chars: list) -> Word:
    return Word("".join(c[0] for c in chars), min(c[1] for c in chars), min(c[2] for c in chars),
                max(c[3] for c in chars), max(c[4] for c in chars))


def pdfium_page_text(textpage, page_height: float) -> str:
    """The text layer of a PDFium page as geometric lines (chars_text)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    raw = textpage.raw
    n = pdfium_c.FPDFText_CountChars(raw)
    text = textpage.get_text_range(0, n) if n > 0 else ""
    if len(text) != n:   # characters outside the BMP: the text no longer maps 1:1 onto char indices
        text = "".join(chr(pdfium_c.FPDFText_GetUnicode(raw, i)) for i in range(n))
    ox, oy = ctypes.c_double(), ctypes.c_double()
    rect = pdfium_c.FS_RECTF()
    chars = []
    for i, ch in enumerate(text):
        if not ch.strip() or ch == "\ufffe":   # spaces and PDFium's generated line breaks: geometry decides
            continue
        # The loose box spans the glyph's advance: letters of a word touch, a space leaves a gap.
        if not pdfium_c.FPDFText_GetLooseCharBox(raw, i, rect):
            continue
        size = pdfium_c.FPDFText_GetFontSize(raw, i)
        baseline = rect.bottom
        if pdfium_c.FPDFText_GetCharOrigin(raw, i, ox, oy):
            baseline = oy.value
        chars.append((ch, rect.left, page_height - rect.top, rect.right, page_height - rect.bottom, size,
                      page_height - baseline))
    return _nfc(chars_text(chars))


def _nfc(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFC", text)


__all__ = ["COLUMN_GAP", "SEGMENT_SEPARATOR", "Word", "chars_text", "join_line", "lines_text", "pdfium_page_text"]
