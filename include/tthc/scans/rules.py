"""The scan-field rules (seeds/scan_fields.yaml): loading, validation and compilation, and the text
folding they are compared with. The extractor is tthc.scans.fields; page geometry is tthc.scans.layout.

load_rules(path) returns a plain dict (cached per path and mtime); RulesError names the file and the bad key.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from tthc.config.errors import ConfigError, validate
from tthc.config.scan_fields import ScanFieldsFile
from tthc.paths import seeds_dir

__all__ = ["RulesError", "load_rules", "default_rules_path", "fold", "squash", "clean_ws", "ratio_at_least"]

class RulesError(ConfigError):
    """The rules YAML is malformed; the message names the file and the bad key."""


# ------------------------------------------------------------------ text folding


def _fold_char(ch: str) -> str:
    if ch in "đĐ":
        return "d"
    base = unicodedata.normalize("NFD", ch)[0]
    low = base.lower()
    return low[0] if low else ch


class _FoldTable(dict):
    """str.translate table filled on first sight of each character: folding is one C-level pass."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()
# Not part of a key: punctuation, spaces, and the spacing accents OCR leaves as specks ("ˆ", "˜").
_NON_WORD = re.compile(r"[\W_\u02b0-\u02ff]+")


def fold(text: str) -> str:
    """Diacritic- and case-insensitive form, one character per input character (positions map back)."""
    return unicodedata.normalize("NFC", text).translate(_FOLD_TABLE)


def squash(text: str) -> str:
    """Folded, without spaces or punctuation: the key labels and titles are compared on."""
    return _NON_WORD.sub("", fold(text))


def ratio_at_least(matcher: difflib.SequenceMatcher, a: str, minimum: float) -> float | None:
    """difflib ratio of a against the matcher's seq2 when it reaches minimum, else None.
    The length and character-count bounds are exact upper bounds of ratio(), so they only skip
    the expensive computation, never a match."""
    b = matcher.b
    if 2.0 * min(len(a), len(b)) / (len(a) + len(b)) < minimum:
        return None
    matcher.set_seq1(a)
    if matcher.quick_ratio() < minimum:
        return None
    r = matcher.ratio()
    return r if r >= minimum else None


def clean_ws(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


# ------------------------------------------------------------------ rules loading

_RULE_SECTIONS = ("settings", "confidence", "formats", "fields", "document_types")
_CHECKS = {"date", "mst"}
_FALLBACKS = {"agency_header", "date_words"}
_cache: dict[tuple[str, int], dict] = {}
_cache_lock = threading.Lock()


def default_rules_path() -> Path:
    return seeds_dir() / "scan_fields.yaml"


_resolved_paths: dict[str, str] = {}
_default: dict[str | None, Path] = {}


def _default_path() -> Path:
    """default_rules_path(), memoised per TTHC_PROJECT_ROOT (it resolves paths: lstat calls)."""
    env = os.environ.get("TTHC_PROJECT_ROOT")
    if env not in _default:
        _default[env] = default_rules_path()
    return _default[env]


def _resolved(p: str) -> str:
    r = _resolved_paths.get(p)
    if r is None:
        r = _resolved_paths[p] = str(Path(p).resolve())
    return r


def load_rules(path: str | Path | None = None) -> dict:
    """Load and validate the rules YAML (cached by path and mtime). Raises RulesError naming file and key."""
    p = Path(path) if path is not None else _default_path()
    try:
        mtime = os.stat(p).st_mtime_ns   # one stat per call: an edited file is reloaded
    except OSError as exc:
        raise RulesError(f"{p}: cannot read the scan-field rules: {exc}") from None
    key = (_resolved(str(p)), mtime)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RulesError(f"{p}: not valid YAML: {exc}") from None
    if isinstance(raw, dict):
        validate(ScanFieldsFile, raw, str(p), RulesError)
    rules = _compile(raw, p)
    with _cache_lock:
        _cache[key] = rules
    return rules


def _need(cond: bool, path: Path, key: str, msg: str) -> None:
    if not cond:
        raise RulesError(f"{path}: {key}: {msg}")


def _str_list(value: Any, path: Path, key: str, *, allow_empty: bool = True) -> list[str]:
    _need(isinstance(value, list), path, key, f"must be a list of strings, got {type(value).__name__}")
    for i, v in enumerate(value):
        _need(isinstance(v, str) and v.strip() != "", path, f"{key}[{i}]", f"must be a non-empty string, got {v!r}")
    _need(allow_empty or bool(value), path, key, "must not be empty")
    return [clean_ws(v) for v in value]


def _regex(pattern: Any, path: Path, key: str) -> re.Pattern:
    _need(isinstance(pattern, str), path, key, f"must be a regex string, got {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise RulesError(f"{path}: {key}: bad regex {pattern!r}: {exc}") from None


def _number(value: Any, path: Path, key: str) -> float:
    _need(isinstance(value, (int, float)) and not isinstance(value, bool), path, key, f"must be a number, got {value!r}")
    return float(value)


def _compile(raw: Any, path: Path) -> dict:
    _need(isinstance(raw, dict), path, "<top level>", "must be a mapping")
    for sec in _RULE_SECTIONS:
        _need(sec in raw, path, sec, "missing section")
        _need(isinstance(raw[sec], dict), path, sec, "must be a mapping")
    unknown = set(raw) - set(_RULE_SECTIONS) - {"version", "confirmation"}
    _need(not unknown, path, ", ".join(sorted(map(str, unknown))), "unknown top-level key")

    s = raw["settings"]
    settings = {
        "separators": s.get("separators", ":;"),
        "max_label_words": int(_number(s.get("max_label_words", 7), path, "settings.max_label_words")),
        "fuzzy_label_min_ratio": _number(s.get("fuzzy_label_min_ratio", 0.84), path, "settings.fuzzy_label_min_ratio"),
        "fuzzy_label_min_length": int(_number(s.get("fuzzy_label_min_length", 6), path, "settings.fuzzy_label_min_length")),
        "title_search_lines": int(_number(s.get("title_search_lines", 20), path, "settings.title_search_lines")),
        "fuzzy_title_min_ratio": _number(s.get("fuzzy_title_min_ratio", 0.82), path, "settings.fuzzy_title_min_ratio"),
        "wrap_min_chars": int(_number(s.get("wrap_min_chars", 48), path, "settings.wrap_min_chars")),
        "stop_lines": [_regex(r, path, f"settings.stop_lines[{i}]") for i, r in enumerate(s.get("stop_lines", []))],
        "motto_lines": [_regex(r, path, f"settings.motto_lines[{i}]") for i, r in enumerate(s.get("motto_lines", []))],
        "agency_prefixes": [fold(x) for x in _str_list(s.get("agency_prefixes", []), path, "settings.agency_prefixes")],
        "other_person_words": [fold(x) for x in _str_list(s.get("other_person_words", []), path,
                                                          "settings.other_person_words")],
        "holder_fields": _str_list(s.get("holder_fields", []), path, "settings.holder_fields"),
        "date_words": _str_list(s.get("date_words", ["ngày", "tháng", "năm"]), path, "settings.date_words"),
        "date_word_min_ratio": _number(s.get("date_word_min_ratio", 0.5), path, "settings.date_word_min_ratio"),
        "phrase_min_ratio": _number(s.get("phrase_min_ratio", 0.75), path, "settings.phrase_min_ratio"),
    }
    abbr = s.get("abbreviations", {}) or {}
    _need(isinstance(abbr, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in abbr.items()),
          path, "settings.abbreviations", "must be a mapping abbreviation -> words")
    settings["abbreviations"] = {fold(k): clean_ws(v) for k, v in abbr.items()}
    _need(len(settings["date_words"]) == 3, path, "settings.date_words", "must list the words for day, month, year")
    _need(isinstance(settings["separators"], str) and settings["separators"], path, "settings.separators",
          "must be a non-empty string of characters")

    c = raw["confidence"]
    conf: dict[str, Any] = {}
    for group, keys in (("label", ("exact", "folded", "no_separator", "fuzzy", "fallback")),
                        ("format", ("ok", "repaired", "checksum", "failed")),
                        ("title", ("exact", "folded", "fuzzy", "hint"))):
        _need(isinstance(c.get(group), dict), path, f"confidence.{group}", "missing or not a mapping")
        conf[group] = {}
        for k in keys:
            _need(k in c[group], path, f"confidence.{group}.{k}", "missing")
            v = _number(c[group][k], path, f"confidence.{group}.{k}")
            _need(0.0 <= v <= 1.0, path, f"confidence.{group}.{k}", f"must be within 0..1, got {v}")
            conf[group][k] = v
    conf["next_line"] = _number(c.get("next_line", 0.9), path, "confidence.next_line")
    conf["ocr_floor"] = _number(c.get("ocr_floor", 0.5), path, "confidence.ocr_floor")

    formats: dict[str, dict] = {}
    for name, f in raw["formats"].items():
        key = f"formats.{name}"
        _need(isinstance(f, dict), path, key, "must be a mapping")
        bad = set(f) - {"digits", "strip_spaces", "fix_punctuation", "patterns", "check", "search",
                          "fix_specks", "slash_repair", "phrases"}
        _need(not bad, path, f"{key}.{sorted(bad)[0] if bad else ''}", "unknown key")
        check = f.get("check")
        _need(check is None or check in _CHECKS, path, f"{key}.check", f"unknown check {check!r}; known: {sorted(_CHECKS)}")
        pats = f.get("patterns", [])
        _need(isinstance(pats, list), path, f"{key}.patterns", "must be a list of regexes")
        _need(bool(pats) or check, path, key, "needs patterns or a check")
        formats[name] = {
            "digits": bool(f.get("digits", False)),
            "strip_spaces": bool(f.get("strip_spaces", False)),
            "fix_punctuation": bool(f.get("fix_punctuation", False)),
            "fix_specks": bool(f.get("fix_specks", False)),
            "slash_repair": bool(f.get("slash_repair", False)),
            "phrases": (tuple(_str_list(f["phrases"], path, f"{key}.phrases")),
                        settings["phrase_min_ratio"]) if f.get("phrases") else None,
            "patterns": [_regex(r, path, f"{key}.patterns[{i}]") for i, r in enumerate(pats)],
            "check": check,
            "search": _regex(f["search"], path, f"{key}.search") if f.get("search") else None,
        }

    for f in formats.values():  # the fixed words of a date in words, for the date check's slip repair
        if f["check"] == "date":
            f["date_words"] = (tuple(settings["date_words"]), settings["date_word_min_ratio"])

    fields: dict[str, dict] = {}
    for name, f in raw["fields"].items():
        key = f"fields.{name}"
        _need(isinstance(f, dict), path, key, "must be a mapping")
        bad = set(f) - {"format", "labels", "multiline", "fallback"}
        _need(not bad, path, f"{key}.{sorted(bad)[0] if bad else ''}", "unknown key")
        _need(f.get("format") in formats, path, f"{key}.format", f"unknown format {f.get('format')!r}; known: {sorted(formats)}")
        fb = f.get("fallback")
        _need(fb is None or fb in _FALLBACKS, path, f"{key}.fallback", f"unknown fallback {fb!r}; known: {sorted(_FALLBACKS)}")
        fields[name] = {
            "format": f["format"],
            "labels": _str_list(f.get("labels", []), path, f"{key}.labels"),
            "multiline": bool(f.get("multiline", False)),
            "fallback": fb,
        }

    types: dict[str, dict] = {}
    for code, t in raw["document_types"].items():
        key = f"document_types.{code}"
        _need(isinstance(code, str) and re.fullmatch(r"[A-Z]{2,5}", code or "") is not None, path, key,
              "the key must be a procedure code (2-5 capital letters)")
        _need(isinstance(t, dict), path, key, "must be a mapping")
        bad = set(t) - {"titles", "required", "labels", "anchors", "rows"}
        _need(not bad, path, f"{key}.{sorted(bad)[0] if bad else ''}", "unknown key")
        titles = _str_list(t.get("titles"), path, f"{key}.titles", allow_empty=False) if "titles" in t else None
        _need(titles is not None, path, f"{key}.titles", "missing")
        required = _str_list(t.get("required", []), path, f"{key}.required")
        for i, r in enumerate(required):
            _need(r in fields, path, f"{key}.required[{i}]", f"unknown field {r!r}")
        labels = {n: list(spec["labels"]) for n, spec in fields.items()}
        over = t.get("labels", {}) or {}
        _need(isinstance(over, dict), path, f"{key}.labels", "must be a mapping field -> list of labels")
        for n, lst in over.items():
            _need(n in fields, path, f"{key}.labels.{n}", "unknown field")
            labels[n] = _str_list(lst, path, f"{key}.labels.{n}")
        anchors = t.get("anchors", {}) or {}
        _need(isinstance(anchors, dict), path, f"{key}.anchors", "must be a mapping")
        for n, a in anchors.items():
            _need(n in fields, path, f"{key}.anchors.{n}", "unknown field")
            _need(isinstance(a, dict) and set(a) <= {"after", "before"} and a, path, f"{key}.anchors.{n}",
                  "must be a mapping with 'after' and/or 'before'")
            for side, other in a.items():
                _need(other in fields and other != n, path, f"{key}.anchors.{n}.{side}", f"unknown field {other!r}")
        rows = t.get("rows", []) or []
        _need(isinstance(rows, list), path, f"{key}.rows", "must be a list of {labels, fields}")
        for i, r in enumerate(rows):
            _need(isinstance(r, dict) and set(r) == {"labels", "fields"}, path, f"{key}.rows[{i}]",
                  "must be a mapping with 'labels' and 'fields'")
            r["labels"] = _str_list(r["labels"], path, f"{key}.rows[{i}].labels", allow_empty=False)
            r["fields"] = _str_list(r["fields"], path, f"{key}.rows[{i}].fields", allow_empty=False)
            for n in r["fields"]:
                _need(n in fields, path, f"{key}.rows[{i}].fields", f"unknown field {n!r}")
        types[code] = {"titles": titles, "required": required, "labels": labels, "anchors": anchors, "rows": rows}
    _need(bool(types), path, "document_types", "no document types")
    c = raw.get("confirmation") or {}
    _need(isinstance(c, dict), path, "confirmation", "must be a mapping")
    bad = set(c) - {"key_fields", "unconfirmed_rules", "contradictions", "name_words"}
    _need(not bad, path, f"confirmation.{sorted(bad)[0] if bad else ''}", "unknown key")
    key_fields = _str_list(c.get("key_fields", ["doc_number", "doc_book", "issue_date", "holder_name"]), path,
                           "confirmation.key_fields")
    for i, n in enumerate(key_fields):
        _need(n in fields, path, f"confirmation.key_fields[{i}]", f"unknown field {n!r}")
    marks, contradictions = c.get("unconfirmed_rules", {}) or {}, c.get("contradictions", {}) or {}
    for key, m in (("unconfirmed_rules", marks), ("contradictions", contradictions)):
        _need(isinstance(m, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in m.items()),
              path, f"confirmation.{key}", "must be a mapping rule mark -> reason")
    words = c.get("name_words", [2, 6])
    _need(isinstance(words, list) and len(words) == 2 and all(isinstance(x, int) for x in words) and words[0] <= words[1],
          path, "confirmation.name_words", "must be [fewest, most] words of a person's name")
    confirmation = {"key_fields": key_fields, "unconfirmed_rules": dict(marks), "contradictions": dict(contradictions),
                    "name_words": tuple(words)}
    return {"path": str(path), "settings": settings, "confidence": conf, "formats": formats,
            "fields": fields, "document_types": types, "confirmation": confirmation}

