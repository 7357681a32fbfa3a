"""The snapshot DAGs: time-scheduled in Vietnam time (backfillable), each run maps to its period."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tthc.progress.snapshot import check_period, period_end, snapshot_for_interval

DAGS = Path(__file__).resolve().parents[1] / "dags"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "tthc_progress_snapshots.py"))
    yield bag
    mp.undo()


def test_dags_import_with_data_interval_timetables(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    assert dagbag.import_errors == {}
    expected = {"tthc_progress_monthly": "0 0 1 * *", "tthc_progress_quarterly": "0 0 1 1,4,7,10 *",
                "tthc_progress_annual": "0 0 14 11 *"}
    for dag_id, cron in expected.items():
        dag = dagbag.dags[dag_id]
        assert isinstance(dag.timetable, CronDataIntervalTimetable), dag_id
        assert dag.timetable.expression == cron
        assert "Asia/Ho_Chi_Minh" in str(getattr(dag.timetable.timezone, "name", dag.timetable.timezone))
        alerts = {"alert_units_behind"} if dag_id != "tthc_progress_monthly" else set()
        assert {t.task_id for t in dag.tasks} == {"take_snapshot", "render_report", "deliver_reports"} | alerts
        # the reports are sent once rendered (the PDF and XLSX are attached), never before
        assert dag.get_task("deliver_reports").upstream_task_ids == {"take_snapshot", "render_report"}
        assert dag.params["force_delivery"] is False
    assert "tthc_progress_inputs" in dagbag.dags


def test_quarter_run_snapshots_the_quarter_that_just_ended(warehouse):
    # The run for Q3 2024 has data interval [2024-07-01, 2024-10-01) local; it fires at 2024-10-01 00:00 +07.
    rep = snapshot_for_interval(warehouse, "quarter", dt.datetime(2024, 10, 1, tzinfo=TZ).astimezone(dt.timezone.utc))
    assert (rep.period_kind, rep.period_end) == ("quarter", dt.date(2024, 9, 30))
    rep = snapshot_for_interval(warehouse, "year", dt.datetime(2024, 11, 14, tzinfo=TZ))
    assert rep.period_end == dt.date(2024, 11, 13)  # annual: the year to date, before the 15/11 deadline


def test_period_checks():
    assert period_end("quarter", dt.date(2024, 5, 5)) == dt.date(2024, 6, 30)
    assert period_end("month", dt.date(2024, 2, 5)) == dt.date(2024, 2, 29)
    with pytest.raises(ValueError, match="not the last day of a quarter; expected 2024-06-30"):
        check_period("quarter", dt.date(2024, 6, 29))
    with pytest.raises(ValueError, match="period kind 'week'"):
        check_period("week", dt.date(2024, 6, 30))


def test_quarterly_dag_runs_end_to_end(warehouse, tmp_path):
    """`airflow dags test` of one quarter: the snapshot lands in the warehouse, the report on disk."""
    from tthc_dev.airflow_runner import airflow_env, dags_test, ensure_metadata_db
    from tthc.warehouse.db import fetch_all

    reports = tmp_path / "reports"
    env = airflow_env(tmp_path / "airflow", warehouse,
                      extra={"TTHC_TASK_RETRIES": "0", "TTHC_REPORTS_DIR": str(reports)})
    ensure_metadata_db(env)
    # Airflow 3 takes the date as the run's moment: the run at 1/10/2024 00:00 local covers the
    # interval [1/7/2024, 1/10/2024), the third quarter, so it snapshots as of 30/9/2024.
    result = dags_test("tthc_progress_quarterly", env, "2024-10-01T00:00:00+07:00")
    assert result.ok, result.log_path.read_text(errors="replace")[-3000:]
    rows = fetch_all(warehouse, """SELECT count(*), min(run_id) FROM mart.progress_snapshot
                                   WHERE period_kind = 'quarter' AND period_end = '2024-09-30'""")[0]
    assert rows[0] >= 154 + 10 and rows[1]  # the Airflow run_id is recorded
    folder = reports / "quarter-2024-09-30"
    assert sorted(p.suffix for p in folder.iterdir()) == [".html", ".pdf", ".xlsx"]  # history: no screenshot
    # a past quarter run today catches up on history: it renders but e-mails nobody
    assert fetch_all(warehouse, "SELECT count(*) FROM ops.report_delivery") == [(0,)]
