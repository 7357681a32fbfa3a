"""Parse and validate source definitions (sources/*.yaml). See the README section "Sources"."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args


from tthc.config.errors import ConfigError, validate
from tthc.config.files import read_mapping
from tthc.config.sources import CANONICAL_FIELDS, SIGNED_COPY_VALUES, AgencyRule, Engine, SourceFile  # noqa: F401
from tthc.settings import settings

ENGINES = set(get_args(Engine))
AGENCY_RULES = set(get_args(AgencyRule))


class SourceConfigError(ConfigError):
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
    stale_after_days: float | None = None  # config/alerts.yaml may override it

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
    return settings().sources_dir


def load_source(path: Path) -> SourceConfig:
    doc = read_mapping(path, SourceConfigError, expand="text")
    model = validate(SourceFile, doc, path.name, SourceConfigError)
    mapping = {k: FieldRule(r.column, r.constant, r.parse, dict(r.values)) for k, r in model.mapping.items()}
    return SourceConfig(
        name=model.name, kind=model.kind, description_vi=model.description_vi, engine=model.engine,
        connection=model.connection.model_dump(exclude_none=True),
        table=model.table, query=model.query, primary_key=tuple(model.primary_key),
        incremental_column=model.incremental_column, incremental_format=model.incremental_format,
        encoding=model.encoding.declared, encoded_columns=tuple(model.encoding.columns),
        mapping=mapping, agency_rule=model.agency.rule, agency_value=model.agency.value or model.agency.column,
        quarantine_threshold=model.quarantine_threshold, quarantine_min_rows=model.quarantine_min_rows,
        chunk_size=model.chunk_size, schedule=model.schedule, start_date=model.start_date,
        csv_options=model.csv.model_dump(exclude_none=True), path=path, stale_after_days=model.stale_after_days)


def read_config_folder(directory: Path, load, what: str,
                       error: type[Exception] = SourceConfigError) -> tuple[list, dict[Path, str]]:
    """Every *.yaml of a configuration folder (sources/, drops/), by file name, and the broken ones.

    A broken file is kept apart with its one-line error, so that one bad YAML never hides the
    others (their DAGs keep running); two files with one name are both broken."""
    items, broken = [], {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            items.append(load(path))
        except error as exc:
            broken[path] = str(exc)
    names = [i.name for i in items]
    for item in [i for i in items if names.count(i.name) > 1]:
        others = [o.path.name for o in items if o.name == item.name and o is not item]
        broken[item.path] = f"{item.path.name}: duplicate {what} name {item.name!r} (also in {', '.join(others)})"
    return [i for i in items if i.path not in broken], dict(sorted(broken.items()))


def load_config_folder(directory: Path, load, what: str, error: type[Exception] = SourceConfigError) -> list:
    """Every *.yaml of a configuration folder, all valid: else the error names every broken file."""
    items, broken = read_config_folder(directory, load, what, error)
    if broken:
        raise error("; ".join(broken.values()))
    return items


def config_named(items: list, name: str, directory: Path, what: str, error: type[Exception] = SourceConfigError,
                 broken: dict[Path, str] | None = None):
    """The item whose `name:` is `name`; the error lists the known names, or is the file's own error
    when the file of that name is broken."""
    for item in items:
        if item.name == name:
            return item
    for path, message in (broken or {}).items():
        if path.stem == name:
            raise error(message)
    also = f"; broken files: {sorted(p.name for p in broken)}" if broken else ""
    raise error(f"no {what} named {name!r} in {directory}: {[i.name for i in items]}{also}")


def source_named(name: str, directory: Path | None = None) -> SourceConfig:
    """The source whose `name:` is `name` (another source's broken file does not matter); the error
    lists the known names."""
    items, broken = read_sources(directory)
    return config_named(items, name, directory or sources_dir(), "source", broken=broken)


def read_sources(directory: Path | None = None) -> tuple[list[SourceConfig], dict[Path, str]]:
    """The valid sources and the broken files with their errors."""
    return read_config_folder(directory or sources_dir(), load_source, "source")


def load_sources(directory: Path | None = None) -> list[SourceConfig]:
    return load_config_folder(directory or sources_dir(), load_source, "source")
