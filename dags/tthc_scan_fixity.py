"""Weekly fixity check: re-hash every archived scan and compare with the SHA-256 taken at intake.

Writes ops.fixity_check and a 'fixity_checked' event per document; a mismatch or a missing
archive file makes the task fail loudly (operators get the failure alert).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

from tthc.orchestration import DEFAULT_ARGS, TIMEZONE, dag_failure_callback


@dag(
    dag_id="tthc_scan_fixity",
    schedule=CronDataIntervalTimetable("0 2 * * 0", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callback,
    tags=["tthc", "scan", "fixity"],
    doc_md="Re-verifies the SHA-256 of every archived scan (`core.document.archive_uri`). See docs/scans.md.",
)
def tthc_scan_fixity():
    @task
    def check_fixity() -> dict:
        from tthc.orchestration import warehouse_url
        from tthc.scans.config import load_drops
        from tthc.scans.fixity import fixity_check

        return fixity_check(warehouse_url(), load_drops())

    check_fixity()


tthc_scan_fixity()
