"""The read-only analyst role reads mart and nothing holding raw personal identifiers."""

from __future__ import annotations

import psycopg2
import pytest

from tthc.warehouse.db import connect
from tthc.warehouse.migrate import migrate

FORBIDDEN = [
    "SELECT id_value FROM core.holder_identity",
    "SELECT payload FROM raw.source_row",
    "SELECT holder_id_value FROM staging.result_candidate",
    "SELECT payload FROM ops.quarantine",
    "SELECT text FROM core.document_page",
    "SELECT page_text FROM ops.review_queue",
    "SELECT * FROM core.result",
    "SELECT * FROM core.holder",
]
ALLOWED = [
    "SELECT count(*) FROM mart.dim_unit",
    "SELECT count(*) FROM mart.result",
    "SELECT count(*) FROM mart.progress_snapshot",
    "SELECT count(*) FROM mart.work_queue",
    "SELECT count(*) FROM mart.review_queue",
    "SELECT count(*) FROM mart.progress_as_of(date '2024-12-31')",
    "SELECT count(*) FROM mart.indicators_as_of(date '2024-12-31')",
]


def run_as_analyst(url: str, sql: str):
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET ROLE tthc_analyst")
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.rollback()
        conn.close()


def test_role_is_a_nologin_group_role(reference_warehouse):
    conn = connect(reference_warehouse)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT rolcanlogin, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'tthc_analyst'")
            assert cur.fetchone() == (False, False, False)
    finally:
        conn.close()


@pytest.mark.parametrize("sql", FORBIDDEN)
def test_analyst_cannot_read_personal_data(reference_warehouse, sql):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied"):
        run_as_analyst(reference_warehouse, sql)


@pytest.mark.parametrize("sql", ALLOWED)
def test_analyst_reads_mart(reference_warehouse, sql):
    assert run_as_analyst(reference_warehouse, sql)[0][0] >= 0


def test_analyst_cannot_write_mart(reference_warehouse):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as_analyst(reference_warehouse, "DELETE FROM mart.progress_snapshot")


def test_role_creation_is_idempotent_across_databases(make_database):
    """A second database migrates fine although the cluster-wide role already exists, and a login
    granted the role reads that database's mart."""
    url = make_database("analyst")
    migrate(url)
    migrate(url)
    assert run_as_analyst(url, "SELECT count(*) FROM mart.dim_unit")[0][0] >= 0
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as_analyst(url, "SELECT id_value FROM core.holder_identity")
