"""Developer tooling, kept apart from the product package ``tthc``.

The demo (``tthc_dev.demo``), its data generator (``tthc_dev.demo_data``), the runner that
executes DAGs with ``airflow dags test`` (``tthc_dev.airflow_runner``), the local Airflow UI
(``tthc_dev.airflow_local``) and the local Celery cluster supervisor (``tthc_dev.airflow_cluster``).
Production code and DAGs never import this package.
"""
