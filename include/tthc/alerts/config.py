"""config/alerts.yaml: settings, routes (who hears about what), per-source settings, unit contacts.

Strings may use ${VAR} and ${VAR:-default} (secrets such as webhook URLs stay in the environment);
a list entry that expands to an empty string is dropped, and a list entry holding several addresses
separated by , or ; is split, so one variable can carry a whole recipient list. See docs/alerts.md.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from tthc.config.alerts import AlertSettings, AlertsFile
from tthc.config.errors import ConfigError, validate
from tthc.config.files import read_mapping


log = logging.getLogger(__name__)

MATCH_KEYS = ("dag_id", "task_id", "source", "tag", "unit", "kind")
DEFAULT_SETTINGS: dict[str, Any] = AlertSettings().model_dump()
DEFAULT_LATE_AFTER_HOURS = 6.0


class AlertConfigError(ConfigError):
    pass


@dataclass(frozen=True)
class Webhook:
    url: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Route:
    name: str
    match: dict[str, tuple[str, ...]]
    emails: tuple[str, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    default: bool = False

    def matches(self, facts: dict[str, Any]) -> bool:
        """All keys of `match` must match (AND); any glob of a key may match (OR)."""
        if not self.match:
            return False
        for key, globs in self.match.items():
            values = facts.get(key)
            values = [values] if isinstance(values, str) else list(values or [])
            if not any(fnmatch.fnmatchcase(str(v), g) for v in values if v is not None for g in globs):
                return False
        return True


@dataclass(frozen=True)
class Recipients:
    emails: tuple[str, ...]
    webhooks: tuple[Webhook, ...]
    routes: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.emails or self.webhooks)


@dataclass(frozen=True)
class AlertConfig:
    settings: dict[str, Any]
    routes: tuple[Route, ...]
    sources: dict[str, dict] = field(default_factory=dict)
    unit_contacts: dict[str, Route] = field(default_factory=dict)
    path: Path | None = None

    def recipients(self, facts: dict[str, Any]) -> Recipients:
        """Union of every matching route; the default route when none matches."""
        chosen = [r for r in self.routes if not r.default and r.matches(facts)]
        if not chosen:
            chosen = [r for r in self.routes if r.default]
        return _union(chosen)

    def unit_recipients(self, unit_code: str | None, facts: dict[str, Any]) -> Recipients:
        """The unit's contact (unit_contacts), else the routes (a route may match `unit:`), else the default."""
        contact = self.unit_contacts.get(str(unit_code)) if unit_code else None
        if contact and (contact.emails or contact.webhooks):
            return _union([contact])
        return self.recipients(facts)

    def setting(self, key: str):
        return self.settings.get(key, DEFAULT_SETTINGS.get(key))

    def group_window(self) -> dt.timedelta:
        return dt.timedelta(minutes=float(self.setting("group_window_minutes")))

    def stale_after_days(self, source: str, source_default: float | None = None) -> float:
        per_source = (self.sources.get(source) or {}).get("stale_after_days")
        if per_source is not None:
            return float(per_source)
        if source_default is not None:
            return float(source_default)
        return float(self.setting("stale_after_days"))


def _union(routes: list[Route]) -> Recipients:
    emails: list[str] = []
    hooks: list[Webhook] = []
    for r in routes:
        emails += [e for e in r.emails if e not in emails]
        hooks += [h for h in r.webhooks if h not in hooks]
    return Recipients(tuple(emails), tuple(hooks), tuple(r.name for r in routes))


def config_path() -> Path:
    from tthc.settings import settings

    return settings().alerts_config


def load_config(path: Path | None = None) -> AlertConfig:
    path = Path(path) if path else config_path()
    doc = read_mapping(path, AlertConfigError, expand="values")
    where = path.name
    model = validate(AlertsFile, doc, where, AlertConfigError)
    settings = model.settings.model_dump(exclude_unset=True)
    routes = tuple(_route(spec, f"{where}: routes[{i}]") for i, spec in enumerate(doc.get("routes") or []))
    defaults = [r.name for r in routes if r.default]
    if len(defaults) > 1:
        raise AlertConfigError(f"{where}: more than one default route: {defaults}")
    contacts = {}
    for code, spec in (doc.get("unit_contacts") or {}).items():
        spec = dict(spec or {})
        spec.setdefault("name", f"unit {code}")
        contacts[str(code)] = _route(spec, f"{where}: unit_contacts.{code}", contact=True)
    sources = {str(k): dict(v or {}) for k, v in (doc.get("sources") or {}).items()}
    return AlertConfig(settings=settings, routes=routes, sources=sources, unit_contacts=contacts, path=path)


@functools.lru_cache(maxsize=8)
def _late_after_table(path: str, mtime_ns: int) -> dict:
    """late_after_hours of one version of the file: every DAG file asks at parse time, read it once."""
    doc = read_mapping(Path(path), AlertConfigError)
    return doc.get("late_after_hours") or {}


def late_after(key: str | None = None, path: Path | None = None) -> dt.timedelta:
    """How long after it was queued a run counts as late (`late_after_hours:` by DAG kind or source name).

    Read at DAG parse time, so it never raises: a broken file falls back to the default and logs why.
    """
    try:
        file = Path(path or config_path())
        table = _late_after_table(str(file), file.stat().st_mtime_ns)
        hours = table.get(key) if key is not None and key in table else table.get("default", DEFAULT_LATE_AFTER_HOURS)
        return dt.timedelta(hours=float(hours))
    except Exception:  # noqa: BLE001 - parse time: never break a DAG file over an alert setting
        log.warning("late_after_hours for %r unreadable; using %s h", key, DEFAULT_LATE_AFTER_HOURS, exc_info=True)
        return dt.timedelta(hours=DEFAULT_LATE_AFTER_HOURS)


def _route(spec, where: str, contact: bool = False) -> Route:
    if not isinstance(spec, dict):
        raise AlertConfigError(f"{where}: expected a mapping")
    allowed = {"name", "emails", "webhooks"} | (set() if contact else {"match", "default"})
    unknown = set(spec) - allowed
    if unknown:
        raise AlertConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    name = str(spec.get("name") or "")
    if not name:
        raise AlertConfigError(f"{where}: a route needs a name")
    match = {}
    for key, value in (spec.get("match") or {}).items():
        if key not in MATCH_KEYS:
            raise AlertConfigError(f"{where} ({name}): match.{key} is not one of {list(MATCH_KEYS)}")
        values = value if isinstance(value, list) else [value]
        match[key] = tuple(str(v) for v in values)
    default = bool(spec.get("default", False))
    if not contact and not default and not match:
        raise AlertConfigError(f"{where} ({name}): give match: conditions, or default: true")
    emails = tuple(_split(spec.get("emails") or []))
    for e in emails:
        if not re.fullmatch(r"[^@\s,;]+@[^@\s,;]+", e):
            raise AlertConfigError(f"{where} ({name}): {e!r} is not an email address")
    hooks = []
    for i, h in enumerate(spec.get("webhooks") or []):
        url, headers = (h.get("url", ""), h.get("headers") or {}) if isinstance(h, dict) else (h, {})
        if not str(url).strip():
            continue  # an unset ${VAR:-} switches the webhook off
        if not re.match(r"^https?://", str(url)):
            raise AlertConfigError(f"{where} ({name}): webhook {_mask(str(url))!r} must be an http(s) URL")
        hooks.append(Webhook(str(url).strip(), tuple((str(k), str(v)) for k, v in headers.items())))
    return Route(name=name, match=match, emails=emails, webhooks=tuple(hooks), default=default)


def _split(values) -> list[str]:
    out = []
    for v in values if isinstance(values, list) else [values]:
        out += [p.strip() for p in re.split(r"[,;]", str(v or "")) if p.strip()]
    return out


def _mask(url: str) -> str:
    """scheme://host/… : webhook URLs often carry their secret in the path or query."""
    m = re.match(r"^([a-z]+://[^/?#]+)", url)
    return (m.group(1) + "/…") if m else "…"
