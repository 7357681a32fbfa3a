"""Precision before recall: when a scan's holder and key fields are confirmed.

A scan is linked to a result, or creates a paper-only one, only when the fields that identify
the result (number, book, issue date) and its holder are confirmed; otherwise it goes to the
review queue with the reasons this module gives. Confirmed means: read from the holder's own
label (never a fuzzy label match, never a hint), in a well-formed value, and agreeing with the
rest of the document (the personal ID's century/gender and year digits against the birth date;
a birth registered on or after the birth). Values from the drop's manifest or an official's
correction count as confirmed.

Works on what is stored per field (value, rule), so the review queue can re-run it. The policy
(key fields, the rule marks that make a value a guess, a name's word count) is the `confirmation`
section of seeds/scan_fields.yaml.
"""

from __future__ import annotations

import datetime as dt
import re

from tthc.clean.dates import parse_date

_NAME_WORD = re.compile(r"^[^\W\d_][^\W\d_'\-]*$")


def _unconfirmed(rule: str | None, marks: dict[str, str]) -> str | None:
    if rule is None:
        return None
    for mark, why in marks.items():
        if mark in rule:
            return why
    return None


def _name_problem(value: str, fewest: int, most: int) -> str | None:
    words = value.split()
    if not fewest <= len(words) <= most:
        return f"has {len(words)} words, not a person's name"
    if not all(_NAME_WORD.match(w) and w[0].isupper() for w in words):
        return "is not written as a name (capitalised words)"
    return None


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return parse_date(value)
    except Exception:  # noqa: BLE001 - an unparseable date is judged by its own format check
        return None


_GENDER = {"nam": 0, "nu": 1}


def id_birth_problem(person_id: str | None, birth: str | None, gender: str | None = None) -> str | None:
    """A 12-digit personal ID carries the century/gender digit (even: male, odd: female) and the year of
    birth (digits 4-6): they must agree with the birth date and the gender printed beside it."""
    from tthc.scans.rules import fold

    pid = re.sub(r"\D", "", person_id or "")
    if len(pid) != 12:
        return None
    born = _date(birth)
    century = {0: 1900, 1: 1900, 2: 2000, 3: 2000, 4: 2100, 5: 2100}.get(int(pid[3]))
    if born is not None and (century is None or century + int(pid[4:6]) != born.year):
        return f"personal ID {pid} does not agree with the birth date {birth}"
    sex = _GENDER.get(fold(gender or "").strip())
    if sex is not None and int(pid[3]) % 2 != sex:
        return f"personal ID {pid} does not agree with the gender {gender}"
    return None


def confirmation_problems(document_type: str | None, required: list[str],
                          fields: dict[str, tuple[str | None, str | None]], rules: dict | None = None) -> list[str]:
    """Why the holder or key fields of a scan are not confirmed ([] = confirmed).
    fields: name -> (value, rule); rule None = given by the manifest or an official (confirmed).
    rules: the scan-field rules (default seeds/scan_fields.yaml), section `confirmation`."""
    from tthc.scans.rules import load_rules

    policy = (rules or load_rules())["confirmation"]
    marks = policy["unconfirmed_rules"]
    problems = []
    dtype = fields.get("document_type", (document_type, None))
    why = _unconfirmed(dtype[1], marks)
    if why:
        problems.append(f"document type {dtype[0]} {why}")
    for name in [f for f in policy["key_fields"] if f in required]:
        value, rule = fields.get(name, (None, None))
        if not value:
            if name not in ("doc_number", "issue_date"):   # those two are reported by review_reasons itself
                problems.append(f"{name} not found")
            continue
        why = _unconfirmed(rule, marks)
        if why:
            problems.append(f"{name} {value!r} not confirmed: {why}")
        elif name in ("holder_name", "holder2_name") and rule is not None:
            bad = _name_problem(value, *policy["name_words"])
            if bad:
                problems.append(f"{name} {value!r} not confirmed: {bad}")
    for name, (value, rule) in fields.items():
        why = _unconfirmed(rule, policy["contradictions"])
        if why:
            problems.append(f"{name} {value!r}: {why}")
    for id_field, birth_field, gender_field in (("holder_id", "holder_birth_date", "gender"),
                                                ("holder2_id", "holder2_birth_date", None)):
        pid, pid_rule = fields.get(id_field, (None, None))
        birth, birth_rule = fields.get(birth_field, (None, None))
        if pid_rule is None and birth_rule is None:
            continue  # both given by people: their business
        bad = id_birth_problem(pid, birth, fields.get(gender_field, (None,))[0] if gender_field else None)
        if bad:
            problems.append(bad)
    if document_type == "KS":
        born, issued = _date(fields.get("holder_birth_date", (None,))[0]), _date(fields.get("issue_date", (None,))[0])
        if born and issued and issued < born:
            problems.append(f"issue date {issued:%d/%m/%Y} is before the birth date {born:%d/%m/%Y}")
    return problems


def _dmy(value) -> str:
    return value.strftime("%d/%m/%Y") if hasattr(value, "strftime") else str(value)


def warehouse_holder_problem(cur, cand: dict) -> str | None:
    """The scan against the warehouse's results of its agency and type:
    - a result with the scan's natural key (book, number, date) has another holder: the scan is of
      another paper, or its holder was misread;
    - no result has that key, but one of the same holder shares two of (number, date, book): the
      scan shows that result with a misread number, date or book; a new paper-only result would
      count it twice."""
    if not cand.get("holder_name_key") or not cand.get("doc_number") or not cand.get("issue_date"):
        return None
    key = (cand.get("agency_id"), cand.get("document_type"))
    cur.execute("""SELECT result_code, holder_name_key FROM core.result
                   WHERE agency_id = %s AND procedure_code = %s AND coalesce(doc_book, '') = coalesce(%s, '')
                     AND doc_number = %s AND issue_date = %s""",
                key + (cand.get("doc_book"), cand["doc_number"], cand["issue_date"]))
    same_key = cur.fetchall()
    for code, holder in same_key:
        if holder is not None and holder != cand["holder_name_key"]:
            return (f"the warehouse result {code or ''} with number {cand['doc_number']} has another holder "
                    f"than {cand.get('holder_name')!r}").replace("result  with", "result with")
    if same_key:
        return None
    cur.execute("""SELECT result_code, doc_number, issue_date, doc_book FROM core.result
                   WHERE agency_id = %s AND procedure_code = %s AND holder_name_key = %s
                     AND (doc_number = %s)::int + (issue_date = %s)::int
                         + (coalesce(doc_book, '') = coalesce(%s, ''))::int >= 2
                   ORDER BY result_id LIMIT 1""",
                key + (cand["holder_name_key"], cand["doc_number"], cand["issue_date"], cand.get("doc_book")))
    near = cur.fetchone()
    if near:
        code, number, issued, book = near
        return (f"the warehouse holds result {code or ''} of the same holder with number {number}, "
                f"book {book or '-'}, issued {_dmy(issued)}; the scan reads number {cand['doc_number']}, "
                f"book {cand.get('doc_book') or '-'}, issued {_dmy(cand['issue_date'])}: misread?"
                ).replace("result  of", "result of")
    return None


__all__ = ["confirmation_problems", "id_birth_problem", "warehouse_holder_problem"]
