"""Digitization progress snapshots: monthly, quarterly and annual.

Each run computes the progress AS OF its period's last day (mart.progress_as_of) from when
every result was recorded and digitized, writes immutable rows to mart.progress_snapshot
(replacing that period only, atomically), renders the officials' report (HTML, PNG, PDF,
XLSX) into TTHC_REPORTS_DIR/<period>/ and e-mails it (PDF + XLSX) to the recipients of
config/reports.yaml, recording each sending in ops.report_delivery (once per audience and period;
trigger with params {"force_delivery": true} to send again). Backfilled runs send nothing. Time-scheduled with CronDataIntervalTimetable in
the local time zone (TIMEZONE), so past periods can be backfilled:

    airflow backfill create --dag-id tthc_progress_quarterly --from-date 2023-01-01 --to-date 2025-01-01

The annual run is on 14 November (the plans' due date is 15 November) and covers the year to
date (as of 13 November). tthc_progress_inputs loads the other indicators' inputs (dossiers,
one-stop offices) daily. See docs/progress.md."""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, get_current_context, task

from tthc.orchestration import DEFAULT_ARGS, TIMEZONE, dag_failure_callback, late_after, late_run_deadline

SNAPSHOTS = Asset("tthc://warehouse/mart/progress_snapshot")
INPUTS = Asset("tthc://warehouse/core/dossier")

SCHEDULES = {
    # kind: (cron in local time, first period covered)
    "month": ("0 0 1 * *", pendulum.datetime(2022, 1, 1, tz=TIMEZONE)),
    "quarter": ("0 0 1 1,4,7,10 *", pendulum.datetime(2022, 1, 1, tz=TIMEZONE)),
    "year": ("0 0 14 11 *", pendulum.datetime(2021, 11, 14, tz=TIMEZONE)),
}
NAMES = {"month": "monthly", "quarter": "quarterly", "year": "annual"}


# A run more than a period after its interval ended catches up on history (a backfill, or runs
# taken by hand for past periods): it snapshots and renders, but sends nothing to anyone.
CATCH_UP_AFTER_DAYS = {"month": 31, "quarter": 92, "year": 366}


def _catching_up(ctx) -> bool:
    if ctx["dag_run"].run_type == "backfill":
        return True
    kind = next(k for k, name in NAMES.items() if ctx["dag"].dag_id.endswith(name))
    return (pendulum.now("UTC") - ctx["data_interval_end"]).in_days() > CATCH_UP_AFTER_DAYS[kind]


def _snapshot_dag(kind: str):
    cron, start = SCHEDULES[kind]

    @dag(
        dag_id=f"tthc_progress_{NAMES[kind]}",
        schedule=CronDataIntervalTimetable(cron, timezone=TIMEZONE),
        start_date=start,
        catchup=False,
        max_active_runs=4,
        default_args=DEFAULT_ARGS,
        on_failure_callback=dag_failure_callback,
        deadline=late_run_deadline("snapshot", late_after("snapshot")),
        tags=["tthc", "progress", "report"],
        doc_md=__doc__,
        params={"force_delivery": Param(False, type="boolean",
                                        description="send the reports again to recipients already served")},
    )
    def progress_dag():
        @task(outlets=[SNAPSHOTS])
        def take_snapshot() -> dict:
            from tthc.orchestration import warehouse_url
            from tthc.progress.snapshot import snapshot_for_interval

            ctx = get_current_context()
            report = snapshot_for_interval(warehouse_url(), kind, ctx["data_interval_end"], ctx["run_id"])
            return {"period_kind": report.period_kind, "period_end": report.period_end.isoformat(),
                    "rows": report.rows, "indicator_rows": report.indicator_rows}

        @task
        def render_report(snap: dict) -> dict:
            import datetime as dt

            from tthc.orchestration import warehouse_url
            from tthc.progress.reports import write_report

            # catching up on history: the printable PDF and the XLSX, no screenshot (two Chromium runs less)
            paths = write_report(warehouse_url(), snap["period_kind"], dt.date.fromisoformat(snap["period_end"]),
                                 png=not _catching_up(get_current_context()), pdf=True)
            return {k: str(v) for k, v in paths.items()}

        @task
        def deliver_reports(snap: dict, _rendered: dict) -> list[dict]:
            import datetime as dt

            from tthc.orchestration import warehouse_url
            from tthc.progress.delivery import deliver_reports as deliver

            ctx = get_current_context()
            if _catching_up(ctx):
                return []  # past periods: the reports were due then; nothing is e-mailed now
            return deliver(warehouse_url(), snap["period_kind"], dt.date.fromisoformat(snap["period_end"]),
                           force=bool(ctx["params"].get("force_delivery")), run_id=ctx["run_id"])

        @task
        def alert_units_behind(snap: dict) -> int:
            import datetime as dt

            from tthc.alerts import notify_units_behind
            from tthc.orchestration import warehouse_url

            if _catching_up(get_current_context()):
                return 0  # past periods: no messages to units
            return notify_units_behind(warehouse_url(), snap["period_kind"], dt.date.fromisoformat(snap["period_end"]))

        snap = take_snapshot()
        deliver_reports(snap, render_report(snap))
        if kind in ("quarter", "year"):
            alert_units_behind(snap)

    return progress_dag()


tthc_progress_monthly = _snapshot_dag("month")
tthc_progress_quarterly = _snapshot_dag("quarter")
tthc_progress_annual = _snapshot_dag("year")


@dag(
    dag_id="tthc_progress_inputs",
    schedule="30 5 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callback,
    tags=["tthc", "progress", "ingest"],
    doc_md=__doc__,
)
def tthc_progress_inputs():
    @task(outlets=[INPUTS])
    def load_dossiers() -> dict:
        from tthc.orchestration import warehouse_url
        from tthc.progress.inputs import load_input

        return load_input("dossiers", warehouse_url())

    @task
    def load_one_stop_offices() -> dict:
        from tthc.orchestration import warehouse_url
        from tthc.progress.inputs import load_input

        return load_input("one_stop_offices", warehouse_url())

    load_dossiers()
    load_one_stop_offices()


tthc_progress_inputs()
