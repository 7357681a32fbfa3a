"""Server-rendered pages' common parts: the templates, the CSRF cookie they carry, the error page."""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from tthc.app import queries
from tthc.app.auth import CSRF_COOKIE
from tthc.app.security import ROLE_VI, Principal
from tthc.app.state import state

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
LEVEL_VI = {"province": "Tỉnh", "district": "Huyện", "commune": "Xã"}
PROGRESS_STATUS_VI = {"met": "đạt", "on_track": "đúng tiến độ", "behind": "chậm", None: ""}


def _csrf(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or request.state.__dict__.setdefault("new_csrf", secrets.token_urlsafe(32))


def render(request: Request, name: str, status: int = 200, who: Principal | None = None, **ctx) -> HTMLResponse:
    token = _csrf(request)
    response = templates.TemplateResponse(request, name, {
        "root": request.scope.get("root_path", ""), "who": who, "csrf": token, "role_vi": ROLE_VI,
        "level_vi": LEVEL_VI, "status_vi": queries.STATUS_VI, "progress_vi": PROGRESS_STATUS_VI, **ctx},
        status_code=status)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=state(request).settings.cookie_secure, path="/")
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, status_code=status, message=message)
