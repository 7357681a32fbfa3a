"""Parse and validate source definitions (sources/*.yaml). See the README section "Sources"."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tthc.paths import project_root

CANONICAL_FIELDS = {
    "doc_number", "doc_book", "issue_date", "document_type", "holder_name", "holder_id", "holder_tax_code",
    "holder_birth_date", "holder_gender", "unit_code", "unit_name", "district_code", "district_name", "agency_id", "agency_name",
    "signer", "status", "revoked_on", "extended_until", "extensions", "address", "external_ref",
    "signed_copy", "signed_copy_ref",  # born digital: signed electronically when issued, and its e-copy
}
SIGNED_COPY_VALUES = {"signed", "unsigned"}
ENGINES = {"sqlalchemy", "csv", "xlsx"}
AGENCY_RULES = {"commune_committee", "district_committee", "column", "constant"}
_ENV = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^${}]*))?\}")  # innermost first: defaults may nest


class SourceConfigError(ValueError):
    pass


@dataclass(frozen=True)
class FieldRule:
    column: str | None = None
    constant: str | None = None
    parse: str | None = None               # date | int | text
    values: dict[str, str] = field(default_factory=dict)  # value mapping (e.g. LOAI_SO -> KS)


@dataclass(frozen=True)
class RowMapping:
    """What cleaning needs of a source: how raw columns become candidate fields (tthc.sources.clean).

    Legacy sources take theirs from their YAML (SourceConfig.row_mapping); scans build their own."""

    mapping: dict[str, FieldRule]
    encoding: str = "unicode"              # auto | unicode | tcvn3 | vni
    encoded_columns: tuple[str, ...] = ()
    recorded_at_column: str | None = None  # the row's own timestamp (the incremental column)
    agency_rule: str = "commune_committee"  # constant | column | commune_committee | district_committee
    agency_value: str | None = None


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str                              # results | exclusion (already digitized elsewhere)
    description_vi: str
    engine: str
    connection: dict
    table: str | None
    query: str | None
    primary_key: tuple[str, ...]
    incremental_column: str | None
    incremental_format: str                # strftime of the column's values, in local time
    encoding: str                          # auto | unicode | tcvn3 | vni
    encoded_columns: tuple[str, ...]
    mapping: dict[str, FieldRule]
    agency_rule: str
    agency_value: str | None
    quarantine_threshold: float
    quarantine_min_rows: int               # below this many rows the rate is noise: no failure
    chunk_size: int
    schedule: str
    start_date: str
    csv_options: dict
    path: Path

    @property
    def row_mapping(self) -> RowMapping:
        return RowMapping(mapping=self.mapping, encoding=self.encoding, encoded_columns=self.encoded_columns,
                          recorded_at_column=self.incremental_column, agency_rule=self.agency_rule,
                          agency_value=self.agency_value)

    @property
    def document_types(self) -> tuple[str, ...]:
        rule = self.mapping["document_type"]
        if rule.constant is not None:
            return (rule.constant,)
        return tuple(sorted(set(rule.values.values()))) or (f"per row from {rule.column}",)


def sources_dir() -> Path:
    return Path(os.environ.get("TTHC_SOURCES_DIR", project_root() / "sources")).resolve()


def expand_env(text: str) -> str:
    """${VAR} and ${VAR:-default} from the environment; an unset VAR without default is an error."""
    defaults = _setting_defaults()

    def repl(m):
        value = os.environ.get(m[1], m[2] if m[2] is not None else defaults.get(m[1]))
        if value is None:
            raise SourceConfigError(f"environment variable {m[1]} is not set (used as ${{{m[1]}}})")
        return value
    previous = None
    while previous != text:
        previous, text = text, _ENV.sub(repl, text)
    return text


def _setting_defaults() -> dict[str, str]:
    """Documented defaults of TTHC_* settings, so a source file can use ${TTHC_DEMO_DATA_DIR}."""
    from tthc.settings import Settings

    settings = Settings.from_env()
    return {"TTHC_DEMO_DATA_DIR": str(settings.demo_data_dir), "TTHC_LOCAL_DIR": str(settings.local_dir)}


def _rule(spec, where: str) -> FieldRule:
    if isinstance(spec, str):
        return FieldRule(column=spec)
    if not isinstance(spec, dict):
        raise SourceConfigError(f"{where}: expected a column name or a mapping, got {spec!r}")
    unknown = set(spec) - {"column", "constant", "parse", "values"}
    if unknown:
        raise SourceConfigError(f"{where}: unknown keys {sorted(unknown)}")
    if ("column" in spec) == ("constant" in spec):
        raise SourceConfigError(f"{where}: give exactly one of column or constant")
    if spec.get("parse") not in (None, "date", "int", "text"):
        raise SourceConfigError(f"{where}: parse must be date, int or text")
    return FieldRule(spec.get("column"), None if spec.get("constant") is None else str(spec["constant"]),
                     spec.get("parse"), {str(k): str(v) for k, v in (spec.get("values") or {}).items()})


def load_source(path: Path) -> SourceConfig:
    try:
        doc = yaml.safe_load(expand_env(path.read_text(encoding="utf-8"))) or {}
    except yaml.YAMLError as exc:
        raise SourceConfigError(f"{path.name}: not valid YAML: {exc}") from exc
    where = path.name
    for key in ("name", "engine", "connection", "primary_key", "mapping", "agency"):
        if key not in doc:
            raise SourceConfigError(f"{where}: missing required key {key!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]{2,40}", str(doc["name"])):
        raise SourceConfigError(f"{where}: name {doc['name']!r} must be lowercase letters, digits and _")
    if doc.get("kind", "results") not in ("results", "exclusion"):
        raise SourceConfigError(f"{where}: kind must be results or exclusion")
    if doc["engine"] not in ENGINES:
        raise SourceConfigError(f"{where}: engine {doc['engine']!r} must be one of {sorted(ENGINES)}")
    if doc["engine"] == "sqlalchemy" and not (doc.get("table") or doc.get("query")):
        raise SourceConfigError(f"{where}: a sqlalchemy source needs table or query")
    mapping = {}
    for canonical, spec in (doc["mapping"] or {}).items():
        if canonical not in CANONICAL_FIELDS:
            raise SourceConfigError(f"{where}: mapping.{canonical} is not a canonical field {sorted(CANONICAL_FIELDS)}")
        mapping[canonical] = _rule(spec, f"{where}: mapping.{canonical}")
    signed = mapping.get("signed_copy")
    if signed is not None:
        bad = sorted(set(signed.values.values()) - SIGNED_COPY_VALUES)
        if not signed.values or bad:
            raise SourceConfigError(
                f"{where}: mapping.signed_copy needs values mapping the source's codes to "
                f"{sorted(SIGNED_COPY_VALUES)} (e.g. {{column: KY_SO, values: {{'1': signed}}}}); got {signed.values or 'none'}")
    if "signed_copy_ref" in mapping and signed is None:
        raise SourceConfigError(f"{where}: mapping.signed_copy_ref needs mapping.signed_copy")
    for required in ("doc_number", "issue_date", "document_type"):
        if required not in mapping:
            raise SourceConfigError(f"{where}: mapping.{required} is required")
    agency = doc["agency"]
    if not isinstance(agency, dict) or agency.get("rule") not in AGENCY_RULES:
        raise SourceConfigError(f"{where}: agency.rule must be one of {sorted(AGENCY_RULES)}")
    encoding = doc.get("encoding") or {}
    if encoding.get("declared", "auto") not in ("auto", "unicode", "tcvn3", "vni"):
        raise SourceConfigError(f"{where}: encoding.declared must be auto, unicode, tcvn3 or vni")
    pk = doc["primary_key"]
    return SourceConfig(
        name=doc["name"], kind=doc.get("kind", "results"), description_vi=doc.get("description_vi", ""), engine=doc["engine"],
        connection=doc["connection"] if isinstance(doc["connection"], dict) else {"url": doc["connection"]},
        table=doc.get("table"), query=doc.get("query"),
        primary_key=tuple(pk if isinstance(pk, list) else [pk]),
        incremental_column=doc.get("incremental_column"),
        incremental_format=doc.get("incremental_format", "%Y-%m-%d %H:%M:%S"),
        encoding=encoding.get("declared", "auto"), encoded_columns=tuple(encoding.get("columns") or ()),
        mapping=mapping, agency_rule=agency["rule"], agency_value=agency.get("value") or agency.get("column"),
        quarantine_threshold=float(doc.get("quarantine_threshold", 0.2)),
        quarantine_min_rows=int(doc.get("quarantine_min_rows", 10)), chunk_size=int(doc.get("chunk_size", 50_000)),
        schedule=doc.get("schedule", "@daily"), start_date=str(doc.get("start_date", "2020-01-01")),
        csv_options=doc.get("csv") or {}, path=path)


def load_config_folder(directory: Path, load, what: str, error: type[Exception] = SourceConfigError) -> list:
    """Every *.yaml of a configuration folder (sources/, drops/), by file name; names must be unique."""
    items = [load(p) for p in sorted(directory.glob("*.yaml"))]
    names = [i.name for i in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise error(f"{directory}: duplicate {what} names {dupes}")
    return items


def config_named(items: list, name: str, directory: Path, what: str, error: type[Exception] = SourceConfigError):
    """The item whose `name:` is `name`; the error lists the known names."""
    for item in items:
        if item.name == name:
            return item
    raise error(f"no {what} named {name!r} in {directory}: {[i.name for i in items]}")


def source_named(name: str, directory: Path | None = None) -> SourceConfig:
    """The source whose `name:` is `name`; the error lists the known names."""
    return config_named(load_sources(directory), name, directory or sources_dir(), "source")


def load_sources(directory: Path | None = None) -> list[SourceConfig]:
    return load_config_folder(directory or sources_dir(), load_source, "source")
