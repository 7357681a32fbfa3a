"""Connections to the warehouse."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg2
import psycopg2.extensions

from tthc.warehouse.server import psycopg_kwargs, resolve_warehouse_url


def connect(url: str | None = None) -> psycopg2.extensions.connection:
    """A psycopg2 connection (autocommit off). `url` defaults to the resolved warehouse."""
    conn = psycopg2.connect(**psycopg_kwargs(url or resolve_warehouse_url()))
    conn.set_client_encoding("UTF8")
    return conn


@contextmanager
def transaction(url: str | None = None) -> Iterator[psycopg2.extensions.cursor]:
    """One cursor in one transaction: commit on success, roll back on error."""
    conn = connect(url)
    try:
        with conn:
            with conn.cursor() as cur:
                yield cur
    finally:
        conn.close()


def fetch_all(url: str | None, sql: str, params=None) -> list[tuple]:
    """Run one query in its own transaction and return every row."""
    with transaction(url) as cur:
        cur.execute(sql, params)
        return cur.fetchall()
