"""Pages for people: Vietnamese, server-rendered (Jinja2), printable. Forms carry a CSRF token
(double submit: cookie + hidden field); the session cookie is HttpOnly, SameSite=Strict, Secure."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from tthc.app import queries
from tthc.app.api import PROCEDURE, UNIT_KEY, BadCode, lookup, principal, serve_copy
from tthc.app.auth import CSRF_COOKIE, SESSION_COOKIE, login
from tthc.app.security import AuthError, Forbidden, Principal, csrf_matches
from tthc.app.state import state
from tthc.app.views import render

router = APIRouter(include_in_schema=False)


def step_chart_svg(plan: str, targets: list[tuple], history: list[tuple]) -> str:
    """The reports' step chart (targets per level, actual line per level), the same drawing officials print."""
    from tthc.progress.reports import plan_chart_svg

    return plan_chart_svg({"targets": targets, "history": history}, plan)


def login_page(request: Request, error: str | None = None, status: int = 200, next_: str = "") -> HTMLResponse:
    return render(request, "login.html", status=status, error=error, next=next_ or request.query_params.get("next", ""))


def bad_code_page(request: Request, exc: BadCode) -> HTMLResponse:
    return render(request, "lookup.html", status=422, who=_who_or_none(request), code=exc.code, bad_code=True,
                  suggestions=exc.suggestions, filters={}, items=None)


def _who_or_none(request: Request) -> Principal | None:
    try:
        return principal(request)
    except (AuthError, Forbidden):
        return None


async def person(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role == "integration":
        raise Forbidden("trang dành cho người dùng; hệ thống tích hợp dùng /api/v1")
    return who


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/tra-cuu"


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/tra-cuu", status_code=303)


@router.get("/dang-nhap", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return login_page(request)


@router.post("/dang-nhap", response_class=HTMLResponse)
def login_submit(request: Request, username: Annotated[str, Form(max_length=64)],
                 password: Annotated[str, Form(max_length=256)], csrf: Annotated[str, Form(max_length=100)],
                 next: Annotated[str, Form(max_length=500)] = "") -> Response:
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), csrf):
        return login_page(request, "Phiên biểu mẫu không hợp lệ, vui lòng thử lại.", 403, next)
    st = state(request)
    try:
        _, token = login(st, request, username, password)
    except AuthError as exc:
        return login_page(request, str(exc).capitalize() + ".", 401, next)
    response = RedirectResponse(request.scope.get("root_path", "") + _safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=st.settings.token_minutes * 60, httponly=True,
                        samesite="strict", secure=st.settings.cookie_secure, path="/")
    return response


@router.post("/dang-xuat")
def logout(request: Request, csrf: Annotated[str, Form(max_length=100)]) -> Response:
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), csrf):
        raise Forbidden("phiên biểu mẫu không hợp lệ")
    response = RedirectResponse(f"{request.scope.get('root_path', '')}/dang-nhap", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/tra-cuu", response_class=HTMLResponse)
def lookup_page(request: Request, who: Annotated[Principal, Depends(person)],
                ma: Annotated[str | None, Query(max_length=80)] = None,
                procedure: Annotated[str | None, Query(pattern=PROCEDURE)] = None,
                unit: Annotated[str | None, Query(pattern=UNIT_KEY)] = None,
                year: Annotated[int | None, Query(ge=1900, le=2100)] = None,
                book: Annotated[str | None, Query(max_length=60)] = None,
                number: Annotated[str | None, Query(max_length=120)] = None,
                cursor: Annotated[int | None, Query(ge=0)] = None) -> Response:
    st = state(request)
    if ma and ma.strip():
        if not who.can("results:read"):
            raise Forbidden("vai trò này không tra cứu kết quả")
        item = lookup(st, who, ma)
        if item is None:
            return render(request, "lookup.html", status=404, who=who, code=ma, not_found=True, filters={}, items=None)
        return RedirectResponse(f"{request.scope.get('root_path', '')}/ket-qua/{item['code']}", status_code=303)
    filters = {"procedure": procedure, "unit": unit, "year": year, "book": book, "number": number}
    items, nxt = None, None
    if any(v not in (None, "") for v in filters.values()):
        if not who.can("results:read"):
            raise Forbidden("vai trò này không tra cứu kết quả")
        with st.db.read() as cur:
            items, nxt = queries.search(cur, who, filters, cursor, 50)
            from tthc.app.api import audit_pii

            audit_pii(cur, who, items)
    next_url = ("?" + urlencode({**{k: v for k, v in filters.items() if v not in (None, "")}, "cursor": nxt})) if nxt else None
    return render(request, "lookup.html", who=who, code="", filters=filters, items=items, next_url=next_url)


@router.get("/ket-qua/{code}", response_class=HTMLResponse)
def result_page(code: str, request: Request, who: Annotated[Principal, Depends(person)]) -> Response:
    if not who.can("results:read"):
        raise Forbidden("vai trò này không tra cứu kết quả")
    item = lookup(state(request), who, code)
    if item is None:
        return render(request, "lookup.html", status=404, who=who, code=code, not_found=True, filters={}, items=None)
    return render(request, "result.html", who=who, r=item)


@router.get("/ket-qua/{code}/ban-sao")
def copy_page(code: str, request: Request, who: Annotated[Principal, Depends(person)]) -> Response:
    return serve_copy(state(request), who, code)


def _progress_context(request: Request, who: Principal, plan: str | None, view: str, unit: str | None,
                      as_of: dt.date) -> dict:
    with state(request).db.read() as cur:
        plan_list = queries.plans(cur)
        plan = plan or (plan_list[0][0] if plan_list else None)
        if unit:
            current = queries.progress(cur, who, as_of, plan, view, unit, None)
            rows = queries.progress(cur, who, as_of, plan, view, None, unit)
        else:
            current = []
            rows = queries.progress(cur, who, as_of, plan, view, None, None)
            if who.scope_units is None:  # top of the tree: the province (issuing) or the new units' top level
                top = [r for r in rows if r["unit_level"] == "province"]
                rows = top or rows
        targets, history = queries.chart_inputs(cur, who, plan, view, unit) if plan else ([], [])
    chart = step_chart_svg(plan, targets, history) if plan else ""
    return {"plan": plan, "plans": plan_list, "view": view, "unit": unit, "as_of": as_of, "current": current,
            "rows": rows, "chart": Markup(chart)}


@router.get("/thong-ke", response_class=HTMLResponse)
def stats_page(request: Request, who: Annotated[Principal, Depends(person)],
               plan: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,40}$")] = None,
               view: Literal["issuing", "successor"] = "issuing",
               unit: Annotated[str | None, Query(pattern=UNIT_KEY)] = None, as_of: dt.date | None = None) -> Response:
    if not who.can("progress:read"):
        raise Forbidden("vai trò này không xem thống kê")
    ctx = _progress_context(request, who, plan, view, unit, as_of or dt.date.today())
    return render(request, "stats.html", who=who, **ctx)


@router.get("/thong-ke/hang-doi", response_class=HTMLResponse)
def queue_page(request: Request, who: Annotated[Principal, Depends(person)],
               unit: Annotated[str, Query(pattern=UNIT_KEY)]) -> Response:
    if not who.can("progress:read"):
        raise Forbidden("vai trò này không xem thống kê")
    with state(request).db.read() as cur:
        rows = queries.work_queue(cur, who, unit)
    return render(request, "queue.html", who=who, unit=unit, rows=rows)


@router.get("/thong-ke/anh-chup", response_class=HTMLResponse)
def snapshots_page(request: Request, who: Annotated[Principal, Depends(person)],
                   plan: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,40}$")] = None,
                   view: Literal["issuing", "successor"] = "issuing",
                   unit: Annotated[str | None, Query(pattern=UNIT_KEY)] = None) -> Response:
    if not who.can("progress:read"):
        raise Forbidden("vai trò này không xem thống kê")
    with state(request).db.read() as cur:
        rows = queries.snapshots(cur, who, plan, view, unit, "quarter")
    return render(request, "snapshots.html", who=who, unit=unit, plan=plan, view=view, rows=rows)


EXPORTS = ("progress", "queue", "snapshots")


@router.get("/thong-ke/xuat")
def export(request: Request, who: Annotated[Principal, Depends(person)], bang: Literal["progress", "queue", "snapshots"],
           dinh_dang: Literal["csv", "xlsx"] = "csv",
           plan: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,40}$")] = None,
           view: Literal["issuing", "successor"] = "issuing",
           unit: Annotated[str | None, Query(pattern=UNIT_KEY)] = None, as_of: dt.date | None = None) -> Response:
    """Any statistics table as CSV (UTF-8 with BOM, opens in Excel) or XLSX."""
    if not who.can("progress:read"):
        raise Forbidden("vai trò này không xem thống kê")
    with state(request).db.read() as cur:
        if bang == "progress":
            rows = queries.progress(cur, who, as_of or dt.date.today(), plan, view, None, unit)
        elif bang == "queue":
            if not unit:
                raise Forbidden("cần chọn đơn vị")
            rows = queries.work_queue(cur, who, unit, limit=100000)
        else:
            rows = queries.snapshots(cur, who, plan, view, unit, "quarter")
    header = list(rows[0]) if rows else ["(không có dữ liệu)"]
    name = f"tthc-{bang}-{dt.date.today().isoformat()}"
    if dinh_dang == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows([[("" if v is None else v) for v in r.values()] for r in rows])
        return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(bang)
    ws.append(header)
    for r in rows:
        ws.append([v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v for v in r.values()])
    out = io.BytesIO()
    wb.save(out)
    return Response(out.getvalue(), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@router.get("/van-hanh", response_class=HTMLResponse)
def ops_page(request: Request, who: Annotated[Principal, Depends(person)]) -> Response:
    from tthc.alerts.callbacks import base_url
    from tthc.alerts.config import load_config

    with state(request).db.read() as cur:
        rows = queries.health(cur)
    try:
        airflow = base_url(load_config())
    except Exception:  # noqa: BLE001 - links are a convenience
        airflow = ""
    for r in rows:
        src = r["source"]
        dag = f"tthc_scan_drop_{src[5:]}" if src.startswith("scan.") else f"tthc_source_{src}"
        r["airflow_url"] = f"{airflow}/dags/{dag}" if airflow else None
    return render(request, "ops.html", who=who, rows=rows, airflow=airflow)
