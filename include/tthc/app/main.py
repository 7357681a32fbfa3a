"""create_app(): the FastAPI application (API + pages), its error handling and security headers."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from tthc.app import api, pages
from tthc.app.security import AuthError, Forbidden, TooManyAttempts
from tthc.app.state import StateHolder
from tthc.app.views import error_page
from tthc.settings import Settings

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # frame-ancestors 'self': the Airflow UI shows the app in a frame of the same origin
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; frame-ancestors 'self'; form-action 'self'",
}


class SecurityHeaders:
    """Plain ASGI middleware (BaseHTTPMiddleware costs a task per request): the headers of HEADERS on
    every response, and no caching of API answers."""

    def __init__(self, app):
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        api = scope["path"][len(scope.get("root_path", "")):].startswith("/api/")

        async def wrapped(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.raw if k not in present]
                if api and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, wrapped)


def _is_api(request: Request) -> bool:
    return request.url.path[len(request.scope.get("root_path", "")):].startswith("/api/")


def create_app(database_url: str | None = None, warehouse_url: str | None = None, settings=None) -> FastAPI:
    """The application. Its database login: `database_url`, else TTHC_APP_DATABASE_URL, else
    tthc_app_login provisioned through the warehouse URL (never the superuser itself)."""
    holder = StateHolder(database_url, warehouse_url, settings)

    @asynccontextmanager
    async def lifespan(_app):
        # Standalone only (a mounted app's lifespan does not run, and the api-server's limiter is its
        # own): few threads for the blocking work, so they do not starve the event loop of the GIL.
        import anyio.to_thread

        threads = (settings.threads if settings else None) or Settings.from_env().app.threads
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        # What start-up created (modules, the app, ~100,000 objects) lives as long as the process: out of
        # the collector's reach, so that a full collection does not walk it (~100 ms on 2 busy cores,
        # every request of the process held meanwhile: the lookup's p95 under load).
        gc.collect()
        gc.freeze()
        yield
        await holder.close_async_reads()
        holder.close()

    app = FastAPI(lifespan=lifespan, title="TTHC – Tra cứu, thống kê, chia sẻ", version="1",
                  description="Tra cứu, thống kê và chia sẻ kết quả giải quyết TTHC đã số hóa (Đồng Tháp). "
                              "Every endpoint except /api/v1/health needs credentials: a bearer token "
                              "(POST /api/v1/token) or an API key (X-API-Key).",
                  docs_url=None, redoc_url=None, openapi_url=None)  # served below, behind credentials
    app.state.holder = holder
    app.include_router(api.router)
    app.include_router(pages.router)

    app.add_middleware(SecurityHeaders)

    def _json(status: int, message: str, **extra) -> JSONResponse:
        return JSONResponse({"detail": message, **extra}, status_code=status)

    @app.exception_handler(AuthError)
    async def on_auth(request: Request, exc: AuthError):
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        root = request.scope.get("root_path", "")
        target = quote(request.url.path[len(root):] + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"{root}/dang-nhap?next={target}", status_code=303)

    @app.exception_handler(Forbidden)
    async def on_forbidden(request: Request, exc: Forbidden):
        return _json(403, str(exc)) if _is_api(request) else error_page(request, 403, str(exc))

    @app.exception_handler(TooManyAttempts)
    async def on_throttle(request: Request, exc: TooManyAttempts):
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)})
        return pages.login_page(request, error=str(exc), status=429)

    @app.exception_handler(api.BadCode)
    async def on_bad_code(request: Request, exc: api.BadCode):
        if _is_api(request):
            return _json(422, "mã không hợp lệ", code=exc.code, suggestions=exc.suggestions)
        return await run_in_threadpool(pages.bad_code_page, request, exc)   # it reads the session

    @app.exception_handler(api.CopyRefused)
    async def on_copy_refused(request: Request, exc: api.CopyRefused):
        message = f"Bản sao của kết quả {exc.code} không được cung cấp: {exc.copy.problem}. Đã báo cho bộ phận vận hành."
        if _is_api(request):
            return _json(409, message, expected_sha256=exc.copy.expected_sha256, actual_sha256=exc.copy.actual_sha256)
        return error_page(request, 409, message)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError):
        problems = [{"parameter": ".".join(str(x) for x in e.get("loc", ())[1:]) or "body", "message": e.get("msg")}
                    for e in exc.errors()]
        message = "tham số không hợp lệ: " + "; ".join(f"{p['parameter']}: {p['message']}" for p in problems)
        return _json(422, message, errors=problems) if _is_api(request) else error_page(request, 422, message)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException):
        if _is_api(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return error_page(request, exc.status_code, str(exc.detail))

    return app
