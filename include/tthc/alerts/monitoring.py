"""Data alerts computed from the warehouse: stale sources, and units behind their digitization target."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass


from tthc.alerts.config import AlertConfig, load_config
from tthc.alerts.dispatch import dispatch
from tthc.alerts.message import Alert
from tthc.warehouse.db import fetch_all

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaleSource:
    source: str
    stale_after_days: float
    last_data_at: dt.datetime | None     # finish of the last batch that brought rows (rows_in > 0)
    first_batch_at: dt.datetime | None
    days_without_data: float | None


def stale_sources(url: str, config: AlertConfig | None = None, now: dt.datetime | None = None) -> list[StaleSource]:
    """Sources whose last batch with rows_in > 0 is older than their stale_after_days.

    Checked: every `kind: results` source of sources/*.yaml, plus any source named under `sources:` in
    config/alerts.yaml (e.g. `scan.<drop zone>`). A source that never ran is not stale (its DAG's own
    failure alerts cover that); one that ran for longer than the limit without ever bringing rows is.
    Per-source limit: alerts.yaml `sources.<name>.stale_after_days`, else `stale_after_days:` in the
    source's YAML, else settings.stale_after_days.
    """
    from tthc.sources.config import load_sources

    config = config or load_config()
    limits: dict[str, float] = {}
    for cfg in load_sources():
        if cfg.kind != "results":
            continue
        limits[cfg.name] = config.stale_after_days(cfg.name, cfg.stale_after_days)
    for name in config.sources:
        limits.setdefault(name, config.stale_after_days(name))
    rows = {s: (last, first, now_db) for s, last, first, now_db in fetch_all(url, """
        SELECT source, max(coalesce(finished_at, started_at)) FILTER (WHERE rows_in > 0), min(started_at), now()
        FROM ops.batch WHERE source = ANY(%s) GROUP BY source""", (list(limits),))}
    stale = []
    for name, limit in sorted(limits.items()):
        last, first, now_db = rows.get(name, (None, None, None))
        if first is None:
            continue
        ref = now or now_db
        since = last or first
        days = (ref - since).total_seconds() / 86400
        if days > limit:
            stale.append(StaleSource(name, limit, last, first, round(days, 1)))
    return stale


def alert_stale_sources(url: str, config: AlertConfig | None = None, now: dt.datetime | None = None) -> list[dict]:
    """One alert per stale source (grouped per source by the usual window). Returns what was found."""
    from tthc.alerts.callbacks import _source_description, base_url

    config = config or load_config()
    found = stale_sources(url, config, now)
    for s in found:
        dag_id = (f"tthc_scan_drop_{s.source[5:]}" if s.source.startswith(("scan.", "scan:"))
                  else f"tthc_source_{s.source}")
        last = s.last_data_at.isoformat(timespec="seconds") if s.last_data_at else "never"
        alert = Alert(
            kind="stale_source", severity="warning", source=s.source, dag_id=dag_id,
            source_description=_source_description(s.source),
            title=f"Nguồn không có dữ liệu mới / stale source: {s.source} ({s.days_without_data:g} days)",
            summary=(f"Source {s.source} has sent nothing new for {s.days_without_data:g} days "
                     f"(limit {s.stale_after_days:g}); last batch with rows: {last}."),
            details={"stale_after_days": s.stale_after_days, "days_without_data": s.days_without_data,
                     "last_data_at": last},
            log_url=f"{base_url(config)}/dags/{dag_id}" if dag_id else None,
            next_steps=[
                f"Check the recent batches: SELECT batch_id, interval_start, status, rows_in, rows_out, rows_quarantined "
                f"FROM ops.batch WHERE source = '{s.source}' ORDER BY started_at DESC LIMIT 10;",
                "Ask the unit that maintains the source whether it still records new results there "
                "(a new system? an export that stopped?).",
                "If the DAG runs but reads nothing, check the connection and incremental column in the source YAML "
                "and ops.watermark.",
                f"If the source is retired, raise or drop its limit: config/alerts.yaml sources.{s.source}.stale_after_days.",
                "Runbook: docs/alerts.md (\"An alert arrived: what now\")."],
            fingerprint=f"stale:{s.source}")
        dispatch(alert, url, config)
    log.info("%d stale source(s): %s", len(found), ", ".join(s.source for s in found) or "none")
    return [{"source": s.source, "days_without_data": s.days_without_data, "stale_after_days": s.stale_after_days}
            for s in found]


# --- units behind their target ------------------------------------------------------------

_LEVEL_VI = {"province": "tỉnh", "district": "huyện", "commune": "xã"}
_VIEW_VI = {"issuing": "theo đơn vị cấp", "successor": "theo đơn vị kế thừa sau sắp xếp"}
_KIND_VI = {"quarter": "quý", "quarterly": "quý", "month": "tháng", "monthly": "tháng", "year": "năm", "annual": "năm",
            "yearly": "năm"}


def notify_units_behind(warehouse_url: str, period_kind: str, period_end) -> int:
    """One message per unit whose snapshot status is 'behind', to its contact (config/alerts.yaml
    `unit_contacts:` by unit code; else the routes, e.g. the default route). Vietnamese text.

    Returns the number of messages sent now. Each (period, unit) is alerted once: running it again
    for the same snapshot sends nothing more (recorded as suppressed in ops.alert_log).
    """
    config = load_config()
    rows = fetch_all(warehouse_url, """
        SELECT unit_code, unit_key, unit_name, unit_level, plan_code, unit_view, in_scope, digitized,
               pct_digitized, target_pct, gap_records, expected_pct
        FROM mart.progress_snapshot
        WHERE period_kind = %s AND period_end = %s AND status = 'behind'
        ORDER BY unit_code NULLS LAST, unit_key, plan_code, unit_view""", (period_kind, period_end))
    units: dict[str, list[tuple]] = {}
    for row in rows:
        units.setdefault(row[0] or row[1], []).append(row)
    sent = 0
    for key, lines in units.items():
        alert = _unit_alert(key, lines, period_kind, period_end)
        result = dispatch(alert, warehouse_url, config)
        sent += result.status in ("sent", "partial")
    log.info("%s %s: %d unit(s) behind, %d message(s) sent", period_kind, period_end, len(units), sent)
    return sent


def _unit_alert(key: str, lines: list[tuple], period_kind: str, period_end) -> Alert:
    code, unit_key, name, level = lines[0][0], lines[0][1], lines[0][2] or key, lines[0][3]
    period_vi = f"{_KIND_VI.get(str(period_kind).lower(), period_kind)} kết thúc ngày {_vi_date(period_end)}"
    first = lines[0]
    pct, target = _pct(first[8]), _pct(first[9])
    plans = []
    for (_, _, _, _, plan, view, in_scope, digitized, p, t, gap, expected) in lines:
        plans.append(f"Kế hoạch {plan} ({_VIEW_VI.get(view, view)}): đã số hóa {_n(digitized)}/{_n(in_scope)} hồ sơ "
                     f"= {_pct(p)}% / mục tiêu {_pct(t)}%"
                     + (f" (cần đạt {_pct(expected)}% tại cuối kỳ)" if expected is not None else "")
                     + f"; còn thiếu {_n(gap)} hồ sơ.")
    summary = (f"Đơn vị {name}" + (f" (mã {code})" if code else "") + f" chậm tiến độ số hóa: {pct}% / mục tiêu {target}% "
               f"({period_vi}).")
    return Alert(
        kind="unit_behind", severity="warning", language="vi", unit_code=code,
        title=f"Đơn vị {name} chậm tiến độ số hóa: {pct}% / mục tiêu {target}%",
        summary=summary + "\n\n" + "\n".join(plans),
        details={"tên đơn vị": name, "cấp": _LEVEL_VI.get(level, level), "kỳ báo cáo": period_vi},
        next_steps=["Rà soát số hồ sơ còn thiếu trong báo cáo tiến độ số hóa của kỳ này.",
                    "Bố trí nhân lực, thiết bị quét và lịch số hóa để bù phần còn thiếu trước kỳ báo cáo sau.",
                    "Nếu số liệu chưa đúng (hồ sơ đã số hóa nhưng chưa được ghi nhận), báo cho bộ phận vận hành "
                    "dữ liệu để kiểm tra."],
        fingerprint=f"unit_behind:{period_kind}:{period_end}:{unit_key or code}",
        group_window_minutes=60 * 24 * 3650)   # once per snapshot and unit


def _pct(value) -> str:
    """A percentage (mart.progress_snapshot stores 0–100) as officials write it: comma decimal."""
    if value is None:
        return "?"
    return f"{float(value):.1f}".replace(".", ",")


def _n(value) -> str:
    return "?" if value is None else f"{int(value):,}".replace(",", ".")


def _vi_date(value) -> str:
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return value.strftime("%d/%m/%Y") if hasattr(value, "strftime") else str(value)
