"""A real failing DAG run (`airflow dags test`) alerts by email and webhook; a broken webhook next to
them is logged and recorded, and the task still fails with its own error. Plus the wiring itself."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tthc_dev.airflow_runner import airflow_env, dags_test, ensure_metadata_db
from tthc.alerts.receivers import LocalReceivers, free_port
from tthc.warehouse.db import fetch_all
from tthc.warehouse.migrate import migrate

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "tthc_source_civil_status"


def test_a_source_dag_with_a_broken_connection_alerts_by_email_and_webhook(tmp_path, make_database):
    url = make_database("alertdag")
    migrate(url)
    sources = tmp_path / "sources"
    sources.mkdir()
    missing = tmp_path / "no-such-folder" / "civil_status.sqlite"
    yaml_text = (PROJECT_ROOT / "sources" / "civil_status.yaml").read_text(encoding="utf-8")
    yaml_text, n = re.subn(r"connection: \{url: \"[^\"]+\"\}", f'connection: {{url: "sqlite:///{missing}"}}', yaml_text)
    assert n == 1
    (sources / "civil_status.yaml").write_text(yaml_text, encoding="utf-8")
    dead_port = free_port()

    with LocalReceivers() as r:
        config = tmp_path / "alerts.yaml"
        config.write_text(textwrap.dedent(f"""\
            settings: {{group_window_minutes: 60, webhook_timeout_seconds: 3}}
            routes:
              - name: operators
                default: true
                emails: ["${{TTHC_ALERT_EMAILS}}"]
                webhooks: ["{r.webhook_url('/teams')}", "http://127.0.0.1:{dead_port}/broken-relay"]
            """), encoding="utf-8")
        env = airflow_env(tmp_path / "airflow", url, extra={
            "TTHC_SOURCES_DIR": str(sources),
            "TTHC_TASK_RETRIES": "0",
            "TTHC_ALERTS_CONFIG": str(config),
            "TTHC_ALERT_EMAILS": "ops@tthc.example.vn",
            "AIRFLOW_CONN_SMTP_DEFAULT": r.smtp_conn_uri,
            "TTHC_AIRFLOW_BASE_URL": "https://airflow.tthc.example.vn",
        })
        ensure_metadata_db(env)
        result = dags_test(DAG_ID, env, "2025-03-01")
        log_text = result.log_path.read_text(errors="replace")
        assert not result.ok, f"the run should fail:\n{log_text[-3000:]}"
        r.wait_for(emails=1, webhooks=1, timeout=20)

        task_mails = [m for m in r.emails if "task failed" in m.subject]
        assert len(task_mails) == 1, [m.subject for m in r.emails]
        mail = task_mails[0]
        assert mail.rcpt_tos == ["ops@tthc.example.vn"]
        assert mail.subject.startswith(f"[TTHC] Lỗi tác vụ / task failed: {DAG_ID}.stage — ")
        body = mail.body
        # `dags test DAG 2025-03-01`: a manual run whose data interval is the daily one ending that day.
        for expected in (f"DAG: {DAG_ID}", "Task: stage (try 1 of 1)", "Run: manual__",
                         "Data interval: 2025-02-28T00:00:00+07:00 → 2025-03-01T00:00:00+07:00",
                         "Source: civil_status — Sổ hộ tịch", "SourceUnreadable: source civil_status: cannot connect to "
                         f"sqlite:///{missing}: unable to open database file", "tthc/sources/extract.py",
                         f'href="https://airflow.tthc.example.vn/dags/{DAG_ID}/runs/manual__',
                         "/tasks/stage?try_number=1", "retries exhausted",
                         f"airflow tasks clear {DAG_ID} --task-regex &#x27;^stage$&#x27; "
                         "--start-date 2025-02-28T00:00:00+07:00",
                         f"airflow backfill create --dag-id {DAG_ID} --from-date 2025-02-28T00:00:00+07:00",
                         "FROM ops.quarantine WHERE source = &#x27;civil_status&#x27;"):
            assert expected in body, f"{expected!r} missing from:\n{body}"
        hooks = [w for w in r.webhooks if w.json.get("kind") == "task_failure"]
        assert len(hooks) == 1 and hooks[0].path == "/teams"
        doc = hooks[0].json
        assert (doc["dag_id"], doc["task_id"], doc["source"]) == (DAG_ID, "stage", "civil_status")
        assert doc["run_id"].startswith("manual__") and "unable to open database file" in doc["text"]
        dag_mails = [m for m in r.emails if "DAG run failed" in m.subject]

    # The original failure is what the task reports; the broken relay is logged beside it.
    assert "unable to open database file" in log_text
    assert re.search(r"alert webhook http://127\.0\.0\.1:\d+/… failed: ConnectionRefusedError", log_text), \
        log_text[-4000:]
    rows = fetch_all(url, """SELECT kind, task_id, status, channels FROM ops.alert_log
                             WHERE kind = 'task_failure' ORDER BY alert_id""")
    assert len(rows) == 1
    kind, task_id, status, channels = rows[0]
    assert (kind, task_id, status) == ("task_failure", "stage", "partial")
    assert [(c["channel"], c["ok"]) for c in channels] == [("email", True), ("webhook", True), ("webhook", False)]
    # The DAG-level callback runs in the scheduler/DAG processor; under `dags test` it may run too.
    for m in dag_mails:
        assert DAG_ID in m.subject


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    import os

    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_every_dag_and_task_is_wired_to_the_alerts(dagbag):
    from tthc.orchestration import dag_failure_callback, task_failure_callback, task_retry_callback

    assert dagbag.import_errors == {}
    assert {"tthc_ops_monitoring", "tthc_ops_alert_digests"} <= set(dagbag.dags)
    def as_list(cb):
        return cb if isinstance(cb, list) else [cb]

    for dag_id, dag in dagbag.dags.items():
        if dag_id.startswith(("tthc_source_", "tthc_reference", "tthc_inventory", "tthc_ops_")):
            assert dag_failure_callback in as_list(dag.on_failure_callback), f"{dag_id} has no DAG-level failure alert"
        for task in dag.tasks:
            assert task_failure_callback in as_list(task.on_failure_callback), f"{dag_id}.{task.task_id}"
            assert task_retry_callback in as_list(task.on_retry_callback), f"{dag_id}.{task.task_id}"
    source_dag = dagbag.dags[DAG_ID]
    deadlines = source_dag.deadline if isinstance(source_dag.deadline, list) else [source_dag.deadline]
    assert deadlines[0].callback.path == "tthc.alerts.deadlines.on_late_run"
    assert deadlines[0].callback.kwargs["source"] == "civil_status"
    monitoring = dagbag.dags["tthc_ops_monitoring"]
    assert type(monitoring.timetable).__name__ == "CronDataIntervalTimetable"
