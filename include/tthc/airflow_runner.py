"""Run DAGs through Airflow itself (`airflow dags test`) on a SQLite metadata DB.

Used by the demo and by the integration tests; production runs on the scheduler.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tthc.paths import project_root

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    ok: bool
    seconds: float
    log_path: Path


def airflow_bin() -> str:
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else (shutil.which("airflow") or "airflow")


def airflow_env(airflow_home: Path, warehouse_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an `airflow` subprocess: SQLite metadata under airflow_home, our dags/ and plugins/."""
    airflow_home.mkdir(parents=True, exist_ok=True)
    root = project_root()
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Ho_Chi_Minh",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "WAREHOUSE_URL": warehouse_url,
        "XDG_RUNTIME_DIR": env.get("XDG_RUNTIME_DIR", "/tmp"),
    })
    if extra:
        env.update(extra)
    return env


def ensure_metadata_db(env: dict[str, str]) -> None:
    """`airflow db migrate` (idempotent). Raises with the log tail on failure."""
    home = Path(env["AIRFLOW_HOME"])
    log_path = home / "db-migrate.log"
    with log_path.open("w") as out:
        proc = subprocess.run([airflow_bin(), "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed (exit {proc.returncode}); see {log_path}:\n{_tail(log_path)}")


def dags_test(dag_id: str, env: dict[str, str], logical_date: str) -> DagRunResult:
    """Run one whole DAG in-process with `airflow dags test`; the log goes to AIRFLOW_HOME/demo-logs."""
    log_dir = Path(env["AIRFLOW_HOME"]) / "demo-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{dag_id}.log"
    started = time.monotonic()
    # Airflow 3.3.2's `dags test` crashes at the end of a run of a DAG with a deadline alert
    # (DeadlineAlertModel.get_by_id gets the alert itself, not its id); DAG files leave the
    # deadline out when this is off. Scheduler runs keep their deadlines.
    env = {**env, "TTHC_DEADLINE_ALERTS": env.get("TTHC_DEADLINE_ALERTS", "off")}
    with log_path.open("w") as out:
        proc = subprocess.run([airflow_bin(), "dags", "test", dag_id, logical_date],
                              env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    return DagRunResult(dag_id, proc.returncode == 0 and _run_succeeded(log_path), seconds, log_path)


def list_dag_ids(env: dict[str, str]) -> list[str]:
    """Parse the DAG folder in a subprocess; raise if any file fails to import."""
    code = ("import json; from airflow.dag_processing.dagbag import DagBag; "
            "b = DagBag(dag_folder=__import__('os').environ['AIRFLOW__CORE__DAGS_FOLDER']); "
            "print(json.dumps({'errors': {k: str(v) for k, v in b.import_errors.items()}, 'dags': sorted(b.dags)}))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"could not parse the DAG folder:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["errors"]:
        raise RuntimeError(f"DAG import errors: {result['errors']}")
    return result["dags"]


def _run_succeeded(log_path: Path) -> bool:
    text = log_path.read_text(errors="replace")
    return "DagRun Finished" in text and "state=success" in text.split("DagRun Finished")[-1][:2000]


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
