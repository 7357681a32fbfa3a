"""Parse and validate the versioned seed files in seeds/. Errors name the file and the entry."""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path


from tthc.config.errors import ConfigError, validate
from tthc.config.files import read_mapping
from tthc.config.seeds import CostRatesFile, PlanFile, ProceduresFile
from tthc.reference.units import unit_key

LEVELS = ("province", "district", "commune")
ELECTRONIC_ID = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
PROCEDURE_CODE = re.compile(r"^[A-Z]{2,5}$")


class SeedError(ConfigError):
    """A seed file is malformed; the message names the file and the offending entry."""


@dataclass(frozen=True)
class Agency:
    electronic_id: str
    code: str
    name_vi: str
    level: str
    kind: str
    unit_key: str
    parent_electronic_id: str | None
    is_placeholder_id: bool


@dataclass(frozen=True)
class Procedure:
    code: str
    national_code: str | None
    name_vi: str
    result_name_vi: str
    level: str
    is_permanent: bool
    validity_months: int | None
    extension_months: int | None
    max_extensions: int
    source_system: str
    retention_years: int | None = None        # None: kept permanently


@dataclass(frozen=True)
class Plan:
    plan_code: str
    name_vi: str
    decision_ref: str
    issued_on: dt.date
    parent_plan: str | None
    issue_cutoff: dt.date
    valid_after: dt.date
    source_file: str
    scope_unit_keys: tuple[str, ...]
    targets: tuple[tuple[str, int, float], ...]                  # (level, year, pct)
    indicators: tuple[tuple[str, str, int, float], ...] = field(default=())  # (indicator, level, year, pct)
    signing: tuple[tuple[str, dt.date], ...] = field(default=())               # (level, required from)


def read_agencies(path: Path) -> list[Agency]:
    agencies = []
    with path.open(encoding="utf-8", newline="") as fh:
        for line_no, row in enumerate(csv.DictReader(fh), start=2):
            where = f"{path.name}:{line_no}"
            eid = (row.get("electronic_id") or "").strip()
            if not ELECTRONIC_ID.match(eid):
                raise SeedError(f"{where}: electronic_id {eid!r} is not in the QĐ 20/2020 format 000.00.00.H20")
            level = row["level"].strip()
            if level not in LEVELS:
                raise SeedError(f"{where}: level {level!r} must be one of {LEVELS}")
            kind = row["kind"].strip()
            if kind not in ("people_committee", "department"):
                raise SeedError(f"{where}: kind {kind!r} must be people_committee or department")
            unit_level = "province" if kind == "department" else level
            agencies.append(Agency(
                electronic_id=eid, code=row["code"].strip(), name_vi=row["name_vi"].strip(), level=level, kind=kind,
                unit_key=unit_key(row["unit_era"].strip(), unit_level, int(row["unit_code"])),
                parent_electronic_id=(row.get("parent_electronic_id") or "").strip() or None,
                is_placeholder_id=_bool(row["is_placeholder_id"], where)))
    ids = [a.electronic_id for a in agencies]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SeedError(f"{path.name}: duplicate electronic_id {dupes}")
    return agencies


def read_procedures(path: Path) -> list[Procedure]:
    doc = _yaml(path, ProceduresFile)
    out = []
    for i, entry in enumerate(doc.get("procedures") or []):
        where = f"{path.name}: procedures[{i}] ({entry.get('code')!r})"
        code = str(entry.get("code", ""))
        if not PROCEDURE_CODE.match(code):
            raise SeedError(f"{where}: code must be 2-5 capital letters")
        if entry.get("level") not in LEVELS:
            raise SeedError(f"{where}: level {entry.get('level')!r} must be one of {LEVELS}")
        validity = entry.get("validity") or {}
        permanent = bool(validity.get("permanent", False))
        months = validity.get("months")
        if validity.get("years") is not None:
            months = int(validity["years"]) * 12
        if permanent == (months is not None):
            raise SeedError(f"{where}: validity needs exactly one of permanent: true, months: N or years: N")
        for key in ("name_vi", "result_name_vi", "source_system"):
            if not entry.get(key):
                raise SeedError(f"{where}: {key} is required")
        out.append(Procedure(
            code=code, national_code=str(entry["national_code"]) if entry.get("national_code") else None,
            name_vi=entry["name_vi"], result_name_vi=entry["result_name_vi"], level=entry["level"],
            is_permanent=permanent, validity_months=int(months) if months is not None else None,
            extension_months=validity.get("extension_months"), max_extensions=int(validity.get("max_extensions", 0)),
            source_system=entry["source_system"], retention_years=_retention(entry.get("retention"), where)))
    codes = [p.code for p in out]
    if len(set(codes)) != len(codes):
        raise SeedError(f"{path.name}: duplicate procedure codes")
    return out


def _retention(spec, where: str) -> int | None:
    """retention: {permanent: true} -> None; {years: N} -> N; missing -> permanent (never delete)."""
    spec = spec or {"permanent": True}
    if not isinstance(spec, dict) or bool(spec.get("permanent")) == (spec.get("years") is not None):
        raise SeedError(f"{where}: retention needs exactly one of permanent: true or years: N")
    if spec.get("years") is None:
        return None
    years = int(spec["years"])
    if years <= 0:
        raise SeedError(f"{where}: retention years must be positive, got {years}")
    return years


@dataclass(frozen=True)
class CostRate:
    version: str
    valid_from: dt.date
    procedure_code: str
    per_page_vnd: float
    per_record_vnd: float
    pages_per_record: float
    basis: str


def read_cost_rates(path: Path, procedure_codes: set[str]) -> list[CostRate]:
    """seeds/cost_rates.yaml: versions of unit costs, per result type or '*' (absent file: none)."""
    if not path.exists():
        return []
    doc = _yaml(path, CostRatesFile)
    out = []
    for i, v in enumerate(doc.get("versions") or []):
        where = f"{path.name}: versions[{i}] ({v.get('version')!r})"
        if not v.get("version") or not v.get("basis") or "*" not in (v.get("rates") or {}):
            raise SeedError(f"{where}: needs version, basis and rates with a '*' entry")
        for code, r in v["rates"].items():
            if code != "*" and code not in procedure_codes:
                raise SeedError(f"{where}: rates.{code}: unknown result type")
            try:
                rate = CostRate(str(v["version"]), _date(v["valid_from"], where), str(code),
                                float(r["per_page_vnd"]), float(r["per_record_vnd"]), float(r["pages_per_record"]),
                                str(v["basis"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise SeedError(f"{where}: rates.{code} needs per_page_vnd, per_record_vnd, pages_per_record") from exc
            if min(rate.per_page_vnd, rate.per_record_vnd) < 0 or rate.pages_per_record <= 0:
                raise SeedError(f"{where}: rates.{code}: amounts must be >= 0 and pages_per_record > 0")
            out.append(rate)
    return out


def read_plan(path: Path) -> Plan:
    doc = _yaml(path, PlanFile)
    where = path.name
    for key in ("code", "name_vi", "decision_ref", "issued_on", "issue_cutoff", "valid_after", "targets", "scope_units"):
        if key not in doc:
            raise SeedError(f"{where}: missing required key {key!r}")
    targets = []
    for level, by_year in doc["targets"].items():
        if level not in LEVELS:
            raise SeedError(f"{where}: targets.{level}: level must be one of {LEVELS}")
        previous = -1.0
        for year, pct in sorted(by_year.items()):
            pct = float(pct)
            if not 0 <= pct <= 100:
                raise SeedError(f"{where}: targets.{level}.{year} = {pct} is not a percentage")
            if pct < previous:
                raise SeedError(f"{where}: targets.{level}.{year} = {pct} falls below the previous year's {previous}")
            previous = pct
            targets.append((level, int(year), pct))
    indicators = []
    for name, spec in (doc.get("indicators") or {}).items():
        # Either {year: pct} or {level: {year: pct}}.
        per_level = spec if all(isinstance(v, dict) for v in spec.values()) else {"": spec}
        for level, by_year in per_level.items():
            if level and level not in LEVELS:
                raise SeedError(f"{where}: indicators.{name}.{level}: level must be one of {LEVELS}")
            for year, pct in by_year.items():
                if not 0 <= float(pct) <= 100:
                    raise SeedError(f"{where}: indicators.{name}.{year} = {pct} is not a percentage")
                indicators.append((name, level, int(year), float(pct)))
    signing = []
    for level, day in (doc.get("signing_required_from") or {}).items():
        if level not in LEVELS:
            raise SeedError(f"{where}: signing_required_from.{level}: level must be one of {LEVELS}")
        signing.append((level, _date(day, f"{where}: signing_required_from.{level}")))
    scope = []
    for unit in doc["scope_units"]:
        try:
            scope.append(unit_key(unit["era"], unit["level"], int(unit["code"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise SeedError(f"{where}: scope_units entry {unit!r} needs era, level and code") from exc
    return Plan(
        plan_code=str(doc["code"]), name_vi=doc["name_vi"], decision_ref=doc["decision_ref"],
        issued_on=_date(doc["issued_on"], where), parent_plan=doc.get("parent_plan"),
        issue_cutoff=_date(doc["issue_cutoff"], where), valid_after=_date(doc["valid_after"], where),
        source_file=f"seeds/plans/{path.name}", scope_unit_keys=tuple(scope), targets=tuple(targets),
        indicators=tuple(indicators), signing=tuple(signing))


def read_plans(directory: Path) -> list[Plan]:
    plans = [read_plan(p) for p in sorted(directory.glob("*.yaml"))]
    codes = [p.plan_code for p in plans]
    if len(set(codes)) != len(codes):
        raise SeedError(f"{directory}: two plan files share a code: {codes}")
    known = set(codes)
    for plan in plans:
        if plan.parent_plan and plan.parent_plan not in known:
            raise SeedError(f"{plan.source_file}: parent_plan {plan.parent_plan!r} is not defined in {directory}")
    return plans


def _yaml(path: Path, model) -> dict:
    """The file's mapping, its shape checked against the model (unknown keys, types)."""
    doc = read_mapping(path, SeedError)
    validate(model, doc, path.name, SeedError)
    return doc


def _date(value, where: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise SeedError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD)") from exc


def _bool(value: str, where: str) -> bool:
    v = str(value).strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise SeedError(f"{where}: {value!r} is not a boolean")
