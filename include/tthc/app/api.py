"""The sharing API, versioned under /api/v1 (OpenAPI at /api/v1/docs)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import anyio
import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, Response
from psycopg2.extras import execute_values

from tthc.app import queries
from starlette.concurrency import run_in_threadpool

from tthc.app.auth import CSRF_COOKIE, audit, authenticate, cached_caller, login
from tthc.app.db import pending_check
from tthc.app.security import Forbidden, Principal, csrf_matches
from tthc.app.state import state
from tthc.app.views import render
from tthc.codes import is_valid_code, likely_intended

router = APIRouter(prefix="/api/v1")

UNIT_KEY = r"^(pre2025|post2025)/(province|district|commune)/[0-9]{1,6}$"
PROCEDURE = r"^[A-Z]{2,5}$"
View = Literal["issuing", "successor"]


async def principal(request: Request) -> Principal:
    # a key this process verified recently needs no I/O, so no thread hop; anything else is checked
    # against the database in a thread
    st = state(request)
    pending_check.set(None)
    who = cached_caller(st, request)
    if who is None:
        who = await run_in_threadpool(authenticate, st, request)
    if who.via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        if not csrf_matches(request.cookies.get(CSRF_COOKIE), request.headers.get("x-csrf-token")):
            raise Forbidden("thiếu hoặc sai mã CSRF (X-CSRF-Token)")
    return who


def require(scope: str):
    async def dep(who: Annotated[Principal, Depends(principal)]) -> Principal:  # no I/O: no thread hop
        if not who.can(scope):
            raise Forbidden(f"vai trò {who.role} không có quyền {scope}")
        return who
    return dep


def confirmed(request: Request, who: Annotated[Principal, Depends(principal)]) -> Principal:
    """The caller, proven in the database even on a cached key: for endpoints that would otherwise
    answer without a statement of their own."""
    if pending_check.get() is not None:
        with state(request).db.read() as cur:
            cur.execute("SELECT 1")
    return who


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role != "admin":
        raise Forbidden("chỉ quản trị viên")
    return who


def audit_pii(cur, who: Principal, items: list[dict], action: str = "read_pii") -> None:
    """One audit row per result whose personal data left in clear."""
    if not who.sees_pii:
        return
    rows = [(who.account_id, who.username, who.role, who.via, who.key_prefix, who.client_addr, who.user_agent,
             action, "result", i["code"]) for i in items if i.get("holder")]
    if rows:
        execute_values(cur, """INSERT INTO app.audit_log (account_id, username, role, via, key_prefix, client_addr,
                                                          user_agent, action, object_type, object_id) VALUES %s""",
                       rows)


class BadCode(Exception):
    def __init__(self, code: str, suggestions: list[str]):
        self.code, self.suggestions = code, suggestions


def lookup(st, who: Principal, code: str) -> dict | None:
    """A result by its code within the caller's scope; BadCode (with likely intended codes) on a typo."""
    normalized = code.strip().upper()
    with st.db.read() as cur:
        if not is_valid_code(normalized, st.code_format):
            raise BadCode(code, queries.existing_codes(cur, who, likely_intended(normalized, st.code_format)))
        item = queries.result_by_code(cur, who, normalized)
        if item:
            audit_pii(cur, who, [item])
    return item


@router.get("/health", tags=["health"], summary="Liveness (the only endpoint without credentials)")
def health(request: Request) -> dict:
    with state(request).db.read() as cur:
        cur.execute("SELECT 1")
    return {"status": "ok"}


@router.post("/token", tags=["auth"], summary="Password → short-lived bearer token (people)")
def token(request: Request, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=256)]) -> dict:
    st = state(request)
    _, tok = login(st, request, username, password)
    return {"access_token": tok, "token_type": "bearer", "expires_in": st.settings.token_minutes * 60}


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, who: Annotated[Principal, Depends(confirmed)]) -> dict:
    return request.app.openapi()


@router.get("/docs", include_in_schema=False)
def docs(request: Request, who: Annotated[Principal, Depends(confirmed)]) -> Response:
    """The OpenAPI description as a plain page (no third-party scripts: the CSP allows none)."""
    spec = request.app.openapi()
    return render(request, "api_docs.html", who=who, spec=spec)


@router.get("/me", tags=["auth"])
def me(who: Annotated[Principal, Depends(confirmed)]) -> dict:
    return {"username": who.username, "role": who.role, "scopes": sorted(who.scopes), "units": list(who.units),
            "via": who.via}


@router.get("/results/{code}", tags=["results"], summary="Một kết quả theo ký hiệu riêng",
            response_class=Response, responses={200: {"content": {"application/json": {}}}})
async def result(code: Annotated[str, Path(max_length=80)], request: Request,
                 who: Annotated[Principal, Depends(require("results:read"))]) -> Response:
    st = state(request)
    normalized = code.strip().upper()
    if who.sees_pii or not is_valid_code(normalized, st.code_format):
        # an audited read of personal data (its audit row commits before the answer leaves), or a
        # typo and its suggestions: the threaded path
        item = await run_in_threadpool(lookup, st, who, code)
    else:
        async with st.db.reads.read() as cur:
            item = await queries.result_by_code_async(cur, who, normalized)
    if item is None:
        raise HTTPException(404, f"không tìm thấy kết quả có mã {normalized}")
    return json_response(queries.public(item))


def json_response(body: dict) -> Response:
    """JSON of a dict the SQL already shaped: orjson, no response-model validation (UTC as "Z", as
    FastAPI's own encoding writes it)."""
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


@router.get("/results/{code}/copy", tags=["results"], summary="Bản sao điện tử (kiểm tra SHA-256 trước khi gửi)")
def result_copy(code: Annotated[str, Path(max_length=80)], request: Request,
                who: Annotated[Principal, Depends(require("results:read"))]) -> Response:
    return serve_copy(state(request), who, code)


def serve_copy(st, who: Principal, code: str) -> Response:
    """The archived copy, to callers who may read personal data, after its hash matched; audited."""
    from tthc.app.copies import alert_mismatch, load_copy, report_mismatch

    if not who.sees_pii:
        raise Forbidden("bản sao chứa dữ liệu cá nhân: cần quyền pii:read")
    item = lookup(st, who, code)
    if item is None:
        raise HTTPException(404, f"không tìm thấy kết quả có mã {code.strip().upper()}")
    if not item["copy"]:
        raise HTTPException(404, "kết quả này chưa có bản quét lưu trữ"
                            + (f" (bản điện tử gốc: {item['copy_ref']})" if item["copy_ref"] else ""))
    with st.db.cursor() as cur:
        copy = load_copy(cur, item["copy"]["document_id"])
        audit(cur, who, "read_copy" if copy.intact else "copy_refused", "result", item["code"],
              {"document_id": copy.document_id, "sha256": copy.actual_sha256, "problem": copy.problem,
               "signature": copy.signature.get("status")})
        if not copy.intact:
            report_mismatch(cur, copy, item["code"], who)
    if not copy.intact:
        alert_mismatch(copy, item["code"], st.db_url)
        raise CopyRefused(item["code"], copy)
    ext = {"application/pdf": "pdf", "image/tiff": "tif", "image/jpeg": "jpg", "image/png": "png"}.get(copy.media_type, "bin")
    return Response(copy.data, media_type=copy.media_type, headers={
        "Content-Disposition": f'inline; filename="{item["code"]}.{ext}"',
        "X-Content-SHA256": copy.actual_sha256, "X-Signature-Status": copy.signature.get("status", ""),
        "Cache-Control": "no-store"})


class CopyRefused(Exception):
    """409: the archived copy no longer matches its recorded hash; never served."""

    def __init__(self, code: str, copy):
        super().__init__(copy.problem)
        self.code, self.copy = code, copy


@router.get("/results", tags=["results"], summary="Tìm kết quả (phân trang bằng con trỏ)")
def results(request: Request, who: Annotated[Principal, Depends(require("results:read"))],
            procedure: Annotated[str | None, Query(pattern=PROCEDURE)] = None,
            unit: Annotated[str | None, Query(pattern=UNIT_KEY)] = None,
            year: Annotated[int | None, Query(ge=1900, le=2100)] = None,
            book: Annotated[str | None, Query(max_length=60)] = None,
            number: Annotated[str | None, Query(max_length=120)] = None,
            status: Literal["valid", "expired", "revoked"] | None = None,
            cursor: Annotated[int | None, Query(ge=0)] = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
    with state(request).db.read() as cur:
        items, nxt = queries.search(cur, who, {"procedure": procedure, "unit": unit, "year": year, "book": book,
                                               "number": number, "status": status}, cursor, limit)
        audit_pii(cur, who, items)
    return {"items": [queries.public(i) for i in items], "next_cursor": nxt}


@router.get("/changes", tags=["feed"], summary="Nguồn thay đổi: kết quả mới hoặc thay đổi sau con trỏ")
def changes(request: Request, who: Annotated[Principal, Depends(require("feed:read"))],
            since: Annotated[str, Query(pattern=r"^(0|[0-9]{1,20}-[0-9]{1,19})$")] = "0",
            limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict:
    xid, rid = (0, 0) if since == "0" else map(int, since.split("-"))
    with state(request).db.read() as cur:
        items, cursor, more = queries.changes(cur, who, xid, rid, limit)
        audit_pii(cur, who, items)
    # each item's own cursor: a client may resume right after any item it has processed
    return {"items": [{**queries.public(i), "cursor": f"{i['_xid']}-{i['_id']}"} for i in items],
            "next_cursor": cursor, "has_more": more}


_slow_limiter: anyio.CapacityLimiter | None = None


async def run_slow(fn, *args):
    """Long queries (progress over the whole warehouse, seconds) run on their own threads, so they
    neither wait behind nor hold up the few threads of the quick requests (TTHC_APP_THREADS)."""
    global _slow_limiter
    if _slow_limiter is None:
        _slow_limiter = anyio.CapacityLimiter(16)
    return await anyio.to_thread.run_sync(fn, *args, limiter=_slow_limiter)


def _progress(st, who, as_of, plan, view, unit, parent) -> list[dict]:
    with st.db.read() as cur:
        return queries.progress(cur, who, as_of, plan, view, unit, parent)


@router.get("/progress", tags=["statistics"], summary="Tiến độ số hóa tính đến một ngày")
async def progress(request: Request, who: Annotated[Principal, Depends(require("progress:read"))],
                   as_of: dt.date | None = None,
                   plan: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,40}$")] = None,
                   view: View = "issuing", unit: Annotated[str | None, Query(pattern=UNIT_KEY)] = None,
                   parent: Annotated[str | None, Query(pattern=UNIT_KEY)] = None) -> dict:
    as_of = as_of or dt.date.today()
    rows = await run_slow(_progress, state(request), who, as_of, plan, view, unit, parent)
    return {"as_of": as_of, "view": view, "items": rows}


@router.get("/snapshots", tags=["statistics"], summary="Ảnh chụp tiến độ theo kỳ")
def snapshots(request: Request, who: Annotated[Principal, Depends(require("progress:read"))],
              plan: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,40}$")] = None, view: View = "issuing",
              unit: Annotated[str | None, Query(pattern=UNIT_KEY)] = None,
              period_kind: Literal["month", "quarter", "year"] = "quarter") -> dict:
    with state(request).db.read() as cur:
        return {"items": queries.snapshots(cur, who, plan, view, unit, period_kind)}


@router.get("/units", tags=["reference"], summary="Đơn vị hành chính (hai thời kỳ)")
def units(request: Request, who: Annotated[Principal, Depends(principal)],
          era: Literal["pre2025", "post2025"] | None = None,
          level: Literal["province", "district", "commune"] | None = None,
          parent: Annotated[str | None, Query(pattern=UNIT_KEY)] = None) -> dict:
    with state(request).db.read() as cur:
        return {"items": queries.units(cur, era, level, parent)}


# ------------------------------------------------------------------------------ admin

@router.get("/admin/accounts", tags=["admin"])
def accounts(request: Request, who: Annotated[Principal, Depends(admin)]) -> dict:
    with state(request).db.cursor() as cur:
        cur.execute("""SELECT username, display_name, role, scopes, units, disabled_at, created_at
                       FROM app.account ORDER BY username""")
        cols = [c.name for c in cur.description]
        return {"items": [dict(zip(cols, r)) for r in cur.fetchall()]}


@router.post("/admin/accounts", tags=["admin"], status_code=201)
def create_account(request: Request, who: Annotated[Principal, Depends(admin)],
                   username: Annotated[str, Form(pattern=r"^[a-z0-9._-]{3,64}$")],
                   role: Annotated[Literal["official", "analyst", "integration", "admin"], Form()],
                   display_name: Annotated[str, Form(max_length=200)],
                   password: Annotated[str | None, Form(min_length=12, max_length=256)] = None,
                   units: Annotated[str, Form(max_length=4000)] = "",
                   scopes: Annotated[str, Form(max_length=400)] = "") -> dict:
    from tthc.app.admin import create_account as save_account

    unit_list, scope_list = [u for u in units.split(",") if u], [s for s in scopes.split(",") if s]
    with state(request).db.cursor() as cur:
        try:
            save_account(cur, username, role, display_name, password, unit_list, scope_list)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        audit(cur, who, "admin_save_account", "account", username, {"role": role, "units": unit_list,
                                                                      "scopes": scope_list})
    return {"username": username}


@router.post("/admin/keys", tags=["admin"], status_code=201, summary="Cấp khóa API (hiện một lần)")
def create_key(request: Request, who: Annotated[Principal, Depends(admin)],
               account: Annotated[str, Form(pattern=r"^[a-z0-9._-]{3,64}$")],
               name: Annotated[str, Form(max_length=200)], scopes: Annotated[str, Form(max_length=400)],
               days: Annotated[int | None, Form(ge=1, le=3650)] = None) -> dict:
    from tthc.app.admin import create_api_key

    scope_list = [s for s in scopes.split(",") if s]
    with state(request).db.cursor() as cur:
        try:
            key, prefix = create_api_key(cur, account, name, scope_list, days)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        audit(cur, who, "admin_create_key", "api_key", prefix, {"account": account, "scopes": scope_list})
    return {"key": key, "prefix": prefix}


@router.delete("/admin/keys/{prefix}", tags=["admin"], summary="Thu hồi khóa API")
def revoke_key(prefix: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")], request: Request,
               who: Annotated[Principal, Depends(admin)]) -> dict:
    with state(request).db.cursor() as cur:
        cur.execute("UPDATE app.api_key SET revoked_at = now() WHERE prefix = %s AND revoked_at IS NULL", (prefix,))
        if cur.rowcount == 0:
            raise HTTPException(404, f"không có khóa đang hiệu lực với tiền tố {prefix}")
        audit(cur, who, "admin_revoke_key", "api_key", prefix)
    st = state(request)
    if st.keys is not None:     # this process at once; the others on the NOTIFY (V065)
        st.keys.clear()
    return {"revoked": prefix}


@router.get("/admin/audit", tags=["admin"], summary="Nhật ký truy cập dữ liệu cá nhân")
def audit_log(request: Request, who: Annotated[Principal, Depends(admin)],
              object_id: Annotated[str | None, Query(max_length=120)] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    with state(request).db.cursor() as cur:
        cur.execute("""SELECT at, username, role, via, key_prefix, client_addr, action, object_type, object_id, detail
                       FROM app.audit_log WHERE (%(o)s::text IS NULL OR object_id = %(o)s)
                       ORDER BY audit_id DESC LIMIT %(n)s""", {"o": object_id, "n": limit})
        cols = [c.name for c in cur.description]
        return {"items": [dict(zip(cols, r)) for r in cur.fetchall()]}
