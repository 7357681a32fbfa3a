"""What DAG files share: default arguments and how a task finds the warehouse.

Kept in the package so DAG files stay thin and this stays testable without a scheduler.
"""

from __future__ import annotations

import datetime as dt

# DAG files find the warehouse through here; the lookup itself lives with the warehouse code.
from tthc.settings import TIMEZONE, settings  # noqa: F401 - TIMEZONE: the DAG files' time zone
from tthc.warehouse.server import connection_url, warehouse_url  # noqa: F401

OWNER = "tthc-data"


def task_failure_callback(context) -> None:
    """Email + webhook alert once a task has failed for good (after its last retry). Never raises."""
    from tthc.alerts.callbacks import task_failure_callback as callback

    callback(context)


def task_retry_callback(context) -> None:
    """A retry is recorded in ops.alert_log (sent only with settings.notify_on_retry). Never raises."""
    from tthc.alerts.callbacks import task_retry_callback as callback

    callback(context)


def dag_failure_callback(context) -> None:
    """DAG-level on_failure_callback: the run failed. Never raises."""
    from tthc.alerts.callbacks import dag_failure_callback as callback

    callback(context)


def late_run_deadline(kind: str, interval: dt.timedelta, source: str | None = None):
    """Deadline alert (Airflow 3's replacement of SLAs) sending through the alert channels.

    TTHC_DEADLINE_ALERTS=off leaves it out: `airflow dags test` (the demo) crashes on deadline
    alerts in Airflow 3.3.2 after the tasks succeed; tthc_dev.airflow_runner.dags_test sets it.
    """
    if not settings().deadline_alerts:
        return None
    from tthc.alerts.deadlines import late_run_deadline as deadline

    return deadline(kind, interval, source)


def late_after(key: str | None = None) -> dt.timedelta:
    """config/alerts.yaml late_after_hours for a DAG kind or source (default 6 h); never raises."""
    from tthc.alerts.config import late_after as lookup

    return lookup(key)


# TTHC_TASK_RETRIES lets the demo and tests fail fast (0); production keeps the default.
# The callbacks are module functions (thin wrappers): alert code loads only when a callback fires.
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": settings().task_retries,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
    "on_failure_callback": task_failure_callback,
    "on_retry_callback": task_retry_callback,
}
