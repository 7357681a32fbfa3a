"""ops.batch: one row per source and data interval. Re-running an interval reuses its row."""

from __future__ import annotations

import json


def open_batch(cur, source: str, interval_start=None, interval_end=None, dag_id=None, run_id=None) -> int:
    cur.execute("""
        SELECT batch_id FROM ops.batch
        WHERE source = %s AND interval_start IS NOT DISTINCT FROM %s AND interval_end IS NOT DISTINCT FROM %s
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
