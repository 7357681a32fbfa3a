"""Declared paper inventory (rà soát, kiểm đếm): load the counts units declared, per
agency, procedure and issue year, from CSV files in TTHC_INVENTORY_DIR. Bad rows go to
ops.quarantine; files are never moved or deleted. Re-running a day changes nothing."""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from tthc.orchestration import DEFAULT_ARGS, TIMEZONE, dag_failure_callback, late_after, late_run_deadline

REFERENCE_DATA = Asset("tthc://warehouse/core/reference")
INVENTORY = Asset("tthc://warehouse/core/inventory_declaration")


@dag(
    dag_id="tthc_inventory_declarations",
    schedule="0 6 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callback,
    deadline=late_run_deadline("inventory", late_after("inventory")),
    tags=["tthc", "inventory", "ingest"],
    doc_md=__doc__,
)
def tthc_inventory_declarations():
    @task
    def list_declaration_files() -> list[str]:
        from tthc.settings import Settings

        settings = Settings.from_env()
        files = sorted(str(p) for p in settings.inventory_dir.glob(settings.inventory_glob))
        print(f"{len(files)} declaration file(s) in {settings.inventory_dir} matching {settings.inventory_glob}")
        return files[:1024]  # max_map_length; more files are picked up by the next run

    @task(outlets=[INVENTORY])
    def load_declaration_file(path: str) -> dict:
        from pathlib import Path

        from tthc.inventory import load_inventory
        from tthc.orchestration import warehouse_url

        return load_inventory(Path(path), warehouse_url())

    load_declaration_file.expand(path=list_declaration_files())


tthc_inventory_declarations()
