"""The extractor: type, labelled fields, table rows and fallbacks into ExtractedFields."""

from __future__ import annotations


from tthc.scans.rules import clean_ws, load_rules, squash
from tthc.scans.fields.compiled import _prepared
from tthc.scans.fields.doctype import _detect_type
from tthc.scans.fields.fallbacks import _agency_header, _body_from_place, _date_words
from tthc.scans.fields.lines import _Line, _is_label_line, _is_stop_line, _label_hits, _lines, _split_inline
from tthc.scans.fields.types import ExtractedFields, FieldGuess
from tthc.scans.fields.values import _VALUE_HEAD, _VALUE_TAIL, _check_format


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
