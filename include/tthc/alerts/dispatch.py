"""Route, group, send and record one alert.

Grouping state is ops.alert_group in the warehouse (tasks cannot reach Airflow's metadata DB):
the first alert of a fingerprint opens a window (settings.group_window_minutes) and is sent;
identical alerts inside the window are counted, recorded as `suppressed` and sent once as a
digest when the window has ended: by the next alert of any kind, or by `flush_digests`
(the tthc_ops_alert_digests DAG).

Failing open: when the warehouse is unreachable the alert is still sent, ungrouped. When a
channel fails the failure is logged and recorded; nothing here raises into the caller.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field

from tthc.alerts.channels import Delivery, send_email, send_webhook
from tthc.alerts.config import AlertConfig, Recipients, load_config
from tthc.alerts.message import Alert, render_html, subject, webhook_payload

log = logging.getLogger(__name__)


@dataclass
class DispatchResult:
    status: str                      # sent | partial | failed | suppressed | no_recipients | error
    deliveries: list[Delivery] = field(default_factory=list)
    digests: int = 0                 # digests sent along the way
    alert_id: int | None = None


def dispatch(alert: Alert, url: str | None = None, config: AlertConfig | None = None) -> DispatchResult:
    """Send `alert` to its routes unless an identical one was sent within the window. Never raises."""
    try:
        config = config or load_config()
    except Exception:  # noqa: BLE001
        log.exception("alert config unreadable: alert %r not sent", alert.title)
        return DispatchResult("error")
    url = url if url is not None else _warehouse_url()
    digests = 0
    pending: list[Alert] = []
    decision = "send"
    if url:
        try:
            pending = _due_digests(url)
            decision, digest = _claim(url, alert, config)
            if digest:
                pending.append(digest)
        except Exception:  # noqa: BLE001 - no grouping state: send anyway
            log.exception("alert grouping state unavailable in the warehouse; sending ungrouped")
    for d in pending:
        digests += _deliver_and_record(d, url, config).status in ("sent", "partial")
    if decision == "suppress":
        result = DispatchResult("suppressed", digests=digests)
        result.alert_id = _record(url, alert, "suppressed", (), [], config)
        log.info("alert %s suppressed: an identical one was sent within the grouping window", alert.fingerprint)
        return result
    result = _deliver_and_record(alert, url, config)
    result.digests = digests
    return result


def flush_digests(url: str, config: AlertConfig | None = None) -> int:
    """Send the digests of every grouping window that has ended. Returns how many were sent."""
    config = config or load_config()
    sent = 0
    for digest in _due_digests(url):
        sent += _deliver_and_record(digest, url, config).status in ("sent", "partial")
    return sent


def _deliver_and_record(alert: Alert, url: str | None, config: AlertConfig) -> DispatchResult:
    recipients = (config.unit_recipients(alert.unit_code, alert.facts()) if "unit_behind" in alert.facts()["kind"]
                  else config.recipients(alert.facts()))
    deliveries = _deliver(alert, recipients, config)
    if not recipients:
        status = "no_recipients"
        log.warning("alert %r: no route has recipients (check config/alerts.yaml)", alert.title)
    elif all(d.ok for d in deliveries):
        status = "sent"
    elif any(d.ok for d in deliveries):
        status = "partial"
    else:
        status = "failed"
    if status in ("partial", "failed"):
        log.error("alert %r: %d of %d channel(s) failed", alert.title, sum(not d.ok for d in deliveries), len(deliveries))
    return DispatchResult(status, deliveries, alert_id=_record(url, alert, status, recipients.routes, deliveries, config))


def _deliver(alert: Alert, recipients: Recipients, config: AlertConfig) -> list[Delivery]:
    prefix = str(config.setting("subject_prefix") or "")
    deliveries = []
    if recipients.emails:
        deliveries.append(send_email(list(recipients.emails), subject(alert, prefix), render_html(alert),
                                     conn_id=str(config.setting("smtp_conn_id")),
                                     from_email=str(config.setting("from_email") or "") or None))
    if recipients.webhooks:
        payload = webhook_payload(alert, prefix)
        timeout = float(config.setting("webhook_timeout_seconds"))
        deliveries += [send_webhook(h, payload, timeout) for h in recipients.webhooks]
    return deliveries


def _record(url, alert: Alert, status: str, routes, deliveries: list[Delivery], config: AlertConfig) -> int | None:
    if not url:
        return None
    try:
        from tthc.warehouse.db import transaction

        with transaction(url) as cur:
            cur.execute("""INSERT INTO ops.alert_log (kind, fingerprint, status, subject, dag_id, task_id, run_id,
                                                      source, unit_code, occurrences, routes, channels, payload)
                           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)
                           RETURNING alert_id""",
                        (alert.kind, alert.fingerprint, status, subject(alert, str(config.setting("subject_prefix") or "")),
                         alert.dag_id, alert.task_id, alert.run_id, alert.source, alert.unit_code, alert.occurrences,
                         list(routes), json.dumps([d.to_dict() for d in deliveries]),
                         json.dumps(alert.to_dict(), ensure_ascii=False, default=str)))
            return cur.fetchone()[0]
    except Exception:  # noqa: BLE001
        log.exception("could not record alert %r in ops.alert_log", alert.title)
        return None


def _claim(url: str, alert: Alert, config: AlertConfig) -> tuple[str, Alert | None]:
    """('send' | 'suppress', digest of the previous window if one is due), under a row lock."""
    from tthc.warehouse.db import transaction

    window = (dt.timedelta(minutes=alert.group_window_minutes) if alert.group_window_minutes is not None
              else config.group_window())
    payload = json.dumps(alert.to_dict(), ensure_ascii=False, default=str)
    with transaction(url) as cur:
        cur.execute("""INSERT INTO ops.alert_group (fingerprint, kind, window_start, window_end, last_sent_at)
                       VALUES (%s, %s, now(), now() + %s, now()) ON CONFLICT (fingerprint) DO NOTHING
                       RETURNING fingerprint""", (alert.fingerprint, alert.kind, window))
        if cur.fetchone():
            return "send", None
        cur.execute("""SELECT window_end > now(), suppressed, first_suppressed_at, last_suppressed_at, last_payload,
                              window_start
                       FROM ops.alert_group WHERE fingerprint = %s FOR UPDATE""", (alert.fingerprint,))
        open_, suppressed, first_at, last_at, last_payload, window_start = cur.fetchone()
        if open_:
            cur.execute("""UPDATE ops.alert_group SET suppressed = suppressed + 1,
                           first_suppressed_at = coalesce(first_suppressed_at, now()), last_suppressed_at = now(),
                           last_payload = %s::jsonb WHERE fingerprint = %s""", (payload, alert.fingerprint))
            return "suppress", None
        digest = _digest(last_payload, suppressed, first_at, last_at, window_start) if suppressed else None
        cur.execute("""UPDATE ops.alert_group SET window_start = now(), window_end = now() + %s, suppressed = 0,
                       first_suppressed_at = NULL, last_suppressed_at = NULL, last_payload = NULL,
                       last_sent_at = now() WHERE fingerprint = %s""", (window, alert.fingerprint))
        return "send", digest


def _due_digests(url: str) -> list[Alert]:
    """Take (and reset) every ended window with suppressed alerts; the caller sends the digests."""
    from tthc.warehouse.db import transaction

    with transaction(url) as cur:
        cur.execute("""SELECT fingerprint, suppressed, first_suppressed_at, last_suppressed_at, last_payload, window_start
                       FROM ops.alert_group WHERE suppressed > 0 AND window_end <= now()
                       ORDER BY window_end FOR UPDATE SKIP LOCKED""")
        rows = cur.fetchall()
        for fp, *_ in rows:
            cur.execute("""UPDATE ops.alert_group SET suppressed = 0, first_suppressed_at = NULL,
                           last_suppressed_at = NULL, last_payload = NULL WHERE fingerprint = %s""", (fp,))
    return [_digest(payload, n, first_at, last_at, start) for _, n, first_at, last_at, payload, start in rows]


def _digest(last_payload: dict, count: int, first_at, last_at, window_start) -> Alert:
    """One message for `count` suppressed identical alerts; it repeats the latest of them."""
    base = Alert.from_dict(last_payload)
    vi = base.language == "vi"
    when = f"{_iso(first_at)} → {_iso(last_at)}"
    summary = (f"Tổng hợp: thêm {count} cảnh báo giống hệt ({when}) sau cảnh báo lúc {_iso(window_start)}. "
               "Cảnh báo cuối cùng:" if vi else
               f"Digest: {count} more identical alert(s) between {when}, after the one sent at {_iso(window_start)}. "
               f"The latest one:")
    details = dict(base.details)
    details.update({"suppressed_count": count, "first_suppressed_at": _iso(first_at), "last_suppressed_at": _iso(last_at)})
    data = base.to_dict()
    data.update(kind="digest", title=f"Digest: {base.title}", summary=summary + "\n" + base.summary,
                details=details, occurrences=count, fingerprint="digest:" + base.fingerprint)
    digest = Alert.from_dict(data)
    digest.details["digest_of"] = base.kind
    return digest


def _iso(value) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)


def _warehouse_url() -> str | None:
    try:
        from tthc.warehouse.server import warehouse_url

        return warehouse_url()
    except Exception:  # noqa: BLE001
        log.exception("warehouse unreachable for alert grouping and logging")
        return None
