"""Find the warehouse: WAREHOUSE_URL when set, else an embedded PostgreSQL.

The embedded server is `pgserver` (a pip-installed PostgreSQL) under a
project-local data folder. It keeps running between commands, so the demo,
the CLI and Airflow tasks all reach the same server through its Unix socket.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from tthc.settings import settings

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "warehouse"


def embedded_data_dir() -> Path:
    return settings().embedded_pgdata


def start_embedded_server(data_dir: Path | None = None):
    """Start (or reuse) the embedded server; returns the pgserver handle."""
    import pgserver  # imported lazily: only needed without a real server

    data_dir = data_dir or embedded_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: leave the server running after this process exits.
    return pgserver.get_server(data_dir, cleanup_mode=None)


def embedded_url(database: str = EMBEDDED_DB_NAME, data_dir: Path | None = None) -> str:
    """SQLAlchemy URL of `database` on the embedded server, creating the database if needed."""
    start_embedded_server(data_dir)
    socket_dir = str(data_dir or embedded_data_dir())
    admin = f"postgresql+psycopg2://postgres@/postgres?host={socket_dir}"
    ensure_database(admin, database)
    log.info("using embedded PostgreSQL at %s (database %s)", socket_dir, database)
    return f"postgresql+psycopg2://postgres@/{database}?host={socket_dir}"


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
    url = env_connection_uri(settings().warehouse_conn_id)
    if url:
        return normalize_url(url)
    return embedded_url()


def env_connection_uri(conn_id: str) -> str | None:
    """An Airflow connection defined in the environment (AIRFLOW_CONN_<ID>), without importing Airflow,
    so that plain CLI use never needs an Airflow metadata database."""
    return os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}") or None


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
    """URI of an Airflow connection (env AIRFLOW_CONN_<ID> or the metadata DB via the Task SDK)."""
    env_uri = env_connection_uri(conn_id)
    if env_uri:
        return env_uri
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id).get_uri()
