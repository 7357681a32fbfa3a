"""A drop-zone DAG run by Airflow itself (`airflow dags test`, SQLite metadata) against a test
warehouse: open batch → list → mapped chunk → finalize. About 60-100 s (Airflow start-up, GX)."""

from __future__ import annotations

import json
import textwrap

from tthc_dev.airflow_runner import airflow_env, dags_test, ensure_metadata_db
from tthc.warehouse.db import fetch_all


def test_airflow_dags_test_runs_a_drop(tmp_path, make_database):
    from tthc_dev.demo_data import generate

    data = tmp_path / "demo"
    generate(data, seed=3, size=40, permits_url=None, scans=12)
    truth = [json.loads(x) for x in (data / "ground_truth.jsonl").read_text(encoding="utf-8").splitlines()]
    text_pdf = next(a["file"] for r in truth if r["kind"] == "result" for a in r["appears"]
                    if a["source"] == "scan_drop" and a["format"] == "text_pdf")
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / text_pdf).write_bytes((data / "scan_drop" / text_pdf).read_bytes())
    (drop / "zero.pdf").write_bytes(b"")
    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "dag_drop.yaml").write_text(textwrap.dedent(f"""\
        name: dag_drop
        location: {drop}
        archive: {tmp_path / 'archive'}
        stability: {{min_age_seconds: 0}}
        """), encoding="utf-8")
    url = make_database("scandag", migrated=True)
    env = airflow_env(tmp_path / "airflow", url, {"TTHC_DROPS_DIR": str(drops), "TTHC_TASK_RETRIES": "0",
                                                  "TTHC_OCR_WORKERS": "1"})
    ensure_metadata_db(env)
    run = dags_test("tthc_scan_drop_dag_drop", env, "2026-03-01T00:00:00+07:00")
    assert run.ok, run.log_path.read_text(errors="replace")[-4000:]
    files = dict(fetch_all(url, "SELECT file_name, status FROM ops.scan_file"))
    assert files == {text_pdf: "linked", "zero.pdf": "quarantined"}
    batch = fetch_all(url, "SELECT source, status, dag_id, interval_start IS NOT NULL FROM ops.batch")
    assert batch == [("scan.dag_drop", "succeeded", "tthc_scan_drop_dag_drop", True)]
