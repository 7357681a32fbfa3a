"""Airflow connections: how the pipeline reaches the warehouse, source databases and S3.

Every external system is named by a conn_id and resolved as Airflow resolves it: an
AIRFLOW_CONN_<ID> variable (URI or JSON form), a secrets backend or the metadata database,
through the providers' hooks. The same code runs inside a task and outside Airflow (the CLI,
tests): there the connection comes from the environment, no scheduler or metadata DB needed.
"""

from __future__ import annotations

import os

S3_CONN_ID = "tthc_s3"
LIBPQ_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options", "application_name",
                 "target_session_attrs", "keepalives", "keepalives_idle")


def defined_in_env(conn_id: str) -> bool:
    """Whether AIRFLOW_CONN_<ID> is set, so that a lookup outside Airflow can succeed without a
    metadata database (its content is left to Airflow's parser)."""
    return bool(os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"))


def get_connection(conn_id: str):
    """The Airflow connection `conn_id` (airflow.sdk Connection); AirflowNotFoundException if undefined."""
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def database_url(conn_id: str) -> str:
    """A SQLAlchemy URL for a database connection (postgres, mysql, sqlite …), as its hook builds it."""
    conn = get_connection(conn_id)
    if conn.conn_type in ("postgres", "postgresql"):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        # The hook's URL names psycopg 3; the pipeline talks psycopg2 (tthc.warehouse.server.normalize_url).
        url = PostgresHook(postgres_conn_id=conn_id).sqlalchemy_url
        # libpq options kept as plain extras (the hook's own connections use them) go into the URL too.
        libpq = {k: str(v) for k, v in conn.extra_dejson.items() if k in LIBPQ_OPTIONS}
        return url.set(drivername="postgresql").update_query_dict(libpq).render_as_string(hide_password=False)
    if conn.conn_type == "sqlite":
        # Airflow keeps the database file in `host`; SQLAlchemy wants sqlite:///<absolute path>.
        return f"sqlite:///{conn.host}"
    return conn.get_uri()


def s3_client(conn_id: str = S3_CONN_ID):
    """A boto3 S3 client from the AWS connection `conn_id` (endpoint_url, region_name and keys in the
    connection; without one, the AWS default credential chain). Path-style addressing suits MinIO and moto."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.config import Config

    config = Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"})
    return S3Hook(aws_conn_id=conn_id, config=config).get_conn()


def url_http_hook(url: str, method: str = "POST"):
    """An HttpHook for one configured URL (an alert webhook, a document store): the URL is the host of
    an ad-hoc `http` connection, as Airflow reads a host that carries the scheme. The URL may hold a
    token; the hook never logs it."""
    from airflow.providers.http.hooks.http import HttpHook
    from airflow.sdk import Connection

    connection = Connection(conn_id="tthc_url", conn_type="http", host=url)

    class UrlHttpHook(HttpHook):
        def get_connection(self, conn_id):  # noqa: ARG002 - the one connection this hook talks to
            return connection

    return UrlHttpHook(method=method, http_conn_id=connection.conn_id)
