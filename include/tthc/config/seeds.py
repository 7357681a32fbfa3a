"""Typed models of the YAML seed files (seeds/procedures.yaml, seeds/cost_rates.yaml, seeds/plans/*.yaml).

They check the shape (keys, types); tthc.reference.seeds checks the rules between values (code
formats, percentages that never fall, exactly one validity) and builds the rows."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import ConfigDict, Field

from tthc.config.sources import Strict

Level = Literal["province", "district", "commune"]


class Validity(Strict):
    permanent: bool = False
    months: int | None = Field(None, gt=0)
    years: int | None = Field(None, gt=0)
    extension_months: int | None = Field(None, gt=0)
    max_extensions: int = Field(0, ge=0)


class Retention(Strict):
    permanent: bool = False
    years: int | None = None


class ProcedureSpec(Strict):
    code: str = Field(description="result-type code, 2-5 capital letters")
    national_code: str | int | float | None = Field(None, description="the national portal's procedure code")
    name_vi: str
    result_name_vi: str
    level: str = Field(description="province, district or commune")
    validity: Validity
    source_system: str
    retention: Retention | None = None


class ProceduresFile(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, title="TTHC procedures (seeds/procedures.yaml)")
    procedures: list[ProcedureSpec]


class Rate(Strict):
    per_page_vnd: float
    per_record_vnd: float
    pages_per_record: float


class CostVersion(Strict):
    version: str | int | float
    valid_from: dt.date
    basis: str
    rates: dict[str, Rate]


class CostRatesFile(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, title="TTHC digitization cost rates (seeds/cost_rates.yaml)")
    versions: list[CostVersion] = Field(default_factory=list)


class ScopeUnit(Strict):
    era: str
    level: str
    code: int


class PlanFile(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, title="TTHC digitization plan (seeds/plans/*.yaml)")
    code: str
    name_vi: str
    decision_ref: str
    issued_on: dt.date
    parent_plan: str | None = None
    scope_units: list[ScopeUnit]
    issue_cutoff: dt.date
    valid_after: dt.date
    signing_required_from: dict[str, dt.date] = Field(default_factory=dict)
    targets: dict[str, dict[int, float]] = Field(description="percent digitized by year end, per level")
    indicators: dict[str, dict[int, float] | dict[str, dict[int, float]]] = Field(default_factory=dict)
