"""The typed model of a source file (sources/*.yaml). The README section "Sources" explains each key;
docs/schemas/source.schema.json is generated from this model (tthc config schema)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CANONICAL_FIELDS = {
    "doc_number", "doc_book", "issue_date", "document_type", "holder_name", "holder_id", "holder_tax_code",
    "holder_birth_date", "holder_gender", "unit_code", "unit_name", "district_code", "district_name", "agency_id", "agency_name",
    "signer", "status", "revoked_on", "extended_until", "extensions", "address", "external_ref",
    "signed_copy", "signed_copy_ref",  # born digital: signed electronically when issued, and its e-copy
}
SIGNED_COPY_VALUES = {"signed", "unsigned"}
Engine = Literal["sqlalchemy", "csv", "xlsx"]
AgencyRule = Literal["commune_committee", "district_committee", "column", "constant"]
Encoding = Literal["auto", "unicode", "tcvn3", "vni"]
NAME_PATTERN = r"^[a-z][a-z0-9_]{2,40}$"


class Strict(BaseModel):
    """A YAML mapping: unknown keys are errors (a misspelt key must never fall back to a default)."""
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShortForm(Strict):
    """A mapping that may also be written as one string (its main key); the JSON Schema says so."""
    __short_form__ = ""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        schema = handler(core_schema)
        schema = handler.resolve_ref_schema(schema)
        return {"anyOf": [{"type": "string", "description": f"short for {{{cls.__short_form__}: …}}"}, dict(schema)]}


class FieldRuleModel(ShortForm):
    """How one canonical field is read: a column (the short form `field: COLUMN`) or a constant."""
    __short_form__ = "column"
    column: str | None = Field(None, description="the source column")
    constant: str | None = Field(None, description="a fixed value for every row")
    parse: Literal["date", "int", "text"] | None = Field(None, description="how the value is parsed")
    values: dict[str, str] = Field(default_factory=dict, description="value mapping, e.g. LOAI_SO code -> KS")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data):
        if isinstance(data, str):
            return {"column": data}
        if isinstance(data, dict):
            data = dict(data)
            if data.get("constant") is not None:
                data["constant"] = str(data["constant"])
            if isinstance(data.get("values"), dict):
                data["values"] = {str(k): str(v) for k, v in data["values"].items()}
        return data

    @model_validator(mode="after")
    def _one_of(self):
        if (self.column is None) == (self.constant is None):
            raise ValueError("give exactly one of column or constant")
        return self


class ConnectionModel(ShortForm):
    __short_form__ = "url"
    url: str | None = Field(None, description="SQLAlchemy URL, or the file of a csv/xlsx source")
    conn_id: str | None = Field(None, description="an Airflow connection id")
    path: str | None = Field(None, description="the file of a csv/xlsx source")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data):
        return {"url": data} if isinstance(data, str) else data


class EncodingModel(Strict):
    declared: Encoding = Field("auto", description="the text encoding of the source (auto detects legacy TCVN3/VNI)")
    columns: list[str] = Field(default_factory=list, description="the columns that may hold legacy-encoded text")


class AgencyModel(Strict):
    rule: AgencyRule = Field(description="how the issuing agency of a row is found")
    value: str | None = Field(None, description="the agency (rule: constant)")
    column: str | None = Field(None, description="the column naming the agency (rule: column)")


class CsvOptions(Strict):
    encoding: str = Field("utf-8-sig", description="the file's text encoding")
    delimiter: str = Field(",", description="the field separator")
    sheet: str | None = Field(None, description="the worksheet of an xlsx source (default: the first)")


class SourceFile(Strict):
    """One legacy source: where its rows are, how they map to results, how strict the load is."""
    model_config = ConfigDict(extra="forbid", frozen=True, title="TTHC source (sources/*.yaml)")

    name: str = Field(description="the source id: lowercase letters, digits and _",
                      json_schema_extra={"pattern": NAME_PATTERN})
    kind: Literal["results", "exclusion"] = Field("results", description="exclusion: results digitized elsewhere")
    description_vi: str = Field("", description="what the source is, in Vietnamese")
    engine: Engine
    connection: ConnectionModel
    table: str | None = None
    query: str | None = Field(None, description="trusted SQL, instead of table")
    primary_key: list[str] | str = Field(description="the column(s) that identify a row")
    incremental_column: str | None = Field(None, description="the row's own change timestamp")
    incremental_format: str = Field("%Y-%m-%d %H:%M:%S", description="strftime of the column's values, local time")
    encoding: EncodingModel = Field(default_factory=EncodingModel)
    mapping: dict[str, FieldRuleModel] = Field(description="canonical field -> how it is read",
                                               json_schema_extra={"propertyNames": {"enum": sorted(CANONICAL_FIELDS)}})
    agency: AgencyModel
    quarantine_threshold: float = Field(0.2, ge=0, le=1, description="share of quarantined rows that fails the run")
    quarantine_min_rows: int = Field(10, ge=0, description="below this many rows the rate is noise: no failure")
    chunk_size: int = Field(50_000, ge=1)
    schedule: str = Field("@daily", description="cron expression or @hourly/@daily/@weekly/@monthly")
    start_date: str = "2020-01-01"
    csv: CsvOptions = Field(default_factory=CsvOptions)
    stale_after_days: float | None = Field(None, gt=0, description="no new rows for this long: a stale-source alert "
                                                                   "(config/alerts.yaml may override it)")

    @field_validator("name")
    @classmethod
    def _name(cls, value):
        if not re.fullmatch(NAME_PATTERN, value):
            raise ValueError(f"{value!r} must be lowercase letters, digits and _ (3-41 characters)")
        return value

    @field_validator("primary_key", mode="before")
    @classmethod
    def _key_text(cls, value):
        return [str(v) for v in value] if isinstance(value, list) else str(value)

    @field_validator("primary_key")
    @classmethod
    def _one_key(cls, value):
        return value if isinstance(value, list) else [value]

    @field_validator("start_date", mode="before")
    @classmethod
    def _date_text(cls, value):
        return str(value)

    @field_validator("mapping")
    @classmethod
    def _canonical(cls, mapping):
        for canonical in mapping:
            if canonical not in CANONICAL_FIELDS:
                from tthc.config.errors import suggestion

                raise ValueError(f"{canonical!r} is not a canonical field{suggestion(canonical, CANONICAL_FIELDS)}; "
                                 f"known: {sorted(CANONICAL_FIELDS)}")
        return mapping

    @model_validator(mode="after")
    def _consistent(self):
        if self.engine == "sqlalchemy" and not (self.table or self.query):
            raise ValueError("a sqlalchemy source needs table or query")
        signed = self.mapping.get("signed_copy")
        if signed is not None:
            bad = sorted(set(signed.values.values()) - SIGNED_COPY_VALUES)
            if not signed.values or bad:
                raise ValueError(
                    f"mapping.signed_copy needs values mapping the source's codes to {sorted(SIGNED_COPY_VALUES)} "
                    f"(e.g. {{column: KY_SO, values: {{'1': signed}}}}); got {signed.values or 'none'}")
        if "signed_copy_ref" in self.mapping and signed is None:
            raise ValueError("mapping.signed_copy_ref needs mapping.signed_copy")
        for required in ("doc_number", "issue_date", "document_type"):
            if required not in self.mapping:
                raise ValueError(f"mapping.{required} is required")
        return self
