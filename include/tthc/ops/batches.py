"""ops.batch: one row per source and data interval. Re-running an interval reuses its row.

Two runs of one interval at once share that row: open_batch serializes on an advisory lock keyed
by the interval (and a unique index backs it, sql/V055), and each step of the load holds
batch_lock, so the second run waits for the first one's step instead of interleaving with it.
A step that fails marks its batch failed (failing_marks_batch): no batch is left 'running' by an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager


def open_batch(cur, source: str, interval_start=None, interval_end=None, dag_id=None, run_id=None) -> int:
    # Held until the caller commits: a concurrent open of the same interval waits, then finds this row.
    cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"tthc.batch:{source}:{interval_start}:{interval_end}",))
    cur.execute("""
        SELECT batch_id FROM ops.batch
        WHERE source = %s AND interval_start IS NOT DISTINCT FROM %s AND interval_end IS NOT DISTINCT FROM %s
          AND NOT detail ? 'duplicate_of'
        ORDER BY batch_id LIMIT 1""", (source, interval_start, interval_end))
    row = cur.fetchone()
    if row:
        cur.execute("""UPDATE ops.batch SET status = 'running', dag_id = %s, run_id = %s, started_at = now(),
                       finished_at = NULL WHERE batch_id = %s""", (dag_id, run_id, row[0]))
        return row[0]
    cur.execute("""INSERT INTO ops.batch (source, dag_id, run_id, interval_start, interval_end)
                   VALUES (%s, %s, %s, %s, %s) RETURNING batch_id""",
                (source, dag_id, run_id, interval_start, interval_end))
    return cur.fetchone()[0]


def close_batch(cur, batch_id: int, status: str, rows_in: int, rows_out: int, rows_quarantined: int,
                detail: dict | None = None) -> None:
    cur.execute("""UPDATE ops.batch SET status = %s, rows_in = %s, rows_out = %s, rows_quarantined = %s,
                   finished_at = now(), detail = detail || %s::jsonb WHERE batch_id = %s""",
                (status, rows_in, rows_out, rows_quarantined, json.dumps(detail or {}, default=str), batch_id))


def fail_batch(url: str, batch_id: int, step: str, error: BaseException) -> None:
    """Mark the batch failed with the error's first line, on a connection of its own (the step's
    own transaction may be the one that broke)."""
    from tthc.warehouse.db import transaction

    line = (str(error).strip().splitlines() or [type(error).__name__])[0][:2000]
    with transaction(url) as cur:
        cur.execute("""UPDATE ops.batch SET status = 'failed', finished_at = now(),
                       detail = detail || jsonb_build_object('failed_step', %s::text, 'error', %s::text)
                       WHERE batch_id = %s""", (step, f"{type(error).__name__}: {line}", batch_id))


@contextmanager
def failing_marks_batch(url: str, batch_id: int, step: str) -> Iterator[None]:
    """Run a step of the batch; if it raises, the batch is marked failed and the error goes on."""
    try:
        yield
    except BaseException as exc:
        try:
            fail_batch(url, batch_id, step, exc)
        except Exception as mark_error:  # noqa: BLE001 - the step's own error is the one to report
            exc.add_note(f"(batch {batch_id} could not be marked failed: {mark_error})")
        raise


@contextmanager
def batch_lock(url: str, batch_id: int, shared: bool = False) -> Iterator[None]:
    """A session advisory lock on the batch for one step: steps that rebuild or read the whole batch
    (stage, validate, plan, close) hold it alone; normalization chunks hold it shared (they run in
    parallel with each other, never beside a re-staging of the same batch)."""
    from tthc.warehouse.db import connect

    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT pg_advisory_lock{'_shared' if shared else ''}(hashtextextended(%s, 0))",
                        (f"tthc.batch:{batch_id}",))
        yield
    finally:
        conn.close()  # ends the session: the lock goes with it
