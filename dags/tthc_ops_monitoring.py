"""Pipeline monitoring: alert on sources that sent nothing new for too long (stale), and send the
digests of grouped alerts whose window has ended. Routes and limits: config/alerts.yaml;
runbook: docs/alerts.md."""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

from tthc.orchestration import DEFAULT_ARGS, TIMEZONE, dag_failure_callback


@dag(
    dag_id="tthc_ops_monitoring",
    schedule=CronDataIntervalTimetable("0 7 * * *", timezone=TIMEZONE),  # daily, before office hours
    start_date=pendulum.datetime(2025, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callback,
    tags=["tthc", "ops", "monitoring", "alerts"],
    doc_md=__doc__,
)
def tthc_ops_monitoring():
    @task
    def check_stale_sources() -> list[dict]:
        from tthc.alerts.monitoring import alert_stale_sources
        from tthc.orchestration import warehouse_url

        return alert_stale_sources(warehouse_url())

    @task
    def send_alert_digests() -> int:
        from tthc.alerts.dispatch import flush_digests
        from tthc.orchestration import warehouse_url

        return flush_digests(warehouse_url())

    check_stale_sources() >> send_alert_digests()


@dag(
    dag_id="tthc_ops_alert_digests",
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2025, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callback,
    tags=["tthc", "ops", "alerts"],
    doc_md="Every 15 minutes: send one digest per storm of identical alerts whose grouping window has ended "
           "(ops.alert_group → ops.alert_log). See docs/alerts.md.",
)
def tthc_ops_alert_digests():
    @task
    def send_alert_digests() -> int:
        from tthc.alerts.dispatch import flush_digests
        from tthc.orchestration import warehouse_url

        return flush_digests(warehouse_url())

    send_alert_digests()


tthc_ops_monitoring()
tthc_ops_alert_digests()
