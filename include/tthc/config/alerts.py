"""The typed model of config/alerts.yaml (docs/alerts.md); docs/schemas/alerts.schema.json is generated
from it. Strings may hold ${VAR} / ${VAR:-default}: the loader expands them before validating."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from tthc.config.sources import Strict

MatchKey = Literal["dag_id", "task_id", "source", "tag", "unit", "kind"]


class AlertSettings(Strict):
    airflow_base_url: str = Field("http://localhost:8080", description="links in alerts point here")
    data_docs_base_url: str = Field("", description="where the Great Expectations Data Docs are served")
    smtp_conn_id: str = Field("smtp_default", description="the Airflow connection of the mail server")
    from_email: str = Field("", description="sender; empty: the connection's from_email extra")
    subject_prefix: str = "[TTHC]"
    group_window_minutes: float = Field(60, ge=0, description="identical alerts inside it: one message + a digest")
    webhook_timeout_seconds: float = Field(10, gt=0)
    error_lines: int = Field(15, ge=0, description="last lines of the traceback quoted in a failure alert")
    stale_after_days: float = Field(3, gt=0, description="a source with no new data for this long is stale")
    notify_on_retry: bool = False
    notify_dag_failures: bool = True


class WebhookModel(Strict):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)


Strings = list[str] | str


class ContactModel(Strict):
    """Who hears about one unit (unit_contacts)."""
    name: str | None = None
    emails: Strings = Field(default_factory=list, description="addresses; an entry may hold several, split by , or ;")
    webhooks: list[WebhookModel | str] = Field(default_factory=list, description="http(s) URLs")


class RouteModel(ContactModel):
    """Who hears about what: every key of match must match (AND), any glob of a key may (OR)."""
    name: str = Field(min_length=1)
    match: dict[MatchKey, Strings] = Field(default_factory=dict)
    default: bool = Field(False, description="the route of alerts no other route matches")


class SourceAlerts(Strict):
    stale_after_days: float | None = Field(None, gt=0)


class AlertsFile(Strict):
    """Alert channels and routing (config/alerts.yaml)."""
    model_config = ConfigDict(extra="forbid", frozen=True, title="TTHC alerts (config/alerts.yaml)")

    settings: AlertSettings = Field(default_factory=AlertSettings)
    routes: list[RouteModel] = Field(default_factory=list)
    sources: dict[str, SourceAlerts] = Field(default_factory=dict, description="per-source settings, by source name")
    unit_contacts: dict[str, ContactModel] = Field(default_factory=dict, description="by unit code")
    late_after_hours: dict[str, float] = Field(default_factory=dict,
                                               description="a run is late after this many hours, by DAG kind or source")

    @field_validator("settings", "sources", "unit_contacts", "late_after_hours", mode="before")
    @classmethod
    def _empty(cls, value):
        return {} if value is None else value

    @field_validator("routes", mode="before")
    @classmethod
    def _no_routes(cls, value):
        return [] if value is None else value

    @field_validator("sources", "unit_contacts", mode="before")
    @classmethod
    def _keys(cls, value):
        return {str(k): ({} if v is None else v) for k, v in value.items()} if isinstance(value, dict) else value
