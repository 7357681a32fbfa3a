"""Reports for officials, one set per snapshot: an HTML page from a Jinja2 template with
matplotlib charts inlined as SVG (no CDN: the servers have no internet), a full-page PNG and a
PDF for printing and signing (both from the system's headless Chromium), and an XLSX workbook
laid out like an official statistical table (biểu thống kê) for printing on A4 landscape.
All labels are Vietnamese; numbers use the Vietnamese decimal comma; dates are Vietnam dates.

Location: TTHC_REPORTS_DIR (default .local/reports), one folder per period
(``quarter-2024-12-31``); an ``s3://bucket/prefix`` value uploads the files there instead.
A unit's own copy (only its figures) goes to ``<period>/don-vi-<code>/``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tthc.progress.charts import step_chart_svg, vn_number, worst_units_svg
from tthc.progress.report_config import ReportConfig, load_report_config
from tthc.warehouse.db import fetch_all
from tthc.settings import LOCAL_TZ, settings

log = logging.getLogger(__name__)

LEVELS = ("province", "district", "commune")
LEVEL_VI = {"province": "Cấp tỉnh (sở, ban, ngành)", "district": "Cấp huyện", "commune": "Cấp xã"}
LEVEL_SHORT = {"province": "Tỉnh", "district": "Huyện", "commune": "Xã", "": ""}
VN_TZ = LOCAL_TZ
HEALTH_VI = {"ok": "Bình thường", "attention": "Cần xử lý", "failed": "Lỗi", "stuck": "Treo"}
# pipeline health columns shown to officials, with their labels (the state when the report is made).
HEALTH_COLUMNS = (("source", "Nguồn dữ liệu"), ("health", "Tình trạng"), ("last_success_at", "Lần chạy thành công gần nhất"),
                  ("last_rows_in", "Bản ghi vào (lần gần nhất)"), ("last_rows_out", "Bản ghi nạp"),
                  ("last_rows_quarantined", "Bản ghi cách ly"), ("open_quarantine", "Cách ly chưa xử lý"),
                  ("open_review", "Bản quét chờ kiểm tra"), ("fixity_ok", "Lưu trữ toàn vẹn"),
                  ("fixity_failed", "Lưu trữ sai lệch"))
INDICATOR_VI = {
    "signed_share": "Tỷ lệ kết quả giải quyết TTHC được ký số",
    "no_resupply_share": "Tỷ lệ người dân, doanh nghiệp không phải cung cấp lại giấy tờ đã có (trong năm)",
    "one_stop_running_share": "Tỷ lệ Bộ phận Một cửa thực hiện số hóa",
}
NO_DATA = "Chưa có số liệu"
# Where each indicator's figures come from (the report says so).
INDICATOR_SOURCE_VI = {
    "signed_share": "Kho dữ liệu: kết quả đã ký số",
    "no_resupply_share": "Hồ sơ của Hệ thống một cửa điện tử",
    "one_stop_running_share": "Danh sách Bộ phận Một cửa và ngày bắt đầu số hóa",
}
CHROMIUM = settings().chromium
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars")


@dataclass(frozen=True)
class Period:
    kind: str
    end: dt.date

    @property
    def slug(self) -> str:
        return f"{self.kind}-{self.end.isoformat()}"

    @property
    def label_vi(self) -> str:
        e = self.end
        if self.kind == "month":
            return f"Tháng {e.month}/{e.year}"
        if self.kind == "quarter":
            return f"Quý {(e.month - 1) // 3 + 1}/{e.year}"
        return f"Năm {e.year} (tính đến ngày {e.day:02d}/{e.month:02d}/{e.year})"


def reports_root() -> str:
    return str(settings().reports_dir)


def today_vn(now: dt.datetime | None = None) -> dt.date:
    """The date in Vietnam (a report made at 04:26 local time is dated that day, not the UTC day before)."""
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(VN_TZ).date()


def date_line(place: str, day: dt.date) -> str:
    """'Đồng Tháp, ngày 06 tháng 12 năm 2026' (the dateline of Vietnamese administrative documents)."""
    return f"{place}, ngày {day.day:02d} tháng {day.month:02d} năm {day.year}"


def unit_label(row: dict) -> str:
    """A unit's name with its parent district: ten communes share a name with another one."""
    return f"{row['unit_name']} ({row['parent_name']})" if row.get("parent_name") else row["unit_name"]


# ------------------------------------------------------------------ data


ROW_COLUMNS = ("plan_code", "unit_view", "unit_key", "unit_code", "unit_name", "unit_level", "in_scope", "declared",
               "known", "digitized", "data_only", "digitized_elsewhere", "pct_digitized", "target_pct",
               "expected_pct", "gap_records", "status", "status_vi", "monthly_pace_needed", "signed_pct", "needs_rescan")


def load_report_data(url: str | None, kind: str, end: dt.date, unit_code: str | None = None) -> dict:
    """Everything a report shows; with unit_code, only that unit's figures (its own copy)."""
    unit_filter = "AND s.unit_code = %s AND s.unit_view = 'issuing'" if unit_code else ""
    params = (kind, end, unit_code) if unit_code else (kind, end)
    rows = [dict(zip(ROW_COLUMNS + ("parent_name",), r)) for r in fetch_all(url, f"""
        SELECT {', '.join('s.' + c for c in ROW_COLUMNS)}, pu.name_vi
        FROM mart.progress_snapshot s
        LEFT JOIN core.admin_unit u ON u.unit_key = s.unit_key
        LEFT JOIN core.admin_unit pu ON pu.unit_key = u.parent_key AND pu.level = 'district'
        WHERE s.period_kind = %s AND s.period_end = %s {unit_filter}
        ORDER BY s.plan_code, s.unit_view, s.unit_level, s.unit_code::int""", params)]
    if not rows:
        raise LookupError(f"no progress snapshot for {kind} {end.isoformat()}"
                          + (f" and unit {unit_code}" if unit_code else "")
                          + f": take it first (tthc progress snapshot --kind {kind} --end {end.isoformat()})")
    plans = {p: {"name": n, "decision": d} for p, n, d in fetch_all(
        url, "SELECT plan_code, name_vi, decision_ref FROM core.plan ORDER BY plan_code")}
    targets = fetch_all(url, "SELECT plan_code, level, year, target_pct FROM core.plan_target ORDER BY 1, 2, 3")
    # Totals per level (or the one unit) of every snapshot of this kind up to this one: the actual lines.
    history = fetch_all(url, f"""
        SELECT s.plan_code, s.unit_level, s.period_end, sum(s.in_scope)::bigint,
               sum(s.digitized + s.digitized_elsewhere)::bigint
        FROM mart.progress_snapshot s
        WHERE s.period_kind = %s AND s.period_end <= %s AND s.unit_view = 'issuing' {unit_filter}
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", params)
    indicator_targets = fetch_all(url, "SELECT DISTINCT plan_code, indicator, level FROM core.plan_indicator_target")
    signing = fetch_all(url, "SELECT plan_code, level, required_from FROM core.plan_signing_rule ORDER BY 1, 2")
    cost_cols = ("plan_code", "unit_code", "unit_name", "parent_name", "unit_level", "remaining_records",
                 "remaining_pages", "pages_declared", "estimated_cost_vnd", "rate_version", "pace_per_month",
                 "target_reached_on", "final_year", "final_target_pct")
    cost = [dict(zip(cost_cols, r)) for r in fetch_all(url, f"""
        SELECT {', '.join(cost_cols)} FROM mart.cost_estimate {'WHERE unit_code = %s' if unit_code else ''}
        ORDER BY plan_code, unit_code::int""", (unit_code,) if unit_code else None)]
    indicators = [] if unit_code else fetch_all(url, """
        SELECT plan_code, indicator, unit_level, numerator, denominator, pct, target_pct, status, derived
        FROM mart.indicator_snapshot WHERE period_kind = %s AND period_end = %s ORDER BY 1, 2, 3""", (kind, end))
    health = [] if unit_code else [dict(zip([c for c, _ in HEALTH_COLUMNS], r)) for r in fetch_all(
        url, f"SELECT {', '.join(c for c, _ in HEALTH_COLUMNS)} FROM ops.pipeline_health ORDER BY source")]
    return {"rows": rows, "plans": plans, "targets": targets, "history": history, "indicators": indicators,
            "indicator_targets": [] if unit_code else indicator_targets, "health": health, "unit_code": unit_code,
            "signing": signing, "cost": cost}


def _health_cell(column: str, value, config: ReportConfig):
    if column == "source":
        return config.source_label(value)
    if column == "health":
        return HEALTH_VI.get(value, value)
    if isinstance(value, dt.datetime):
        return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")
    return value


def level_totals(rows: list[dict], plan: str) -> list[dict]:
    out = []
    for level in LEVELS:
        sel = [r for r in rows if r["plan_code"] == plan and r["unit_view"] == "issuing" and r["unit_level"] == level]
        if not sel:
            continue
        scope = sum(r["in_scope"] for r in sel)
        done = sum(r["digitized"] + r["digitized_elsewhere"] for r in sel)
        target = sel[0]["target_pct"]
        pct = round(100.0 * done / scope, 2) if scope else 100.0
        out.append({"level": level, "label": LEVEL_VI[level], "units": len(sel), "in_scope": scope, "done": done,
                    "pct": pct, "target": float(target) if target is not None else None,
                    "behind": sum(1 for r in sel if r["status"] == "behind"),
                    "gap": sum(r["gap_records"] or 0 for r in sel),
                    "rescan": sum(r["needs_rescan"] or 0 for r in sel)})
    return out


def plan_chart_svg(data: dict, plan: str) -> str:
    """The plan's step chart (targets per level, actual line per level) from report data."""
    targets: dict[str, dict[int, float]] = {}
    for p, lvl, year, pct in data["targets"]:
        if p == plan:
            targets.setdefault(lvl, {})[int(year)] = float(pct)
    actual: dict[str, list] = {}
    for p, lvl, day, scope, done in data["history"]:
        if p == plan:
            actual.setdefault(lvl, []).append((day, 100.0 * done / scope if scope else 100.0))
    if data.get("unit_code"):  # a unit's copy: only its own level's steps
        targets = {lvl: t for lvl, t in targets.items() if lvl in actual}
    return step_chart_svg(targets, actual)


def indicator_rows(data: dict, plan: str) -> list[dict]:
    """Every indicator the plan sets, measured or not: one without data says so instead of vanishing."""
    measured = {(i[1], i[2]): i for i in data["indicators"] if i[0] == plan}
    wanted = {(ind, lvl) for p, ind, lvl in data["indicator_targets"] if p == plan} | set(measured)
    order = list(INDICATOR_VI)
    out = []
    for ind, lvl in sorted(wanted, key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1])):
        m = measured.get((ind, lvl))
        _, _, _, num, den, pct, target, status, derived = m if m else (None,) * 9
        has_data = bool(den)
        name = INDICATOR_VI.get(ind, ind)
        if ind == "signed_share":
            by_day: dict[dt.date, list[str]] = {}
            for p, lv, d in sorted(data.get("signing", []), key=lambda x: LEVELS.index(x[1])):
                if p == plan:
                    by_day.setdefault(d, []).append(LEVEL_VI[lv].split(" (")[0].lower())
            if by_day:  # "(kết quả cấp huyện, cấp xã cấp từ 01/01/2024)"
                name += " (" + "; ".join(f"kết quả {', '.join(lv)} cấp từ {d.strftime('%d/%m/%Y')}"
                                         for d, lv in sorted(by_day.items())) + ")"
        source = INDICATOR_SOURCE_VI.get(ind, "")
        if ind == "no_resupply_share" and has_data:
            flagged = den - (derived or 0)
            source += (f": {_n(derived or 0)} hồ sơ suy ra từ kho dữ liệu (giấy tờ cần dùng đã được số hóa cho "
                       f"người nộp trước ngày nộp); {_n(flagged)} hồ sơ theo cờ \"phải nộp lại giấy tờ\" của hệ thống "
                       f"(hồ sơ không ghi người nộp hoặc giấy tờ cần dùng)")
        out.append({"name": name, "source": source, "level": LEVEL_SHORT.get(lvl, ""),
                    "numerator": num if has_data else None, "denominator": den if has_data else None,
                    "pct": pct if has_data else None, "target": target, "status": status if has_data else None,
                    "status_vi": ({"met": "Đạt", "behind": "Chưa đạt"}.get(status, "—") if has_data else NO_DATA)})
    return out


def cost_summary(data: dict, plan: str, limit: int = 15) -> dict | None:
    """The cost estimate of what is left (current state) per level, and the units that will not
    reach the plan's final target in time at their present pace."""
    sel = [c for c in data.get("cost", []) if c["plan_code"] == plan]
    if not sel:
        return None
    levels = []
    for level in LEVELS:
        lv = [c for c in sel if c["unit_level"] == level]
        if lv:
            levels.append({"label": LEVEL_VI[level], "units": len(lv),
                           "records": sum(c["remaining_records"] for c in lv),
                           "pages": sum(c["remaining_pages"] for c in lv),
                           "cost": sum(c["estimated_cost_vnd"] for c in lv)})
    late = [c for c in sel if c["remaining_records"] and c["final_year"] and
            (c["target_reached_on"] is None or c["target_reached_on"] > dt.date(c["final_year"], 12, 31))]
    late.sort(key=lambda c: (c["target_reached_on"] is not None, -(c["remaining_records"] or 0)))
    return {"levels": levels, "total": sum(x["cost"] for x in levels), "version": sel[0]["rate_version"],
            "declared_pages": sum(1 for c in sel if c["pages_declared"]), "late": late[:limit], "late_count": len(late)}


def _worst_units(rows: list[dict], limit: int = 12) -> list[dict]:
    behind = [r for r in rows if r["status"] == "behind" and r["in_scope"]]
    behind.sort(key=lambda r: (float(r["pct_digitized"]) - float(r["expected_pct"]), -r["in_scope"]))
    return behind[:limit]


# ------------------------------------------------------------------ HTML


def _n(v) -> str:
    return "—" if v is None else vn_number(v, 0)


def _p(v) -> str:
    return "—" if v is None else vn_number(v, 2)


def _template_env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                      autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(n=_n, p=_p, unit=unit_label)
    return env


def render_html(data: dict, period: Period, config: ReportConfig | None = None, made_on: dt.date | None = None) -> str:
    from markupsafe import Markup

    config = config or load_report_config()
    made_on = made_on or today_vn()
    rows = data["rows"]
    plans = []
    for plan in sorted({r["plan_code"] for r in rows}):
        issuer = config.plan(plan)
        worst = _worst_units([r for r in rows if r["plan_code"] == plan and r["unit_view"] == "issuing"])
        plans.append({
            "code": plan, "info": data["plans"].get(plan, {"name": plan, "decision": ""}), "issuer": issuer,
            "date_line": date_line(issuer.place, made_on),
            "recipients": [c.name for d in issuer.deliveries if period.kind in d.kinds for c in d.to],
            "levels": level_totals(rows, plan),
            "chart": Markup(plan_chart_svg(data, plan)),
            "worst": worst,
            "worst_chart": Markup(worst_units_svg([(f"{unit_label(r)} – {LEVEL_SHORT[r['unit_level']]}",
                                                    float(r["pct_digitized"]), float(r["expected_pct"]))
                                                   for r in worst])) if worst else None,
            "indicators": indicator_rows(data, plan),
            "cost": cost_summary(data, plan),
            "rescan": sorted((r for r in rows if r["plan_code"] == plan and r["unit_view"] == "issuing"
                              and r["needs_rescan"]), key=lambda r: (-r["needs_rescan"], unit_label(r))),
            "units": [r for r in rows if r["plan_code"] == plan and r["unit_view"] == "issuing"]
            if data.get("unit_code") else [],
        })
    health = [{"cells": [_health_cell(c, h[c], config) for c, _ in HEALTH_COLUMNS],
               "bad": h["health"] in ("failed", "stuck")} for h in data.get("health") or []]
    unit = rows[0] if data.get("unit_code") else None
    return _template_env().get_template("report.html.j2").render(
        period=period, made_on=made_on, plans=plans, health=health, health_labels=[lbl for _, lbl in HEALTH_COLUMNS],
        unit=unit, level_vi=LEVEL_VI, level_short=LEVEL_SHORT, no_data=NO_DATA,
        end_text=period.end.strftime("%d/%m/%Y"))


# ------------------------------------------------------------------ XLSX (biểu thống kê)

XLSX_HEADERS = ("STT", "Mã đơn vị", "Tên đơn vị", "Thuộc huyện, thành phố", "Cấp", "Phạm vi (kết quả)", "Đã số hóa",
                "Tỷ lệ (%)", "Chỉ tiêu (%)", "Còn thiếu (kết quả)", "Đánh giá", "Kê khai", "Đã có bản ghi",
                "Chỉ có dữ liệu", "Dự án khác đã số hóa", "Cần số hóa mỗi tháng", "Cần quét lại")
XLSX_WIDTHS = (5, 8, 26, 20, 6, 11, 10, 8, 9, 11, 12, 10, 10, 10, 11, 11, 9)
XLSX_HEADER_ROW = 9          # column titles; (1), (2), … below; data from XLSX_HEADER_ROW + 2


def _sheet_header(ws, issuer, title: str, lines: list[str], made_on: dt.date, ncols: int) -> int:
    """The header block of a Vietnamese administrative form: issuing body and unit (left), national
    motto (right), form number and dateline, title. Returns the row of the column titles."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    half = max(3, ncols // 2 - 2)
    right0, last = get_column_letter(ncols - half + 1), get_column_letter(ncols)
    left1 = get_column_letter(half)
    cells = [(1, f"A1:{left1}1", issuer.authority.upper(), Font(size=11)),
             (2, f"A2:{left1}2", issuer.reporting_unit.upper(), Font(bold=True, size=11)),
             (3, f"A3:{left1}3", "Biểu số 01/SH-TTHC", Font(italic=True, size=10)),
             (1, f"{right0}1:{last}1", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", Font(bold=True, size=11)),
             (2, f"{right0}2:{last}2", "Độc lập – Tự do – Hạnh phúc", Font(bold=True, size=11)),
             (3, f"{right0}3:{last}3", date_line(issuer.place, made_on), Font(italic=True, size=11)),
             (5, f"A5:{last}5", title, Font(bold=True, size=13))]
    cells += [(6 + i, f"A{6 + i}:{last}{6 + i}", text, Font(bold=i == 0, italic=i > 0, size=11))
              for i, text in enumerate(lines[:2])]
    for row, span, text, font in cells:
        ws.merge_cells(span)
        c = ws[span.split(":")[0]]
        c.value, c.font = text, font
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    return XLSX_HEADER_ROW


def _print_setup(ws, header_row: int) -> None:
    """A4 landscape, every column on one page width, titles repeated on each page, page numbers."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    ws.print_title_rows = f"{header_row}:{header_row + 1}"
    ws.oddFooter.center.text = "Trang &P/&N"


def write_xlsx(data: dict, period: Period, path: Path, config: ReportConfig | None = None,
               made_on: dt.date | None = None) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    config = config or load_report_config()
    made_on = made_on or today_vn()
    wb = Workbook()
    wb.remove(wb.active)
    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    ncols = len(XLSX_HEADERS)
    for plan in sorted({r["plan_code"] for r in data["rows"]}):
        for view, suffix in (("issuing", ""), ("successor", " (ĐV mới)")):
            sel = [r for r in data["rows"] if r["plan_code"] == plan and r["unit_view"] == view]
            if not sel:
                continue
            ws = wb.create_sheet(f"{plan}{suffix}"[:31])
            hr = _sheet_header(ws, config.plan(plan), "BIỂU THỐNG KÊ TIẾN ĐỘ SỐ HÓA KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH", [
                data["plans"].get(plan, {}).get("name", plan),
                f"Kỳ báo cáo: {period.label_vi} – số liệu đến hết ngày {period.end.strftime('%d/%m/%Y')}"
                + ("; theo đơn vị hành chính mới (sau 01/7/2025)" if view == "successor" else
                   "; theo đơn vị cấp kết quả (trước 01/7/2025)")], made_on, ncols)
            for j, text in enumerate(XLSX_HEADERS, start=1):
                c = ws.cell(row=hr, column=j, value=text)
                c.font = Font(bold=True)
                c.fill = PatternFill("solid", fgColor="DCE6F1")
                c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
                c.border = border
                ws.column_dimensions[get_column_letter(j)].width = XLSX_WIDTHS[j - 1]
            # the column-number row of Vietnamese statistical forms: (1), (2), ...
            for j in range(1, ncols + 1):
                c = ws.cell(row=hr + 1, column=j, value=f"({j})")
                c.alignment = Alignment(horizontal="center")
                c.font = Font(italic=True, size=9)
                c.border = border
            sel.sort(key=lambda r: (LEVELS.index(r["unit_level"]), int(r["unit_code"])))
            row_no = hr + 2
            for k, r in enumerate(sel, start=1):
                values = [k, int(r["unit_code"]), r["unit_name"], r.get("parent_name"),
                          LEVEL_SHORT[r["unit_level"]], r["in_scope"], r["digitized"] + r["digitized_elsewhere"],
                          float(r["pct_digitized"]) if r["pct_digitized"] is not None else None,
                          float(r["target_pct"]) if r["target_pct"] is not None else None,
                          r["gap_records"], r["status_vi"] or "—", r["declared"], r["known"], r["data_only"],
                          r["digitized_elsewhere"],
                          float(r["monthly_pace_needed"]) if r["monthly_pace_needed"] is not None else None,
                          r["needs_rescan"]]
                for j, v in enumerate(values, start=1):
                    c = ws.cell(row=row_no, column=j, value=v)
                    c.border = border
                    if j in (6, 7, 10, 12, 13, 14, 15, 17):
                        c.number_format = "#,##0"
                    elif j in (8, 9):
                        c.number_format = "0.00"
                    elif j == 16:
                        c.number_format = "#,##0.0"
                    elif j in (3, 4):
                        c.alignment = Alignment(wrap_text=True, vertical="top")
                row_no += 1
            # total row
            ws.cell(row=row_no, column=3, value="Tổng cộng").font = Font(bold=True)
            first, lastrow = hr + 2, row_no - 1
            for j in (6, 7, 10, 12, 13, 14, 15, 17):
                col = get_column_letter(j)
                c = ws.cell(row=row_no, column=j, value=f"=SUM({col}{first}:{col}{lastrow})")
                c.number_format = "#,##0"
                c.font = Font(bold=True)
            c = ws.cell(row=row_no, column=8, value=f"=IF(F{row_no}>0,G{row_no}/F{row_no}*100,100)")
            c.number_format = "0.00"
            c.font = Font(bold=True)
            for j in range(1, ncols + 1):
                ws.cell(row=row_no, column=j).border = border
            ws.freeze_panes = ws.cell(row=hr + 2, column=4)
            ws.cell(row=row_no + 2, column=3, value="NGƯỜI LẬP BIỂU").font = Font(bold=True)
            ws.cell(row=row_no + 2, column=11, value="THỦ TRƯỞNG ĐƠN VỊ").font = Font(bold=True)
            ws.cell(row=row_no + 3, column=3, value="(Ký, ghi rõ họ tên)").font = Font(italic=True)
            ws.cell(row=row_no + 3, column=11, value="(Ký, ghi rõ họ tên, đóng dấu)").font = Font(italic=True)
            _print_setup(ws, hr)
    if data.get("health"):
        ws = wb.create_sheet("Vận hành")
        ws.cell(row=1, column=1, value="TÌNH TRẠNG VẬN HÀNH CÁC NGUỒN DỮ LIỆU (tại thời điểm lập báo cáo "
                f"{made_on.strftime('%d/%m/%Y')})").font = Font(bold=True)
        for j, (_, label) in enumerate(HEALTH_COLUMNS, start=1):
            c = ws.cell(row=3, column=j, value=label)
            c.font = Font(bold=True)
            c.border = border
            c.alignment = Alignment(wrap_text=True)
            ws.column_dimensions[get_column_letter(j)].width = 30 if j == 1 else 16
        for i, h in enumerate(data["health"], start=4):
            for j, (col, _) in enumerate(HEALTH_COLUMNS, start=1):
                ws.cell(row=i, column=j, value=_health_cell(col, h[col], config)).border = border
        _print_setup(ws, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


# ------------------------------------------------------------------ PNG and PDF (headless Chromium)


def _chromium(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"Chromium not found at {CHROMIUM} (set TTHC_CHROMIUM)")
    profile = tempfile.mkdtemp(prefix="tthc-chromium-")
    try:
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def page_height(html_path: Path, width: int = 1280, timeout: int = 90) -> int:
    """The page's full height in CSS pixels at this width: a throwaway copy of the page records
    document.scrollHeight in the DOM, which Chromium's --dump-dom prints."""
    probe = html_path.with_name(f".{html_path.stem}.probe.html")
    script = ("<script>document.documentElement.setAttribute('data-tthc-height', "
              "Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)));</script>")
    probe.write_text(html_path.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    try:
        proc = _chromium(["--dump-dom", f"--window-size={width},800", probe.resolve().as_uri()], timeout)
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(r'data-tthc-height="(\d+)"', proc.stdout)
    if not m:
        raise RuntimeError(f"Chromium did not measure {html_path.name} (exit {proc.returncode}): {proc.stderr[-800:]}")
    return int(m.group(1))


def render_png(html_path: Path, png_path: Path, width: int = 1280, timeout: int = 90) -> Path:
    """A full-page screenshot: the window is as tall as the page (measured first)."""
    height = page_height(html_path, width, timeout) + 8
    png_path.unlink(missing_ok=True)
    proc = _chromium([f"--screenshot={png_path}", f"--window-size={width},{height}", html_path.resolve().as_uri()],
                     timeout)
    if not png_path.exists():
        raise RuntimeError(f"Chromium did not write {png_path} (exit {proc.returncode}): {proc.stderr[-800:]}")
    return png_path


def render_pdf(html_path: Path, pdf_path: Path, timeout: int = 90) -> Path:
    """The report for printing and signing: A4 from the page's print style, no browser header/footer."""
    pdf_path.unlink(missing_ok=True)
    proc = _chromium([f"--print-to-pdf={pdf_path}", "--no-pdf-header-footer", html_path.resolve().as_uri()], timeout)
    if not pdf_path.exists():
        raise RuntimeError(f"Chromium did not write {pdf_path} (exit {proc.returncode}): {proc.stderr[-800:]}")
    return pdf_path


# ------------------------------------------------------------------ entry point


def write_report(url: str | None, kind: str, end: dt.date, root: str | None = None, png: bool = True,
                 pdf: bool | None = None, plan: str | None = None, unit_code: str | None = None,
                 config: ReportConfig | None = None) -> dict[str, str]:
    """Render the report of snapshot (kind, end): every plan, or one plan, or one unit's own copy.
    Returns the written locations by file kind (html, xlsx, png, pdf). pdf defaults to png
    (both need Chromium)."""
    period = Period(kind, end)
    pdf = png if pdf is None else pdf
    config = config or load_report_config()
    data = load_report_data(url, kind, end, unit_code)
    if plan:
        data["rows"] = [r for r in data["rows"] if r["plan_code"] == plan]
        if not data["rows"]:
            raise LookupError(f"no progress snapshot rows of plan {plan} for {kind} {end.isoformat()}")
    made_on = today_vn()
    root = root or reports_root()
    s3 = root.startswith("s3://")
    sub = [period.slug] + ([f"don-vi-{unit_code}"] if unit_code else [])
    out_dir = Path(tempfile.mkdtemp(prefix="tthc-report-")) if s3 else Path(root).joinpath(*sub)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "-".join(["bao-cao-tien-do-so-hoa", *([plan.lower()] if plan else []),
                     *([unit_code] if unit_code else []), period.slug])
    html_path = out_dir / f"{stem}.html"
    html_path.write_text(render_html(data, period, config, made_on), encoding="utf-8")
    xlsx_path = out_dir / f"{stem}.xlsx"
    write_xlsx(data, period, xlsx_path, config, made_on)
    paths = {"html": html_path, "xlsx": xlsx_path}
    if png:
        paths["png"] = render_png(html_path, out_dir / f"{stem}.png")
    if pdf:
        paths["pdf"] = render_pdf(html_path, out_dir / f"{stem}.pdf")
    if not s3:
        log.info("report %s written to %s", period.slug, out_dir)
        return {k: str(v) for k, v in paths.items()}
    from tthc.connections import s3_client

    bucket, _, prefix = root[len("s3://"):].partition("/")
    client = s3_client()
    types = {"html": "text/html; charset=utf-8", "png": "image/png", "pdf": "application/pdf",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    uris = {}
    for k, p in paths.items():
        key = "/".join(x for x in (prefix.strip("/"), *sub, p.name) if x)
        client.upload_file(str(p), bucket, key, ExtraArgs={"ContentType": types[k]})
        uris[k] = f"s3://{bucket}/{key}"
    shutil.rmtree(out_dir, ignore_errors=True)
    log.info("report %s uploaded to s3://%s/%s", period.slug, bucket, prefix)
    return uris
