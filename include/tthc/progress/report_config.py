"""config/reports.yaml: who issues each plan's report, who receives it (per plan, report kind and
unit) and the Vietnamese names of data sources shown to officials. See docs/reports.md.

Strings may use ${VAR} and ${VAR:-default} as in config/alerts.yaml (real people's addresses stay
in the environment); an address list entry that expands to "" is dropped, and one entry may hold
several addresses separated by "," or ";". TTHC_REPORTS_CONFIG points to another file.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tthc.config.errors import ConfigError, validate
from tthc.config.files import read_mapping


Kind = Literal["month", "quarter", "year"]
EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+")


class ReportConfigError(ConfigError):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Model):
    name: str                                   # as in "Kính gửi: …"
    emails: tuple[str, ...] = ()

    @field_validator("emails", mode="before")
    @classmethod
    def _split(cls, value):
        out = []
        for v in value if isinstance(value, (list, tuple)) else [value]:
            out += [p.strip() for p in re.split(r"[,;]", str(v or "")) if p.strip()]
        bad = [e for e in out if not EMAIL.fullmatch(e)]
        if bad:
            raise ValueError(f"not an email address: {bad[0]!r}")
        return tuple(out)


class Delivery(_Model):
    """One recipient group of a plan's report: which kinds, by when, to whom, copied to whom."""
    kinds: tuple[Kind, ...]
    due: str | None = None                      # "MM-DD" of the period's year (the yearly report: 11-15)
    to: tuple[Contact, ...]
    cc: tuple[Contact, ...] = ()

    @field_validator("due")
    @classmethod
    def _due(cls, value):
        if value is not None:
            dt.date.fromisoformat(f"2000-{value}")
        return value

    def due_date(self, year: int) -> dt.date | None:
        return dt.date.fromisoformat(f"{year}-{self.due}") if self.due else None


class PlanReport(_Model):
    authority: str                              # cơ quan chủ quản, upper case on the form
    reporting_unit: str                         # đơn vị báo cáo
    place: str = "Đồng Tháp"                    # "Đồng Tháp, ngày … tháng … năm …"
    deliveries: tuple[Delivery, ...] = ()


class UnitCopy(_Model):
    """A unit's own copy of its own figures."""
    name: str | None = None                     # default: "UBND " + the unit's name in the warehouse
    emails: tuple[str, ...] = ()
    kinds: tuple[Kind, ...] = ("month", "quarter", "year")
    plans: tuple[str, ...] = ()                 # empty: every plan that judges the unit

    _split = field_validator("emails", mode="before")(Contact._split.__func__)


class Settings(_Model):
    smtp_conn_id: str = "smtp_default"
    from_email: str = ""
    subject_prefix: str = "[TTHC]"


class ReportConfig(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, title="TTHC report delivery (config/reports.yaml)")
    settings: Settings = Settings()
    plans: dict[str, PlanReport] = Field(default_factory=dict)
    units: dict[str, UnitCopy] = Field(default_factory=dict)
    # Vietnamese names of sources by glob on the internal name; an unmatched source shows as "Nguồn khác".
    source_labels: dict[str, str] = Field(default_factory=dict)

    def plan(self, code: str) -> PlanReport:
        return self.plans.get(code) or PlanReport(authority="UBND TỈNH ĐỒNG THÁP", reporting_unit="")

    def source_label(self, source: str) -> str:
        for glob, label in self.source_labels.items():
            if fnmatch.fnmatchcase(source, glob):
                return label
        return "Nguồn dữ liệu khác"


def config_path() -> Path:
    from tthc.settings import settings

    return settings().reports_config


def load_report_config(path: Path | None = None) -> ReportConfig:
    path = Path(path) if path else config_path()
    doc = read_mapping(path, ReportConfigError, expand="values")
    return validate(ReportConfig, doc, path.name, ReportConfigError)
