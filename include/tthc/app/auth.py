"""Resolving the caller (session cookie, bearer token or API key) against the database, login
throttling and the audit trail. Every check reads the account row now: a disabled account, a
revoked key or changed units take effect on the next request."""

from __future__ import annotations

import datetime as dt
import json

from fastapi import Request

from tthc.app.security import (AuthError, Principal, TooManyAttempts, issue_token, read_token, same_hash,
                               split_api_key, verify_password)

SESSION_COOKIE = "tthc_session"
CSRF_COOKIE = "tthc_csrf"

# The account, and its units with everything under them (a district official sees its communes).
_ACCOUNT = """
SELECT a.account_id, a.username, a.display_name, a.role, a.scopes, a.units,
       (extract(epoch FROM a.updated_at) * 1000000)::bigint AS ver, a.password_hash,
       CASE WHEN cardinality(a.units) = 0 THEN NULL ELSE ARRAY(
           WITH RECURSIVE t(k) AS (
               SELECT u.unit_key FROM core.admin_unit u WHERE u.unit_key = ANY (a.units)
               UNION SELECT c.unit_key FROM core.admin_unit c JOIN t ON c.parent_key = t.k)
           SELECT k FROM t) END AS scope_units
FROM app.account a
"""


def _principal(row, via: str, request: Request, scopes=None, key_prefix=None) -> Principal:
    account_id, username, display_name, role, acc_scopes, units, _, _, scope_units = row[:9]
    return Principal(account_id, username, display_name, role, frozenset(scopes if scopes is not None else acc_scopes),
                     tuple(units), scope_units, via, key_prefix, client_addr(request),
                     (request.headers.get("user-agent") or "")[:300])


def client_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


def check_throttle(cur, buckets: list[str], limit: int, window_minutes: int) -> None:
    cur.execute("""SELECT bucket, count(*), min(at) FROM app.auth_failure
                   WHERE bucket = ANY (%s) AND at > now() - make_interval(mins => %s) GROUP BY bucket""",
                (buckets, window_minutes))
    for bucket, n, first in cur.fetchall():
        cap = limit * 4 if bucket.startswith("ip:") else limit
        if n >= cap:
            retry = first + dt.timedelta(minutes=window_minutes) - dt.datetime.now(first.tzinfo)
            raise TooManyAttempts(max(1, int(retry.total_seconds())))


def record_failure(db, buckets: list[str]) -> None:
    # its own transaction: the caller's is rolled back by the error that follows
    with db.cursor() as cur:
        cur.execute("INSERT INTO app.auth_failure (bucket) SELECT unnest(%s::text[])", (buckets,))
        cur.execute("DELETE FROM app.auth_failure WHERE at < now() - interval '1 day'")


def login(state, request: Request, username: str, password: str) -> tuple[Principal, str]:
    """Check a password (throttled per user name and per address); returns the principal and a token."""
    settings = state.settings
    username = (username or "").strip().lower()
    buckets = [f"user:{username[:64]}", f"ip:{client_addr(request)}"]
    with state.db.cursor() as cur:
        check_throttle(cur, buckets, settings.login_max_failures, settings.login_window_minutes)
        cur.execute(_ACCOUNT + " WHERE a.username = %s AND a.disabled_at IS NULL AND a.role <> 'integration'",
                    (username,))
        row = cur.fetchone()
    if not verify_password(row[7] if row else None, password or ""):
        record_failure(state.db, buckets)
        raise AuthError("sai tên đăng nhập hoặc mật khẩu")
    principal = _principal(row, "session", request)
    return principal, issue_token(state.secret, principal.account_id, row[6], settings.token_minutes)


def authenticate(state, request: Request) -> Principal:
    """The caller of this request, or AuthError. API key (X-API-Key or Bearer tthc_...), bearer
    token, then session cookie."""
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    key = request.headers.get("x-api-key") or (bearer if bearer and bearer.startswith("tthc_") else None)
    if key:
        return _by_key(state, request, key)
    token, via = (bearer, "token") if bearer else (request.cookies.get(SESSION_COOKIE), "session")
    if not token:
        raise AuthError("cần đăng nhập")
    claims = read_token(state.secret, token)
    with state.db.read() as cur:
        cur.execute(_ACCOUNT + " WHERE a.account_id = %s AND a.disabled_at IS NULL AND a.role <> 'integration'",
                    (int(claims["sub"]),))
        row = cur.fetchone()
    if row is None or row[6] != claims["ver"]:
        raise AuthError("phiên đăng nhập không còn hiệu lực")
    return _principal(row, via, request)


def _by_key(state, request: Request, key: str) -> Principal:
    buckets = [f"ip:{client_addr(request)}"]
    parts = split_api_key(key)
    with state.db.read() as cur:
        check_throttle(cur, buckets, state.settings.login_max_failures, state.settings.login_window_minutes)
        row = None
        if parts:
            cur.execute(_ACCOUNT.replace("FROM app.account a", """, k.key_id, k.secret_sha256, k.scopes,
                            k.last_used_at < now() - interval '1 minute' OR k.last_used_at IS NULL
                        FROM app.account a JOIN app.api_key k ON k.account_id = a.account_id""")
                        + """ WHERE k.prefix = %s AND k.revoked_at IS NULL AND a.disabled_at IS NULL
                              AND (k.expires_at IS NULL OR k.expires_at > now())""", (parts[0],))
            row = cur.fetchone()
        if row is None or not same_hash(row[10], parts[1]):
            row = None
        elif row[12]:
            cur.execute("UPDATE app.api_key SET last_used_at = now() WHERE key_id = %s", (row[9],))
    if row is None:
        record_failure(state.db, buckets)
        raise AuthError("khóa API không hợp lệ, đã thu hồi hoặc hết hạn")
    return _principal(row, "api_key", request, scopes=row[11], key_prefix=parts[0])


def audit(cur, who: Principal, action: str, object_type: str, object_id: str, detail: dict | None = None) -> None:
    """One append-only row per read of personal data, in the transaction that reads it."""
    cur.execute("""INSERT INTO app.audit_log (account_id, username, role, via, key_prefix, client_addr, user_agent,
                                              action, object_type, object_id, detail)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (who.account_id, who.username, who.role, who.via, who.key_prefix, who.client_addr, who.user_agent,
                 action, object_type, object_id, json.dumps(detail or {}, ensure_ascii=False, default=str)))
