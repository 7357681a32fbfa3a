"""One DAG per scan drop zone in drops/*.yaml: list stable files → OCR chunks (mapped, pool) → link.

Adding a drop zone means adding a YAML file; this file never changes. The logic is in
tthc.scans (docs/scans.md). Time-scheduled, so it can be backfilled; every run takes
whatever is new in the drop, and re-running changes nothing.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, dag, get_current_context, task

from tthc.orchestration import DEFAULT_ARGS, TIMEZONE, dag_failure_callback, late_after, late_run_deadline
from tthc.sources.registry import PRESETS


def drop_zones():
    """The valid drop zones of drops/*.yaml (YAML only: cheap at parse time); a broken file is
    reported by dags/tthc_config_check.py and drops only its own DAG."""
    from tthc.scans.config import read_drops

    return read_drops()[0]


def build(zone):
    results = Asset(f"tthc://warehouse/core/result/{zone.source}")

    @dag(
        dag_id=zone.dag_id,
        schedule=CronDataIntervalTimetable(PRESETS.get(zone.schedule, zone.schedule), timezone=TIMEZONE),
        start_date=pendulum.parse(zone.start_date, tz=TIMEZONE),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        on_failure_callback=dag_failure_callback,
        deadline=late_run_deadline("scan", late_after(zone.source), zone.source),
        tags=["tthc", "scan", "ingest", zone.name],
        doc_md=(f"**{zone.description_vi or zone.name}** (`drops/{zone.path.name if zone.path else zone.name}`)\n\n"
                f"Takes stable files from `{zone.location}`, archives them by SHA-256 under `{zone.archive}`, "
                f"reads their text (text layer or Tesseract `{zone.ocr_lang}` in pool `{zone.pool}`), extracts "
                "fields, validates them like the legacy sources and links each scan to its result "
                "(or creates a paper-only result with its code). See docs/scans.md."),
    )
    def scan_drop_dag():
        @task
        def open_batch() -> int:
            from tthc.orchestration import warehouse_url
            from tthc.scans.config import drop_named
            from tthc.scans.intake import open_scan_batch

            ctx = get_current_context()
            return open_scan_batch(drop_named(zone.name), warehouse_url(), ctx["data_interval_start"],
                                   ctx["data_interval_end"], ctx["dag"].dag_id, ctx["run_id"])

        @task
        def list_new_files() -> list[list[dict]]:
            from tthc.orchestration import warehouse_url
            from tthc.scans.config import drop_named
            from tthc.scans.intake import chunks, list_new_files as list_files

            cfg = drop_named(zone.name)
            return chunks(list_files(cfg, warehouse_url()), cfg.chunk_size)

        @task(pool=zone.pool)
        def process_chunk(files: list[dict], batch_id: int) -> dict:
            from tthc.orchestration import warehouse_url
            from tthc.scans.config import drop_named
            from tthc.scans.intake import process_chunk as process

            return process(drop_named(zone.name), warehouse_url(), batch_id, files)

        @task(outlets=[results], trigger_rule="none_failed")
        def finalize(batch_id: int) -> dict:
            from tthc.orchestration import warehouse_url
            from tthc.scans.config import drop_named
            from tthc.scans.intake import finalize as run_finalize

            return run_finalize(drop_named(zone.name), warehouse_url(), batch_id)

        batch_id = open_batch()
        processed = process_chunk.partial(batch_id=batch_id).expand(files=list_new_files())
        processed >> finalize(batch_id)

    return scan_drop_dag()


for _zone in drop_zones():
    globals()[_zone.dag_id] = build(_zone)
