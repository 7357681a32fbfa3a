"""Shared fixtures. Every test session works in throwaway databases, dropped at the end.

The server is TTHC_TEST_PG_ADMIN_URL when set, else the local PostgreSQL on
127.0.0.1:5432 when it answers, else an embedded pgserver in a temporary folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
# Great Expectations Data Docs of test runs go to a temporary folder, never into .local/.
os.environ["TTHC_DATA_DOCS_DIR"] = tempfile.mkdtemp(prefix="tthc-test-data-docs-")
# The holder matching key has no default outside the demo: tests use a random one per session.
os.environ.setdefault("TTHC_HOLDER_KEY_SECRET", "test-" + secrets.token_hex(16))
# Airflow metadata DBs are copies of one migrated once per run (tthc_dev.airflow_runner.ensure_metadata_db);
# the first process (the xdist controller) makes the folder, its workers inherit it, it removes it.
_OWN_AIRFLOW_DB_CACHE = "TTHC_AIRFLOW_DB_CACHE" not in os.environ
if _OWN_AIRFLOW_DB_CACHE:
    os.environ["TTHC_AIRFLOW_DB_CACHE"] = tempfile.mkdtemp(prefix="tthc-test-airflow-db-")

from tthc.warehouse.server import drop_database, ensure_database, with_database  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_admin_url():
    """URL of the maintenance database of the test server."""
    explicit = os.environ.get("TTHC_TEST_PG_ADMIN_URL")
    if explicit:
        yield explicit
        return
    if _port_open("127.0.0.1", 5432):
        yield LOCAL_ADMIN_URL
        return
    import pgserver

    data_dir = Path(tempfile.mkdtemp(prefix="tthc-test-pg-"))
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    yield f"postgresql+psycopg2://postgres@/postgres?host={data_dir}"
    server.cleanup()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def make_database(pg_admin_url):
    """Factory: make_database("prefix") -> URL of a fresh database, dropped at session end.

    make_database("prefix", migrated=True): a warehouse migrated with the reference data, as
    migrate(url) + load_reference(url) leave it: a copy (CREATE DATABASE … TEMPLATE) of a template
    made that way once per session and seeds folder, never used directly."""
    created: list[str] = []
    templates: dict[Path, str] = {}

    def template(seeds_dir: Path) -> str:
        if seeds_dir not in templates:
            from tthc.reference.load import load_reference
            from tthc.warehouse.migrate import migrate

            url = factory("template")
            migrate(url)
            load_reference(url, seeds_dir)
            templates[seeds_dir] = created[-1]
        return templates[seeds_dir]

    def factory(prefix: str = "db", migrated: bool = False) -> str:
        name = f"tthc_test_{prefix}_{uuid.uuid4().hex[:10]}".lower()
        if migrated:
            from tthc.settings import Settings

            copy_database(pg_admin_url, template(Settings.from_env().seeds_dir), name)
        else:
            ensure_database(pg_admin_url, name)
        created.append(name)
        return with_database(pg_admin_url, name)

    factory.template = template  # the template's name, for `warehouse`
    yield factory
    for name in created:
        drop_database(pg_admin_url, name)


def copy_database(admin_url: str, template: str, name: str, replace: bool = False) -> None:
    """CREATE DATABASE name TEMPLATE template (replace: drop name first), with the template's
    database-level grants (GRANT CONNECT ON DATABASE in the migrations), which are not part of the copy.
    Neither are ALTER DATABASE … SET and COMMENT ON DATABASE: a migration that uses them must be copied here."""
    import psycopg2
    from psycopg2 import sql

    from tthc.warehouse.server import psycopg_kwargs

    conn = psycopg2.connect(**psycopg_kwargs(admin_url))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            # The template must have no session; ours left over in a connection pool are idle.
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (template,))
            if replace:
                cur.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
            cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
            cur.execute("""SELECT a.privilege_type, coalesce(r.rolname, 'PUBLIC')
                           FROM pg_database d, aclexplode(d.datacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
                           WHERE d.datname = %s AND a.grantee <> d.datdba""", (template,))
            for privilege, grantee in cur.fetchall():
                cur.execute(sql.SQL("GRANT {} ON DATABASE {} TO {}").format(
                    sql.SQL(privilege), sql.Identifier(name),
                    sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee)))
    finally:
        conn.close()


@pytest.fixture(scope="session")
def reference_warehouse(make_database) -> str:
    """A migrated warehouse with reference data loaded. Read-only for tests: don't modify it."""
    from tthc.reference.load import load_reference
    from tthc.warehouse.migrate import migrate

    url = make_database("ref")
    migrate(url)
    load_reference(url)
    return url


@pytest.fixture
def empty_warehouse(make_database) -> str:
    """A fresh, empty database for tests that migrate or modify."""
    return make_database("wh")


@pytest.fixture
def warehouse(empty_warehouse, make_database, pg_admin_url) -> str:
    """A fresh, migrated warehouse with reference data, for tests that write to it (under
    empty_warehouse's name: a copy of make_database's migrated template)."""
    from sqlalchemy.engine import make_url

    from tthc.settings import Settings

    template = make_database.template(Settings.from_env().seeds_dir)
    copy_database(pg_admin_url, template, make_url(empty_warehouse).database, replace=True)
    return empty_warehouse


def s3_connection_json(endpoint: str) -> str:
    """AIRFLOW_CONN_TTHC_S3 for a moto server: an AWS connection in Airflow's JSON form."""
    import json

    return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                       "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}})


@pytest.fixture(scope="module")
def moto_s3():
    """An S3 endpoint over real HTTP (moto's standalone server on 127.0.0.1), per test module:
    the Airflow connection tthc_s3 (AIRFLOW_CONN_TTHC_S3, JSON form) points at it while it runs.
    Yields a boto3 client."""
    import boto3
    from moto.server import ThreadedMotoServer

    mp = pytest.MonkeyPatch()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    mp.setenv("AIRFLOW_CONN_TTHC_S3", s3_connection_json(endpoint))
    yield boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    server.stop()
    mp.undo()


def pytest_unconfigure(config):
    """Drop the migrated Airflow metadata templates of this run (PostgreSQL ones are named in the folder)."""
    folder = Path(os.environ["TTHC_AIRFLOW_DB_CACHE"])
    if not _OWN_AIRFLOW_DB_CACHE or hasattr(config, "workerinput") or not folder.exists():
        return
    import json

    for name_file in folder.glob("postgres-*.name"):
        template = json.loads(name_file.read_text())
        try:
            drop_database(os.environ.get("TTHC_TEST_PG_ADMIN_URL") or template["server"], template["database"])
        except Exception as exc:  # noqa: BLE001 - cleanup must not hide the run's result (an embedded server is gone)
            print(f"could not drop Airflow template database {template['database']}: {exc}")
    shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------ xdist: longest files first
# Seconds per file on 2 cores in a full `make test` run (from --durations; refresh when a file's
# cost changes a lot). Files not listed count as short.
FILE_SECONDS = {
    "test_demo_end_to_end.py": 490,
    "test_celery_integration.py": 330,
    "test_backfill.py": 200,
    "test_app_feed.py": 95,
    "test_airflow_ui.py": 76,
    "test_source_dag_run.py": 75,
    "test_scan_dag_run.py": 70,
    "test_source_pipeline.py": 67,
    "test_alerts_dag.py": 62,
}
# A worker busy with a file at least this long takes short files next, not another long one.
LONG_FILE_SECONDS = 60


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, but the longest files are handed out first (xdist's own order puts the
    files with the most tests first, so the one-test demo file ran last and alone)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        def _assign_work_unit(self, node):
            def seconds(scope: str) -> int:
                return FILE_SECONDS.get(Path(scope).name, 0)

            busy = any(seconds(scope) >= LONG_FILE_SECONDS and not all(unit.values())
                       for scope, unit in self.assigned_work.get(node, {}).items())
            # A worker still in a long file gets the shortest unit (prefetched behind it, it waits);
            # a free one the longest. Ties keep xdist's order.
            order = list(self.workqueue)
            scope = (min(reversed(order), key=seconds) if busy else max(order, key=seconds))
            self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)
