"""The alert message: one structure, rendered as an email (subject + HTML) and a webhook JSON body.

The webhook body is generic: a `text` field that Slack, Microsoft Teams and a Zalo relay display
as is, plus structured fields (dag_id, task_id, run_id, data_interval, error, log_url, source,
unit_code, next_steps, details) for relays that format their own cards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("task_failure", "task_retry", "dag_failure", "data_quality", "stale_source", "late_run",
         "unit_behind", "digest")


_LABELS = {"data_docs_url": "Data Docs", "batch_id": "Batch id"}


@dataclass
class Alert:
    kind: str
    title: str                               # one line; the email subject without the prefix
    summary: str                             # first line(s) of the body
    severity: str = "error"                  # error | warning | info
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    max_tries: int | None = None
    interval_start: str | None = None        # ISO 8601
    interval_end: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    error_lines: list[str] = field(default_factory=list)
    log_url: str | None = None
    source: str | None = None
    source_description: str | None = None
    unit_code: str | None = None
    tags: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    occurrences: int = 1
    fingerprint: str = ""
    group_window_minutes: float | None = None   # None: the configured window
    language: str = "en"                        # vi: a message for officials

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; known: {KINDS}")
        if not self.fingerprint:
            self.fingerprint = fingerprint(self.kind, self.dag_id, self.task_id, self.error_class,
                                           first_line(self.error_message))

    def facts(self) -> dict[str, Any]:
        """What routes match on."""
        kinds = [self.kind] + ([self.details["digest_of"]] if self.details.get("digest_of") else [])
        return {"dag_id": self.dag_id, "task_id": self.task_id, "source": self.source, "tag": self.tags,
                "unit": self.unit_code, "kind": kinds}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Alert":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def fingerprint(*parts) -> str:
    """Identical failures share it: numbers and quoted values in the error line are blanked, so
    `batch 17` and `batch 18` group together."""
    norm = [re.sub(r"\d+", "#", str(p)) if p is not None else "" for p in parts]
    return hashlib.sha256("|".join(norm).encode("utf-8")).hexdigest()[:32]


def first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def subject(alert: Alert, prefix: str) -> str:
    count = f" (×{alert.occurrences})" if alert.occurrences > 1 else ""
    return f"{prefix} {alert.title}{count}".strip()


def render_text(alert: Alert) -> str:
    """The plain-text body, shared by email and webhook."""
    vi = alert.language == "vi"
    lines = [alert.summary, ""]

    def add(label_en: str, label_vi: str, value) -> None:
        if value not in (None, "", []):
            lines.append(f"{label_vi if vi else label_en}: {value}")

    add("DAG", "DAG", alert.dag_id)
    if alert.task_id:
        tries = ""
        if alert.try_number:
            tries = f" (try {alert.try_number}" + (f" of {alert.max_tries + 1}" if alert.max_tries is not None else "") + ")"
        add("Task", "Tác vụ", f"{alert.task_id}" + (f"[{alert.map_index}]" if alert.map_index not in (None, -1) else "")
            + tries)
    add("Run", "Lần chạy", alert.run_id)
    if alert.interval_start or alert.interval_end:
        add("Data interval", "Khoảng dữ liệu", f"{alert.interval_start or '?'} → {alert.interval_end or '?'}")
    if alert.source:
        add("Source", "Nguồn", alert.source + (f" — {alert.source_description}" if alert.source_description else ""))
    add("Unit", "Mã đơn vị", alert.unit_code)
    for key, value in alert.details.items():
        if value not in (None, "") and not isinstance(value, (dict, list)) and key != "digest_of":
            label = _LABELS.get(key) or key.replace("_", " ")
            add(label[:1].upper() + label[1:], label[:1].upper() + label[1:], value)
    if alert.occurrences > 1:
        add("Occurrences", "Số lần", alert.occurrences)
    if alert.error_class or alert.error_message:
        add("Error", "Lỗi", f"{alert.error_class or 'Error'}: {first_line(alert.error_message)}")
    if alert.error_lines:
        lines += ["", "Last lines of the error:" if not vi else "Các dòng cuối của lỗi:"]
        lines += ["    " + ln for ln in alert.error_lines]
    if alert.log_url:
        lines += ["", ("Nhật ký (log): " if vi else "Log: ") + alert.log_url]
    if alert.next_steps:
        lines += ["", "Việc cần làm tiếp:" if vi else "What to do next:"]
        lines += [f"  {i}. {step}" for i, step in enumerate(alert.next_steps, 1)]
    return "\n".join(lines).rstrip() + "\n"


def render_html(alert: Alert) -> str:
    """Email body: the text, escaped, with the log link clickable."""
    body = html.escape(render_text(alert))
    if alert.log_url:
        esc = html.escape(alert.log_url)
        body = body.replace(esc, f'<a href="{esc}">{esc}</a>', 1)
    return ('<html><head><meta charset="utf-8"></head><body>'
            f'<pre style="font-family: monospace; white-space: pre-wrap">{body}</pre></body></html>')


def webhook_payload(alert: Alert, prefix: str) -> dict[str, Any]:
    text = subject(alert, prefix) + "\n" + render_text(alert)
    return {
        "text": text,
        "title": subject(alert, prefix),
        "kind": alert.kind,
        "severity": alert.severity,
        "dag_id": alert.dag_id,
        "task_id": alert.task_id,
        "run_id": alert.run_id,
        "map_index": alert.map_index,
        "try_number": alert.try_number,
        "data_interval": {"start": alert.interval_start, "end": alert.interval_end},
        "error": {"class": alert.error_class, "message": alert.error_message, "last_lines": alert.error_lines},
        "log_url": alert.log_url,
        "source": alert.source,
        "unit_code": alert.unit_code,
        "next_steps": alert.next_steps,
        "details": alert.details,
        "occurrences": alert.occurrences,
        "fingerprint": alert.fingerprint,
        "sent_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
