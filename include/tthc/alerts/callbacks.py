"""Airflow callbacks: task failure (after the last retry), task retry, DAG run failure.

Wired through tthc.orchestration (DEFAULT_ARGS and the DAGs' on_failure_callback). A callback
never raises: an alerting problem is logged (and recorded in ops.alert_log when possible) and
the task keeps its own failure and error.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tthc.alerts.config import AlertConfig, load_config
from tthc.alerts.message import Alert, first_line
from tthc.settings import LOCAL_TZ, settings

log = logging.getLogger(__name__)


def task_failure_callback(context: dict) -> None:
    """on_failure_callback of every task: runs once the task has failed for good (retries exhausted)."""
    _guarded("task failure", lambda: _dispatch(alert_from_task_context(context)))


def task_retry_callback(context: dict) -> None:
    """on_retry_callback: recorded in ops.alert_log; sent only when settings.notify_on_retry is true."""
    def run():
        config = load_config()
        alert = alert_from_task_context(context, kind="task_retry", config=config)
        if config.setting("notify_on_retry"):
            _dispatch(alert, config)
        else:
            from tthc.alerts.dispatch import _record, _warehouse_url

            _record(_warehouse_url(), alert, "recorded", (), [], config)
    _guarded("task retry", run)


def dag_failure_callback(context: dict) -> None:
    """DAG-level on_failure_callback: the run failed (the task alerts carry the errors)."""
    def run():
        config = load_config()
        if config.setting("notify_dag_failures"):
            _dispatch(alert_from_dag_context(context, config), config)
    _guarded("DAG failure", run)


def _guarded(what: str, fn) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - never mask the failure being reported
        log.exception("the %s alert could not be built or sent; the original failure stands", what)


def _dispatch(alert: Alert, config: AlertConfig | None = None) -> None:
    from tthc.alerts.dispatch import dispatch

    result = dispatch(alert, config=config)
    log.info("alert %r: %s (%s)", alert.title, result.status,
             ", ".join(f"{d.channel} {'ok' if d.ok else 'FAILED'}" for d in result.deliveries) or "no delivery")


# --- building the message ----------------------------------------------------------------


def alert_from_task_context(context: dict, kind: str = "task_failure", config: AlertConfig | None = None) -> Alert:
    config = config or load_config()
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None)
    task_id = getattr(ti, "task_id", None)
    run_id = getattr(ti, "run_id", None) or context.get("run_id") or getattr(dag_run, "run_id", None)
    map_index = getattr(ti, "map_index", None)
    try_number = getattr(ti, "try_number", None)
    max_tries = getattr(ti, "max_tries", None)
    start = context.get("data_interval_start") or getattr(dag_run, "data_interval_start", None)
    end = context.get("data_interval_end") or getattr(dag_run, "data_interval_end", None)
    tags = sorted(getattr(dag, "tags", None) or [])
    exc = context.get("exception")
    fields = dict(getattr(exc, "alert_fields", None) or {})
    source = fields.pop("source", None) or getattr(exc, "source", None) or source_of(dag_id, tags)
    unit = fields.pop("unit_code", None) or getattr(exc, "unit_code", None)
    error_class = type(exc).__name__ if isinstance(exc, BaseException) else (None if exc is None else "Error")
    message = str(exc) if exc is not None else ""
    data_kind = getattr(exc, "alert_kind", None) == "data_quality" and kind == "task_failure"
    if data_kind:
        kind = "data_quality"
    ctx = _Ctx(dag_id, task_id, run_id, start, end, source, config)
    if kind == "data_quality":
        details = _data_details(fields, config)
        title = f"Dữ liệu lỗi vượt ngưỡng / data quality: {source} batch {details.get('batch_id')}"
        summary = (f"Great Expectations rejected {details.get('failed_rows')} of {details.get('evaluated_rows')} rows of "
                   f"source {source}, above its threshold; {details.get('quarantine_count')} row(s) are in "
                   f"ops.quarantine. The valid rows were loaded; the task {dag_id}.{task_id} failed.")
        steps = _data_steps(ctx, details)
    else:
        details = {k: v for k, v in fields.items() if v is not None}
        what = "retrying" if kind == "task_retry" else "failed"
        title = f"{'Tác vụ thử lại' if kind == 'task_retry' else 'Lỗi tác vụ'} / task {what}: {dag_id}.{task_id}"
        title += f" — {error_class}" if error_class else ""
        summary = (f"Task {task_id} of DAG {dag_id} {what}"
                   + (" and will be retried." if kind == "task_retry" else
                      f" after {try_number} tr{'y' if try_number == 1 else 'ies'} (retries exhausted).")
                   + (f" {first_line(message)}" if message else ""))
        steps = _failure_steps(ctx)
    return Alert(
        kind=kind, title=title, summary=summary, severity="warning" if kind == "task_retry" else "error",
        dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, try_number=try_number,
        max_tries=max_tries, interval_start=_iso(start), interval_end=_iso(end), error_class=error_class,
        error_message=message[:4000], error_lines=_last_lines(exc, int(config.setting("error_lines"))),
        log_url=log_url(dag_id, run_id, task_id, map_index, try_number, config), source=source,
        source_description=_source_description(source), unit_code=unit, tags=tags, next_steps=steps,
        details=details)


def alert_from_dag_context(context: dict, config: AlertConfig | None = None) -> Alert:
    config = config or load_config()
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    dag_id = getattr(dag_run, "dag_id", None) or getattr(dag, "dag_id", None)
    run_id = getattr(dag_run, "run_id", None) or context.get("run_id")
    start = getattr(dag_run, "data_interval_start", None)
    end = getattr(dag_run, "data_interval_end", None)
    tags = sorted(getattr(dag, "tags", None) or [])
    reason = str(context.get("reason") or "one or more tasks failed")
    failed = []
    try:
        failed = [ti.task_id for ti in dag_run.get_task_instances(state=["failed", "upstream_failed"])]
    except Exception:  # noqa: BLE001 - not available everywhere; the reason is enough
        pass
    source = source_of(dag_id, tags)
    ctx = _Ctx(dag_id, None, run_id, start, end, source, config)
    base = base_url(config)
    return Alert(
        kind="dag_failure", title=f"Lần chạy thất bại / DAG run failed: {dag_id}",
        summary=f"DAG run {run_id} of {dag_id} failed: {reason}." + (f" Failed tasks: {', '.join(failed)}." if failed else "")
                + " Each failed task sent its own alert with its error.",
        dag_id=dag_id, run_id=run_id, interval_start=_iso(start), interval_end=_iso(end),
        error_class="DagRunFailed", error_message=reason,
        log_url=f"{base}/dags/{dag_id}/runs/{quote(str(run_id), safe='')}" if run_id else None,
        source=source, source_description=_source_description(source), tags=tags,
        next_steps=_failure_steps(ctx), details={"failed_tasks": ", ".join(failed)} if failed else {})


class _Ctx:
    def __init__(self, dag_id, task_id, run_id, start, end, source, config):
        self.dag_id, self.task_id, self.run_id, self.source, self.config = dag_id, task_id, run_id, source, config
        self.start, self.end = start, end

    @property
    def day(self) -> str | None:
        """The run's logical date (= interval start) as the CLI takes it, with its offset: a bare date
        would be read in the server's default timezone and could miss the run."""
        return _local(self.start).isoformat(timespec="seconds") if self.start else None

    @property
    def periodic(self) -> bool:
        return bool(self.start and self.end and self.start != self.end)


def _failure_steps(c: _Ctx) -> list[str]:
    steps = ["Read the last lines above and the full log at the link; fix the cause (connection, file, data, code)."]
    regex = f" --task-regex '^{c.task_id}$'" if c.task_id else ""
    if c.day:
        steps.append(f"Retry the failed task(s) of this run: airflow tasks clear {c.dag_id}{regex} "
                     f"--start-date {c.day} --end-date {c.day} --only-failed --yes")
    else:
        steps.append(f"Retry: clear the failed task(s) of run {c.run_id} in the Airflow UI, or trigger the DAG again: "
                     f"airflow dags trigger {c.dag_id}")
    if c.periodic:
        steps.append(f"If several intervals failed, re-run them all: airflow backfill create --dag-id {c.dag_id} "
                     f"--from-date {c.day} --to-date <last failed date> --reprocess-behavior failed")
    if c.source:
        steps.append("Check the rows this source rejected: SELECT stage, reason, count(*) FROM ops.quarantine "
                     f"WHERE source = '{c.source}' AND resolved_at IS NULL GROUP BY 1, 2 ORDER BY 3 DESC;")
    steps.append("Runbook: docs/alerts.md (\"An alert arrived: what now\").")
    return steps


def _data_steps(c: _Ctx, details: dict) -> list[str]:
    batch = details.get("batch_id")
    steps = [f"See what was rejected and why: SELECT reason, count(*) FROM ops.quarantine WHERE batch_id = {batch} "
             "AND resolved_at IS NULL GROUP BY 1 ORDER BY 2 DESC;"]
    if details.get("data_docs_url"):
        steps.append(f"Open the Great Expectations Data Docs: {details['data_docs_url']}")
    steps.append("The valid rows are already loaded. Fix the source data (or a wrong expectation in expectations/), "
                 + (f"then re-run the interval: airflow tasks clear {c.dag_id} --start-date {c.day} --end-date {c.day} "
                    "--only-failed --yes" if c.day else "then re-run the batch"))
    steps.append("If the rejections are accepted as they are, record it: UPDATE ops.quarantine SET resolved_at = now(), "
                 f"resolution = 'accepted: <why>' WHERE batch_id = {batch} AND resolved_at IS NULL;")
    steps.append("Runbook: docs/alerts.md (\"An alert arrived: what now\").")
    return steps


def _data_details(fields: dict, config: AlertConfig) -> dict:
    details = {k: v for k, v in fields.items() if v is not None}
    if details.get("threshold") is not None:
        details["threshold"] = f"{100 * float(details['threshold']):.0f}%"
    docs = details.pop("data_docs", None)
    url = data_docs_url(docs, config)
    if url:
        details["data_docs_url"] = url
    return details


def data_docs_url(path: str | None, config: AlertConfig) -> str | None:
    """settings.data_docs_base_url + the page inside the site when the site is served; else a file:// URL."""
    base = str(config.setting("data_docs_base_url") or "").rstrip("/")
    if not path and not base:
        return None
    if base:
        name = "index.html"
        if path:
            try:
                from tthc.validation import default_data_docs_dir

                name = Path(path).resolve().relative_to(default_data_docs_dir()).as_posix()
            except (ValueError, ImportError):
                name = Path(path).name
        return f"{base}/{name}"
    return Path(path).resolve().as_uri()


def log_url(dag_id, run_id, task_id, map_index, try_number, config: AlertConfig) -> str | None:
    """The Airflow 3 UI page of the task instance's log (same path as TaskInstance.log_url)."""
    if not (dag_id and run_id and task_id):
        return None
    base = base_url(config)
    mapped = f"/mapped/{map_index}" if map_index is not None and map_index >= 0 else ""
    tries = f"?try_number={try_number}" if try_number else ""
    return f"{base}/dags/{dag_id}/runs/{quote(str(run_id), safe='')}/tasks/{task_id}{mapped}{tries}"


def base_url(config: AlertConfig) -> str:
    """TTHC_AIRFLOW_BASE_URL, else AIRFLOW__API__BASE_URL, else settings.airflow_base_url."""
    return (settings().airflow_base_url or str(config.setting("airflow_base_url"))).rstrip("/")


def source_of(dag_id: str | None, tags: list[str] | None = None) -> str | None:
    """tthc_source_<name> → <name>; tthc_scan_drop_<zone> → scan.<zone> (the ops.batch naming)."""
    if not dag_id:
        return None
    if dag_id.startswith("tthc_source_"):
        return dag_id[len("tthc_source_"):]
    if dag_id.startswith("tthc_scan_drop_"):
        return "scan." + dag_id[len("tthc_scan_drop_"):]
    return None


def _source_description(source: str | None) -> str | None:
    if not source or source.startswith(("scan.", "scan:")):
        return None
    try:
        from tthc.sources.config import source_named

        return source_named(source).description_vi or None
    except Exception:  # noqa: BLE001 - the description is a nicety; the source may be the broken part
        return None


def _last_lines(exc, n: int) -> list[str]:
    if not isinstance(exc, BaseException):
        return [str(exc)] if exc else []
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    lines = [ln for ln in text.rstrip().splitlines() if ln.strip()]
    return lines[-n:]


def _local(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(LOCAL_TZ)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return _local(value).isoformat(timespec="seconds")
    except Exception:  # noqa: BLE001
        return str(value)
