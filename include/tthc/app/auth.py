"""Resolving the caller (session cookie, bearer token or API key) against the database, login
throttling and the audit trail. Every check reads the account row now: a disabled account, a
revoked key or changed units take effect on the next request."""

from __future__ import annotations

import datetime as dt
import json
import logging
import select
import threading
import time

import psycopg2
from fastapi import Request

from tthc.app.db import pending_check
from tthc.app.security import (AuthError, Principal, TooManyAttempts, issue_token, read_token, same_hash,
                               split_api_key, verify_password)

log = logging.getLogger(__name__)

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
    key = request_key(request)
    if key:
        return _by_key(state, request, key)
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
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


CREDENTIALS_CHANNEL = "tthc_app_credentials"
_ASSERT_KEY = "SELECT app.assert_key(%s, %s::text[], %s)"


class KeyCache:
    """API keys this process has verified against the database, so that a request carrying one needs
    no database round trip for its credential. Revocation stays immediate: the database NOTIFYs
    CREDENTIALS_CHANNEL in the transaction of any change to a key, an account or the unit tree
    (V065), and a listener thread empties the cache when the notification arrives, before the next
    request is served. While the listener is not connected (starting, or its connection lost) the
    cache is neither read nor filled; `ttl` bounds any entry's age as a safety net."""

    TOUCH_SECONDS = 60      # last_used_at is written at most this often per key and process

    def __init__(self, connect_kwargs: dict, ttl: float):
        self.ttl = ttl
        self._kwargs = connect_kwargs
        self._entries: dict[str, tuple] = {}
        self._generation = 0        # bumped on every clear: a read begun before it must not be cached
        self._live = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conn = None
        self._thread = threading.Thread(target=self._listen, name="tthc-key-cache", daemon=True)
        self._thread.start()

    @property
    def live(self) -> bool:
        return self._live.is_set()

    def generation(self) -> int:
        return self._generation

    def get(self, prefix: str, secret_sha256: str) -> tuple | None:
        """(account row, scopes, key_id, touch due) of a cached key whose secret matches, else None."""
        if not self._live.is_set():
            return None
        entry = self._entries.get(prefix)
        if entry is None:
            return None
        stored, row, scopes, key_id, expires_at, cached_at, touched_at = entry
        now = time.monotonic()
        if (now - cached_at > self.ttl or not same_hash(stored, secret_sha256)
                or (expires_at is not None and expires_at <= dt.datetime.now(dt.timezone.utc))):
            self._entries.pop(prefix, None)
            return None
        return row, scopes, key_id, now - touched_at > self.TOUCH_SECONDS

    def touched(self, prefix: str) -> None:
        with self._lock:
            entry = self._entries.get(prefix)
            if entry is not None:
                self._entries[prefix] = entry[:6] + (time.monotonic(),)

    def put(self, prefix: str, generation: int, secret_sha256: str, row, scopes, key_id: int, expires_at) -> None:
        with self._lock:
            if self._live.is_set() and generation == self._generation:
                now = time.monotonic()
                self._entries[prefix] = (secret_sha256, row, scopes, key_id, expires_at, now, now)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._conn = psycopg2.connect(**self._kwargs)
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CREDENTIALS_CHANNEL}")
                self.clear()
                self._live.set()
                while not self._stop.is_set():
                    if select.select([conn], [], [], 5) == ([], [], []):
                        with conn.cursor() as cur:      # a dead connection shows here within 5 s
                            cur.execute("SELECT 1")
                        continue
                    conn.poll()
                    if conn.notifies:
                        conn.notifies.clear()
                        self.clear()
            except Exception as exc:  # noqa: BLE001 - logged; the cache is off until reconnected
                if not self._stop.is_set():
                    log.warning("key cache: listener connection lost (%s); keys are checked in the database "
                                "until it is back", exc)
            finally:
                self._live.clear()
                self.clear()
                if self._conn is not None:
                    try:
                        self._conn.close()
                    except Exception:  # noqa: BLE001
                        pass
            self._stop.wait(1)

    def close(self) -> None:
        self._stop.set()
        self._live.clear()
        self.clear()
        self._thread.join(10)


def request_key(request: Request) -> str | None:
    """The API key of a request: X-API-Key, or a bearer credential that looks like one."""
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    return request.headers.get("x-api-key") or (bearer if bearer and bearer.startswith("tthc_") else None)


def cached_caller(state, request: Request, touch: bool = False) -> Principal | None:
    """The caller of a key this process verified recently, without database I/O (so the event loop
    may call it); None when the key is not cached, or when its last_used_at is due and `touch` is
    false (the caller then checks the key in a thread, which writes it)."""
    cache = state.keys
    key = request_key(request) if cache is not None else None
    parts = split_api_key(key) if key else None
    hit = cache.get(*parts) if parts else None
    if hit is None:
        return None
    row, scopes, key_id, due = hit
    if due:
        if not touch:
            return None
        with state.db.read() as cur:
            cur.execute("UPDATE app.api_key SET last_used_at = now() WHERE key_id = %s", (key_id,))
        cache.touched(parts[0])
    # proven in the database with this request's first statement (tthc.app.db.CheckedCursor)
    pending_check.set((_ASSERT_KEY, (key_id, list(scopes), row[6])))
    return _principal(row, "api_key", request, scopes=scopes, key_prefix=parts[0])


def _by_key(state, request: Request, key: str) -> Principal:
    cached = cached_caller(state, request, touch=True)
    if cached is not None:
        return cached
    buckets = [f"ip:{client_addr(request)}"]
    parts = split_api_key(key)
    cache = state.keys
    generation = cache.generation() if cache is not None else None
    with state.db.read() as cur:
        check_throttle(cur, buckets, state.settings.login_max_failures, state.settings.login_window_minutes)
        row = None
        if parts:
            cur.execute(_ACCOUNT.replace("FROM app.account a", """, k.key_id, k.secret_sha256, k.scopes,
                            k.last_used_at < now() - interval '1 minute' OR k.last_used_at IS NULL, k.expires_at
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
    if cache is not None:
        # without the password hash (index 7): the cache holds what a request needs, nothing more
        cache.put(parts[0], generation, parts[1], row[:7] + (None,) + row[8:9], row[11], row[9], row[13])
    return _principal(row, "api_key", request, scopes=row[11], key_prefix=parts[0])


def audit(cur, who: Principal, action: str, object_type: str, object_id: str, detail: dict | None = None) -> None:
    """One append-only row per read of personal data, in the transaction that reads it."""
    cur.execute("""INSERT INTO app.audit_log (account_id, username, role, via, key_prefix, client_addr, user_agent,
                                              action, object_type, object_id, detail)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (who.account_id, who.username, who.role, who.via, who.key_prefix, who.client_addr, who.user_agent,
                 action, object_type, object_id, json.dumps(detail or {}, ensure_ascii=False, default=str)))
