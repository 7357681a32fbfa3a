"""Unique result codes (ký hiệu riêng): format, check character, validation, allocation.

The format is configuration: TTHC_RESULT_CODE_TEMPLATE, default
    {agency}-{type}-{year}-{serial:06d}-{check}
e.g. 000.01.22.H20-KS-2015-000123-7. It embeds the issuing agency's electronic ID
(QĐ 20/2020), the result type and the issue year, like the dossier code of
TT 01/2018 (000.00.14.H20-200703-0002).

The check character is ISO 7064 MOD 37,36 (python-stdnum) over the code's letters
and digits, so any single mistyped character or swapped neighbours is detected.
Serials come from core.result_code_counter, allocated in the database.
"""

from __future__ import annotations

import functools
import io
import re
import string
from collections import defaultdict
from dataclasses import dataclass

from psycopg2.extras import execute_values
from stdnum.iso7064 import mod_37_36

DEFAULT_TEMPLATE = "{agency}-{type}-{year}-{serial:06d}-{check}"
FIELDS = {"agency", "type", "year", "serial", "check"}


class CodeFormatError(ValueError):
    pass


@dataclass(frozen=True)
class CodeFormat:
    template: str = DEFAULT_TEMPLATE

    def __post_init__(self):
        names = [f for _, f, _, _ in string.Formatter().parse(self.template) if f is not None]
        if set(names) != FIELDS or len(names) != len(FIELDS):
            raise CodeFormatError(f"result-code template {self.template!r} must use each of {sorted(FIELDS)} once")
        if not self.template.rstrip().endswith("{check}"):
            raise CodeFormatError(f"result-code template {self.template!r} must end with {{check}}")

    @classmethod
    def from_env(cls) -> "CodeFormat":
        from tthc.settings import settings

        return cls(settings().result_code_template or DEFAULT_TEMPLATE)

    @functools.cached_property
    def pattern(self) -> re.Pattern:
        """The shape of a code in this format (the check character itself is verified separately);
        built once per format object (the application checks every code it is asked for)."""
        parts = []
        for literal, name, spec, _ in string.Formatter().parse(self.template):
            parts.append(re.escape(literal))
            if name is not None:
                width = re.match(r"0?(\d+)d$", spec or "")
                parts.append({
                    "agency": r"\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}",
                    "type": r"[A-Z]{2,5}",
                    "year": r"\d{4}",
                    "serial": rf"\d{{{width.group(1)},}}" if width else r"\d+",
                    "check": r"[0-9A-Z]",
                }[name])
        return re.compile("^" + "".join(parts) + "$")

    def render(self, agency: str, type_: str, year: int, serial: int) -> str:
        body = self.template.replace("{check}", "\x00").format(agency=agency, type=type_, year=year, serial=serial)
        return body.replace("\x00", check_character(body.replace("\x00", "")))


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def check_character(body: str) -> str:
    """ISO 7064 MOD 37,36 check character over the letters and digits of `body`."""
    return mod_37_36.calc_check_digit(_alnum(body))


def is_valid_code(code: str, fmt: CodeFormat | None = None) -> bool:
    """True when `code` has the configured shape and its check character is right (typo detection)."""
    fmt = fmt or CodeFormat.from_env()
    if not isinstance(code, str) or not fmt.pattern.match(code):
        return False
    try:
        return mod_37_36.is_valid(_alnum(code))
    except Exception:  # noqa: BLE001 - stdnum raises on characters outside the alphabet
        return False


def allocate_serials(cur, agency_id: str, procedure_code: str, year: int, count: int) -> range:
    """Reserve `count` consecutive serials for (agency, type, year); safe under concurrency."""
    key = (agency_id, procedure_code, year)
    return allocate_serial_blocks(cur, {key: count})[key]


def allocate_serial_blocks(cur, counts: dict[tuple[str, str, int], int]) -> dict[tuple, range]:
    """allocate_serials for many (agency, type, year) groups in one statement. Rows are locked in key
    order, so concurrent allocators cannot deadlock."""
    if not counts:
        return {}
    rows = execute_values(cur, """
        INSERT INTO core.result_code_counter AS c (agency_id, procedure_code, issue_year, last_serial)
        VALUES %s
        ON CONFLICT (agency_id, procedure_code, issue_year)
        DO UPDATE SET last_serial = c.last_serial + EXCLUDED.last_serial
        RETURNING agency_id, procedure_code, issue_year, last_serial""",
        [(a, t, y, n) for (a, t, y), n in sorted(counts.items())], page_size=len(counts), fetch=True)
    return {(a, t, y): range(last - counts[(a, t, y)] + 1, last + 1) for a, t, y, last in rows}


def assign_result_codes(cur, fmt: CodeFormat | None = None) -> int:
    """Give every core.result without a code its code. A code, once set, never changes.

    Serials follow (issue_date, doc_book, doc_number, result_id) within each
    (agency, type, year), so the same input gives the same codes.
    """
    fmt = fmt or CodeFormat.from_env()
    cur.execute("""
        SELECT result_id, agency_id, procedure_code, extract(year FROM issue_date)::int
        FROM core.result WHERE result_code IS NULL
        ORDER BY agency_id, procedure_code, issue_date, doc_book, doc_number, result_id
        FOR UPDATE SKIP LOCKED""")
    groups: dict[tuple, list[int]] = defaultdict(list)
    for result_id, agency, type_, year in cur.fetchall():
        groups[(agency, type_, year)].append(result_id)
    updates = []
    for (agency, type_, year), serials in allocate_serial_blocks(cur, {k: len(v) for k, v in groups.items()}).items():
        for result_id, serial in zip(groups[(agency, type_, year)], serials):
            updates.append((result_id, fmt.render(agency, type_, year, serial)))
    if updates:
        # COPY then one UPDATE: a load chunk gets tens of thousands of codes at once.
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS new_result_code (result_id bigint, code text) ON COMMIT DROP")
        cur.copy_expert("COPY new_result_code FROM STDIN",
                        io.StringIO("".join(f"{rid}\t{code}\n" for rid, code in updates)))
        cur.execute("""UPDATE core.result r SET result_code = v.code, updated_at = now()
                       FROM new_result_code v WHERE r.result_id = v.result_id AND r.result_code IS NULL""")
        cur.execute("DROP TABLE new_result_code")
    return len(updates)


def likely_intended(code: str, fmt: CodeFormat | None = None) -> list[str]:
    """Codes one typo away from `code` (one character changed, or two neighbours swapped) that pass
    the check character: what the user probably meant. The caller keeps those that exist."""
    fmt = fmt or CodeFormat.from_env()
    code = (code or "").strip().upper()
    alphabet = string.digits + string.ascii_uppercase
    found: set[str] = set()
    positions = [i for i, ch in enumerate(code) if ch.isalnum()]
    for i in positions:
        for ch in alphabet:
            if ch != code[i]:
                candidate = code[:i] + ch + code[i + 1:]
                if is_valid_code(candidate, fmt):
                    found.add(candidate)
    for a, b in zip(positions, positions[1:]):
        if code[a] != code[b]:
            swapped = list(code)
            swapped[a], swapped[b] = swapped[b], swapped[a]
            candidate = "".join(swapped)
            if is_valid_code(candidate, fmt):
                found.add(candidate)
    return sorted(found - {code})
