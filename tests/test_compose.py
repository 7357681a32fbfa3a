"""Static checks of the Docker stack: docker-compose.yml, docker/Dockerfile, docker/.env.example.

No Docker engine needed. The YAML checks always run; `docker compose config` is
run in addition only where a Compose v2 binary is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / "docker" / "Dockerfile.dockerignore"
ENV_EXAMPLE = ROOT / "docker" / ".env.example"
PG_INIT_DIR = ROOT / "docker" / "postgres-init"

REQUIRED_SERVICES = {
    "postgres", "redis", "minio", "minio-init", "mailpit",
    "airflow-init", "airflow-apiserver", "airflow-scheduler",
    "airflow-dag-processor", "airflow-triggerer", "airflow-worker",
}
LONG_RUNNING_AIRFLOW = {
    "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-triggerer", "airflow-worker",
}
PROJECT_DIRS = ["dags", "include", "plugins", "sql", "seeds", "expectations", "sources", "drops", "config"]

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}; `$$` escapes.
BRACED = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
UNBRACED = re.compile(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)")


# --------------------------------------------------------------------------- helpers

def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {raw!r}"
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f"{path.name}: bad name {key!r}"
        assert key not in values, f"{path.name}: {key} defined twice"
        values[key] = value
    return values


def _strip_comments(text: str) -> str:
    """Drop full-line YAML comments, so commented-out examples are not counted."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _interpolate(value, env: dict[str, str]):
    """Resolve ${...} the way Compose does, recursively, with `env` as the .env file."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def repl(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        current = env.get(name)
        if op in (":-", "-"):
            if current is None or (op == ":-" and current == ""):
                return arg
            return current
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise AssertionError(f"required variable {name} unset: {arg}")
        return current if current is not None else ""

    return BRACED.sub(repl, value).replace("$$", "$")


def _env_dict(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return deps


def _command_text(service: dict) -> str:
    cmd = service.get("command") or ""
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            word, _, rest = current.strip().partition(" ")
            lines.append((word.upper(), rest.strip()))
        current = ""
    return lines


@pytest.fixture(scope="module")
def raw_compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(raw_compose_text) -> dict:
    data = yaml.safe_load(raw_compose_text)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return _read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def resolved(compose, env_example) -> dict:
    """The compose file as `cp docker/.env.example .env && docker compose config` would see it."""
    return _interpolate(compose, env_example)


@pytest.fixture(scope="module")
def airflow_services(compose) -> dict[str, dict]:
    """Every service that runs the project's Airflow image (built from docker/Dockerfile)."""
    found = {
        name: svc for name, svc in compose["services"].items()
        if isinstance(svc.get("build"), dict) and svc["build"].get("dockerfile") == "docker/Dockerfile"
    }
    assert LONG_RUNNING_AIRFLOW | {"airflow-init"} <= set(found), sorted(found)
    return found


# --------------------------------------------------------------------------- services

def test_required_services_exist(compose):
    missing = REQUIRED_SERVICES - set(compose["services"])
    assert not missing, f"missing services: {sorted(missing)}"


def test_pinned_backing_images(compose):
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["minio"]["image"].startswith("minio/minio:")
    assert services["minio-init"]["image"].startswith("minio/mc:")
    assert services["mailpit"]["image"].startswith("axllent/mailpit:")
    for name, svc in services.items():
        image = svc.get("image", "")
        assert not image.endswith(":latest") or "build" in svc, f"{name}: pin the image tag ({image})"


def test_worker_is_scalable(compose):
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker, "a container_name blocks --scale airflow-worker=N"
    assert not worker.get("ports"), "host ports on the worker block --scale airflow-worker=N"
    assert "hostname" not in worker, "a fixed hostname makes scaled workers share one Celery name"
    assert "celery worker" in _command_text(worker)


def test_no_container_names_anywhere(compose):
    named = [name for name, svc in compose["services"].items() if "container_name" in svc]
    assert not named, f"container_name set on {named}: use the Compose project name instead"


def test_every_airflow_service_uses_celery_redis_postgres(airflow_services, resolved):
    for name in airflow_services:
        env = _env_dict(resolved["services"][name])
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
        broker = urlsplit(env.get("AIRFLOW__CELERY__BROKER_URL", ""))
        assert broker.scheme == "redis" and broker.hostname == "redis", (name, broker)
        meta = urlsplit(env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
        assert meta.scheme.startswith("postgresql"), (name, meta.scheme)
        assert meta.hostname == "postgres" and meta.path == "/airflow", (name, meta)
        backend = urlsplit(env.get("AIRFLOW__CELERY__RESULT_BACKEND", ""))
        assert backend.scheme == "db+postgresql" and backend.hostname == "postgres", (name, backend)
        assert env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL") == "http://airflow-apiserver:8080/execution/", name
        assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES", "").lower() == "false", name
        assert env.get("AIRFLOW__CORE__DEFAULT_TIMEZONE") == "Asia/Ho_Chi_Minh", name


def test_shared_secrets_identical_and_set(airflow_services, resolved):
    """JWT and API secrets must be the same everywhere, or tasks and log fetching fail."""
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        values = {_env_dict(resolved["services"][name]).get(key) for name in airflow_services}
        assert len(values) == 1 and None not in values, (key, values)
    jwt = _env_dict(resolved["services"]["airflow-worker"])["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert jwt, "AIRFLOW__API_AUTH__JWT_SECRET must not be empty"


def test_airflow_service_commands(compose):
    services = compose["services"]
    assert "api-server" in _command_text(services["airflow-apiserver"])
    assert "scheduler" in _command_text(services["airflow-scheduler"])
    assert "dag-processor" in _command_text(services["airflow-dag-processor"])
    assert "triggerer" in _command_text(services["airflow-triggerer"])
    init = _command_text(services["airflow-init"])
    assert "airflow db migrate" in init and "tthc migrate" in init
    assert init.index("airflow db migrate") < init.index("tthc migrate")
    assert "set -e" in init, "airflow-init must stop at the first failing step"


def test_published_ports(resolved):
    def published(name):
        out = set()
        for spec in resolved["services"][name].get("ports") or []:
            parts = str(spec).split(":")
            out.add((parts[-2], parts[-1]))
        return out

    assert ("8080", "8080") in published("airflow-apiserver")
    assert ("9001", "9001") in published("minio")
    assert ("8025", "8025") in published("mailpit")
    assert not resolved["services"]["redis"].get("ports"), "the broker has no reason to be public"


def test_healthchecks_and_depends_on(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "minio", "mailpit", *LONG_RUNNING_AIRFLOW):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name, svc in services.items():
        for target, spec in _depends_on(svc).items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = (spec or {}).get("condition", "service_started")
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target}'s health, which has no check"
            if condition == "service_completed_successfully":
                assert str(services[target].get("restart", "no")) == "no", f"{target} is a one-shot, not restartable"
    for name in LONG_RUNNING_AIRFLOW:
        deps = _depends_on(services[name])
        assert deps.get("airflow-init", {}).get("condition") == "service_completed_successfully", name
        assert deps.get("postgres", {}).get("condition") == "service_healthy", name
        assert deps.get("redis", {}).get("condition") == "service_healthy", name


def test_named_volumes_declared(compose):
    declared = set(compose.get("volumes") or {})
    assert {"postgres-data", "minio-data"} <= declared
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes") or []:
            source = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
            if source and not source.startswith((".", "/", "$")):
                assert source in declared, f"{name} mounts undeclared volume {source}"
    pg_mounts = [v for v in compose["services"]["postgres"]["volumes"] if isinstance(v, str)]
    assert any(v.startswith("postgres-data:/var/lib/postgresql/data") for v in pg_mounts)
    assert any(v.startswith("./docker/postgres-init:/docker-entrypoint-initdb.d") for v in pg_mounts)


# --------------------------------------------------------------------------- project settings

def test_warehouse_url_and_connection_are_the_same_database(resolved):
    env = _env_dict(resolved["services"]["airflow-worker"])
    url = urlsplit(env["WAREHOUSE_URL"])
    conn = urlsplit(env["AIRFLOW_CONN_TTHC_WAREHOUSE"])
    assert url.scheme == "postgresql+psycopg2"
    assert conn.scheme in ("postgres", "postgresql")
    for part in ("hostname", "port", "path", "username", "password"):
        assert getattr(url, part) == getattr(conn, part), part
    assert url.hostname == "postgres" and url.path == "/warehouse"
    meta = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert meta.path != url.path, "metadata and warehouse must be separate databases"


def test_s3_connection_points_at_minio(resolved):
    env = _env_dict(resolved["services"]["airflow-worker"])
    conn = json.loads(env["AIRFLOW_CONN_TTHC_S3"])
    assert conn["conn_type"] == "aws"
    assert conn["extra"]["endpoint_url"] == "http://minio:9000"
    # One way to configure S3: the connection, not a second set of variables beside it.
    assert not [k for k in env if k.startswith(("AWS_", "TTHC_S3_"))]
    assert conn["login"] and conn["password"]
    assert env["TTHC_SCAN_DROP_URI"] == "s3://scan-drop/"
    assert env["TTHC_SCAN_ARCHIVE"] == "s3://archive/"
    assert int(env["TTHC_OCR_POOL_SLOTS"]) > 0
    init_script = _command_text(resolved["services"]["minio-init"])
    for bucket in ("scan-drop", "archive"):
        assert re.search(rf"mc mb\b.*\b\w+/{bucket}\b", init_script), f"minio-init does not create {bucket}"


def test_alert_mail_goes_to_mailpit(compose, resolved):
    env = _env_dict(resolved["services"]["airflow-worker"])
    smtp = urlsplit(env["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert smtp.scheme == "smtp" and smtp.hostname == "mailpit" and smtp.port == 1025
    extra = parse_qs(smtp.query)
    assert extra.get("from_email"), "alerts need a sender address"
    assert "1025" in [str(p) for p in compose["services"]["mailpit"].get("expose", [])]


def _pools_used_by_dags() -> set[str]:
    """Pools named by the scan drop zones (drops/*.yaml `pool`, default `ocr`) and literally in dags/."""
    pools = set()
    for path in sorted((ROOT / "drops").glob("*.yaml")):
        pools.add(str((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("pool", "ocr")))
    for path in sorted((ROOT / "dags").glob("*.py")):
        pools.update(re.findall(r"\bpool\s*=\s*[\"']([\w-]+)[\"']", path.read_text(encoding="utf-8")))
    return pools


def test_ocr_pool_is_created_for_the_scan_dag(compose, resolved):
    """OCR work spreads over all Celery workers; the `ocr` pool caps it cluster-wide. airflow-init creates
    every pool the DAGs use, sized by TTHC_OCR_POOL_SLOTS (a missing pool leaves tasks queued forever)."""
    pools = _pools_used_by_dags()
    assert "ocr" in pools, f"the scan DAG is expected to use pool 'ocr'; pools found: {sorted(pools)}"
    init = _command_text(compose["services"]["airflow-init"])
    for pool in pools:
        m = re.search(rf"airflow pools set {re.escape(pool)} \"?\$\$\{{(\w+)\}}\"?", init)
        assert m, f"airflow-init does not create pool {pool!r}:\n{init}"
        env = _env_dict(resolved["services"]["airflow-init"])
        assert int(env[m.group(1)]) > 0, f"pool {pool} sized by {m.group(1)}={env.get(m.group(1))!r}"
    assert init.index("tthc migrate") < init.index("airflow pools set")
    worker = _env_dict(resolved["services"]["airflow-worker"])
    assert worker.get("TTHC_OCR_WORKERS") == "1", "one Tesseract process per task: the pool is the concurrency knob"
    # No dedicated OCR queue: every worker runs the same image with Tesseract, so any worker takes OCR tasks.
    assert "--queues" not in _command_text(compose["services"]["airflow-worker"])


def test_config_variables_of_sources_and_drops_are_set(airflow_services, resolved):
    """sources/*.yaml, drops/*.yaml and config/*.yaml are read at DAG parse time: every ${VAR} without a
    default must be set in every Airflow container, or the DAG files fail to import."""
    required = set()
    for folder in ("sources", "drops", "config"):
        for path in sorted((ROOT / folder).glob("*.yaml")):
            text = _strip_comments(path.read_text(encoding="utf-8"))
            required |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", text))
    assert "TTHC_DEMO_DATA_DIR" in required, required
    for name in airflow_services:
        env = _env_dict(resolved["services"][name])
        missing = sorted(v for v in required if not env.get(v))
        assert not missing, f"{name}: not set but needed by the YAML configs: {missing}"


def test_shared_paths_are_on_volumes(resolved):
    """Files one task writes and another (on another worker) reads live on shared mounts."""
    worker = resolved["services"]["airflow-worker"]
    env = _env_dict(worker)
    targets = {str(v).split(":")[1] for v in worker.get("volumes") or []}
    for var in ("TTHC_DEMO_DATA_DIR", "TTHC_REPORTS_DIR"):
        assert env[var] in targets, f"{var}={env[var]} is not a mounted volume of airflow-worker: {sorted(targets)}"
    assert "/opt/airflow/logs" in targets


def test_image_ships_every_folder_the_package_reads():
    """Each project_root() / "<folder>" the tthc package reads must pass Dockerfile.dockerignore."""
    read = set()
    for path in (ROOT / "include" / "tthc").rglob("*.py"):
        read |= set(re.findall(r'project_root\(\) / "([\w-]+)"', path.read_text(encoding="utf-8")))
    assert {"sql", "seeds", "sources"} <= read, read
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert read <= allowed, f"read by the package but not in the image: {sorted(read - allowed)}"


# --------------------------------------------------------------------------- .env.example

def test_every_compose_variable_is_in_env_example(raw_compose_text, env_example):
    text = _strip_comments(raw_compose_text)
    referenced = {m.group(1) for m in BRACED.finditer(text)} | {m.group(1) for m in UNBRACED.finditer(text)}
    missing = referenced - set(env_example)
    assert not missing, f"referenced in docker-compose.yml but not defined in docker/.env.example: {sorted(missing)}"
    unused = set(env_example) - referenced
    assert not unused, f"defined in docker/.env.example but unused by docker-compose.yml: {sorted(unused)}"


def test_env_example_holds_placeholders_only(env_example):
    secretish = re.compile(r"PASSWORD|SECRET|_KEY$|BASIC_AUTH")
    for key, value in env_example.items():
        if secretish.search(key) and key != "S3_ACCESS_KEY_ID":
            assert value == "" or "change-me" in value, f"{key} should be a change-me placeholder, not {value!r}"


def test_required_variables_have_values(raw_compose_text, env_example):
    """Every ${VAR:?...} guard passes with the example file as it is."""
    required = {m.group(1) for m in BRACED.finditer(_strip_comments(raw_compose_text)) if m.group(2) == ":?"}
    assert required, "expected ${VAR:?message} guards on the secrets"
    empty = sorted(name for name in required if not env_example.get(name))
    assert not empty, f"required but empty in docker/.env.example: {empty}"


# --------------------------------------------------------------------------- image

def test_dockerfile_base_matches_requirements_pin():
    froms = [args for instr, args in _dockerfile_instructions() if instr == "FROM"]
    assert len(froms) == 1, froms
    m = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python3\.12", froms[0])
    assert m, f"unexpected base image {froms[0]}"
    pin = re.search(r"^apache-airflow==(\S+)\s*$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin and pin.group(1) == m.group(1), "FROM tag and requirements.txt disagree on the Airflow version"


def test_dockerfile_installs_ocr_stack_as_root_then_drops_privileges():
    instructions = _dockerfile_instructions()
    users = [(i, args) for i, (instr, args) in enumerate(instructions) if instr == "USER"]
    apt = [i for i, (instr, args) in enumerate(instructions) if instr == "RUN" and "apt-get install" in args]
    assert apt, "no apt-get install"
    apt_args = instructions[apt[0]][1].split()
    for package in ("tesseract-ocr", "tesseract-ocr-vie", "poppler-utils", "fonts-dejavu-core", "libpq5"):
        assert package in apt_args, f"{package} is not installed"
    root_before = [args for i, args in users if i < apt[0]]
    assert root_before and root_before[-1] == "root"
    assert users[-1][1] == "airflow", "the image must end as the airflow user"
    pip_runs = [args for instr, args in instructions if instr == "RUN" and "pip install" in args]
    assert any("-r /opt/airflow/requirements.txt" in a for a in pip_runs)
    assert any("-e /opt/airflow" in a and "--no-deps" in a for a in pip_runs)
    assert not any("constraints" in a for a in pip_runs), "requirements.txt pins already resolve; no constraints URL"


def test_dockerfile_ships_the_project_layout():
    assert DOCKERIGNORE.is_file(), "docker/Dockerfile.dockerignore keeps .venv and .git out of the build"
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]
    assert patterns[0] in ("*", "**"), "the ignore file must start by excluding everything"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert set(PROJECT_DIRS) | {"pyproject.toml", "requirements.txt"} <= allowed, allowed
    copies = [args for instr, args in _dockerfile_instructions() if instr == "COPY"]
    assert any(re.search(r"(^|\s)\.\s+/opt/airflow/?$", c) for c in copies), copies
    for tracked in ("include", "dags", "sql", "seeds"):
        assert (ROOT / tracked).is_dir(), f"{tracked}/ missing from the build context"


def test_postgres_init_creates_warehouse_and_analyst():
    scripts = sorted(PG_INIT_DIR.glob("*.sh")) + sorted(PG_INIT_DIR.glob("*.sql"))
    assert scripts, "docker/postgres-init/ is empty"
    text = "\n".join(p.read_text(encoding="utf-8") for p in scripts)
    assert re.search(r"CREATE DATABASE warehouse\b", text)
    assert re.search(r"CREATE ROLE analyst\b", text)
    assert "WAREHOUSE_PASSWORD" in text and "ON_ERROR_STOP=1" in text


# --------------------------------------------------------------------------- docker compose config

def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        probe = subprocess.run(["docker-compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0 and re.search(r"v?2\.\d+", probe.stdout):
            return ["docker-compose"]
    return None


def test_compose_file_is_valid(compose):
    # Always: the structure Compose requires.
    assert set(compose) <= {"name", "services", "volumes", "networks", "configs", "secrets"} | {
        k for k in compose if k.startswith("x-")}
    for name, svc in compose["services"].items():
        assert "image" in svc or "build" in svc, f"{name}: no image and no build"
    # Additionally, where a Compose v2 binary is installed: its own validation.
    cmd = _compose_command()
    if cmd is not None:
        run = subprocess.run(
            [*cmd, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE),
             "--profile", "flower", "--profile", "demo", "config", "--quiet"],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )
        assert run.returncode == 0, run.stderr



@pytest.mark.parametrize("name", ["TTHC_HOLDER_KEY_SECRET", "AIRFLOW_FERNET_KEY"])
def test_compose_refuses_to_start_without_a_secret(compose, env_example, name, tmp_path):
    """No empty holder-key secret, no unencrypted connections: interpolation fails naming the variable."""
    without = {k: v for k, v in env_example.items() if k != name}
    for env in (without, {**env_example, name: ""}):
        with pytest.raises(AssertionError, match=f"required variable {name} unset"):
            _interpolate(compose, env)
    cmd = _compose_command()
    if cmd is not None:  # where Compose is installed, it agrees
        env_file = tmp_path / ".env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in without.items()), encoding="utf-8")
        run = subprocess.run([*cmd, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "--env-file",
                              str(env_file), "config", "--quiet"], capture_output=True, text=True, cwd=ROOT,
                             timeout=60, env={"PATH": os.environ.get("PATH", "")})
        assert run.returncode != 0 and name in run.stderr


def test_only_the_pipeline_holds_the_holder_key(resolved, airflow_services):
    """Every Airflow service matches holders and gets the key; the application shows holder_ref only."""
    key = _env_dict(resolved["services"]["airflow-worker"])["TTHC_HOLDER_KEY_SECRET"]
    assert key
    for name in set(airflow_services) - {"tthc-app"}:
        assert _env_dict(resolved["services"][name]).get("TTHC_HOLDER_KEY_SECRET") == key, name
    assert _env_dict(resolved["services"]["tthc-app"])["TTHC_HOLDER_KEY_SECRET"] == ""
