"""Send each period's progress reports to the recipients of config/reports.yaml, by e-mail through
the Airflow SMTP connection (the alerts' channel), with the PDF and the XLSX attached, and record
every sending in ops.report_delivery.

Audiences: each delivery group of a plan (``plan:<code>:<n>``: the plan's report, to/cc) and each
unit's own copy (``unit:<code>``: only its figures). An audience already sent for the period is
skipped unless ``force``; the check and the sending run under a per-audience advisory lock, so two
concurrent runs cannot both send. An audience without any address is recorded as
``no_recipients`` (and sent on a later run once an address is configured).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import tempfile
from pathlib import Path

from tthc.progress.report_config import ReportConfig, load_report_config
from tthc.progress.reports import Period, reports_root, write_report
from tthc.warehouse.db import fetch_all, transaction

log = logging.getLogger(__name__)


def _attachment_info(paths: list[str]) -> list[dict]:
    out = []
    for p in paths:
        data = Path(p).read_bytes()
        out.append({"name": Path(p).name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return out


def _body(period: Period, title: str, greeting: list[str], due: dt.date | None) -> str:
    from html import escape

    lines = [f"<p>Kính gửi: {escape('; '.join(greeting))}.</p>" if greeting else "",
             f"<p>Hệ thống số hóa kết quả giải quyết thủ tục hành chính gửi {escape(title)} – kỳ "
             f"{escape(period.label_vi)} (số liệu tính đến hết ngày {period.end.strftime('%d/%m/%Y')}).</p>",
             "<p>Tệp đính kèm: báo cáo (PDF, để in và ký) và biểu thống kê chi tiết theo đơn vị (Excel).</p>"]
    if due:
        lines.append(f"<p>Hạn gửi theo kế hoạch: trước ngày {due.strftime('%d/%m/%Y')}.</p>")
    lines.append("<p><i>Thư gửi tự động, vui lòng không trả lời thư này.</i></p>")
    return "".join(lines)


def _audiences(url: str | None, kind: str, end: dt.date, config: ReportConfig) -> list[dict]:
    plans_in_snapshot = {p for (p,) in fetch_all(url, """SELECT DISTINCT plan_code FROM mart.progress_snapshot
                                                       WHERE period_kind = %s AND period_end = %s""", (kind, end))}
    out = []
    for plan in sorted(plans_in_snapshot):
        for n, group in enumerate(config.plan(plan).deliveries, start=1):
            if kind not in group.kinds:
                continue
            out.append({"audience": f"plan:{plan}:{n}", "plan": plan, "unit": None,
                        "to": [e for c in group.to for e in c.emails], "cc": [e for c in group.cc for e in c.emails],
                        "greeting": [c.name for c in group.to],
                        "due": group.due_date(end.year) if kind == "year" else None})
    units = {code: (name, plans) for code, name, plans in fetch_all(url, """
        SELECT unit_code, min(unit_name), array_agg(DISTINCT plan_code ORDER BY plan_code)
        FROM mart.progress_snapshot WHERE period_kind = %s AND period_end = %s AND unit_view = 'issuing'
        GROUP BY unit_code""", (kind, end))}
    for code, copy in sorted(config.units.items()):
        if kind not in copy.kinds or code not in units:
            continue
        name, plans = units[code]
        wanted = [p for p in plans if not copy.plans or p in copy.plans]
        if not wanted:
            continue
        out.append({"audience": f"unit:{code}", "plan": wanted[0] if len(wanted) == 1 else None, "unit": code,
                    "to": list(copy.emails), "cc": [], "greeting": [copy.name or f"UBND {name}"], "due": None})
    return out


def deliver_reports(url: str | None, kind: str, end: dt.date, force: bool = False, run_id: str | None = None,
                    config: ReportConfig | None = None, root: str | None = None) -> list[dict]:
    """Send the (kind, end) reports to every configured audience not yet served. Returns one
    outcome per audience: {audience, status (sent | failed | no_recipients | skipped), ...}."""
    from tthc.alerts.channels import send_email

    config = config or load_report_config()
    period = Period(kind, end)
    root = root or reports_root()
    workdir = None
    if root.startswith("s3://"):  # attachments need local files
        workdir = tempfile.TemporaryDirectory(prefix="tthc-delivery-")
        root = workdir.name
    outcomes = []
    try:
        for a in _audiences(url, kind, end, config):
            with transaction(url) as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('tthc.report_delivery'), hashtext(%s))",
                            (f"{kind}:{end.isoformat()}:{a['audience']}",))
                cur.execute("""SELECT delivery_id, created_at FROM ops.report_delivery
                               WHERE period_kind = %s AND period_end = %s AND audience = %s AND status = 'sent'
                               ORDER BY delivery_id DESC LIMIT 1""", (kind, end, a["audience"]))
                previous = cur.fetchone()
                if previous and not force:
                    log.info("report %s for %s already sent (delivery %s at %s): not sent again (force to resend)",
                             period.slug, a["audience"], previous[0], previous[1])
                    outcomes.append({"audience": a["audience"], "status": "skipped", "delivery_id": previous[0]})
                    continue
                what = (f"báo cáo tiến độ số hóa kết quả giải quyết TTHC của {a['greeting'][0]}" if a["unit"]
                        else "báo cáo tiến độ số hóa kết quả giải quyết TTHC")
                subject = " – ".join([f"{config.settings.subject_prefix} Báo cáo tiến độ số hóa kết quả giải quyết "
                                      f"TTHC".strip(), period.label_vi, *([a["greeting"][0]] if a["unit"] else [])])
                attach: list[str] = []
                if not a["to"]:
                    status, error = "no_recipients", "no address configured (config/reports.yaml)"
                    log.warning("report %s for %s: no recipient address configured", period.slug, a["audience"])
                else:
                    files = write_report(url, kind, end, root, png=False, pdf=True, plan=a["plan"],
                                         unit_code=a["unit"], config=config)
                    attach = [files["pdf"], files["xlsx"]]
                    sent = send_email(a["to"], subject, _body(period, what, a["greeting"], a["due"]),
                                      conn_id=config.settings.smtp_conn_id,
                                      from_email=config.settings.from_email or None, files=attach, cc=a["cc"])
                    status, error = ("sent", None) if sent.ok else ("failed", sent.error)
                cur.execute("""INSERT INTO ops.report_delivery (period_kind, period_end, audience, plan_code, unit_code,
                                   recipients, cc, subject, attachments, due_on, status, error, forced, run_id)
                               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s)
                               RETURNING delivery_id""",
                            (kind, end, a["audience"], a["plan"], a["unit"], a["to"], a["cc"], subject,
                             json.dumps(_attachment_info(attach)), a["due"], status, error,
                             bool(force and previous), run_id))
                outcomes.append({"audience": a["audience"], "status": status, "delivery_id": cur.fetchone()[0],
                                 "to": a["to"], "cc": a["cc"], "error": error})
    finally:
        if workdir:
            workdir.cleanup()
    failed = [o for o in outcomes if o["status"] == "failed"]
    log.info("reports %s: %s", period.slug, ", ".join(f"{o['audience']} {o['status']}" for o in outcomes) or "no audience")
    if failed:
        raise RuntimeError(f"report delivery failed for {len(failed)} audience(s): "
                           + "; ".join(f"{o['audience']}: {o['error']}" for o in failed))
    return outcomes
