"""Reference data: warehouse migrations, administrative units and the 2025 crosswalk
(vietnam-provinces), agencies, procedure catalog and plans (versioned seeds)."""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from tthc.orchestration import DEFAULT_ARGS, TIMEZONE, dag_failure_callback

REFERENCE_DATA = Asset("tthc://warehouse/core/reference")


@dag(
    dag_id="tthc_reference_data",
    schedule=None,  # run on deploy and when seeds change; downstream DAGs listen to the asset
    start_date=pendulum.datetime(2025, 1, 1, tz=TIMEZONE),
    catchup=False,
    default_args=DEFAULT_ARGS,
    on_failure_callback=dag_failure_callback,
    tags=["tthc", "reference", "warehouse"],
    doc_md=__doc__,
)
def tthc_reference_data():
    @task
    def migrate_warehouse() -> list[str]:
        from tthc.orchestration import warehouse_url
        from tthc.warehouse.migrate import migrate

        return migrate(warehouse_url())

    @task(outlets=[REFERENCE_DATA])
    def load_reference_data() -> dict[str, int]:
        from tthc.orchestration import warehouse_url
        from tthc.reference.load import load_reference

        return load_reference(warehouse_url())

    @task
    def check_reference_data() -> dict[str, int]:
        from tthc.orchestration import warehouse_url
        from tthc.reference.checks import check_reference

        return check_reference(warehouse_url())

    migrate_warehouse() >> load_reference_data() >> check_reference_data()


tthc_reference_data()
