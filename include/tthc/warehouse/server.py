"""Find the warehouse: WAREHOUSE_URL when set, else an embedded PostgreSQL.

The embedded server is `pgserver` (a pip-installed PostgreSQL) under a
project-local data folder. It keeps running between commands, so the demo,
the CLI and Airflow tasks all reach the same server. It listens on its Unix
socket and on 127.0.0.1:TTHC_EMBEDDED_PORT, so that desktop tools (psql,
DBeaver, Metabase) can connect too; pgserver's own log goes to
$TTHC_LOCAL_DIR/pgserver.log, not the terminal.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from tthc.settings import settings

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "warehouse"
EMBEDDED_HOST = "127.0.0.1"


def embedded_data_dir() -> Path:
    return settings().embedded_pgdata


def embedded_port() -> int:
    """The TCP port the embedded server is started on (TTHC_EMBEDDED_PORT, default 54329)."""
    return settings().embedded_port


def pgserver_log_path() -> Path:
    return settings().local_dir / "pgserver.log"


def start_embedded_server(data_dir: Path | None = None):
    """Start (or reuse) the embedded server, listening on its socket and on 127.0.0.1; returns the
    pgserver handle. A running server that listens on its socket only (plain pgserver) is restarted."""
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns about a shared XDG_RUNTIME_DIR=/tmp; pgserver only keeps a lock file there.
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only needed without a real server
        from pgserver import postgres_server

    data_dir = data_dir or embedded_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    _pgserver_log_to_file()
    running = _postmaster_fields(data_dir)
    if running and not running.get("listen"):
        log.info("restarting the embedded server in %s to listen on %s too", data_dir, EMBEDDED_HOST)
        server = pgserver.get_server(data_dir, cleanup_mode=None)
        server.cleanup_mode = "stop"
        server.cleanup()
    port = embedded_port()
    start_ctl = postgres_server.pg_ctl

    def pg_ctl_with_tcp(args: list[str], **kwargs):
        # pgserver starts postgres on its socket only (-h ""); listen on the loopback address too.
        if "start" in args:
            args = [f'-h "{EMBEDDED_HOST}"' if a == '-h ""' else a for a in args]
            args = [*args[:-1], "-o", f"-p {port}", args[-1]]
        return start_ctl(args, **kwargs)

    postgres_server.pg_ctl = pg_ctl_with_tcp
    try:
        # cleanup_mode=None: leave the server running after this process exits.
        return pgserver.get_server(data_dir, cleanup_mode=None)
    except Exception as exc:  # noqa: BLE001 - one line naming the cause; the details are in the log
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RuntimeError(f"the embedded PostgreSQL in {data_dir} did not start on {EMBEDDED_HOST}:{port} "
                           f"({type(exc).__name__}: {cause}; port in use? set TTHC_EMBEDDED_PORT); see "
                           f"{pgserver_log_path()} and {data_dir / 'log'}") from exc
    finally:
        postgres_server.pg_ctl = start_ctl


def embedded_address(data_dir: Path | None = None) -> tuple[str, int] | None:
    """(host, port) the running embedded server listens on over TCP, from its postmaster.pid."""
    fields = _postmaster_fields(data_dir or embedded_data_dir())
    if not fields or not fields.get("listen"):
        return None
    return fields["listen"].split(",")[0].strip(), int(fields["port"])


def _postmaster_fields(data_dir: Path) -> dict[str, str] | None:
    """port and listen address of a live server from postmaster.pid (PostgreSQL's documented layout)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        os.kill(int(lines[0]), 0)
    except (OSError, ValueError, IndexError):
        return None
    return {"port": lines[3] if len(lines) > 3 else "", "listen": lines[5].strip() if len(lines) > 5 else ""}


def _pgserver_log_to_file() -> None:
    """pgserver logs every initdb/pg_ctl run at INFO; keep that out of the terminal."""
    import logging.handlers

    logger = logging.getLogger("pgserver")
    if any(getattr(h, "_tthc", False) for h in logger.handlers):
        return
    path = pgserver_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._tthc = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def embedded_url(database: str = EMBEDDED_DB_NAME, data_dir: Path | None = None) -> str:
    """SQLAlchemy URL of `database` on the embedded server (over 127.0.0.1), creating it if needed."""
    data_dir = data_dir or embedded_data_dir()
    start_embedded_server(data_dir)
    address = embedded_address(data_dir)
    if address is None:
        raise RuntimeError(f"the embedded PostgreSQL in {data_dir} does not listen on TCP; run `tthc embedded stop`")
    host, port = address
    admin = f"postgresql+psycopg2://postgres@{host}:{port}/postgres"
    ensure_database(admin, database)
    log.info("using embedded PostgreSQL in %s on %s:%s (database %s)", data_dir, host, port, database)
    return f"postgresql+psycopg2://postgres@{host}:{port}/{database}"


def ensure_database(admin_url: str, database: str) -> None:
    """CREATE DATABASE unless it exists (CREATE DATABASE cannot run in a transaction)."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(**psycopg_kwargs(admin_url))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        conn.close()


def drop_database(admin_url: str, database: str) -> None:
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(**psycopg_kwargs(admin_url))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    finally:
        conn.close()


def resolve_warehouse_url() -> str:
    """WAREHOUSE_URL, else the Airflow connection, else the embedded server."""
    url = settings().warehouse_url
    if url:
        return normalize_url(url)
    from tthc.connections import database_url, defined_in_env

    conn_id = settings().warehouse_conn_id
    # Only a connection in the environment here: plain CLI use never needs an Airflow metadata DB.
    if defined_in_env(conn_id):
        return normalize_url(database_url(conn_id))
    return embedded_url()


def normalize_url(url: str) -> str:
    """Accept postgres://, postgresql:// or SQLAlchemy URLs; return a psycopg2 SQLAlchemy URL."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    if not parsed.drivername.startswith("postgresql"):
        raise ValueError(f"the warehouse must be PostgreSQL, got driver {parsed.drivername!r} in {url!r}")
    return parsed.render_as_string(hide_password=False)


def psycopg_kwargs(url: str) -> dict:
    """psycopg2.connect() keyword arguments for a SQLAlchemy URL (handles ?host=/socket/dir)."""
    parsed = make_url(normalize_url(url))
    kwargs: dict = {"dbname": parsed.database or "postgres"}
    if parsed.username:
        kwargs["user"] = parsed.username
    if parsed.password:
        kwargs["password"] = parsed.password
    host = parsed.host or parsed.query.get("host")
    if host:
        kwargs["host"] = host
    if parsed.port:
        kwargs["port"] = parsed.port
    for key, value in parsed.query.items():
        if key != "host":
            kwargs[key] = value
    return kwargs


def with_database(url: str, database: str) -> str:
    return make_url(normalize_url(url)).set(database=database).render_as_string(hide_password=False)


def warehouse_url() -> str:
    """WAREHOUSE_URL when set; else the Airflow connection TTHC_WAREHOUSE_CONN_ID; else the embedded server."""
    if settings().warehouse_url:
        return normalize_url(settings().warehouse_url)
    conn_id = settings().warehouse_conn_id
    try:
        return normalize_url(connection_url(conn_id))
    except Exception:  # noqa: BLE001 - connection not defined: fall back to the embedded server
        return resolve_warehouse_url()


def connection_url(conn_id: str) -> str:
    """SQLAlchemy URL of an Airflow connection (AIRFLOW_CONN_<ID>, a secrets backend or the metadata DB)."""
    from tthc.connections import database_url

    return database_url(conn_id)
