"""Delivery: email through the Airflow SMTP provider (connection `smtp_default`, e.g. env
AIRFLOW_CONN_SMTP_DEFAULT), webhooks as a JSON POST through the HTTP provider's HttpHook.
Each returns a result and never raises."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from email.header import Header

from tthc.alerts.config import Webhook, _mask

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    channel: str          # email | webhook
    target: str           # recipients, or the masked URL
    ok: bool
    error: str | None = None

    def to_dict(self) -> dict:
        return {"channel": self.channel, "target": self.target, "ok": self.ok, "error": self.error}


def send_email(to: list[str], subject: str, html_body: str, conn_id: str = "smtp_default",
               from_email: str | None = None, files: list[str] | None = None,
               cc: list[str] | None = None) -> Delivery:
    """One message through the SMTP connection; `files` are attached (alerts send none, reports
    their PDF and XLSX)."""
    target = ", ".join([*to, *(cc or [])])
    try:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        # RFC 2047 keeps a Vietnamese subject intact whatever the hook's header policy does.
        encoded = Header(subject, "utf-8").encode()
        with SmtpHook(smtp_conn_id=conn_id) as hook:
            hook.send_email_smtp(to=list(to), subject=encoded, html_content=html_body,
                                 from_email=from_email or None, mime_charset="utf-8",
                                 files=list(files or []) or None, cc=list(cc or []) or None)
        return Delivery("email", target, True)
    except Exception as exc:  # noqa: BLE001 - a channel failure must never mask the alerted failure
        log.error("alert email to %s via connection %r failed: %s: %s", target, conn_id, type(exc).__name__, exc)
        return Delivery("email", target, False, f"{type(exc).__name__}: {exc}"[:500])


def send_webhook(hook: Webhook, payload: dict, timeout: float = 10) -> Delivery:
    target = _mask(hook.url)
    try:
        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        from tthc.connections import url_http_hook

        url_http_hook(hook.url).run(data=body, headers={"Content-Type": "application/json; charset=utf-8",
                                                        "User-Agent": "tthc-alerts", **dict(hook.headers)},
                                    extra_options={"timeout": timeout})
        return Delivery("webhook", target, True)
    except Exception as exc:  # noqa: BLE001 - see send_email
        detail = _http_failure(exc)
        log.error("alert webhook %s failed: %s", target, detail)
        return Delivery("webhook", target, False, detail[:500])


def _http_failure(exc: BaseException) -> str:
    """'HTTP 500 Internal Server Error' for an answer outside 2xx/3xx, else the root cause's type and text."""
    status = re.fullmatch(r"(\d{3}):(.*)", str(exc))
    if status:
        return f"HTTP {status[1]} {status[2]}".strip()
    root = exc
    while root.__cause__ or root.__context__:
        root = root.__cause__ or root.__context__
    return f"{type(root).__name__}: {root}"
