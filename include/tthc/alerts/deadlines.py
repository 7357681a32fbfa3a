"""Late runs: Airflow 3 deadline alerts (the replacement of SLAs) that alert through the same channels.

    deadline=late_run_deadline("source", timedelta(hours=6), source="civil_status")

The deadline is measured from when the run was queued (DeadlineReference.DAGRUN_QUEUED_AT), so
a backfill of an old interval is not "late" the moment it is created. When the run has not
finished by then, the triggerer awaits `on_late_run` (an AsyncCallback), which sends the alert.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from urllib.parse import quote

log = logging.getLogger(__name__)

CALLBACK_PATH = "tthc.alerts.deadlines.on_late_run"


def late_run_deadline(kind: str, interval: dt.timedelta, source: str | None = None):
    """A DeadlineAlert: alert when a run of this DAG has not finished `interval` after it was queued."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    if not isinstance(interval, dt.timedelta) or interval <= dt.timedelta(0):
        raise ValueError(f"late_run_deadline({kind!r}): interval must be a positive timedelta, got {interval!r}")
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(on_late_run, kwargs={"kind": kind, "source": source,
                                                    "interval_seconds": interval.total_seconds()}),
        name=f"tthc_late_{kind}",
    )


async def on_late_run(kind: str, source: str | None = None, interval_seconds: float | None = None,
                      context: dict | None = None) -> str:
    """Deadline callback (runs in the triggerer). Never raises; returns the dispatch status."""
    try:
        alert = late_run_alert(kind, source, interval_seconds, context or {})
        from tthc.alerts.dispatch import dispatch

        result = await asyncio.to_thread(dispatch, alert)
        return result.status
    except Exception:  # noqa: BLE001 - a deadline callback must not crash the triggerer's loop
        log.exception("late-run alert (%s) could not be sent", kind)
        return "error"


def late_run_alert(kind: str, source: str | None, interval_seconds: float | None, context: dict):
    from tthc.alerts.callbacks import _Ctx, _failure_steps, _iso, _source_description, base_url
    from tthc.alerts.config import load_config
    from tthc.alerts.message import Alert

    config = load_config()
    run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    dag_id = run.get("dag_id")
    run_id = run.get("dag_run_id") or run.get("run_id")
    hours = (interval_seconds or 0) / 3600
    start, end = run.get("data_interval_start"), run.get("data_interval_end")
    run_url = f"{base_url(config)}/dags/{dag_id}/runs/{quote(str(run_id), safe='')}"
    what = "snapshot" if kind == "snapshot" else f"{kind} run"
    steps = [f"Open the run and see which task is still running or queued: {run_url}",
             "Check that the scheduler, the workers (Celery) and the triggerer are up, and the source/warehouse answer.",
             "A task stuck on a lock or a slow source: wait, or mark it failed and retry it."]
    steps += _failure_steps(_Ctx(dag_id, None, run_id, start, end, source, config))[1:]
    return Alert(
        kind="late_run", severity="warning",
        title=f"Chạy trễ / late {what}: {dag_id}",
        summary=(f"The {what} {run_id} of {dag_id} has not finished {hours:g} h after it was queued "
                 f"(deadline {_iso(deadline.get('deadline_time'))}; state {run.get('state')})."),
        dag_id=dag_id, run_id=run_id, interval_start=_iso(start), interval_end=_iso(end), source=source,
        source_description=_source_description(source),
        log_url=run_url if dag_id and run_id else None,
        next_steps=steps, details={"deadline": _iso(deadline.get("deadline_time")), "queued_at": _iso(run.get("queued_at"))},
        fingerprint=f"late_run:{dag_id}:{run_id}")
