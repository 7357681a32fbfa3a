"""A backfill through a real scheduler leaves the same warehouse as the same days run one by one.

Warehouse A: `airflow backfill create --max-active-runs 1` of tthc_source_civil_status over three
days, executed by a real scheduler + Celery worker (tthc_dev.airflow_cluster). Warehouse B: the same
three data intervals run one by one, in order, through the functions the DAG's three tasks call
(stage_batch → validate_and_quarantine → normalize_and_close). Both must hold the same results with
the same codes, the same lineage, quarantine, raw rows, batches and watermark; only surrogate ids
and timestamps may differ.

B does not use `airflow dags test`: on Airflow 3.3.2 it fails after the last task of a DAG that
has a deadline alert (the source DAGs have one), see docs/backfill.md.

The days: in the seed-42, size-200 demo data, civil-status rows were updated (UPDATED_AT) on
2014-11-15, -16 and -17, one each. The first run has no watermark yet, so it catches up on
history; each later run reads its own day.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import pytest

from tthc_dev.airflow_cluster import AirflowCluster, celery_env
from tthc.codes import is_valid_code
from tthc.orchestration import TIMEZONE
from tthc.warehouse.db import fetch_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAG_ID = "tthc_source_civil_status"
FROM_DATE, TO_DATE = dt.date(2014, 11, 15), dt.date(2014, 11, 17)   # backfill bounds, both inclusive
DAYS = [FROM_DATE + dt.timedelta(days=i) for i in range((TO_DATE - FROM_DATE).days + 1)]

# Business state, without surrogate ids (result_id, batch_id, holder_id ...) and timestamps.
# Batch-owned rows are keyed by their batch's data interval instead of the batch id.
STATE_QUERIES = {
    "results": """
        SELECT r.result_code, r.procedure_code, r.agency_id, r.issuing_unit_key, r.successor_unit_key,
               r.doc_book, r.doc_number, r.issue_date, r.valid_until, r.revoked_on, r.copy_kind,
               r.digitized_elsewhere, h.match_key, h.kind, h.display_name
        FROM core.result r LEFT JOIN core.holder h USING (holder_id) ORDER BY r.result_code""",
    "result_source": """
        SELECT r.result_code, s.source, s.source_pk, s.row_hash, s.match_rule, b.interval_start
        FROM core.result_source s JOIN core.result r USING (result_id)
        LEFT JOIN ops.batch b ON b.batch_id = s.batch_id ORDER BY 1, 2, 3, 4""",
    "quarantine": """
        SELECT q.source, q.source_key, q.stage, q.reason, q.failed_checks, q.payload, q.dedup_key, b.interval_start
        FROM ops.quarantine q LEFT JOIN ops.batch b USING (batch_id) ORDER BY q.source, q.dedup_key""",
    "raw": """SELECT r.source, r.source_pk, r.row_hash, b.interval_start
              FROM raw.source_row r LEFT JOIN ops.batch b USING (batch_id) ORDER BY 1, 2, 3""",
    "batches": """SELECT source, interval_start, interval_end, status, rows_in, rows_out, rows_quarantined,
                         detail->>'read_from', detail->>'results_new', detail->>'results_merged'
                  FROM ops.batch ORDER BY source, interval_start""",
    "watermark": "SELECT source, last_value FROM ops.watermark ORDER BY source",
    "code_counters": "SELECT agency_id, procedure_code, issue_year, last_serial FROM core.result_code_counter ORDER BY 1, 2, 3",
    "holder_identity": """SELECT h.match_key, i.id_type, i.id_value FROM core.holder_identity i
                          JOIN core.holder h USING (holder_id) ORDER BY 1, 2, 3""",
}


def _state(url: str) -> dict[str, list[tuple]]:
    return {name: fetch_all(url, sql) for name, sql in STATE_QUERIES.items()}


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from tthc_dev.demo_data import generate

    out = tmp_path_factory.mktemp("backfill") / "demo-data"
    generate(out, seed=42, size=200, permits_url=None, scans=12)
    with sqlite3.connect(out / "civil_status.sqlite") as db:
        per_day = dict(db.execute("SELECT substr(UPDATED_AT, 1, 10), count(*) FROM SO_HO_TICH GROUP BY 1").fetchall())
    # The range must really exercise incremental loading: rows on every day after the catch-up run.
    assert all(per_day.get(d.isoformat()) for d in DAYS[1:]), {d.isoformat(): per_day.get(d.isoformat()) for d in DAYS}
    return out


def _warehouse(make_database, prefix: str) -> str:

    url = make_database(prefix, migrated=True)
    return url


def _interval(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The data interval of the daily run with logical date `day`: [day, day + 1) in Asia/Ho_Chi_Minh."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(TIMEZONE))
    return start.astimezone(dt.timezone.utc), (start + dt.timedelta(days=1)).astimezone(dt.timezone.utc)


def _day_by_day(warehouse: str, demo_data, errors: list) -> None:
    """Warehouse B: each day's interval in order, through the DAG tasks' own functions."""
    from tthc.sources.config import source_named
    from tthc.sources.pipeline import normalize_and_close, stage_batch, validate_and_quarantine

    old = os.environ.get("TTHC_DEMO_DATA_DIR")
    os.environ["TTHC_DEMO_DATA_DIR"] = str(demo_data)  # read by the source's connection URL
    try:
        cfg = source_named("civil_status")
        for day in DAYS:
            started = time.monotonic()
            start, end = _interval(day)
            batch_id = stage_batch(cfg, warehouse, start, end, DAG_ID, f"day_by_day__{day}")
            validate_and_quarantine(cfg, warehouse, batch_id)
            report = normalize_and_close(cfg, warehouse, batch_id)
            print(f"[day-by-day] {day}: {report.rows_in} rows in, {report.results_new} new results "
                  f"in {time.monotonic() - started:.0f}s", flush=True)
    except Exception as exc:  # noqa: BLE001 - reported by the main thread
        errors.append(f"day-by-day run failed: {exc!r}")
    finally:
        if old is None:
            os.environ.pop("TTHC_DEMO_DATA_DIR", None)
        else:
            os.environ["TTHC_DEMO_DATA_DIR"] = old


def test_backfill_equals_day_by_day_runs(make_database, demo_data, tmp_path):
    warehouse_a = _warehouse(make_database, "backfill_a")
    warehouse_b = _warehouse(make_database, "backfill_b")

    # B runs in a thread while A's cluster starts: the two are independent (own warehouse, own metadata).
    errors: list[str] = []
    day_by_day = threading.Thread(target=_day_by_day, args=(warehouse_b, demo_data, errors))
    day_by_day.start()
    try:
        env = celery_env(tmp_path / "airflow-a", warehouse_a, make_database("backfill_meta"),
                         broker_url=f"redis://127.0.0.1:6379/{random.randint(1, 15)}",
                         queue=f"tthc_bf_{uuid.uuid4().hex[:10]}", extra={
                             "TTHC_DEMO_DATA_DIR": str(demo_data),
                             "TTHC_TASK_RETRIES": "0",
                             # Only the backfill's runs: no scheduled run for "yesterday" when the DAG is unpaused.
                             "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                         })
        # The CLI talks to the metadata DB; the workers need only the execution API (starts faster).
        with AirflowCluster(env, api_apps="execution") as cluster:
            cluster.wait_for_dags([DAG_ID], timeout=180)
            # Backfill runs are only started for unpaused DAGs.
            cluster.airflow("dags", "unpause", DAG_ID)
            cluster.airflow("backfill", "create", "--dag-id", DAG_ID, "--from-date", FROM_DATE.isoformat(),
                            "--to-date", TO_DATE.isoformat(), "--max-active-runs", "1",
                            "--reprocess-behavior", "none")  # the runbook's command (docs/backfill.md)
            runs = cluster.wait_for_runs(DAG_ID, count=len(DAYS), run_type="backfill", timeout=300)
            intervals = cluster.query("SELECT data_interval_start, data_interval_end FROM dag_run "
                                      "WHERE dag_id = :d ORDER BY logical_date", {"d": DAG_ID})
    finally:
        day_by_day.join()
    assert not errors, errors[0]
    assert len(runs) == len(DAYS) and set(runs.values()) == {"success"}, runs
    assert len(intervals) == len(DAYS), intervals

    state_a, state_b = _state(warehouse_a), _state(warehouse_b)
    # What was backfilled: the catch-up batch plus one batch per later day, each with its own interval.
    starts = [b[1] for b in state_a["batches"]]
    assert [s.date() for s in (x.astimezone(dt.timezone(dt.timedelta(hours=7))) for x in starts)] == DAYS, starts
    assert starts == [i[0] for i in intervals], (starts, intervals)
    assert state_a["results"], "the backfill loaded nothing"
    assert all(is_valid_code(r[0]) for r in state_a["results"])
    assert [b[4] for b in state_a["batches"][1:]] == [1] * (len(DAYS) - 1), state_a["batches"]

    for name in STATE_QUERIES:
        assert state_a[name] == state_b[name], _diff(name, state_a[name], state_b[name])


def _diff(name: str, a: list[tuple], b: list[tuple]) -> str:
    only_a = [r for r in a if r not in b]
    only_b = [r for r in b if r not in a]
    return (f"{name} differs between the backfill (A, {len(a)} rows) and the day-by-day runs (B, {len(b)} rows)\n"
            f"only in A: {only_a[:10]}\nonly in B: {only_b[:10]}")
