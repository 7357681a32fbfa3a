"""A real Airflow 3 cluster on this machine: api-server, scheduler, dag-processor, Celery worker(s).

The integration tests use it (Celery execution, backfill through the scheduler) and
operators can use it to try the DAGs locally on the CeleryExecutor without Docker:

    python -m tthc_dev.airflow_cluster --metadata-url postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_local \\
        --warehouse-url postgresql+psycopg2://postgres@127.0.0.1:5432/warehouse

Every component is a subprocess in its own session (`start_new_session=True`); leaving
the context manager stops them all (SIGTERM to each process group, then SIGKILL), also
the task processes that Airflow puts in process groups of their own, because they keep
the session and carry this cluster's TTHC_CLUSTER_ID in their environment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tthc_dev.airflow_runner import airflow_bin, airflow_env, ensure_metadata_db

log = logging.getLogger(__name__)

DEFAULT_COMPONENTS = ("api-server", "scheduler", "dag-processor", "celery-worker")
TERMINAL_RUN_STATES = {"success", "failed"}


class ClusterError(RuntimeError):
    """A component died, a command failed or a wait timed out; the message carries the log tails."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def celery_env(airflow_home: Path, warehouse_url: str, metadata_url: str, *, broker_url: str = "redis://127.0.0.1:6379/0",
               api_port: int | None = None, queue: str | None = None, executor: str = "CeleryExecutor",
               extra: dict[str, str] | None = None) -> dict[str, str]:
    """airflow_env() turned into a multi-process cluster: PostgreSQL metadata, Celery on Redis, execution API.

    `queue` isolates this cluster's Celery tasks from any other cluster on the same broker
    (tests run in parallel); every component must share the JWT secret generated here.
    """
    api_port = api_port or free_port()
    queue = queue or f"tthc_{uuid.uuid4().hex[:10]}"
    backend = metadata_url.replace("postgresql+psycopg2://", "postgresql://", 1)
    env = airflow_env(airflow_home, warehouse_url, extra={
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{backend}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        # Task SDK: workers report to the execution API on the api-server, authenticated by a shared JWT secret.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        # Worker log servers would all want port 8793/8794; the api-server reads the shared log folder instead.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
        "TTHC_CLUSTER_API_PORT": str(api_port),
        "TTHC_CLUSTER_QUEUE": queue,
    })
    if extra:
        env.update(extra)
    return env


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path


@dataclass
class AirflowCluster:
    """Context manager: `with AirflowCluster(env) as cluster: cluster.airflow("dags", "trigger", ...)`.

    env comes from celery_env(); the metadata DB is migrated on entry (`airflow db migrate`).
    Components: api-server, scheduler, dag-processor, celery-worker (one per entry), triggerer.
    """

    env: dict[str, str]
    components: tuple[str, ...] | list[str] = DEFAULT_COMPONENTS
    startup_timeout: float = 120.0
    # "all" = UI + REST API + execution API; "execution" (what workers need) starts faster.
    api_apps: str = "all"
    migrate: bool = True
    cluster_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    procs: list[_Proc] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def api_port(self) -> int:
        return int(self.env["TTHC_CLUSTER_API_PORT"])

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "AirflowCluster":
        self.env = dict(self.env, TTHC_CLUSTER_ID=self.cluster_id)
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        started = time.monotonic()
        if self.migrate:
            _progress(f"airflow db migrate ({_redact(self.env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'])})")
            ensure_metadata_db(self.env)
            _progress(f"metadata DB ready in {time.monotonic() - started:.0f}s")
        workers = 0
        for name in self.components:
            if name == "celery-worker":
                workers += 1
                self._spawn(f"celery-worker-{workers}", ["celery", "worker", "--queues", self.env.get(
                    "TTHC_CLUSTER_QUEUE", "default"), "--celery-hostname", f"tthc-{self.cluster_id}-{workers}@%h",
                    "--skip-serve-logs", "--without-gossip", "--without-mingle"])
            elif name == "api-server":
                self._spawn(name, ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1",
                                   "--apps", self.api_apps])
            elif name in ("scheduler", "dag-processor", "triggerer"):
                self._spawn(name, [name])
            else:
                raise ValueError(f"unknown Airflow component {name!r}; use one of "
                                 "api-server, scheduler, dag-processor, celery-worker, triggerer")
        if "api-server" in self.components:
            self._wait(self._api_healthy, self.startup_timeout, f"the api-server to answer {self._health_path}")
        _progress(f"cluster up in {time.monotonic() - started:.0f}s: {', '.join(p.name for p in self.procs)}; "
                  f"logs in {self.home / 'components'}")

    def _spawn(self, name: str, args: list[str]) -> None:
        log_dir = self.home / "components"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        out = log_path.open("ab")
        popen = subprocess.Popen([airflow_bin(), *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.home)
        out.close()
        self.procs.append(_Proc(name, popen, log_path))
        log.info("started %s (pid %s)", name, popen.pid)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM every component's process group, wait up to `grace` seconds, then SIGKILL what is left."""
        for proc in self.procs:
            _signal_group(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            _signal_group(proc.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
        # Task processes run in process groups of their own; they keep our session and our marker.
        sessions = {p.popen.pid for p in self.procs}
        for pid in leftover_pids(sessions, self.cluster_id):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.procs.clear()
        self._forget_queue()

    def _forget_queue(self) -> None:
        """Drop this cluster's private Celery queue and its bindings from the broker (never a shared queue)."""
        queue = self.env.get("TTHC_CLUSTER_QUEUE", "")
        broker = self.env.get("AIRFLOW__CELERY__BROKER_URL", "")
        if not queue.startswith("tthc_") or not broker.startswith("redis://"):
            return
        try:
            import redis

            client = redis.Redis.from_url(broker, socket_timeout=3)
            client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
            client.close()
        except Exception as exc:  # noqa: BLE001 - best effort: leftovers are inert keys
            log.warning("could not remove Celery queue %s from %s: %s", queue, broker, exc)

    # ------------------------------------------------------------------ commands and waits

    def airflow(self, *args: str, timeout: float = 120.0) -> str:
        """Run an `airflow` CLI command against this cluster; return stdout, raise with the output on failure."""
        proc = subprocess.run([airflow_bin(), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise ClusterError(f"`airflow {' '.join(args)}` failed (exit {proc.returncode}):\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        return proc.stdout

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        """Read the metadata DB (dag_run, task_instance, serialized_dag ...)."""
        import sqlalchemy as sa

        engine = self._engine()
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params or {})]

    def wait_for_dags(self, dag_ids: list[str] | tuple[str, ...], timeout: float = 120.0) -> None:
        """Until the dag-processor has serialized every DAG in dag_ids; a timeout lists the import errors."""
        wanted = set(dag_ids)

        def parsed():
            return wanted <= {r[0] for r in self.query("SELECT dag_id FROM serialized_dag")}

        try:
            self._wait(parsed, timeout, f"the dag-processor to parse {sorted(wanted)}")
        except ClusterError as exc:
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            raise ClusterError(f"{exc}\nDAG import errors: {errors or 'none'}") from None

    def wait_for_runs(self, dag_id: str, *, count: int = 1, timeout: float = 180.0,
                      run_type: str | None = None) -> dict[str, str]:
        """Until at least `count` runs of dag_id (optionally of one run_type) exist and all are finished.

        Returns {run_id: state}. Prints progress every ~10 s; raises ClusterError on a timeout or a failed
        run, with the task states, the failed tasks' log tails and each component's log tail.
        """
        started = time.monotonic()
        last_print = 0.0
        where = "dag_id = :dag_id" + (" AND run_type = :run_type" if run_type else "")
        params = {"dag_id": dag_id, "run_type": run_type}
        while True:
            runs = dict(self.query(f"SELECT run_id, state FROM dag_run WHERE {where} ORDER BY logical_date", params))
            done = len(runs) >= count and all(s in TERMINAL_RUN_STATES for s in runs.values())
            if done:
                failed = [r for r, s in runs.items() if s != "success"]
                if failed:
                    raise ClusterError(f"{dag_id}: run(s) {failed} failed.\n{self.describe_runs(dag_id)}\n"
                                       f"{self.task_log_tails(dag_id)}\n{self.log_tails()}")
                _progress(f"{dag_id}: {len(runs)} run(s) succeeded in {time.monotonic() - started:.0f}s")
                return runs
            self._check_alive()
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise ClusterError(f"timed out after {timeout:.0f}s waiting for {count} run(s) of {dag_id} to finish.\n"
                                   f"{self.describe_runs(dag_id)}\n{self.task_log_tails(dag_id)}\n{self.log_tails()}")
            if elapsed - last_print >= 10:
                last_print = elapsed
                states = {}
                for s in runs.values():
                    states[s] = states.get(s, 0) + 1
                tasks = self.query("SELECT coalesce(state, 'none'), count(*) FROM task_instance WHERE dag_id = :d "
                                   "GROUP BY 1", {"d": dag_id})
                _progress(f"{elapsed:5.0f}s {dag_id}: runs {states or '{}'}, tasks {dict(tasks)}")
            time.sleep(2)

    def describe_runs(self, dag_id: str) -> str:
        rows = self.query("""SELECT r.run_id, r.state, r.data_interval_start, ti.task_id, ti.state, ti.try_number
                             FROM dag_run r LEFT JOIN task_instance ti ON ti.dag_id = r.dag_id AND ti.run_id = r.run_id
                             WHERE r.dag_id = :d ORDER BY r.logical_date, ti.task_id""", {"d": dag_id})
        return "runs and tasks:\n" + "\n".join("  " + " | ".join(str(c) for c in row) for row in rows)

    def task_log_tails(self, dag_id: str, lines: int = 25) -> str:
        """Tails of the task logs of dag_id that are not from successful tasks."""
        root = Path(self.env.get("AIRFLOW__LOGGING__BASE_LOG_FOLDER", self.home / "logs")) / f"dag_id={dag_id}"
        failed = {(r[0], r[1]) for r in self.query(
            "SELECT run_id, task_id FROM task_instance WHERE dag_id = :d AND state IS DISTINCT FROM 'success'",
            {"d": dag_id})}
        out = []
        for path in sorted(root.glob("run_id=*/task_id=*/*.log")):
            run_id = path.parent.parent.name.removeprefix("run_id=")
            task_id = path.parent.name.removeprefix("task_id=")
            if (run_id, task_id) in failed:
                out.append(f"--- task log {path}:\n{_tail(path, lines)}")
        return "\n".join(out) or "(no task logs of unfinished or failed tasks)"

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(f"--- {p.name} (pid {p.popen.pid}, exit {p.popen.poll()}) {p.log_path}:\n"
                         f"{_tail(p.log_path, lines)}" for p in self.procs)

    # ------------------------------------------------------------------ internals

    def _engine(self):
        if not hasattr(self, "_engine_obj"):
            import sqlalchemy as sa

            self._engine_obj = sa.create_engine(self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], poolclass=sa.pool.NullPool)
        return self._engine_obj

    @property
    def _health_path(self) -> str:
        return "/execution/health" if self.api_apps == "execution" else "/api/v2/monitor/health"

    def _api_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}{self._health_path}", timeout=3) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _check_alive(self) -> None:
        dead = [p for p in self.procs if p.popen.poll() is not None]
        if dead:
            raise ClusterError(f"component(s) {[p.name for p in dead]} exited.\n{self.log_tails()}")

    def _wait(self, predicate, timeout: float, what: str) -> None:
        started = time.monotonic()
        last_print = 0.0
        while not predicate():
            self._check_alive()
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}.\n{self.log_tails()}")
            if elapsed - last_print >= 10:
                last_print = elapsed
                _progress(f"{elapsed:5.0f}s waiting for {what}")
            time.sleep(1)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def leftover_pids(sessions: set[int], cluster_id: str) -> list[int]:
    """Live processes in one of our sessions or carrying TTHC_CLUSTER_ID=<ours> (Linux /proc)."""
    marker = f"TTHC_CLUSTER_ID={cluster_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            sid = int(stat.rsplit(")", 1)[1].split()[3])
            if sid in sessions or marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _progress(message: str) -> None:
    print(f"[airflow-cluster] {message}", file=sys.stderr, flush=True)
    log.info(message)


def main(argv: list[str] | None = None) -> int:
    """Run a local Celery cluster until Ctrl-C (see the module docstring)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tthc_dev.airflow_cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--metadata-url", required=True, help="PostgreSQL URL of the Airflow metadata DB (must exist)")
    parser.add_argument("--warehouse-url", required=True, help="the warehouse the tasks write to")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--home", default=".local/airflow-cluster", help="AIRFLOW_HOME (logs, config)")
    parser.add_argument("--port", type=int, default=8080, help="api-server port (UI, REST and execution API)")
    parser.add_argument("--workers", type=int, default=1, help="number of Celery workers")
    args = parser.parse_args(argv)
    env = celery_env(Path(args.home).resolve(), args.warehouse_url, args.metadata_url, broker_url=args.broker_url,
                     api_port=args.port, queue="default")
    components = ["api-server", "scheduler", "dag-processor", "triggerer"] + ["celery-worker"] * args.workers
    with AirflowCluster(env, components) as cluster:
        print(json.dumps({"ui": cluster.api_url, "logs": str(cluster.home / "components")}), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                cluster._check_alive()
                time.sleep(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
