"""The Airflow UI on this machine, on the demo's Airflow home and warehouse.

`tthc airflow up` (or `make airflow`) starts the parts of `airflow standalone` that the UI and
scheduled runs need: api-server (UI, REST API, execution API), scheduler and dag-processor, with
the LocalExecutor and the demo's SQLite metadata DB in .local/airflow. So the UI shows the runs
and task logs of `tthc demo` and can run any DAG again. The DAGs are the project's (dags/), no
examples; schedules are in Asia/Ho_Chi_Minh (the UI shows times in the browser's time zone,
which it lets one change). Login: the simple auth manager's user `admin`,
with the password from TTHC_AIRFLOW_PASSWORD, else one generated on the first start and kept in
.local/airflow/simple_auth_manager_passwords.json.generated. Ctrl-C (or SIGTERM) stops every
process it started.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tthc.settings import Settings
from tthc.warehouse.server import resolve_warehouse_url
from tthc_dev.airflow_cluster import AirflowCluster, free_port
from tthc_dev.airflow_runner import prepare_metadata

DEFAULT_PORT = 8080
USER = "admin"
COMPONENTS = ("api-server", "scheduler", "dag-processor")


class LocalAirflowError(RuntimeError):
    """The UI could not start; the message names the cause (port, metadata DB, a component's log)."""


@dataclass(frozen=True)
class LocalAirflow:
    url: str
    user: str
    password: str
    home: Path
    seconds_to_ready: float


def passwords_file(home: Path) -> Path:
    return home / "simple_auth_manager_passwords.json.generated"


def local_env(port: int = DEFAULT_PORT) -> dict[str, str]:
    """The demo's Airflow environment plus what the api-server, scheduler and task processes share."""
    from tthc_dev.demo import demo_airflow_env

    settings = Settings.from_env()
    base_url = f"http://127.0.0.1:{port}"
    env = demo_airflow_env(settings, resolve_warehouse_url(), extra={
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        # SQLite takes one writer at a time: few parallel tasks, one parsing process.
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "TTHC_AIRFLOW_BASE_URL": base_url,
    })
    env.update({
        # Shared by the api-server (which signs task tokens) and the task processes; never in airflow.cfg.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
        # Free ports for the worker's log server, so two checkouts can run side by side.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "TTHC_CLUSTER_API_PORT": str(port),
        "TTHC_DEADLINE_ALERTS": os.environ.get("TTHC_DEADLINE_ALERTS", "on"),
    })
    if not env.get("TTHC_HOLDER_KEY_SECRET"):
        from tthc.warehouse.holder_keys import demo_secret

        # The demo's own secret, so tasks run from the UI match the holders the demo loaded.
        env["TTHC_HOLDER_KEY_SECRET"] = demo_secret(settings.local_dir)
    return env


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _set_password(home: Path) -> None:
    """TTHC_AIRFLOW_PASSWORD, when set, is the admin's password; else the api-server generates one."""
    wanted = os.environ.get("TTHC_AIRFLOW_PASSWORD")
    if wanted:
        path = passwords_file(home)
        path.write_text(json.dumps({USER: wanted}) + "\n")
        path.chmod(0o600)


def read_password(home: Path) -> str:
    return json.loads(passwords_file(home).read_text())[USER]


def start(port: int = DEFAULT_PORT, startup_timeout: float = 180.0) -> tuple[AirflowCluster, LocalAirflow]:
    """Migrate the metadata DB, import the connections, start the components, wait for the UI."""
    started = time.monotonic()
    if not _port_free(port):
        raise LocalAirflowError(f"port {port} on 127.0.0.1 is in use (another Airflow?); choose one with --port")
    env = local_env(port)
    home = Path(env["AIRFLOW_HOME"])
    prepare_metadata(env)
    _set_password(home)
    cluster = AirflowCluster(env, COMPONENTS, startup_timeout=startup_timeout, migrate=False)
    cluster.env = dict(env, TTHC_CLUSTER_ID=cluster.cluster_id)
    try:
        cluster.start()
    except BaseException as exc:
        cluster.stop()
        raise LocalAirflowError(f"Airflow did not start: {str(exc).splitlines()[0]}; logs in "
                                f"{home / 'components'}") from exc
    info = LocalAirflow(f"http://127.0.0.1:{port}", USER, read_password(home), home, time.monotonic() - started)
    return cluster, info


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def up(port: int = DEFAULT_PORT) -> int:
    """Start, print the URL and login, run until Ctrl-C or SIGTERM, stop everything."""
    print(f"Starting Airflow on 127.0.0.1:{port} (api-server, scheduler, dag-processor; LocalExecutor) ...",
          flush=True)
    # Ctrl-C and SIGTERM stop the components, also when started from a shell that ignores SIGINT
    # for background jobs.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    # The supervisor's progress lines go to stderr already; its log records would repeat them.
    logging.getLogger("tthc_dev.airflow_cluster").setLevel(logging.WARNING)
    cluster, info = start(port)
    try:
        print(f"\nAirflow UI ready in {info.seconds_to_ready:.0f}s: {info.url}\n"
              f"  login:        {info.user} / {info.password}"
              f"{'' if os.environ.get('TTHC_AIRFLOW_PASSWORD') else '   (generated; TTHC_AIRFLOW_PASSWORD sets it)'}\n"
              f"  AIRFLOW_HOME: {info.home}   (plain `airflow` commands work with AIRFLOW_HOME={info.home})\n"
              f"  logs:         tasks {info.home / 'logs'}, components {info.home / 'components'}\n"
              "  New DAGs start paused; the demo's runs and their task logs are listed already.\n"
              "  Ctrl-C stops it.", flush=True)
        while True:
            cluster._check_alive()
            time.sleep(2)
    except KeyboardInterrupt:
        print("\nstopping Airflow ...", flush=True)
    finally:
        cluster.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(up(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PORT))
