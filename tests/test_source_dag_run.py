"""A real `airflow dags test` of a source DAG over an interval with nothing new: zero chunks are mapped,
and the batch still closes (succeeded, 0 rows) and the signed-copy check still runs."""

from __future__ import annotations

import sqlite3

from tthc_dev.airflow_runner import airflow_env, dags_test, ensure_metadata_db
from tthc_dev.demo_data import generate
from tthc.warehouse.db import fetch_all

DAG_ID = "tthc_source_civil_status"


def test_an_interval_with_nothing_new_closes_its_batch(tmp_path, make_database):
    url = make_database("emptyrun", migrated=True)
    demo = tmp_path / "demo"
    generate(demo, seed=1, size=200, permits_url=None, scans=12)
    with sqlite3.connect(demo / "civil_status.sqlite") as db:  # the register has nothing (new) to give
        db.execute("DELETE FROM SO_HO_TICH")
    env = airflow_env(tmp_path / "airflow", url, extra={
        "TTHC_DEMO_DATA_DIR": str(demo), "TTHC_TASK_RETRIES": "0", "TTHC_LOCAL_DIR": str(tmp_path / "local")})
    ensure_metadata_db(env)
    result = dags_test(DAG_ID, env, "2025-03-02")
    log_text = result.log_path.read_text(errors="replace")
    assert result.ok, log_text[-3000:]
    assert "as SKIPPED since the map has 0 values to expand" in log_text
    assert fetch_all(url, "SELECT source, status, rows_in, rows_out FROM ops.batch") == [("civil_status", "succeeded", 0, 0)]
    assert "task_id='check_signed_copies'" in log_text
