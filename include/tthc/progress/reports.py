"""Reports for officials, one set per snapshot: an HTML page with inline SVG charts (no CDN:
the servers have no internet), its PNG rendering (headless Chromium) and an XLSX workbook
shaped like an official statistical table (biểu thống kê). All labels are Vietnamese.

Location: TTHC_REPORTS_DIR (default .local/reports), one folder per period
(``quarter-2024-12-31``); an ``s3://bucket/prefix`` value uploads the files there instead.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from tthc.warehouse.db import fetch_all

log = logging.getLogger(__name__)

LEVEL_VI = {"province": "Cấp tỉnh (sở, ban, ngành)", "district": "Cấp huyện", "commune": "Cấp xã"}
LEVEL_SHORT = {"province": "Tỉnh", "district": "Huyện", "commune": "Xã"}
STATUS_VI = {"met": "Đạt", "on_track": "Đúng tiến độ", "behind": "Chậm", None: "—"}
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HEALTH_VI = {"ok": "Bình thường", "attention": "Cần xử lý", "failed": "Lỗi", "stuck": "Treo"}
# ops.pipeline_health columns shown to officials, with their labels (the state when the report is made).
HEALTH_COLUMNS = (("source", "Nguồn dữ liệu"), ("health", "Tình trạng"), ("last_success_at", "Lần chạy thành công gần nhất"),
                  ("last_rows_in", "Bản ghi vào (lần gần nhất)"), ("last_rows_out", "Bản ghi nạp"),
                  ("last_rows_quarantined", "Bản ghi cách ly"), ("open_quarantine", "Cách ly chưa xử lý"),
                  ("open_review", "Bản quét chờ kiểm tra"), ("fixity_ok", "Lưu trữ toàn vẹn"),
                  ("fixity_failed", "Lưu trữ sai lệch"))
STATUS_COLOUR = {"met": "#1b7f3b", "on_track": "#c48a00", "behind": "#c0392b", None: "#777"}
INDICATOR_VI = {
    "signed_share": "Tỷ lệ kết quả giải quyết TTHC được ký số (cấp từ 2022)",
    "no_resupply_share": "Tỷ lệ người dân, doanh nghiệp không phải cung cấp lại giấy tờ đã có (trong năm)",
    "one_stop_running_share": "Tỷ lệ Bộ phận Một cửa thực hiện số hóa",
}
LEVEL_COLOURS = {"province": "#1f5fa8", "district": "#d35400", "commune": "#27864a"}
CHROMIUM = os.environ.get("TTHC_CHROMIUM", "/usr/bin/chromium")


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
    from tthc.paths import local_dir

    return os.environ.get("TTHC_REPORTS_DIR") or str(local_dir() / "reports")


# ------------------------------------------------------------------ data


def load_report_data(url: str | None, kind: str, end: dt.date) -> dict:
    cols = ("plan_code", "unit_view", "unit_key", "unit_code", "unit_name", "unit_level", "in_scope", "declared",
            "known", "digitized", "data_only", "digitized_elsewhere", "pct_digitized", "target_pct", "expected_pct",
            "gap_records", "status", "monthly_pace_needed", "signed_pct")
    rows = [dict(zip(cols, r)) for r in fetch_all(url, f"""
        SELECT {', '.join(cols)} FROM mart.progress_snapshot
        WHERE period_kind = %s AND period_end = %s ORDER BY plan_code, unit_view, unit_level, unit_code::int""",
                                                     (kind, end))]
    if not rows:
        raise LookupError(f"no progress snapshot for {kind} {end.isoformat()}: take it first "
                          f"(python -m tthc.progress snapshot --kind {kind} --end {end.isoformat()})")
    plans = {p: {"name": n, "decision": d} for p, n, d in fetch_all(
        url, "SELECT plan_code, name_vi, decision_ref FROM core.plan ORDER BY plan_code")}
    targets = fetch_all(url, "SELECT plan_code, level, year, target_pct FROM core.plan_target ORDER BY 1, 2, 3")
    # Level totals of every snapshot of this kind up to this one: the points on the step chart.
    history = fetch_all(url, """
        SELECT plan_code, unit_level, period_end, sum(in_scope)::bigint, sum(digitized + digitized_elsewhere)::bigint
        FROM mart.progress_snapshot
        WHERE period_kind = %s AND period_end <= %s AND unit_view = 'issuing'
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""", (kind, end))
    indicators = fetch_all(url, """
        SELECT plan_code, indicator, unit_level, numerator, denominator, pct, target_pct, status
        FROM mart.indicator_snapshot WHERE period_kind = %s AND period_end = %s ORDER BY 1, 2, 3""", (kind, end))
    health = [dict(zip([c for c, _ in HEALTH_COLUMNS], r)) for r in fetch_all(
        url, f"SELECT {', '.join(c for c, _ in HEALTH_COLUMNS)} FROM ops.pipeline_health ORDER BY source")]
    return {"rows": rows, "plans": plans, "targets": targets, "history": history, "indicators": indicators,
            "health": health}


def _health_cell(column: str, value):
    if column == "health":
        return HEALTH_VI.get(value, value)
    if isinstance(value, dt.datetime):
        return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")
    return value


def level_totals(rows: list[dict], plan: str) -> list[dict]:
    out = []
    for level in ("province", "district", "commune"):
        sel = [r for r in rows if r["plan_code"] == plan and r["unit_view"] == "issuing" and r["unit_level"] == level]
        if not sel:
            continue
        scope = sum(r["in_scope"] for r in sel)
        done = sum(r["digitized"] + r["digitized_elsewhere"] for r in sel)
        target = sel[0]["target_pct"]
        pct = round(100.0 * done / scope, 2) if scope else 100.0
        out.append({"level": level, "units": len(sel), "in_scope": scope, "done": done, "pct": pct,
                    "target": float(target) if target is not None else None,
                    "behind": sum(1 for r in sel if r["status"] == "behind"),
                    "gap": sum(r["gap_records"] or 0 for r in sel)})
    return out


# ------------------------------------------------------------------ SVG charts


def _esc(s) -> str:
    return html.escape(str(s), quote=True)


def step_chart_svg(plan: str, targets: list[tuple], history: list[tuple], width: int = 760, height: int = 340) -> str:
    """The plan's stepped targets per level (a step line per level) with the measured level totals."""
    tg = [(lvl, y, float(t)) for p, lvl, y, t in targets if p == plan]
    if not tg:
        return ""
    years = sorted({y for _, y, _ in tg})
    x0_date = dt.date(years[0] - 1, 1, 1)
    x1_date = dt.date(years[-1], 12, 31)
    pts = [(lvl, d, 100.0 * done / scope if scope else 100.0) for p, lvl, d, scope, done in history if p == plan]
    if pts:  # snapshots before or after the plan period widen the axis; the last target holds after it
        x0_date = min(x0_date, min(d for _, d, _ in pts))
        x1_date = max(x1_date, dt.date(max(d for _, d, _ in pts).year, 12, 31))
    left, right, top, bottom = 56, 150, 24, 40
    w, h = width - left - right, height - top - bottom
    span = (x1_date - x0_date).days or 1

    def x(d: dt.date) -> float:
        return left + w * (d - x0_date).days / span

    def y(v: float) -> float:
        return top + h * (1 - v / 100.0)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="Tiến độ so với chỉ tiêu theo năm">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fafafa" stroke="#ccc"/>']
    for v in (0, 20, 40, 60, 80, 100):
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e3e3e3"/>'
                     f'<text x="{left - 8}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">{v}%</text>')
    for yr in range(x0_date.year, x1_date.year + 1):
        xm = x(max(x0_date, dt.date(yr, 7, 1)))
        parts.append(f'<line x1="{x(max(x0_date, dt.date(yr, 1, 1))):.1f}" x2="{x(max(x0_date, dt.date(yr, 1, 1))):.1f}" '
                     f'y1="{top}" y2="{top + h}" stroke="#e3e3e3"/>'
                     f'<text x="{xm:.1f}" y="{top + h + 16}" font-size="11" text-anchor="middle">{yr}</text>')
    legend_y = top + 6
    for lvl in ("province", "district", "commune"):
        steps = sorted((yr, t) for l2, yr, t in tg if l2 == lvl)
        if not steps:
            continue
        colour = LEVEL_COLOURS[lvl]
        # a step per year: the year-end target holds over the whole year it is due in
        path = [f"M{x(dt.date(steps[0][0], 1, 1)):.1f},{y(steps[0][1]):.1f}"]
        for yr, t in steps:
            path.append(f"L{x(dt.date(yr, 1, 1)):.1f},{y(t):.1f} L{x(dt.date(yr, 12, 31)):.1f},{y(t):.1f}")
            parts.append(f'<text x="{x(dt.date(yr, 7, 1)):.1f}" y="{y(t) - 4:.1f}" font-size="10" fill="{colour}" '
                         f'text-anchor="middle">{t:g}%</text>' if lvl != "commune" or t not in
                         {t2 for l3, y3, t2 in tg if l3 == "district" and y3 == yr} else "")
        if x1_date > dt.date(steps[-1][0], 12, 31):
            path.append(f"L{x(x1_date):.1f},{y(steps[-1][1]):.1f}")
        parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="6 4"/>')
        series = sorted((d, v) for l2, d, v in pts if l2 == lvl)
        if series:
            parts.append('<polyline fill="none" stroke="{}" stroke-width="2.5" points="{}"/>'.format(
                colour, " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in series)))
            for d, v in series:
                parts.append(f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}">'
                             f'<title>{LEVEL_SHORT[lvl]} {d.isoformat()}: {v:.1f}%</title></circle>')
        parts.append(f'<line x1="{left + w + 12}" x2="{left + w + 34}" y1="{legend_y}" y2="{legend_y}" stroke="{colour}" '
                     f'stroke-width="2.5"/><text x="{left + w + 40}" y="{legend_y + 4}" font-size="12">{LEVEL_SHORT[lvl]}</text>')
        legend_y += 20
    parts.append(f'<text x="{left + w + 12}" y="{legend_y + 10}" font-size="11" fill="#555">— — chỉ tiêu</text>'
                 f'<text x="{left + w + 12}" y="{legend_y + 26}" font-size="11" fill="#555">—— thực hiện</text>')
    parts.append("</svg>")
    return "".join(parts)


def worst_units_svg(rows: list[dict], limit: int = 12, width: int = 760) -> tuple[str, list[dict]]:
    """Horizontal bars: the units furthest behind their expected progress."""
    behind = [r for r in rows if r["status"] == "behind" and r["in_scope"]]
    behind.sort(key=lambda r: (float(r["pct_digitized"]) - float(r["expected_pct"]), -r["in_scope"]))
    worst = behind[:limit]
    if not worst:
        return '<p class="ok">Không có đơn vị nào chậm tiến độ.</p>', []
    bar_h, gap, left, right = 22, 8, 260, 70
    height = 30 + len(worst) * (bar_h + gap)
    w = width - left - right
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="Các đơn vị chậm nhất">']
    for i, r in enumerate(worst):
        yy = 20 + i * (bar_h + gap)
        pct, exp = float(r["pct_digitized"]), float(r["expected_pct"])
        name = f'{r["unit_name"]} ({LEVEL_SHORT[r["unit_level"]]})'
        parts.append(f'<text x="{left - 8}" y="{yy + 15}" font-size="12" text-anchor="end">{_esc(name)}</text>'
                     f'<rect x="{left}" y="{yy}" width="{w}" height="{bar_h}" fill="#f0f0f0"/>'
                     f'<rect x="{left}" y="{yy}" width="{w * pct / 100:.1f}" height="{bar_h}" fill="#c0392b"/>'
                     f'<line x1="{left + w * exp / 100:.1f}" x2="{left + w * exp / 100:.1f}" y1="{yy - 3}" '
                     f'y2="{yy + bar_h + 3}" stroke="#222" stroke-width="2"/>'
                     f'<text x="{left + w + 6}" y="{yy + 15}" font-size="12">{pct:.1f}%</text>')
    parts.append(f'<text x="{left}" y="12" font-size="11" fill="#555">Thanh đỏ: tỷ lệ đã số hóa; vạch đen: '
                 f'mức cần đạt theo tiến độ</text></svg>')
    return "".join(parts), worst


# ------------------------------------------------------------------ HTML


def _n(v) -> str:
    return "—" if v is None else f"{int(v):,}".replace(",", ".")


def _p(v) -> str:
    return "—" if v is None else f"{float(v):.2f}".replace(".", ",")


def render_html(data: dict, period: Period) -> str:
    rows, plans = data["rows"], data["plans"]
    today = dt.date.today()
    out = ['<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">',
           f"<title>Báo cáo tiến độ số hóa kết quả giải quyết TTHC – {_esc(period.label_vi)}</title>",
           "<style>body{font-family:'DejaVu Sans',Arial,sans-serif;margin:28px;color:#222;font-size:14px}"
           "h1{font-size:21px;text-align:center;margin:4px 0}h2{font-size:17px;border-bottom:2px solid #1f5fa8;"
           "padding-bottom:4px;margin-top:28px}h3{font-size:15px}.sub{text-align:center;color:#444}"
           "table{border-collapse:collapse;margin:8px 0;width:100%}th,td{border:1px solid #999;padding:4px 6px}"
           "th{background:#e8eef7}td.n{text-align:right}.met{color:#1b7f3b;font-weight:bold}"
           ".on_track{color:#c48a00;font-weight:bold}.behind{color:#c0392b;font-weight:bold}"
           ".note{color:#555;font-size:12px}</style></head><body>",
           '<p class="sub">CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM<br>Độc lập – Tự do – Hạnh phúc</p>',
           "<h1>BÁO CÁO TIẾN ĐỘ SỐ HÓA KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH</h1>",
           f'<p class="sub">Kỳ báo cáo: {_esc(period.label_vi)} – số liệu tính đến hết ngày '
           f'{period.end.day:02d}/{period.end.month:02d}/{period.end.year}; lập ngày {today.day:02d}/{today.month:02d}/{today.year}</p>']
    for plan in sorted({r["plan_code"] for r in rows}):
        info = plans.get(plan, {"name": plan, "decision": ""})
        out.append(f"<h2>{_esc(info['name'])}</h2><p class='note'>{_esc(info['decision'])} – mã kế hoạch {_esc(plan)}</p>")
        out.append("<h3>1. Tổng hợp theo cấp</h3><table><tr><th>Cấp</th><th>Số đơn vị</th><th>Phạm vi (kết quả)</th>"
                   "<th>Đã số hóa</th><th>Tỷ lệ (%)</th><th>Chỉ tiêu năm (%)</th><th>Còn thiếu</th>"
                   "<th>Đơn vị chậm</th></tr>")
        for t in level_totals(rows, plan):
            out.append(f"<tr><td>{LEVEL_VI[t['level']]}</td><td class='n'>{t['units']}</td><td class='n'>{_n(t['in_scope'])}</td>"
                       f"<td class='n'>{_n(t['done'])}</td><td class='n'>{_p(t['pct'])}</td><td class='n'>{_p(t['target'])}</td>"
                       f"<td class='n'>{_n(t['gap'])}</td><td class='n'>{t['behind']}</td></tr>")
        out.append("</table>")
        out.append("<h3>2. Tiến độ so với chỉ tiêu theo lộ trình</h3>")
        out.append(step_chart_svg(plan, data["targets"], data["history"]))
        svg, _ = worst_units_svg([r for r in rows if r["plan_code"] == plan and r["unit_view"] == "issuing"])
        out.append("<h3>3. Các đơn vị chậm tiến độ nhất</h3>" + svg)
        ind = [i for i in data["indicators"] if i[0] == plan]
        if ind:
            out.append("<h3>4. Các chỉ tiêu khác</h3><table><tr><th>Chỉ tiêu</th><th>Cấp</th><th>Đạt</th>"
                       "<th>Tổng</th><th>Tỷ lệ (%)</th><th>Chỉ tiêu (%)</th><th>Đánh giá</th></tr>")
            for _, name, level, num, den, pct, target, status in ind:
                out.append(f"<tr><td>{_esc(INDICATOR_VI.get(name, name))}</td><td>{LEVEL_SHORT.get(level, '')}</td>"
                           f"<td class='n'>{_n(num)}</td><td class='n'>{_n(den)}</td><td class='n'>{_p(pct)}</td>"
                           f"<td class='n'>{_p(target)}</td><td class='{status or ''}'>{STATUS_VI.get(status, '—')}</td></tr>")
            out.append("</table>")
    if data.get("health"):
        out.append("<h2>Tình trạng vận hành các nguồn dữ liệu</h2><p class='note'>Tại thời điểm lập báo cáo "
                   "(ops.pipeline_health).</p><table><tr>"
                   + "".join(f"<th>{_esc(label)}</th>" for _, label in HEALTH_COLUMNS) + "</tr>")
        for h in data["health"]:
            cells = []
            for col, _ in HEALTH_COLUMNS:
                value = _health_cell(col, h[col])
                css = " class='n'" if isinstance(value, int) else (" class='behind'" if h["health"] in ("failed", "stuck")
                                                                  and col == "health" else "")
                cells.append(f"<td{css}>{_esc('—' if value is None else value)}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</table>")
    out.append("<p class='note'>Phạm vi: kết quả thuộc thẩm quyền còn hiệu lực tại mốc của kế hoạch, cấp đến ngày "
               "giới hạn; mẫu số theo từng thủ tục và năm cấp là số lớn hơn giữa số đơn vị kê khai và số bản ghi "
               "đã có. Đã số hóa: có bản điện tử hợp lệ (bản quét hoặc bản điện tử gốc) gắn với bản ghi, cộng số "
               "kết quả dự án khác đã số hóa. Chi tiết từng đơn vị: tệp Excel kèm theo.</p></body></html>")
    return "".join(out)


# ------------------------------------------------------------------ XLSX (biểu thống kê)


def write_xlsx(data: dict, period: Period, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    headers = ["STT", "Mã đơn vị", "Tên đơn vị", "Cấp", "Phạm vi (kết quả)", "Đã số hóa", "Tỷ lệ (%)",
               "Chỉ tiêu (%)", "Còn thiếu (kết quả)", "Đánh giá", "Kê khai", "Đã có bản ghi",
               "Chỉ có dữ liệu", "Dự án khác đã số hóa", "Cần số hóa mỗi tháng"]
    widths = [6, 10, 34, 8, 14, 12, 10, 11, 13, 14, 11, 12, 12, 14, 13]
    for plan in sorted({r["plan_code"] for r in data["rows"]}):
        for view, suffix in (("issuing", ""), ("successor", " (ĐV mới)")):
            sel = [r for r in data["rows"] if r["plan_code"] == plan and r["unit_view"] == view]
            if not sel:
                continue
            ws = wb.create_sheet(f"{plan}{suffix}"[:31])
            last = get_column_letter(len(headers))
            titles = [
                ("Biểu số 01/SH-TTHC", Font(italic=True, size=10)),
                ("BIỂU THỐNG KÊ TIẾN ĐỘ SỐ HÓA KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH", Font(bold=True, size=13)),
                (data["plans"].get(plan, {}).get("name", plan), Font(bold=True, size=11)),
                (f"Kỳ báo cáo: {period.label_vi} – số liệu đến hết ngày {period.end.strftime('%d/%m/%Y')}"
                 + ("; theo đơn vị hành chính mới (sau 01/7/2025)" if view == "successor" else
                    "; theo đơn vị cấp kết quả (mã cũ)"), Font(italic=True, size=10)),
            ]
            for i, (text, font) in enumerate(titles, start=1):
                ws.merge_cells(f"A{i}:{last}{i}")
                c = ws.cell(row=i, column=1, value=text)
                c.font = font
                c.alignment = Alignment(horizontal="center" if i > 1 else "left")
            hr = len(titles) + 2
            for j, text in enumerate(headers, start=1):
                c = ws.cell(row=hr, column=j, value=text)
                c.font = Font(bold=True)
                c.fill = PatternFill("solid", fgColor="DCE6F1")
                c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
                c.border = border
                ws.column_dimensions[get_column_letter(j)].width = widths[j - 1]
            # the column-number row of Vietnamese statistical forms: (1), (2), ...
            for j in range(1, len(headers) + 1):
                c = ws.cell(row=hr + 1, column=j, value=f"({j})")
                c.alignment = Alignment(horizontal="center")
                c.font = Font(italic=True, size=9)
                c.border = border
            sel.sort(key=lambda r: ({"province": 0, "district": 1, "commune": 2}[r["unit_level"]], int(r["unit_code"])))
            row_no = hr + 2
            for k, r in enumerate(sel, start=1):
                values = [k, int(r["unit_code"]), r["unit_name"], LEVEL_SHORT[r["unit_level"]], r["in_scope"],
                          r["digitized"] + r["digitized_elsewhere"],
                          float(r["pct_digitized"]) if r["pct_digitized"] is not None else None,
                          float(r["target_pct"]) if r["target_pct"] is not None else None,
                          r["gap_records"], STATUS_VI.get(r["status"], "—"), r["declared"], r["known"], r["data_only"],
                          r["digitized_elsewhere"],
                          float(r["monthly_pace_needed"]) if r["monthly_pace_needed"] is not None else None]
                for j, v in enumerate(values, start=1):
                    c = ws.cell(row=row_no, column=j, value=v)
                    c.border = border
                    if j in (5, 6, 9, 11, 12, 13, 14):
                        c.number_format = "#,##0"
                    elif j in (7, 8):
                        c.number_format = "0.00"
                    elif j == 15:
                        c.number_format = "#,##0.0"
                row_no += 1
            # total row
            ws.cell(row=row_no, column=3, value="Tổng cộng").font = Font(bold=True)
            first, lastrow = hr + 2, row_no - 1
            for j in (5, 6, 9, 11, 12, 13, 14):
                col = get_column_letter(j)
                c = ws.cell(row=row_no, column=j, value=f"=SUM({col}{first}:{col}{lastrow})")
                c.number_format = "#,##0"
                c.font = Font(bold=True)
            c = ws.cell(row=row_no, column=7, value=f"=IF(E{row_no}>0,F{row_no}/E{row_no}*100,100)")
            c.number_format = "0.00"
            c.font = Font(bold=True)
            for j in range(1, len(headers) + 1):
                ws.cell(row=row_no, column=j).border = border
            ws.freeze_panes = ws.cell(row=hr + 2, column=4)
            ws.cell(row=row_no + 2, column=3, value="Người lập biểu").font = Font(bold=True)
            ws.cell(row=row_no + 2, column=10, value="Thủ trưởng đơn vị").font = Font(bold=True)
    if data.get("health"):
        ws = wb.create_sheet("Vận hành")
        ws.cell(row=1, column=1, value="TÌNH TRẠNG VẬN HÀNH CÁC NGUỒN DỮ LIỆU (tại thời điểm lập báo cáo)").font = Font(bold=True)
        for j, (_, label) in enumerate(HEALTH_COLUMNS, start=1):
            c = ws.cell(row=3, column=j, value=label)
            c.font = Font(bold=True)
            c.border = border
            c.alignment = Alignment(wrap_text=True)
            ws.column_dimensions[get_column_letter(j)].width = 30 if j == 1 else 16
        for i, h in enumerate(data["health"], start=4):
            for j, (col, _) in enumerate(HEALTH_COLUMNS, start=1):
                ws.cell(row=i, column=j, value=_health_cell(col, h[col])).border = border
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


# ------------------------------------------------------------------ PNG


def render_png(html_path: Path, png_path: Path, window: str = "1280,2000", timeout: int = 90) -> Path:
    """Screenshot the page with headless Chromium (no network, throwaway profile)."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"Chromium not found at {CHROMIUM} (set TTHC_CHROMIUM)")
    profile = tempfile.mkdtemp(prefix="tthc-chromium-")
    try:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", f"--screenshot={png_path}", f"--window-size={window}",
               "--hide-scrollbars", html_path.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if not png_path.exists():
            raise RuntimeError(f"Chromium did not write {png_path} (exit {proc.returncode}): {proc.stderr[-800:]}")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return png_path


# ------------------------------------------------------------------ entry point


def write_report(url: str | None, kind: str, end: dt.date, root: str | None = None, png: bool = True) -> dict[str, str]:
    """Render the report of snapshot (kind, end). Returns the written locations by kind."""
    period = Period(kind, end)
    data = load_report_data(url, kind, end)
    root = root or reports_root()
    s3 = root.startswith("s3://")
    out_dir = Path(tempfile.mkdtemp(prefix="tthc-report-")) if s3 else Path(root) / period.slug
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"bao-cao-tien-do-so-hoa-{period.slug}"
    html_path = out_dir / f"{stem}.html"
    html_path.write_text(render_html(data, period), encoding="utf-8")
    xlsx_path = out_dir / f"{stem}.xlsx"
    write_xlsx(data, period, xlsx_path)
    paths = {"html": html_path, "xlsx": xlsx_path}
    if png:
        paths["png"] = render_png(html_path, out_dir / f"{stem}.png")
    if not s3:
        log.info("report %s written to %s", period.slug, out_dir)
        return {k: str(v) for k, v in paths.items()}
    import boto3

    bucket, _, prefix = root[len("s3://"):].partition("/")
    client = boto3.client("s3")
    types = {"html": "text/html; charset=utf-8", "png": "image/png",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    uris = {}
    for k, p in paths.items():
        key = "/".join(x for x in (prefix.strip("/"), period.slug, p.name) if x)
        client.upload_file(str(p), bucket, key, ExtraArgs={"ContentType": types[k]})
        uris[k] = f"s3://{bucket}/{key}"
    shutil.rmtree(out_dir, ignore_errors=True)
    log.info("report %s uploaded to s3://%s/%s", period.slug, bucket, prefix)
    return uris
