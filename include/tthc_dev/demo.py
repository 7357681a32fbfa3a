"""The demo: warehouse → demo data → every DAG through Airflow → summary.

`make demo` runs this. Without WAREHOUSE_URL it starts the embedded PostgreSQL under
.local/pgdata. Airflow's metadata is SQLite under .local/airflow. Running it again
regenerates the same data (same seed) and leaves the same warehouse state.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time

from tthc_dev.airflow_runner import airflow_env, dags_test_many, list_dag_ids, prepare_metadata
from tthc.settings import Settings
from tthc.summary import render_summary
from tthc.warehouse.server import ensure_database, resolve_warehouse_url, with_database

log = logging.getLogger("tthc_dev.demo")

# The demo runs every DAG in dags/ in data-flow order: reference data and declarations, then
# the legacy sources, then scan drops (they link to source results), then checks and the
# progress snapshots (they count what came before), then monitoring. Unknown DAGs run
# between the scan drops and the snapshots, by name.
DAG_STAGES = ["tthc_reference_data", "tthc_inventory_declarations", "tthc_source_", "tthc_scan_drop_", "*",
              "tthc_scan_fixity", "tthc_progress_inputs", "tthc_progress_", "tthc_ops_"]


def permits_database(warehouse_url: str) -> str:
    """The demo's construction-permit legacy DB sits next to the warehouse: '<warehouse db>_permits'."""
    from sqlalchemy.engine import make_url

    return f"{make_url(warehouse_url).database}_permits"


def ordered(dag_ids: list[str]) -> list[str]:
    def stage(dag_id: str) -> int:
        matches = [p for p in DAG_STAGES if p != "*" and dag_id.startswith(p)]
        return DAG_STAGES.index(max(matches, key=len)) if matches else DAG_STAGES.index("*")

    return sorted(dag_ids, key=lambda d: (stage(d), d))


HISTORY_YEARS = (2022, 2023, 2024, 2025)


def with_quarterly_history(dag_ids: list[str], years: tuple[int, ...] = HISTORY_YEARS) -> list[str]:
    """Put the quarterly snapshot runs of the plan period just before the quarterly DAG's own run:
    a run at 00:00 local on the first day of a quarter snapshots the quarter that just ended."""
    dag = "tthc_progress_quarterly"
    if dag not in dag_ids:
        return dag_ids
    boundaries = [dt.date(y, m, 1) for y in years for m in (4, 7, 10)] + [dt.date(y + 1, 1, 1) for y in years]
    runs = [f"{dag}@{d.isoformat()}T00:00:00+07:00" for d in sorted(boundaries)]
    i = dag_ids.index(dag)
    return dag_ids[:i] + runs + dag_ids[i:]


def demo_airflow_env(settings: Settings, url: str, permits_url: str | None = None,
                     extra: dict[str, str] | None = None) -> dict[str, str]:
    """The demo's Airflow environment (home .local/airflow, SQLite metadata), also written to its
    airflow.cfg; `tthc airflow up` serves the UI on the same one."""
    permits_url = permits_url or with_database(url, permits_database(url))
    return airflow_env(settings.local_dir / "airflow", url, extra={
        "TTHC_DEMO_DATA_DIR": str(settings.demo_data_dir),
        "TTHC_INVENTORY_DIR": str(settings.inventory_dir),
        # config/progress_inputs.yaml: the generator writes the one-stop exports here
        "TTHC_PROGRESS_INPUTS_DIR": str(settings.demo_data_dir),
        "TTHC_TASK_RETRIES": "0",  # fail fast in the demo instead of waiting for retry delays
        "TTHC_PERMITS_URL": permits_url,
        "TTHC_PERMITS_SCHEMA": "xaydung",
        # The generator has finished writing the scan drop: every file is stable at once.
        "TTHC_SCAN_MIN_AGE_SECONDS": "0",
        **(extra or {}),
    })


def run_demo(seed: int | None = None, size: int | None = None) -> int:
    settings = Settings.from_env()
    seed = settings.demo_seed if seed is None else seed
    size = settings.demo_size if size is None else size
    started = time.monotonic()

    _step(1, "warehouse")
    if not os.environ.get("TTHC_HOLDER_KEY_SECRET"):
        from tthc.warehouse.holder_keys import DEMO_SECRET_FILE, demo_secret

        # Airflow's subprocesses inherit it through airflow_env().
        os.environ["TTHC_HOLDER_KEY_SECRET"] = demo_secret(settings.local_dir)
        print(f"      holder matching secret: {settings.local_dir / DEMO_SECRET_FILE} (mode 0600)", flush=True)
    url = resolve_warehouse_url()
    where = "WAREHOUSE_URL" if settings.warehouse_url else "embedded PostgreSQL in .local/pgdata"
    print(f"      using {where}", flush=True)

    _step(2, f"demo data (seed {seed}, {size} records) → {settings.demo_data_dir}")
    from tthc_dev.demo_data import generate

    permits_db = permits_database(url)
    ensure_database(with_database(url, "postgres"), permits_db)
    permits_url = with_database(url, permits_db)
    manifest = generate(settings.demo_data_dir, seed=seed, size=size, permits_url=permits_url)

    _step(3, "Airflow metadata (SQLite) and connections")
    env = demo_airflow_env(settings, url, permits_url)
    prepare_metadata(env)
    dag_ids = ordered(list_dag_ids(env))

    # The plan period's quarterly snapshots, as a data engineer backfills them: one run of the
    # quarterly DAG per quarter of 2022–2025 (each as of its quarter's last day), before today's.
    dag_ids = with_quarterly_history(dag_ids)
    _step(4, f"running {len(dag_ids)} DAG run(s) with `airflow dags test`")
    logical_date = dt.date.today().isoformat()

    def report(result):
        status = "ok    " if result.ok else "FAILED"
        print(f"      {status} {result.dag_id:<34} {result.seconds:6.1f}s  log: {result.log_path}", flush=True)

    # One process runs them all, in order (Airflow and GX import once); each DAG still has its own log.
    failures = [r for r in dags_test_many(dag_ids, env, logical_date, on_result=report) if not r.ok]

    _step(5, "summary")
    print(render_summary(url))
    print(f"Reports for officials (HTML, PNG, XLSX): {settings.reports_dir}")
    print(describe_dataset(manifest, settings.demo_data_dir))
    _demo_app_accounts(url)
    print(what_next(url, settings))
    print(f"\nDone in {time.monotonic() - started:.0f}s. "
          f"{'All DAGs succeeded.' if not failures else f'{len(failures)} DAG(s) FAILED: see the logs above.'}")
    return 1 if failures else 0


def what_next(url: str, settings: Settings) -> str:
    """The newcomer's next steps: connect, look at the checks, the UI, the reports, the quarantine."""
    from sqlalchemy.engine import make_url

    from tthc.validation import default_data_docs_dir

    parsed = make_url(url)
    libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    home = settings.local_dir / "airflow"
    reports = str(settings.reports_dir)
    quarantine = ("SELECT source, stage, reason, count(*) FROM ops.quarantine "
                  "WHERE resolved_at IS NULL GROUP BY 1, 2, 3 ORDER BY 4 DESC")
    return "\n".join([
        "",
        "What next / Tiếp theo",
        f"  psql:             psql \"{libpq}\"",
        f"  DBeaver/Metabase: PostgreSQL at {parsed.host or 'the socket in ' + str(parsed.query.get('host'))}"
        f":{parsed.port or 5432}, database {parsed.database}, user {parsed.username or 'postgres'}"
        + ("" if parsed.password else ", no password"),
        f"  Data Docs:        {default_data_docs_dir() / 'index.html'}",
        "  Airflow UI:       make airflow   (or .venv/bin/tthc airflow up; Ctrl-C stops it)",
        f"  Airflow CLI:      AIRFLOW_HOME={home} .venv/bin/airflow tasks list tthc_source_civil_status",
        f"  Reports:          {reports}",
        f"  DAG logs:         {home / 'demo-logs'}",
        f"  Quarantined rows: psql \"{libpq}\" -c \"{quarantine}\"",
    ])


def describe_dataset(manifest: dict, data_dir) -> str:
    """A few lines on the generated dataset, from its manifest."""
    counts = manifest.get("counts", {})
    lines = [f"\nDemo dataset / Dữ liệu mẫu ({data_dir}, seed {manifest.get('seed')})"]
    lines.append(f"  results in structured sources   {counts.get('results_in_structured_sources')}"
                 f"  (+{counts.get('paper_only_results')} paper-only)")
    by_type = counts.get("results_by_procedure") or {}
    lines.append("  by result type                  " + ", ".join(f"{k} {v}" for k, v in sorted(by_type.items())))
    for name, info in (counts.get("sources") or {}).items():
        if isinstance(info, dict):
            rows = info.get("rows", info.get("files", info.get("true_rows")))
            if rows is None and "commune_offices" in info:  # one-stop offices
                rows = info["commune_offices"] + info.get("district_offices", 0)
            lines.append(f"  {name:<31} {rows} rows" + (f" ({info['duplicate_rows']} duplicates, "
                         f"{info.get('junk_rows', 0)} junk)" if "duplicate_rows" in info else ""))
    return "\n".join(lines)


def _step(n: int, what: str) -> None:
    print(f"[{n}/5] {what}", flush=True)


def _demo_app_accounts(url: str) -> None:
    """The lookup/statistics application's demo accounts; their password is printed here, once."""
    from tthc.app.admin import demo_accounts
    from tthc.warehouse.db import transaction

    try:
        with transaction(url) as cur:
            made = demo_accounts(cur)
    except Exception as exc:  # noqa: BLE001 - the demo's data is there; say what is missing
        print(f"\nApplication demo accounts NOT created: {exc}")
        return
    print("\nLookup/statistics application: `tthc serve`, then open http://127.0.0.1:8090/ "
          "(API: /api/v1/docs after logging in)")
    print(f"  accounts {', '.join(made['accounts'])}; password (shown once; TTHC_DEMO_PASSWORD sets it): "
          f"{made['password']}")
    print(f"  API key of the one-stop system `motcua` (feed, lookups, progress; shown once): {made['api_key']}")
