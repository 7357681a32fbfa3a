"""One DAG per legacy source in sources/*.yaml, per data interval: stage → validate → plan →
load_chunk (mapped: one task per chunk, spread over the workers) → close → check_signed_copies.

Adding a source means adding a YAML file; this file never changes. Backfill with
`airflow backfill create --dag-id tthc_source_<name> --from-date … --to-date … --max-active-runs 1`.
"""

from __future__ import annotations

from airflow.sdk import Asset, CronDataIntervalTimetable, dag, get_current_context, task

from tthc.orchestration import DEFAULT_ARGS, TIMEZONE, dag_failure_callback, late_after, late_run_deadline
from tthc.sources.registry import source_dag_specs


def build(spec):
    results = Asset(f"tthc://warehouse/core/result/{spec.source}")

    @dag(
        dag_id=spec.dag_id,
        schedule=CronDataIntervalTimetable(spec.cron, timezone=TIMEZONE),
        start_date=spec.start_date,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        on_failure_callback=dag_failure_callback,
        deadline=late_run_deadline("source", late_after(spec.source), spec.source),  # alerts: docs/alerts.md
        tags=["tthc", "source", "ingest", spec.source],
        doc_md=spec.doc_md,
    )
    def source_dag():
        if spec.kind == "exclusion":
            @task(outlets=[results])
            def load_exclusions() -> dict:
                from tthc.orchestration import warehouse_url
                from tthc.sources.config import source_named
                from tthc.sources.exclusions import load_exclusions as load

                cfg = source_named(spec.source)
                return load(cfg, warehouse_url())

            load_exclusions()
            return

        @task
        def stage() -> int:
            from tthc.orchestration import warehouse_url
            from tthc.sources.config import source_named
            from tthc.sources.pipeline import stage_batch

            ctx = get_current_context()
            cfg = source_named(spec.source)
            return stage_batch(cfg, warehouse_url(), ctx["data_interval_start"], ctx["data_interval_end"],
                               ctx["dag"].dag_id, ctx["run_id"])

        @task
        def validate(batch_id: int) -> dict:
            from tthc.orchestration import warehouse_url
            from tthc.sources.config import source_named
            from tthc.sources.pipeline import validate_and_quarantine

            cfg = source_named(spec.source)
            return validate_and_quarantine(cfg, warehouse_url(), batch_id)

        @task
        def plan(batch_id: int) -> list[dict]:
            from tthc.orchestration import warehouse_url
            from tthc.sources.config import source_named
            from tthc.sources.pipeline import plan_chunks

            cfg = source_named(spec.source)
            return [{"batch_id": batch_id, "lo": lo, "hi": hi} for lo, hi in plan_chunks(cfg, warehouse_url(), batch_id)]

        @task
        def load_chunk(chunk: dict) -> dict:
            from tthc.orchestration import warehouse_url
            from tthc.sources.pipeline import load_chunk as load

            return load(warehouse_url(), chunk["batch_id"], chunk["lo"], chunk["hi"])

        # An interval with nothing new maps zero chunks (load_chunk skipped): the batch still closes.
        @task(trigger_rule="none_failed")
        def close(batch_id: int, chunk_totals: list[dict]) -> dict:
            import dataclasses

            from tthc.load import LoadTotals
            from tthc.orchestration import warehouse_url
            from tthc.sources.config import source_named
            from tthc.sources.pipeline import close_and_report

            totals = LoadTotals()
            for t in chunk_totals:
                totals.add(t["results_new"], t["rows_loaded"], t["rows_already_known"])
            cfg = source_named(spec.source)
            return dataclasses.asdict(close_and_report(cfg, warehouse_url(), batch_id, totals))

        @task(outlets=[results])
        def check_signed_copies() -> dict:
            from tthc.born_digital import check_e_copies
            from tthc.orchestration import warehouse_url

            return check_e_copies(warehouse_url(), source=spec.source)

        batch_id = stage()
        chunks = plan(batch_id)
        validate(batch_id) >> chunks
        close(batch_id, load_chunk.expand(chunk=chunks)) >> check_signed_copies()

    return source_dag()


for _spec in source_dag_specs():
    globals()[_spec.dag_id] = build(_spec)
