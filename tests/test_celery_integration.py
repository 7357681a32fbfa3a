"""Distributed execution: a real Airflow scheduler, dag-processor, api-server and Celery worker on this machine.

The metadata DB and Celery result backend are a throwaway PostgreSQL database, the
broker is the local Redis (a DB number and a queue name of this test only, so parallel
runs don't collide). The ingestion DAG is unpaused and triggered with the CLI; the
warehouse must then hold every civil-status row: loaded with a code, or quarantined.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
import redis

from tthc_dev.airflow_cluster import AirflowCluster, celery_env, leftover_pids
from tthc.codes import is_valid_code
from tthc.warehouse.db import fetch_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAG_ID = "tthc_source_civil_status"
# Manual runs cover the day before the logical date: [2025-11-30, 2025-12-01) ICT. With no
# watermark yet, the first run reads all history before its end: every generated row (≤ 2025-09-30).
LOGICAL_DATE = "2025-12-01T00:00:00+07:00"


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from tthc_dev.demo_data import generate

    out = tmp_path_factory.mktemp("celery") / "demo-data"
    generate(out, seed=42, size=200, permits_url=None, scans=12)
    return out


def _migrated_warehouse(make_database) -> str:

    url = make_database("celery_wh", migrated=True)
    return url


def _cluster_env(make_database, tmp_path, warehouse: str, queue: str, demo_data, **extra: str) -> dict:
    metadata = make_database("celery_meta")
    return celery_env(tmp_path / "airflow", warehouse, metadata,
                      broker_url=f"redis://127.0.0.1:6379/{random.randint(1, 15)}", queue=queue, extra={
                          "TTHC_DEMO_DATA_DIR": str(demo_data),
                          # Archives and other local state of the workers stay in the test's folder.
                          "TTHC_LOCAL_DIR": str(tmp_path / "local"),
                          "TTHC_TASK_RETRIES": "0",
                          # Only the run we trigger: no scheduled run for "yesterday" when the DAG is unpaused.
                          "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                          **extra,
                      })


def test_celery_cluster_runs_the_ingestion_dag(make_database, demo_data, tmp_path):
    warehouse = _migrated_warehouse(make_database)
    queue = f"tthc_it_{uuid.uuid4().hex[:10]}"
    env = _cluster_env(make_database, tmp_path, warehouse, queue, demo_data)
    with AirflowCluster(env) as cluster:
        sessions = {p.popen.pid for p in cluster.procs}
        cluster.wait_for_dags([DAG_ID], timeout=180)
        cluster.airflow("dags", "unpause", DAG_ID)
        cluster.airflow("dags", "trigger", DAG_ID, "--logical-date", LOGICAL_DATE, "--run-id", "celery_it")
        runs = cluster.wait_for_runs(DAG_ID, count=1, timeout=240)
        tasks = cluster.query("SELECT task_id, state, queue, hostname FROM task_instance "
                              "WHERE dag_id = :d AND run_id = 'celery_it' ORDER BY task_id", {"d": DAG_ID})
        worker_log_path = next(p.log_path for p in cluster.procs if p.name.startswith("celery-worker"))
    worker_log = worker_log_path.read_text(errors="replace")  # complete once the worker has shut down

    # Leaving the context stopped everything it started, task processes included, and dropped the queue.
    assert not leftover_pids(sessions, cluster.cluster_id), "Airflow processes survived the cluster"
    broker = redis.Redis.from_url(env["AIRFLOW__CELERY__BROKER_URL"])
    assert not broker.exists(queue, f"_kombu.binding.{queue}"), "the test's Celery queue was left in Redis"

    assert runs == {"celery_it": "success"}
    task_ids = [t[0] for t in tasks]
    # One load_chunk task instance per chunk (mapped): any worker of the cluster may take each.
    assert sorted(set(task_ids)) == ["check_signed_copies", "close", "load_chunk", "plan", "stage", "validate"], tasks
    for task_id, state, task_queue, hostname in tasks:
        assert state == "success", tasks
        assert task_queue == queue, f"{task_id} was not routed through this test's Celery queue: {tasks}"
        assert hostname, tasks
    # The Celery worker, not the scheduler, executed every task instance.
    assert len(re.findall(r"Task execute_workload\[[^]]+\] succeeded", worker_log)) == len(tasks), worker_log[-3000:]

    _assert_warehouse_holds_every_row(warehouse, demo_data)


def _assert_warehouse_holds_every_row(url: str, data_dir) -> None:
    with sqlite3.connect(data_dir / "civil_status.sqlite") as src:
        source_pks = {str(r[0]) for r in src.execute("SELECT ID FROM SO_HO_TICH")}
    loaded = {r[0] for r in fetch_all(url, "SELECT DISTINCT source_pk FROM core.result_source WHERE source = 'civil_status'")}
    quarantined = {r[0] for r in fetch_all(url, "SELECT DISTINCT source_key FROM ops.quarantine "
                                                "WHERE source = 'civil_status'")}
    assert loaded, "no civil-status row reached core.result"
    assert loaded | quarantined == source_pks, (
        f"rows neither loaded nor quarantined: {sorted(source_pks - loaded - quarantined)[:20]}; "
        f"unknown keys: {sorted((loaded | quarantined) - source_pks)[:20]}")

    # Duplicates merge: the loaded rows map to exactly as many results as the ground truth says they are.
    truth = {}
    bad_rows = set()
    for line in (data_dir / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["kind"] == "result":
            for where in item["appears"]:
                if where.get("source") == "civil_status":
                    truth[str(where["pk"])] = item["result_id"]
        elif item["kind"] == "bad_input" and item.get("source") == "civil_status":
            bad_rows.add(str(item["pk"]))
    assert bad_rows <= quarantined, f"junk rows not quarantined: {sorted(bad_rows - quarantined)}"
    assert not (bad_rows & loaded), f"junk rows loaded: {sorted(bad_rows & loaded)}"
    expected_results = {truth[pk] for pk in loaded}
    results = fetch_all(url, """SELECT r.result_id, r.result_code FROM core.result r
                                WHERE EXISTS (SELECT 1 FROM core.result_source s
                                              WHERE s.result_id = r.result_id AND s.source = 'civil_status')""")
    assert len(results) == len(expected_results), (len(results), len(expected_results))
    assert all(code and is_valid_code(code) for _, code in results), [c for _, c in results if not is_valid_code(c)]
    batches = fetch_all(url, "SELECT status, rows_in FROM ops.batch WHERE source = 'civil_status'")
    assert batches == [("succeeded", len(source_pks))], batches


def test_two_workers_load_one_batch_in_mapped_chunks_like_one_process(make_database, demo_data, tmp_path):
    """The source's chunks (40 rows each) run as mapped load_chunk tasks on two Celery workers; the
    warehouse ends as a direct run_batch in one process leaves it: same codes, lineage, quarantine."""
    import os
    import shutil

    from tthc_dev.airflow_cluster import DEFAULT_COMPONENTS
    from tthc.born_digital import check_e_copies
    from tthc.sources.config import load_sources
    from tthc.sources.pipeline import run_batch

    sources = tmp_path / "sources"
    sources.mkdir()
    text = (Path(__file__).parents[1] / "sources" / "civil_status.yaml").read_text(encoding="utf-8")
    (sources / "civil_status.yaml").write_text(text + "\nchunk_size: 40\n", encoding="utf-8")
    shutil.copy(Path(__file__).parents[1] / "sources" / "already_digitized.yaml", sources)

    clustered, direct = _migrated_warehouse(make_database), _migrated_warehouse(make_database)
    env = _cluster_env(make_database, tmp_path, clustered, f"tthc_it_{uuid.uuid4().hex[:10]}", demo_data,
                       TTHC_SOURCES_DIR=str(sources))
    components = [c for c in DEFAULT_COMPONENTS if c != "celery-worker"] + ["celery-worker", "celery-worker"]
    with AirflowCluster(env, components=components) as cluster:
        cluster.wait_for_dags([DAG_ID], timeout=180)
        cluster.airflow("dags", "unpause", DAG_ID)
        cluster.airflow("dags", "trigger", DAG_ID, "--logical-date", LOGICAL_DATE, "--run-id", "two_workers")
        runs = cluster.wait_for_runs(DAG_ID, count=1, timeout=300)
        chunks = cluster.query("SELECT map_index, state, hostname FROM task_instance WHERE dag_id = :d "
                               "AND run_id = 'two_workers' AND task_id = 'load_chunk' ORDER BY map_index", {"d": DAG_ID})
    assert runs == {"two_workers": "success"}
    assert len(chunks) >= 3 and all(state == "success" for _, state, _ in chunks), chunks

    # The direct run reads the same sources and data and archives signed copies where the cluster did.
    archive = env.get("TTHC_SIGNED_COPY_ARCHIVE") or str(Path(env["TTHC_LOCAL_DIR"]) / "scan_archive")
    old = {k: os.environ.get(k) for k in ("TTHC_DEMO_DATA_DIR", "TTHC_SOURCES_DIR", "TTHC_SIGNED_COPY_ARCHIVE")}
    os.environ.update(TTHC_DEMO_DATA_DIR=str(demo_data), TTHC_SOURCES_DIR=str(sources), TTHC_SIGNED_COPY_ARCHIVE=archive)
    try:
        cfg = next(c for c in load_sources() if c.name == "civil_status")
        (start, end), = fetch_all(clustered, "SELECT interval_start, interval_end FROM ops.batch")
        run_batch(cfg, direct, start, end)
        check_e_copies(direct, source=cfg.name)  # the DAG's last task
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    state = {
        "results": "SELECT result_code, agency_id, procedure_code, doc_book, doc_number, issue_date, copy_kind "
                   "FROM core.result ORDER BY 1",
        "lineage": "SELECT r.result_code, s.source_pk, s.row_hash, s.match_rule FROM core.result_source s "
                   "JOIN core.result r USING (result_id) ORDER BY 1, 2, 3",
        "quarantine": "SELECT source_key, reason FROM ops.quarantine ORDER BY 1, 2",
        "batch": "SELECT status, rows_in, rows_out, rows_quarantined FROM ops.batch",
    }
    for name, sql in state.items():
        assert fetch_all(clustered, sql) == fetch_all(direct, sql), name
