"""Run DAGs through Airflow itself (`airflow dags test`) on a SQLite metadata DB.

Used by the demo and by the integration tests; production runs on the scheduler.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tthc.paths import project_root
from tthc.settings import TIMEZONE

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
    """Environment for an `airflow` subprocess: SQLite metadata under airflow_home, our dags/ and plugins/.

    The same Airflow settings are written to airflow_home/airflow.cfg, so that a plain
    `AIRFLOW_HOME=<home> airflow …` command sees the project's DAGs, time zone and metadata DB."""
    airflow_home.mkdir(parents=True, exist_ok=True)
    root = project_root()
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": TIMEZONE,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "WAREHOUSE_URL": warehouse_url,
        "XDG_RUNTIME_DIR": env.get("XDG_RUNTIME_DIR", "/tmp"),
    })
    if extra:
        env.update(extra)
    write_airflow_cfg(airflow_home, env)
    return env


# Never written to airflow.cfg: secrets stay in the environment of the processes that need them.
_CFG_SKIP = ("SECRET", "PASSWORD", "JWT")


def write_airflow_cfg(airflow_home: Path, env: dict[str, str]) -> Path:
    """airflow_home/airflow.cfg from the AIRFLOW__SECTION__KEY entries of env (secrets left out).

    Airflow takes its defaults for everything else; without this file it would write its own
    (with the example DAGs, its own dags folder and UTC)."""
    sections: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if name.startswith("AIRFLOW__") and name.count("__") >= 2 and not any(s in name for s in _CFG_SKIP):
            _, section, key = name.split("__", 2)
            sections.setdefault(section.lower(), {})[key.lower()] = value.replace("%", "%%")
    lines = ["# Written by tthc_dev.airflow_runner.airflow_env() from the project's Airflow settings;",
             "# it is rewritten on every demo or `tthc airflow up`. Environment variables still override it."]
    for section in sorted(sections):
        lines += ["", f"[{section}]", *(f"{key} = {value}" for key, value in sorted(sections[section].items()))]
    path = airflow_home / "airflow.cfg"
    path.write_text("\n".join(lines) + "\n")
    return path


def ensure_metadata_db(env: dict[str, str]) -> None:
    """`airflow db migrate` (idempotent). Raises with the log tail on failure.

    With TTHC_AIRFLOW_DB_CACHE set (the test suite sets it), a new, empty metadata DB is instead a copy
    of one that this Airflow version migrated once into that folder (SQLite: a file copy; PostgreSQL:
    CREATE DATABASE … TEMPLATE)."""
    if not clone_migrated_metadata_db(env):
        _migrate(env)


# Settings that `airflow db migrate` writes into the DB (log_template, slot_pool): part of the cache key.
_MIGRATE_SETTINGS = ("AIRFLOW__LOGGING__LOG_FILENAME_TEMPLATE", "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT")


def clone_migrated_metadata_db(env: dict[str, str]) -> bool:
    """Fill the (new, empty) metadata DB of env from the migrated template in TTHC_AIRFLOW_DB_CACHE,
    migrating the template first if this is its first use. False when there is no cache or the DB is
    not empty (then `airflow db migrate` itself runs)."""
    import fcntl
    import hashlib
    from importlib.metadata import version

    cache = env.get("TTHC_AIRFLOW_DB_CACHE")
    url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not cache or not url.startswith(("sqlite:///", "postgresql")):
        return False
    key = hashlib.sha256(json.dumps([version("apache-airflow"), *(env.get(k) for k in _MIGRATE_SETTINGS)])
                         .encode()).hexdigest()[:12]
    folder = Path(cache)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:  # parallel test workers share the folder
        fcntl.flock(lock, fcntl.LOCK_EX)
        if url.startswith("sqlite:///"):
            target = Path(url.removeprefix("sqlite:///"))
            if target.exists() and target.stat().st_size:
                return False
            template = folder / f"airflow-{key}.db"
            if not template.exists():
                partial = folder / f".airflow-{key}.db.partial"
                partial.unlink(missing_ok=True)
                _migrate({**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{partial}"})
                partial.rename(template)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, target)
            return True
        return _clone_postgres(env, url, folder, key)


def _clone_postgres(env: dict[str, str], url: str, folder: Path, key: str) -> bool:
    import hashlib

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    probe = sa.create_engine(target, poolclass=sa.pool.NullPool)
    try:
        with probe.connect() as conn:
            if conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar():
                return False
        probe.dispose()
        # One template per server and key; its name is kept in the cache folder (the suite drops it).
        server = hashlib.sha256(target.set(database="", username=None, password=None)
                                .render_as_string().encode()).hexdigest()[:8]
        name_file = folder / f"postgres-{server}-{key}.name"
        with admin.connect() as conn:
            name = json.loads(name_file.read_text())["database"] if name_file.exists() else ""
            exists = bool(name) and conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                                 {"n": name}).scalar()
            if not exists:
                name = f"tthc_test_airflow_template_{key}_{os.getpid()}"
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                _migrate({**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": target.set(database=name)
                          .render_as_string(hide_password=False)})
                # where to drop it from at the end (no password: the suite's admin URL supplies it)
                name_file.write_text(json.dumps({"database": name, "server": target.set(database="postgres")
                                                 .render_as_string(hide_password=True)}))
            conn.execute(sa.text(f'DROP DATABASE "{target.database}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}" TEMPLATE "{name}"'))
        return True
    finally:
        probe.dispose()
        admin.dispose()


def _migrate(env: dict[str, str]) -> None:
    home = Path(env["AIRFLOW_HOME"])
    log_path = home / "db-migrate.log"
    with log_path.open("w") as out:
        proc = subprocess.run([airflow_bin(), "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed (exit {proc.returncode}); see {log_path}:\n{_tail(log_path)}")


def import_connections(env: dict[str, str], path: Path | None = None) -> list[str]:
    """`airflow connections import --overwrite` of config/local/airflow_connections.yaml into the metadata DB
    of env's AIRFLOW_HOME, after filling in its ${VAR}s from env. Returns the conn_ids."""
    resolved, conn_ids = resolve_connections_file(env, path)
    _airflow_commands(env, [["connections", "import", "--overwrite", str(resolved)]], "connections-import")
    return conn_ids


def prepare_metadata(env: dict[str, str]) -> list[str]:
    """`airflow db migrate` (skipped when this Airflow version already migrated this SQLite file) and the
    connections import, in one process: Airflow imports once. Returns the imported conn_ids."""
    import airflow

    home = Path(env["AIRFLOW_HOME"])
    db_url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    stamp, mark = home / ".db-migrated", f"{airflow.__version__} {db_url}"
    sqlite_file = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite:///") else None
    migrated = (sqlite_file is not None and sqlite_file.exists() and stamp.exists()
                and stamp.read_text() == mark) or clone_migrated_metadata_db(env)
    resolved, conn_ids = resolve_connections_file(env)
    commands = ([] if migrated else [["db", "migrate"]]) + [["connections", "import", "--overwrite", str(resolved)]]
    _airflow_commands(env, commands, "db-migrate")
    stamp.write_text(mark)
    return conn_ids


def _airflow_commands(env: dict[str, str], commands: list[list[str]], log_name: str) -> None:
    """Several `airflow` CLI commands in one Python process; raises with the log tail on failure."""
    code = ("import json, sys\n"
            "from airflow.cli.cli_parser import get_parser\n"
            "parser = get_parser()\n"
            "for command in json.loads(sys.argv[1]):\n"
            "    args = parser.parse_args(command)\n"
            "    args.func(args)\n")
    log_path = Path(env["AIRFLOW_HOME"]) / f"{log_name}.log"
    with log_path.open("w") as out:
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(commands)], env=env, stdout=out,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        what = "; ".join("airflow " + " ".join(c) for c in commands)
        raise RuntimeError(f"{what} failed (exit {proc.returncode}); see {log_path}:\n{_tail(log_path)}")


def resolve_connections_file(env: dict[str, str], path: Path | None = None) -> tuple[Path, list[str]]:
    """config/local/airflow_connections.yaml with its ${VAR}s filled in from env, written (mode 600) to
    AIRFLOW_HOME/connections.resolved.yaml; returns that file and the conn_ids."""
    import re

    import yaml

    path = path or project_root() / "config" / "local" / "airflow_connections.yaml"
    values = dict(env)
    for name, source in (("WAREHOUSE_URI", "WAREHOUSE_URL"), ("PERMITS_URI", "TTHC_PERMITS_URL")):
        if env.get(source, "").startswith("postgres"):
            values[name] = _libpq_uri(env[source])

    def fill(m: re.Match) -> str:
        value = values.get(m[1], m[2])
        if value is None:
            raise RuntimeError(f"{path}: ${{{m[1]}}} is not set")
        return value

    text = "".join(line if line.lstrip().startswith("#") else re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", fill, line)
                   for line in path.read_text().splitlines(keepends=True))
    resolved = Path(env["AIRFLOW_HOME"]) / "connections.resolved.yaml"
    resolved.touch(mode=0o600)
    resolved.chmod(0o600)
    resolved.write_text(text)
    return resolved, sorted(yaml.safe_load(text) or {})


def _libpq_uri(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as the postgres:// URI Airflow's connection parser expects."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgres").render_as_string(hide_password=False)


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


def dags_test_many(dag_ids: list[str], env: dict[str, str], logical_date: str,
                   on_result: Callable[[DagRunResult], None] | None = None) -> list[DagRunResult]:
    """`airflow dags test` for several DAGs in order, in ONE process (`python -m tthc_dev.airflow_runner`):
    Airflow, the providers and Great Expectations are imported once instead of once per DAG, which
    is most of a small DAG's run time. Each DAG's output still goes to demo-logs/<dag_id>.log and a
    failing DAG does not stop the next one. An entry "dag_id@<logical date>" runs that DAG for that
    date instead (log demo-logs/<dag_id>.<date>.log)."""
    log_dir = Path(env["AIRFLOW_HOME"]) / "demo-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**env, "TTHC_DEADLINE_ALERTS": env.get("TTHC_DEADLINE_ALERTS", "off")}
    runner_log = log_dir / "_runner.log"
    results: list[DagRunResult] = []
    with runner_log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tthc_dev.airflow_runner", "--log-dir", str(log_dir),
                                 "--logical-date", logical_date, *dag_ids],
                                env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            status = json.loads(line)
            log_path = Path(status["log"])
            result = DagRunResult(status["dag_id"], status["ok"] and _run_succeeded(log_path), status["seconds"],
                                  log_path)
            results.append(result)
            if on_result:
                on_result(result)
        proc.wait()
    done = {r.dag_id for r in results}
    for dag_id in dag_ids:  # the runner itself died: the rest did not run
        if dag_id not in done:
            results.append(DagRunResult(dag_id, False, 0.0, runner_log))
            if on_result:
                on_result(results[-1])
    return results


def _run_dags_here(dag_ids: list[str], logical_date: str, log_dir: Path) -> None:
    """The child of dags_test_many: the `airflow dags test` command itself, once per DAG, with the
    process's stdout/stderr (file descriptors, so subprocesses too) sent to the DAG's log."""
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    _task_logs_to_log_folder()
    status_out = os.fdopen(os.dup(1), "w")
    dags = _parse_dag_folder_once(log_dir / "_parse.log")
    for item in dag_ids:
        # "dag_id@logical_date" runs that DAG for another date (the demo's quarterly history)
        dag_id, _, when = item.partition("@")
        log_path = log_dir / (f"{dag_id}.{when[:10]}.log" if when else f"{dag_id}.log")
        started = time.monotonic()
        ok = False
        with log_path.open("w") as out, _output_to(out):
            try:
                args = parser.parse_args(["dags", "test", dag_id, when or logical_date])
                # The command's own function, given the DAG parsed above instead of parsing the whole
                # folder again (a DAG that failed to parse is left to the command, which reports it).
                args.func(args, dag=dags[dag_id]) if dag_id in dags else args.func(args)
                ok = True
            except BaseException as exc:  # noqa: BLE001 - SystemExit("DagRun failed") included: go on
                if isinstance(exc, KeyboardInterrupt):
                    raise
                import traceback

                traceback.print_exc()
        status_out.write(json.dumps({"dag_id": item, "ok": ok, "seconds": time.monotonic() - started,
                                     "log": str(log_path)}) + "\n")
        status_out.flush()


@contextlib.contextmanager
def _output_to(out):
    """This process's stdout and stderr (file descriptors 1 and 2, so subprocesses too) into `out`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    os.dup2(out.fileno(), 1)
    os.dup2(out.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _parse_dag_folder_once(log_path: Path) -> dict:
    """Every DAG of the configured bundles, parsed once for all the runs of this process (as
    `airflow dags test` parses them; its run still writes the bundle's DAGs to the metadata DB)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag

    dags: dict = {}
    with log_path.open("w") as out, _output_to(out):
        try:
            manager = DagBundlesManager()
            manager.sync_bundles_to_db()
            for bundle in manager.get_all_dag_bundles():
                bundle.initialize()
                bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
                for dag_id, dag in bag.dags.items():
                    dags.setdefault(dag_id, dag)
        except Exception:  # noqa: BLE001 - then each `dags test` parses for itself and reports it
            import traceback

            traceback.print_exc()
    return dags


def task_log_path(base: Path, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> Path:
    """Where Airflow's default log_filename_template puts a task try's log under base_log_folder."""
    mapped = f"map_index={map_index}/" if map_index >= 0 else ""
    return base / f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/{mapped}attempt={try_number}.log"


def _task_logs_to_log_folder() -> None:
    """`dags test` runs each task in this process and logs it to stdout only, so the api-server has
    no file to show for the run ("Could not read served logs"). Send each task's output (fd 1 and 2,
    so its subprocesses too) to the file the UI reads under base_log_folder, then copy it into the
    DAG's demo log as well."""
    from airflow.configuration import conf
    from airflow.sdk.execution_time import supervisor

    base = Path(conf.get("logging", "base_log_folder"))
    run_in_process = supervisor.run_task_in_process

    def run_with_log_file(ti, task, client=None):
        path = task_log_path(base, ti.dag_id, ti.run_id, ti.task_id, ti.map_index if ti.map_index is not None else -1,
                             ti.try_number)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("wb") as out, _output_to(out):  # a rerun of the same try replaces its log
                return run_in_process(ti, task, client)
        finally:
            with path.open("rb") as written:
                shutil.copyfileobj(written, sys.stdout.buffer)
            sys.stdout.flush()

    supervisor.run_task_in_process = run_with_log_file


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


if __name__ == "__main__":
    import argparse

    cli = argparse.ArgumentParser(description="Run DAGs with `airflow dags test` in this one process.")
    cli.add_argument("--log-dir", type=Path, required=True)
    cli.add_argument("--logical-date", required=True)
    cli.add_argument("dag_ids", nargs="+")
    ns = cli.parse_args()
    _run_dags_here(ns.dag_ids, ns.logical_date, ns.log_dir)
