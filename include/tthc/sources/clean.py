"""Source row (as landed) → cleaned candidate for staging.result_candidate, via a RowMapping.

Nothing raises for bad data: each problem is recorded in clean_problems, and
validation then sends the row to quarantine with the reason.

Legacy columns repeat heavily (dates, units, agencies, names' encodings): the work per distinct
value is done once and kept in bounded caches on the CleanContext.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from tthc.clean.dates import DateParseError, parse_date
from tthc.clean.identifiers import check_personal_id, check_tax_code
from tthc.clean.names import name_key, normalize_person_name
from tthc.clean.units import UnitResolutionError, UnitResolver, default_resolver
from tthc.load.contract import CANDIDATE_COLUMNS  # noqa: F401 - the columns clean_row fills
from tthc.masking import mask_birth_date
from tthc.sources.config import FieldRule, RowMapping, SourceConfig
from tthc.sources.extract import EXTRACT_PROBLEMS
from tthc.text.legacy_encoding import decode, detect_many
from tthc.settings import LOCAL_TZ

DONG_THAP_OLD = 87
PERSONAL_DATES = frozenset({"holder_birth_date"})
CACHE_SIZE = 1 << 16   # distinct values kept per cache: bounded memory at any batch size


def source_recorded_at(spec: RowMapping | SourceConfig, row: dict) -> dt.datetime | None:
    """The row's own timestamp (the source's incremental column): when the record reached the
    specialized database, as far as we can tell. Naive values are local time (+07:00)."""
    spec = _spec(spec)
    raw = row.get(spec.recorded_at_column) if spec.recorded_at_column else None
    if raw is None or raw == "":
        return None
    return _recorded_at(raw)


@lru_cache(maxsize=CACHE_SIZE)
def _recorded_at(raw) -> dt.datetime | None:
    if isinstance(raw, dt.datetime):
        value = raw
    else:
        try:
            value = dt.datetime.fromisoformat(str(raw).strip())
        except ValueError:
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=LOCAL_TZ)


@dataclass
class CleanContext:
    committee_by_unit: dict[str, str]      # unit_key -> electronic_id of its People's Committee
    agency_unit: dict[str, str]            # electronic_id -> unit_key of the agency
    agency_by_name: dict[str, str]         # name_key(agency name) -> electronic_id
    known_agencies: set[str]
    procedures: set[str]
    resolver: UnitResolver
    warnings: Counter = field(default_factory=Counter, repr=False)  # what was not checked, and why: rows

    def __post_init__(self):
        self.date = lru_cache(maxsize=CACHE_SIZE)(_date_or_problem)
        self.person_name = lru_cache(maxsize=CACHE_SIZE)(_person_name)
        self.unit = lru_cache(maxsize=CACHE_SIZE)(self._unit)
        self.agency_by_raw = lru_cache(maxsize=CACHE_SIZE)(self._agency_by_raw)
        self.decode = lru_cache(maxsize=CACHE_SIZE)(decode)

    def _unit(self, commune, district, code, district_code) -> tuple[str | None, str | None]:
        try:
            return self.resolver.resolve(commune=commune, district=district, code=code,
                                         district_code=district_code).unit_key, None
        except UnitResolutionError as exc:
            return None, f"unit: {exc}"

    def _agency_by_raw(self, raw: str | None) -> str | None:
        found = raw if raw in self.known_agencies else self.agency_by_name.get(name_key(raw or ""))
        if found is None and raw:
            found = _committee_by_unit_name(raw, self)
        return found

    @classmethod
    def load(cls, cur) -> "CleanContext":
        cur.execute("SELECT electronic_id, name_vi, unit_key, kind FROM core.agency")
        rows = cur.fetchall()
        cur.execute("SELECT code FROM core.procedure")
        return cls(
            committee_by_unit={unit: eid for eid, _, unit, kind in rows if kind == "people_committee"},
            agency_unit={eid: unit for eid, _, unit, _ in rows},
            agency_by_name={name_key(name): eid for eid, name, _, _ in rows},
            known_agencies={eid for eid, *_ in rows},
            procedures={r[0] for r in cur.fetchall()},
            resolver=default_resolver())


_NUMBER_SEPARATOR = re.compile(r"\s*([/\-.])\s*")


def _value(row: dict, rule: FieldRule | None):
    if rule is None:
        return None
    raw = rule.constant if rule.constant is not None else row.get(rule.column)
    if raw is None:
        return None
    raw = str(raw).strip()
    if rule.values:
        return rule.values.get(raw, raw)
    return raw or None


def _spec(spec: RowMapping | SourceConfig) -> RowMapping:
    return spec.row_mapping if isinstance(spec, SourceConfig) else spec


def _date_or_problem(raw: str) -> tuple[dt.date | None, str | None]:
    try:
        return parse_date(raw), None
    except DateParseError as exc:
        return None, str(exc)


def _person_name(raw: str | None) -> tuple[str | None, str | None]:
    name = normalize_person_name(raw, "unicode")
    return name, (name_key(name) or None)


def clean_row(spec: RowMapping | SourceConfig, row: dict, ctx: CleanContext) -> dict:
    # What extraction could not read cleanly comes first: the row is quarantined for it.
    problems: list[str] = list(row.get(EXTRACT_PROBLEMS) or ())
    spec = _spec(spec)
    m = spec.mapping

    # Legacy encodings: one detection over the row's text columns (more reliable than per value).
    scheme = spec.encoding
    if scheme == "auto" and spec.encoded_columns:
        scheme = detect_many([row.get(c) for c in spec.encoded_columns])
    if scheme in ("tcvn3", "vni"):
        row = dict(row)
        for c in spec.encoded_columns:
            v = row.get(c)
            if v is not None:
                row[c] = ctx.decode(v, scheme)

    def date_field(name: str) -> dt.date | None:
        raw = _value(row, m.get(name))
        if raw is None:
            return None
        value, problem = ctx.date(raw)
        if problem:
            # A birth date is personal: its reason shows the rule, not the digits.
            problems.append(f"{name}: {mask_birth_date(problem) if name in PERSONAL_DATES else problem}")
        return value

    document_type = _value(row, m.get("document_type"))
    if document_type not in ctx.procedures:
        problems.append(f"document_type: unknown value {document_type!r}")
    doc_number = _value(row, m.get("doc_number"))
    if doc_number:
        doc_number = _NUMBER_SEPARATOR.sub(r"\1", doc_number).strip()  # '22 / 2013' -> '22/2013'
    issue_date = date_field("issue_date")
    birth_date = date_field("holder_birth_date")

    holder_name, holder_key_name = ctx.person_name(_value(row, m.get("holder_name")))
    holder_kind = "organization" if "holder_tax_code" in m and "holder_name" not in m else "citizen"
    id_type = id_value = None
    raw_id = _value(row, m.get("holder_id"))
    if "holder_id" in m:
        expected = DONG_THAP_OLD if document_type == "KS" else None
        check = check_personal_id(raw_id, birth_date=birth_date,
                                  gender=_value(row, m.get("holder_gender")), expected_province=expected)
        for warning in check.warnings:
            ctx.warnings[warning] += 1
        if check.ok:
            id_type, id_value = check.kind, check.value
        elif raw_id is not None:
            problems.append("holder_id: " + "; ".join(check.problems))
    if "holder_tax_code" in m:
        raw_mst = _value(row, m.get("holder_tax_code"))
        if raw_mst is not None:
            mst = check_tax_code(raw_mst)
            if mst.ok:
                if id_value is None:
                    id_type, id_value = "mst", mst.value
            else:
                problems.append("holder_tax_code: " + "; ".join(mst.problems))

    unit_key, unit_problem = ctx.unit(_value(row, m.get("unit_name")), _value(row, m.get("district_name")),
                                      _value(row, m.get("unit_code")), _value(row, m.get("district_code")))
    if unit_problem:
        problems.append(unit_problem)

    agency_id = _agency(spec, row, unit_key, ctx, problems)
    if agency_id is not None:
        # A result belongs to the unit of the body that issued it: a commune's committee -> the
        # commune, a district's committee -> the district, a department -> the province.
        place = unit_key
        unit_key = ctx.agency_unit[agency_id]
        if place and place != unit_key and ctx.resolver.by_key.get(place) and \
                ctx.resolver.by_key[place].parent_key != unit_key and unit_key.startswith("pre2025/district"):
            problems.append(f"unit: {place} is not in the district of issuing agency {agency_id}")
    status = _value(row, m.get("status"))
    revoked_on = date_field("revoked_on")
    if "status" in m and status != "revoked":
        revoked_on = None  # a revocation date only counts when the status says revoked
    elif status == "revoked" and revoked_on is None:
        problems.append("revoked_on: status is revoked but no revocation date")
    signed_copy, signed_copy_ref = _signed_copy(m, row)
    extensions = None
    raw_ext = _value(row, m.get("extensions"))
    if raw_ext is not None:
        try:
            extensions = int(float(raw_ext))
        except (ValueError, OverflowError):  # OverflowError: '1e400' is infinite
            problems.append(f"extensions: {raw_ext!r} is not a number")
    return {
        "document_type": document_type if document_type in ctx.procedures else None,
        "doc_number": doc_number, "doc_book": _value(row, m.get("doc_book")) or "", "issue_date": issue_date,
        "holder_name": holder_name, "holder_name_key": holder_key_name, "holder_kind": holder_kind,
        "holder_id_type": id_type, "holder_id_value": id_value, "holder_birth_date": birth_date,
        "unit_key": unit_key, "agency_id": agency_id, "status_in_source": status,
        "revoked_on": revoked_on, "extended_until": date_field("extended_until"), "extensions": extensions,
        "clean_problems": problems, "source_recorded_at": source_recorded_at(spec, row),
        "signed_copy": signed_copy, "signed_copy_ref": signed_copy_ref,
    }


def _signed_copy(m: dict[str, FieldRule], row: dict) -> tuple[bool | None, str | None]:
    """(signed electronically when issued, e-copy reference). None when the source does not say.

    Only a value the mapping sends to 'signed' counts ('0', NULL, anything else: not signed). A row
    that says signed but names no e-copy, when the source has a reference column, has nothing to
    link: it counts as not signed rather than as a digitized copy nobody can open."""
    if "signed_copy" not in m:
        return None, None
    raw = m["signed_copy"].constant if m["signed_copy"].constant is not None else row.get(m["signed_copy"].column)
    code = None if raw is None else str(raw).strip()
    signed = m["signed_copy"].values.get(code) == "signed" if code is not None else False
    ref = _value(row, m.get("signed_copy_ref"))
    if signed and ref is None and "signed_copy_ref" in m:
        signed = False
    return signed, (ref if signed else None)


_COMMITTEE_PREFIX = re.compile(r"^\s*(ủy ban nhân dân|uỷ ban nhân dân|ubnd)\s+", re.IGNORECASE)


def _committee_by_unit_name(raw: str, ctx: CleanContext) -> str | None:
    """'Ủy ban nhân dân thị xã Sa Đéc' -> the committee of the unit now called Thành phố Sa Đéc."""
    text = unicodedata.normalize("NFC", raw)
    if not _COMMITTEE_PREFIX.match(text):
        return None
    unit_name = _COMMITTEE_PREFIX.sub("", text)
    for resolve in (ctx.resolver.district, lambda name: ctx.resolver.resolve(commune=name)):
        try:
            unit = resolve(unit_name)
        except UnitResolutionError:
            continue
        return ctx.committee_by_unit.get(unit.unit_key)
    return None


def _agency(spec: RowMapping, row: dict, unit_key: str | None, ctx: CleanContext, problems: list[str]) -> str | None:
    rule = spec.agency_rule
    if rule == "constant":
        return spec.agency_value if spec.agency_value in ctx.known_agencies else None
    if rule == "column":
        raw = row.get(spec.agency_value)
        found = ctx.agency_by_raw(raw)
        if found is None and raw:
            problems.append(f"agency: no agency matches {raw!r}")
        return found
    if unit_key is None:
        return None  # the unit problem is already recorded
    if rule == "commune_committee":
        return ctx.committee_by_unit.get(unit_key)
    # district_committee: the committee of the district the commune belongs to
    district_key = ctx.resolver.by_key[unit_key].parent_key if unit_key in ctx.resolver.by_key else None
    return ctx.committee_by_unit.get(district_key)
