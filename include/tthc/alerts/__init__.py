"""Alerts to operators and officials: task/DAG failures, data-quality failures, stale sources,
late runs (deadline alerts) and units behind their digitization target.

Email through the Airflow SMTP provider, webhooks as generic JSON; routes in config/alerts.yaml;
identical alerts grouped through ops.alert_group; every alert recorded in ops.alert_log.
See docs/alerts.md. Importing this package loads neither Airflow nor the warehouse driver.
"""

from __future__ import annotations

__all__ = ["task_failure_callback", "task_retry_callback", "dag_failure_callback", "flush_digests",
           "notify_units_behind", "alert_stale_sources", "Alert"]


def __getattr__(name: str):
    # Lazy: DAG files import tthc.orchestration, which must stay cheap at parse time.
    if name in ("task_failure_callback", "task_retry_callback", "dag_failure_callback"):
        from tthc.alerts import callbacks

        return getattr(callbacks, name)
    if name == "flush_digests":  # (the function dispatch is tthc.alerts.dispatch.dispatch: same name as its module)
        from tthc.alerts.dispatch import flush_digests

        return flush_digests
    if name in ("notify_units_behind", "alert_stale_sources"):
        from tthc.alerts import monitoring

        return getattr(monitoring, name)
    if name == "Alert":
        from tthc.alerts.message import Alert

        return Alert
    raise AttributeError(name)
