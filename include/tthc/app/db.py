"""The application's database access: its own least-privilege role and a connection pool."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import hmac
import logging
import secrets
import threading
from contextlib import asynccontextmanager, contextmanager
from typing import AsyncIterator, Iterator

import psycopg
import psycopg2
import psycopg2.pool
from psycopg2 import sql
from sqlalchemy.engine import make_url

from tthc.app.security import AuthError
from tthc.warehouse.server import normalize_url, psycopg_kwargs

log = logging.getLogger(__name__)

APP_ROLE = "tthc_app"
APP_LOGIN = "tthc_app_login"


class UnsafeDatabaseRole(RuntimeError):
    """The application was given a connection with more rights than its role allows."""


def provision_login(admin_url: str, secret: str | None = None) -> str:
    """Create or refresh the login `tthc_app_login` (member of tthc_app, nothing else) and return the
    URL the application connects with. Its password is derived from the app's secret (so processes
    sharing TTHC_APP_SECRET agree on it), else random; it is never written anywhere. Needs a role
    that may create roles (the migrating one). In production set TTHC_APP_DATABASE_URL instead."""
    password = (hmac.new(secret.encode(), b"tthc_app_login", hashlib.sha256).hexdigest() if secret
                else secrets.token_urlsafe(32))
    conn = psycopg2.connect(**psycopg_kwargs(admin_url))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,))
            if cur.fetchone() is None:
                raise RuntimeError(f"role {APP_ROLE} does not exist: run `tthc migrate` first")
            cur.execute("SELECT pg_advisory_lock(hashtext('tthc_app_login'))")
            try:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_LOGIN,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                cur.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS "
                                    "INHERIT PASSWORD {}").format(sql.Identifier(APP_LOGIN), sql.Literal(password)))
                cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(APP_ROLE), sql.Identifier(APP_LOGIN)))
            finally:
                cur.execute("SELECT pg_advisory_unlock(hashtext('tthc_app_login'))")
    finally:
        conn.close()
    url = make_url(normalize_url(admin_url)).set(username=APP_LOGIN, password=password)
    return url.render_as_string(hide_password=False)


def check_role(conn) -> str:
    """Refuse a superuser (or any role with rights beyond tthc_app's) as the application's login."""
    with conn.cursor() as cur:
        cur.execute("""SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                              pg_has_role(current_user, %s, 'USAGE')
                       FROM pg_roles r WHERE r.rolname = current_user""", (APP_ROLE,))
        name, superuser, createrole, createdb, bypassrls, member = cur.fetchone()
    conn.rollback()
    if superuser or createrole or createdb or bypassrls:
        raise UnsafeDatabaseRole(f"the application must not connect as {name!r} (superuser or admin rights): "
                                 f"use a login of role {APP_ROLE} (TTHC_APP_DATABASE_URL) or let `tthc serve` "
                                 f"provision {APP_LOGIN}")
    if not member:
        raise UnsafeDatabaseRole(f"database login {name!r} is not a member of role {APP_ROLE}")
    return name


# The credential a request still has to prove in the database: (SQL, parameters), set for a key
# served from the process's cache (tthc.app.auth.cached_caller). Every cursor of that request sends it
# ahead of its first statement, in the same round trip; the request fails there if the key was
# revoked in the meantime. Threads of the request (run_in_threadpool) inherit it.
pending_check: contextvars.ContextVar[tuple[str, tuple] | None] = contextvars.ContextVar("pending_check",
                                                                                        default=None)


class CredentialWithdrawn(AuthError):
    """The cached key of this request was revoked, expired or changed (app.assert_key)."""


class CheckedCursor(psycopg2.extensions.cursor):
    """A cursor whose first statement carries the request's pending credential check (pending_check)."""

    def execute(self, query, vars=None):
        check = pending_check.get()
        if check is None or getattr(self, "_checked", False):
            return super().execute(query, vars)
        self._checked = True
        both = self.mogrify(check[0], check[1]) + b";\n" + self.mogrify(query, vars)
        try:
            return super().execute(both)
        except psycopg2.errors.InvalidAuthorizationSpecification as exc:
            log.info("refused a cached key: %s", str(exc).splitlines()[0])
            raise CredentialWithdrawn("khóa API không hợp lệ, đã thu hồi hoặc hết hạn") from None


class CheckedAsyncCursor(psycopg.AsyncCursor):
    """CheckedCursor for the event loop's connections. Server-side binding, so a statement run often
    is prepared once per connection (parsed and planned once: the lookup's planning costs the server
    several times its execution); the check and the statement go out together in one pipeline, one
    round trip, and the statement is not run if the check fails."""

    async def execute(self, query, params=None, **kwargs):
        check = pending_check.get()
        if check is None or getattr(self, "_checked", False):
            return await super().execute(query, params, **kwargs)
        self._checked = True
        try:
            async with self.connection.pipeline():
                await super().execute(check[0], check[1], prepare=True)
                await super().execute(query, params, **kwargs)
        except psycopg.errors.InvalidAuthorizationSpecification as exc:
            log.info("refused a cached key: %s", str(exc).splitlines()[0])
            raise CredentialWithdrawn("khóa API không hợp lệ, đã thu hồi hoặc hết hạn") from None
        return self


class AsyncReads:
    """Connections (psycopg 3, async, autocommit) for quick reads the event loop runs itself: a
    lookup by code is one index read, and handing it to a thread costs more CPU than the query (the
    thread hop and its GIL hand-offs). Same login as the pool; created in the running loop on first
    use, at most `size`; requests wait for a free one."""

    def __init__(self, connect_kwargs: dict, size: int):
        self._kwargs, self._size = connect_kwargs, size
        self._loop = None
        self._free: list = []
        self._slots: asyncio.Semaphore | None = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[CheckedAsyncCursor]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:      # connections belong to one loop
            self._loop, self._free, self._slots = loop, [], asyncio.Semaphore(self._size)
        async with self._slots:
            conn = self._free.pop() if self._free else await psycopg.AsyncConnection.connect(
                **self._kwargs, autocommit=True, cursor_factory=CheckedAsyncCursor)
            try:
                async with conn.cursor() as cur:
                    yield cur
            finally:
                if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    await conn.close()
                else:
                    self._free.append(conn)

    async def close(self) -> None:
        free, self._free = self._free, []
        for conn in free:
            await conn.close()


class Database:
    """A thread-safe pool of connections as the application's role (FastAPI runs sync endpoints in threads)."""

    def __init__(self, url: str, size: int = 16):
        kwargs = psycopg_kwargs(url)
        kwargs.setdefault("application_name", "tthc-app")
        self.connect_kwargs = kwargs
        self.reads = AsyncReads(kwargs, size)     # the event loop's own (lookups by code)
        self.pool = psycopg2.pool.ThreadedConnectionPool(1, size, **kwargs)
        # the pool raises when exhausted; requests wait for a connection instead
        self.slots = threading.BoundedSemaphore(size)
        conn = self.pool.getconn()
        try:
            self.role = check_role(conn)
        finally:
            self.pool.putconn(conn)

    @contextmanager
    def cursor(self) -> Iterator[psycopg2.extensions.cursor]:
        """One transaction: commit on success, roll back on error."""
        with self.slots:
            conn = self.pool.getconn()
            try:
                with conn:
                    with conn.cursor(cursor_factory=CheckedCursor) as cur:
                        yield cur
            finally:
                self.pool.putconn(conn, close=bool(conn.closed))

    @contextmanager
    def read(self) -> Iterator[psycopg2.extensions.cursor]:
        """Autocommit: for reads, one round trip per statement (no BEGIN/COMMIT). A caller that writes
        an audit row does it here too, before it returns the data: the row commits at once."""
        with self.slots:
            conn = self.pool.getconn()
            conn.autocommit = True
            try:
                with conn.cursor(cursor_factory=CheckedCursor) as cur:
                    yield cur
            finally:
                if not conn.closed:
                    conn.autocommit = False
                self.pool.putconn(conn, close=bool(conn.closed))

    def close(self) -> None:
        self.pool.closeall()
